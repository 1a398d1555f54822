"""Teacher training: one PPO tracking policy per subject, on all of the subject's clips.

:func:`train_teacher` builds the :class:`~intermimic.rl.teacher_env.TeacherEnv` of a
:class:`~intermimic.rl.clipset.ClipSet` and runs
:func:`~intermimic.rl.training_run.train_run` on ``run_dir``: resume is automatic
(running it again continues from the last good checkpoint), it trains until
``env_steps`` or a wall-clock budget and writes the learning curve.

The pieces, each usable alone (tests, notebooks, :mod:`stages.refine`):
:mod:`~intermimic.rl.teacher_settings` (settings), :mod:`~intermimic.rl.teacher_env`
(clips, scenes, the env), :mod:`~intermimic.rl.training_run` (the run loop and the
learning curve) and :mod:`~intermimic.rl.teacher_policy` (a trained teacher's actions).
Nothing here knows the store; :mod:`stages.refine` puts runs under
``STORE/teachers/<dataset>/<subject>/``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from intermimic.humanoid.embodiment import SmplxEmbodiment
from intermimic.rl import checkpoint as ckpt
from intermimic.rl.checkpoint import CheckpointError
from intermimic.rl.clipset import ClipSet
from intermimic.rl.teacher_env import TeacherEnv, build_teacher_env
from intermimic.rl.teacher_settings import (
    CPU_RECIPE,
    FEEDFORWARD_RECIPES,
    SETTINGS_FILE,
    TeacherSettings,
)
from intermimic.rl.train import Trainer, TrainResult
from intermimic.rl.training_run import train_run

log = logging.getLogger(__name__)

#: The summary a stage writes beside a teacher run.
SUMMARY_FILE = "teacher.json"


@dataclass
class TeacherResult:
    """What :func:`train_teacher` did."""

    run_dir: Path | None
    iterations: int
    env_steps: int
    resumed_from: int | None
    seconds: float
    checkpoint: Path | None
    curve: list[dict[str, Any]]
    clip_ids: list[str]
    rejected: dict[str, str]
    stopped_by_budget: bool = False
    train_result: TrainResult | None = None


def _check_recipe_inputs(
    settings: TeacherSettings,
    psi_seeds: Mapping[str, Any] | None,
    feedforward: Mapping[str, Any] | None,
) -> None:
    # A planner recipe without its plans would train silently as something else (planner_fb
    # with no plan has an actor whose mean is 0 everywhere): refuse it, naming the fix.
    if settings.recipe == "ppo":
        return
    missing = [] if psi_seeds else ["psi_seeds"]
    if settings.recipe in FEEDFORWARD_RECIPES and not feedforward:
        missing.append("feedforward")
    if missing:
        raise ValueError(
            f"recipe={settings.recipe!r} trains from the planner's plans, but "
            f"{' and '.join(missing)} were not given: pass intermimic.plan.recipes."
            "recipe_inputs(...)'s, or set recipe='ppo' (the cpu profile's default recipe is "
            f"{CPU_RECIPE!r})"
        )


def train_teacher(
    clipset: ClipSet,
    settings: TeacherSettings,
    run_dir: Path | None,
    *,
    max_seconds: float | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    trainer_out: list[Trainer] | None = None,
    psi_seeds: Mapping[str, Any] | None = None,
    init_actor: Callable[[Trainer, TeacherEnv], Any] | None = None,
    feedforward: Mapping[str, Any] | None = None,
) -> TeacherResult:
    """Train (or resume) the teacher of ``clipset`` in ``run_dir``.

    Runs until ``settings.env_steps`` (rounded up to whole iterations) or, when
    ``max_seconds`` is given, until that wall-clock budget is spent (checked every
    ``checkpoint_interval`` iterations, each chunk ending with a checkpoint).
    ``on_progress(iteration, total)`` is called after each chunk. ``trainer_out``, if
    given, receives the :class:`Trainer` (for evaluation in the same process).
    ``psi_seeds`` (clip id -> states ``[n, nq + nv]`` along the clip, e.g.
    :func:`intermimic.plan.seeds.psi_seeds`) fill the PSI buffers before training
    (:meth:`TeacherEnv.seed_psi`); a resumed run's checkpoint replaces them with the
    buffers as they were saved. ``init_actor(trainer, env)`` prepares a fresh run's
    policy before its first iteration (e.g. :func:`intermimic.plan.clone.clone_planner`);
    the environment is reset after it. ``feedforward`` (clip id -> actions ``[n, A]``,
    e.g. :func:`intermimic.plan.seeds.feedforward_actions`) replaces the residual
    actions' base at those clip frames (:meth:`TeacherEnv.set_feedforward`, recipe
    ``planner_ff``); it is saved in every checkpoint, and a resumed run's checkpoint
    holds the same.
    """
    t0 = time.perf_counter()
    ts = settings.train_settings()
    if feedforward and not settings.residual_actions:
        raise ValueError(
            "feed-forward actions are a residual policy's base: residual_actions must be True"
        )
    _check_recipe_inputs(settings, psi_seeds, feedforward)
    env = build_teacher_env(clipset, settings)
    if psi_seeds:
        seeded = env.seed_psi(psi_seeds)
        log.info("PSI seeded: %s", seeded)
    if feedforward:
        try:
            log.info("feed-forward frames: %s", env.set_feedforward(feedforward))
        except Exception:
            env.close()
            raise

    def make_trainer(**kwargs: Any) -> Trainer:
        trainer = Trainer(env, ts, run_dir, **kwargs)
        if settings.init_from is not None and (
            run_dir is None or ckpt.load_latest(Path(run_dir) / "checkpoints") is None
        ):  # a fresh run starts from the source; a resumed one has its own weights
            warm_start(trainer, env, Path(settings.init_from))
        if init_actor is not None and (
            run_dir is None or ckpt.load_latest(Path(run_dir) / "checkpoints") is None
        ):
            log.info("actor initialised: %s", init_actor(trainer, env))
            trainer.vecenv.reset()  # init_actor may have left the worlds anywhere
        return trainer

    run = train_run(
        env,
        make_trainer,
        ts,
        run_dir,
        psi=settings.psi,
        meta_file=SETTINGS_FILE,
        meta={"settings": settings.model_dump(mode="json"), "clips": env.clip_ids},
        started=t0,
        max_seconds=max_seconds,
        on_progress=on_progress,
        trainer_out=trainer_out,
    )
    return TeacherResult(
        run_dir=run_dir,
        iterations=run.trainer.iteration,
        env_steps=run.trainer.env_steps,
        resumed_from=run.resumed_from,
        seconds=run.seconds,
        checkpoint=run.checkpoint,
        curve=run.curve,
        clip_ids=env.clip_ids,
        rejected=dict(clipset.rejected),
        stopped_by_budget=run.stopped_by_budget,
        train_result=run.result,
    )


def zero_actor_mean(trainer: Trainer, env: TeacherEnv | None = None) -> dict[str, float]:
    """Zero the weight and bias of the last linear layer of ``trainer``'s actor, so its
    mean is exactly 0 on every observation (an ``init_actor``; ``env`` is unused).

    With a feed-forward base (recipe ``planner_ff``) the untrained policy's noiseless
    action is then the plan's own, and PPO starts from the plan instead of from random
    residuals of the initialisation's scale. The hidden layers keep their random
    initialisation; the first updates move the last layer, and with it the gradient
    reaches the layers below. Returns the zeroed layer's ``in_features``."""
    del env
    layers = [m for m in trainer.alg.actor.mlp.modules() if isinstance(m, torch.nn.Linear)]
    last = layers[-1]
    with torch.no_grad():
        last.weight.zero_()
        if last.bias is not None:
            last.bias.zero_()
    return {"zeroed_in_features": float(last.in_features)}


def warm_start(trainer: Trainer, env: TeacherEnv, source: Path) -> None:
    """Start ``trainer`` from the newest good checkpoint of the teacher run ``source``:
    its critic and observation statistics as they are, its actor with each action row
    put on the hinge of the same name (a ``hands="body"`` run's 63 rows go to the body
    hinges of a full-hands policy; the finger rows start at a zero mean, which with
    residual actions follows the reference, and the fresh policy's sigma). The optimiser,
    PSI buffer and iteration count start fresh. Raises :class:`CheckpointError` when
    ``source`` has no checkpoint or another embodiment, network or observation."""
    c = ckpt.load_latest(source / "checkpoints")
    if c is None:
        raise CheckpointError(f"init_from={str(source)!r}: no usable teacher checkpoint there")
    run = TeacherSettings.of_run(source)
    emb = env.envs[0].scene.embodiment
    mine = emb.hands if isinstance(emb, SmplxEmbodiment) else "full"
    if run.embodiment != ("smplx" if isinstance(emb, SmplxEmbodiment) else emb.name):
        raise CheckpointError(
            f"init_from={str(source)!r}: that teacher drives {run.embodiment}, this run {emb.name}"
        )
    src_joints = (
        SmplxEmbodiment(hands=run.hands).joint_names
        if run.embodiment == "smplx"
        else emb.joint_names
    )
    row_of = {n: i for i, n in enumerate(src_joints)}
    dst = [i for i, n in enumerate(emb.joint_names) if n in row_of]
    src = [row_of[n] for n in emb.joint_names if n in row_of]
    saved = trainer.alg.save()
    states: dict[str, dict[str, Any]] = {}
    for part in ("actor", "critic"):
        mine_sd = saved[f"{part}_state_dict"]
        theirs = {k[len(part) + 1 :]: v for k, v in c.model.items() if k.startswith(f"{part}.")}
        if set(theirs) != set(mine_sd):
            raise CheckpointError(f"init_from={str(source)!r}: the {part} networks differ")
        out = {}
        for k, t in mine_sd.items():
            v = theirs[k].to(t.device, t.dtype)
            if v.shape == t.shape:
                out[k] = v.clone()
            elif (
                part == "actor"
                and v.shape[1:] == t.shape[1:]
                and (v.shape[0], t.shape[0]) == (len(src_joints), len(emb.joint_names))
            ):
                new = t.clone()
                if k.endswith(("weight", "bias")):
                    new.zero_()
                new[dst] = v[src]
                out[k] = new
            else:
                raise CheckpointError(
                    f"init_from={str(source)!r}: {part} {k} is {tuple(v.shape)} there, "
                    f"{tuple(t.shape)} here (hidden_dims and observations must match; "
                    f"hands {run.hands!r} there, {mine!r} here)"
                )
        states[part] = out
    trainer.alg.load(
        {"actor_state_dict": states["actor"], "critic_state_dict": states["critic"]},
        {"actor": True, "critic": True},
        strict=True,
    )
    for name, obj in trainer.stateful.items():
        if name.startswith("obs_norm.") and name in c.state["objects"]:
            obj.load_state_dict(c.state["objects"][name])
    log.info("started from %s (%s hands -> %s hands)", c.path, run.hands, mine)
