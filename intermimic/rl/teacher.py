"""Teacher training: one PPO tracking policy per subject, on all of the subject's clips.

The pieces, each usable alone (tests, notebooks, :mod:`stages.refine`):

* :class:`TeacherSettings`: flat pydantic settings (env steps, worlds, backend, device,
  seed, checkpoint interval, ...); :meth:`TeacherSettings.train_settings` maps them onto
  :class:`~intermimic.rl.settings.TrainSettings` (the CPU profile by default) and
  :meth:`TeacherSettings.env_settings` onto :class:`~intermimic.env.EnvSettings`.
* :class:`TeacherEnv`: the :class:`~intermimic.rl.vecenv.NumpyVecEnv` the trainer sees.
  A subject's clips may show several objects (sub2: largetable and woodchair) while a
  :class:`~intermimic.env.TrackingEnv` holds one object, so the teacher env stacks one
  tracking env per object (worlds shared out by frames) behind one policy. By default
  (``residual_actions``) the policy's action is an offset from the PD targets of the
  reference's next pose: a project choice that makes the untrained policy track for a
  second instead of falling at once, so a CPU budget goes into corrections. It reports
  ``reward_terms``, ``success`` (the episode reached its clip's last frame without
  early termination) and ``final`` (``clip``: subject-wide clip index, ``frame``).
* :class:`PSIState`: ``state_dict``/``load_state_dict`` for an env's PSI buffer, so the
  buffer (filled inside the env by rollouts that ran ``confirm_frames`` further without
  early termination) is saved in every checkpoint and restored on resume; the env's
  observation normaliser is saved beside it.
* :class:`CurveRecorder`: the episode hook that collects finished episodes per
  iteration and writes ``curve.json`` (learning curve) at every checkpoint, atomically,
  so a killed and resumed run keeps one consistent curve.
* :func:`train_teacher`: build the envs, a :class:`~intermimic.rl.train.Trainer` on
  ``run_dir`` (resume is automatic: running it again continues from the last good
  checkpoint), train until ``env_steps`` or a wall-clock budget, write the curve.
* :func:`load_teacher`: a :class:`TeacherPolicy` (deterministic actions) from the newest
  good checkpoint of a run directory.

Nothing here knows the store; :mod:`stages.refine` puts runs under
``STORE/teachers/<dataset>/<subject>/``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, field_validator

from intermimic.atomic import write_text_atomic
from intermimic.env import EnvSettings, TrackingEnv
from intermimic.env.settings import PSISettings
from intermimic.errors import InputError
from intermimic.motion.clip import HOIClip
from intermimic.rl import checkpoint as ckpt
from intermimic.rl.settings import PolicySettings, PPOSettings, TrainSettings
from intermimic.rl.train import Trainer, TrainResult
from intermimic.rl.vecenv import FinishedEpisodes
from intermimic.sim.scene import Scene

log = logging.getLogger(__name__)

CURVE_FILE = "curve.json"
#: Fixed learning rate of the CPU profile (a few dozen worlds instead of 4096).
CPU_LEARNING_RATE = 3e-4
SUMMARY_FILE = "teacher.json"


class NoClipsError(InputError):
    """A subject has no clip a teacher can be trained on."""


class TeacherSettings(BaseModel):
    """Settings of one teacher run (flat, so ``--set KEY=VALUE`` and Dagster config map
    one to one). ``None`` keeps the profile's value."""

    model_config = ConfigDict(extra="forbid")

    env_steps: int = Field(2_000_000, ge=1, description="environment transitions, all worlds")
    worlds: int = Field(32, ge=1, description="parallel simulated worlds")
    backend: str = Field("mujoco", description="simulation backend: mujoco or warp")
    device: str = Field("cpu", description="torch device of the policy")
    seed: int = Field(0, description="seeds the networks, PPO sampling and PSI draws")
    checkpoint_interval: int = Field(20, ge=1, description="iterations between checkpoints")
    keep_checkpoints: int = Field(3, ge=2, description="checkpoints kept (>= 2 for fallback)")
    profile: str = Field(
        "cpu", description="'cpu': [256, 256] MLPs, lr 3e-4; 'paper': the method's values"
    )
    horizon: int | None = Field(None, ge=1, description="policy steps per world per iteration")
    learning_rate: float | None = Field(
        None, gt=0, description="None: 3e-4 on the cpu profile, the paper's 2e-5 otherwise"
    )
    schedule: str = Field(
        "fixed",
        description="'fixed' or 'adaptive' (rsl-rl's KL-targeting lr; with the fixed small "
        "sigma over 153 actions it drives the lr to its 1e-5 floor within a few iterations)",
    )
    hidden_dims: list[int] | None = Field(None, description="actor and critic MLP widths")
    init_log_std: float | None = Field(None, description="log sigma of the Gaussian policy")
    sim_threads: int = Field(2, ge=1, description="threads stepping the mujoco backend")
    torch_threads: int | None = Field(1, description="torch threads while training")
    tensorboard: bool = True
    psi: bool = Field(True, description="physical state initialisation from rollouts")
    psi_starts: Literal["all", "reached"] = Field(
        "all",
        description="start frames: 'all' (the method) or 'reached' (clip starts and frames "
        "a rollout has reached: a curriculum along the clip; see PSISettings.starts)",
    )
    residual_actions: bool = Field(
        True,
        description="policy outputs an offset from the reference's next pose (project "
        "choice for CPU budgets; False: absolute PD targets, as in the paper)",
    )
    residual_scale: float = Field(
        0.25, gt=0, description="action units (half joint ranges) per unit residual"
    )
    fit_skeleton: bool = Field(False, description="train the subject's fitted humanoid")
    embodiment: str = Field(
        "smplx",
        description="the body the teacher drives: 'smplx' (the humanoid) or 'g1' (Unitree G1 "
        "with hands, retargeting inside learning)",
    )
    attempts: int = Field(4, ge=1, description="refinement: rollouts per clip, best kept")
    attempt_noise: float = Field(
        0.05, ge=0, description="refinement: action noise std of attempts after the first"
    )

    @field_validator("backend")
    @classmethod
    def _backend(cls, v: str) -> str:
        from intermimic.sim.factory import backend_name

        return backend_name(v)

    @field_validator("hidden_dims", mode="before")
    @classmethod
    def _dims(cls, v: Any) -> Any:
        # from the command line: "256,256" or "[256, 256]"
        if isinstance(v, str):
            text = v.strip().strip("[]")
            return [int(x) for x in text.split(",") if x.strip()] if text else None
        return v

    @field_validator("embodiment")
    @classmethod
    def _embodiment(cls, v: str) -> str:
        from intermimic.humanoid.embodiment import EMBODIMENTS

        key = v.strip().lower()
        if key not in EMBODIMENTS:
            raise ValueError(f"embodiment must be one of {', '.join(EMBODIMENTS)}, got {v!r}")
        return key

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, v: str) -> str:
        if v not in ("fixed", "adaptive"):
            raise ValueError(f"schedule must be 'fixed' or 'adaptive', got {v!r}")
        return v

    @field_validator("profile")
    @classmethod
    def _profile(cls, v: str) -> str:
        if v not in ("cpu", "paper"):
            raise ValueError(f"profile must be 'cpu' or 'paper', got {v!r}")
        return v

    def train_settings(self) -> TrainSettings:
        """The :class:`TrainSettings` of this run."""
        base = TrainSettings.cpu() if self.profile == "cpu" else TrainSettings()
        policy: PolicySettings = base.policy.model_copy()
        ppo: PPOSettings = base.ppo.model_copy()
        if self.hidden_dims is not None:
            policy = policy.model_copy(
                update={
                    "actor_hidden_dims": list(self.hidden_dims),
                    "critic_hidden_dims": list(self.hidden_dims),
                }
            )
        if self.init_log_std is not None:
            policy = policy.model_copy(update={"init_log_std": self.init_log_std})
        if self.horizon is not None:
            ppo = ppo.model_copy(update={"horizon": self.horizon})
        lr = self.learning_rate
        if lr is None:
            lr = CPU_LEARNING_RATE if self.profile == "cpu" else ppo.learning_rate
        ppo = ppo.model_copy(update={"learning_rate": lr, "schedule": self.schedule})
        return base.model_copy(
            update={
                "seed": self.seed,
                "policy": policy,
                "ppo": ppo,
                "total_env_steps": self.env_steps,
                "save_interval": self.checkpoint_interval,
                "keep_checkpoints": self.keep_checkpoints,
                "torch_threads": self.torch_threads,
                "tensorboard": self.tensorboard,
                "device": self.device,
            }
        )

    def env_settings(self, *, psi: bool | None = None) -> EnvSettings:
        """The :class:`EnvSettings` of this run (``psi`` overrides :attr:`psi`)."""
        return EnvSettings(
            seed=self.seed,
            psi=PSISettings(enabled=self.psi if psi is None else psi, starts=self.psi_starts),
        )


# ---- the environment the trainer sees --------------------------------------------------


def group_by_object(clips: Sequence[HOIClip]) -> dict[str, list[HOIClip]]:
    """Clips by object name, names sorted, clips in their given order."""
    groups: dict[str, list[HOIClip]] = defaultdict(list)
    for c in clips:
        groups[c.meta.object_name].append(c)
    return {k: groups[k] for k in sorted(groups)}


def share_worlds(frames: Sequence[int], worlds: int) -> list[int]:
    """``worlds`` split over groups in proportion to their ``frames``, at least 1 each."""
    total = float(sum(frames))
    raw = [max(1, round(worlds * f / total)) for f in frames]
    while sum(raw) > max(worlds, len(frames)):
        raw[int(np.argmax(raw))] -= 1
    while sum(raw) < worlds:
        raw[int(np.argmin(raw))] += 1
    return raw


class TeacherEnv:
    """One or more :class:`TrackingEnv` (one per object) as one numpy vec-env.

    Observations: ``policy [N, obs_dim]`` (each tracking env's normalised observation)
    and ``critic [N, 1]`` (the fraction of the clip already played: the value of a
    truncated episode depends on it). Actions ``[N, action_dim]`` in ``[-1, 1]``; with
    ``residual_scale`` they are offsets: the tracking env receives
    ``reference_actions() + residual_scale * actions`` (the PD targets of the next
    reference pose, plus a correction), and :attr:`last_actions` keeps what it received.
    """

    def __init__(
        self,
        envs: Sequence[TrackingEnv],
        names: Sequence[str],
        *,
        residual_scale: float | None = None,
    ) -> None:
        if not envs:
            raise ValueError("TeacherEnv needs at least one tracking env")
        self.envs = list(envs)
        self.names = list(names)
        dims = {(e.obs_dim, e.action_dim) for e in self.envs}
        if len(dims) != 1:
            raise ValueError(f"tracking envs disagree on observation/action sizes: {dims}")
        self.obs_dim, self.num_actions = dims.pop()
        sizes = [e.n_worlds for e in self.envs]
        self.num_envs = int(sum(sizes))
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        self.slices = [slice(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
        self.max_episode_length = int(max(e.ref.clip_len.max() for e in self.envs))
        n_clips = [len(e.ref.clip_len) for e in self.envs]
        self.clip_offset = np.concatenate([[0], np.cumsum(n_clips)[:-1]]).astype(np.int64)
        self.clip_ids = [cid for e in self.envs for cid in e.ref.clip_ids]
        self.residual_scale = residual_scale
        self.hinge_qpos = [e.scene.humanoid_qpos_adr[7:] for e in self.envs]
        self.last_actions = np.zeros((self.num_envs, self.num_actions))
        """The env-level actions (PD target map input) of the last step."""

    def _critic(self) -> NDArray[np.float32]:
        parts = [
            e.frame / np.maximum(e.ref.clip_len[e.clip] - 1, 1).astype(np.float64)
            for e in self.envs
        ]
        return np.concatenate(parts).astype(np.float32)[:, None]

    def reset(self) -> dict[str, NDArray[np.float32]]:
        obs = np.concatenate([e.reset() for e in self.envs])
        return {"policy": obs, "critic": self._critic()}

    def step(
        self, actions: NDArray[np.floating]
    ) -> tuple[
        dict[str, NDArray[np.float32]],
        NDArray[np.float64],
        NDArray[np.bool_],
        NDArray[np.bool_],
        dict[str, Any],
    ]:
        a = np.asarray(actions, np.float64)
        if self.residual_scale is not None:
            a = self.reference_actions() + self.residual_scale * a
        self.last_actions = a
        outs = [e.step(a[s]) for e, s in zip(self.envs, self.slices, strict=True)]
        obs = np.concatenate([o[0] for o in outs])
        reward = np.concatenate([o[1] for o in outs])
        terminated = np.concatenate([o[2] for o in outs])
        truncated = np.concatenate([o[3] for o in outs])
        infos = [o[4] for o in outs]
        terms = {
            k: np.concatenate([i["reward_terms"][k] for i in infos])
            for k in infos[0]["reward_terms"]
        }
        clip = np.concatenate(
            [i["clip"] + off for i, off in zip(infos, self.clip_offset, strict=True)]
        )
        info: dict[str, Any] = {
            "reward_terms": terms,
            "success": truncated & ~terminated,
            "final": {"clip": clip, "frame": np.concatenate([i["frame"] for i in infos])},
            "log": {
                "nan_resets": float(sum(e.n_nan_resets for e in self.envs)),
                "nan_action_worlds": float(sum(e.n_nan_action_worlds for e in self.envs)),
            },
        }
        return {"policy": obs, "critic": self._critic()}, reward, terminated, truncated, info

    def reference_actions(self) -> NDArray[np.float64]:
        """``[N, A]`` actions whose PD targets are each world's next reference pose."""
        parts = []
        for e, adr in zip(self.envs, self.hinge_qpos, strict=True):
            idx = e.ref.global_index(e.clip, e.frame + 1)
            parts.append(np.clip(e.action_map.actions(e.ref.qpos[idx][:, adr]), -1.0, 1.0))
        return np.concatenate(parts)

    @property
    def exact_state(self) -> bool:
        """Whether every tracking env can save its exact state (resume is bit-exact)."""
        return all(e.exact_state for e in self.envs)

    def state_dict(self) -> dict[str, Any]:
        """Each tracking env's physics and episode state and the last actions."""
        out: dict[str, Any] = {
            f"env.{n}": e.state_dict() for n, e in zip(self.names, self.envs, strict=True)
        }
        out["last_actions"] = self.last_actions.copy()
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for n, e in zip(self.names, self.envs, strict=True):
            e.load_state_dict(state[f"env.{n}"])
        self.last_actions = np.asarray(state["last_actions"], np.float64).copy()

    def stateful(self, *, psi: bool = True) -> dict[str, Any]:
        """Objects to save in checkpoints: PSI buffers and observation normalisers."""
        out: dict[str, Any] = {}
        for name, e in zip(self.names, self.envs, strict=True):
            if psi:
                out[f"psi.{name}"] = PSIState(e)
            out[f"obs_norm.{name}"] = e.normalizer
        return out

    def close(self) -> None:
        for e in self.envs:
            e.close()


class PSIState:
    """Checkpoint state of a tracking env's PSI buffer (rollout slots, scores, RNG)."""

    def __init__(self, env: TrackingEnv) -> None:
        self.env = env

    def state_dict(self) -> dict[str, Any]:
        return dict(self.env.psi.state_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            self.env.psi.load_state_dict(state)
        except ValueError as exc:
            log.warning("%s (clips changed?): keeping the fresh PSI buffer", exc)


def teacher_scene(
    obj_name: str, objects: Any, humanoid: Any | None = None, embodiment: Any | None = None
) -> Scene:
    """The training scene: humanoid with PD position actuators + the object + ground.

    ``objects`` is an :class:`~intermimic.objects.ObjectLibrary`; ``humanoid`` a
    :class:`~intermimic.humanoid.SkeletonModel` (None: the mean adult); ``embodiment``
    an :class:`~intermimic.humanoid.embodiment.Embodiment` (None: that SMPL-X humanoid).
    """
    from intermimic.humanoid.embodiment import SmplxEmbodiment
    from intermimic.sim.scene import embodiment_scene

    emb = embodiment if embodiment is not None else SmplxEmbodiment(humanoid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # meshes that are not watertight: noted elsewhere
        obj = objects.get(obj_name)
    return embodiment_scene(emb, obj)


@dataclass
class ClipSet:
    """A subject's trainable clips grouped by object, their scenes, and the rejects."""

    groups: dict[str, list[HOIClip]]
    scenes: dict[str, Scene]
    rejected: dict[str, str] = field(default_factory=dict)
    """clip id -> why it cannot be tracked."""

    @property
    def clips(self) -> list[HOIClip]:
        return [c for g in self.groups.values() for c in g]


def prepare_clips(
    clips: Sequence[HOIClip],
    objects: Any,
    settings: TeacherSettings,
    *,
    where: str = "subject",
) -> ClipSet:
    """Scenes per object and the clips a tracking env accepts; :class:`NoClipsError` if
    none (``where`` names the subject in the message)."""
    humanoid = None
    embodiment = None
    if settings.embodiment != "smplx":
        from intermimic.humanoid.embodiment import make_embodiment

        embodiment = make_embodiment(settings.embodiment)
    elif settings.fit_skeleton and clips:
        from intermimic.humanoid import fit_skeleton

        try:
            humanoid = fit_skeleton(list(clips)).skeleton
        except (InputError, ValueError) as exc:
            log.warning("%s: skeleton fit failed (%s); using the mean adult", where, exc)
    env_s = settings.env_settings()
    need = max(env_s.observation.future_offsets)
    groups: dict[str, list[HOIClip]] = {}
    scenes: dict[str, Scene] = {}
    rejected: dict[str, str] = {}
    for name, group in group_by_object(clips).items():
        try:
            scene = teacher_scene(name, objects, humanoid, embodiment)
        except Exception as exc:  # missing mesh, bad mesh: the group's clips are rejected
            for c in group:
                rejected[c.meta.clip_id] = f"object {name!r}: {exc}"
            continue
        ok = []
        for c in group:
            if c.n_frames <= need:
                rejected[c.meta.clip_id] = f"{c.n_frames} frames; at least {need + 1} needed"
            elif abs(c.meta.fps - env_s.action.policy_hz) > 1e-6:
                rejected[c.meta.clip_id] = f"{c.meta.fps:g} fps, not {env_s.action.policy_hz:g}"
            elif not np.isfinite(c.joint_rotvec).all() or not np.isfinite(c.obj_pos).all():
                rejected[c.meta.clip_id] = "non-finite poses"
            else:
                ok.append(c)
        if ok:
            groups[name], scenes[name] = ok, scene
    if not groups:
        detail = "; ".join(f"{k}: {v}" for k, v in sorted(rejected.items())) or "no clips"
        raise NoClipsError(f"{where} has no ok clips a teacher can track ({detail})")
    return ClipSet(groups, scenes, rejected)


def build_teacher_env(
    clipset: ClipSet,
    settings: TeacherSettings,
    worlds: int | None = None,
    *,
    psi: bool | None = None,
) -> TeacherEnv:
    """A :class:`TeacherEnv` over ``clipset`` with ``worlds`` (default: settings) worlds,
    shared out over the objects by frames."""
    names = list(clipset.groups)
    frames = [sum(c.n_frames for c in clipset.groups[n]) for n in names]
    counts = share_worlds(frames, worlds or settings.worlds)
    return build_teacher_env_exact(
        clipset, settings, dict(zip(names, counts, strict=True)), psi=psi
    )


def build_teacher_env_exact(
    clipset: ClipSet,
    settings: TeacherSettings,
    worlds: dict[str, int],
    *,
    psi: bool | None = False,
) -> TeacherEnv:
    """A :class:`TeacherEnv` with ``worlds[object]`` worlds per object (evaluation:
    PSI collection off by default)."""
    from intermimic.sim.factory import make_backend

    env_s = settings.env_settings(psi=psi)
    envs = []
    for name in clipset.groups:
        scene = clipset.scenes[name]
        opts: dict[str, Any] = {"n_threads": settings.sim_threads}
        if settings.backend == "warp":
            opts = {"device": settings.device if settings.device.startswith("cuda") else None}
        backend = make_backend(settings.backend, scene, worlds[name], **opts)
        envs.append(TrackingEnv(scene, clipset.groups[name], backend, settings=env_s))
    scale = settings.residual_scale if settings.residual_actions else None
    return TeacherEnv(envs, list(clipset.groups), residual_scale=scale)


# ---- learning curve ---------------------------------------------------------------------


class CurveRecorder:
    """Episode hook: per-iteration episode statistics, saved at checkpoints.

    ``curve.json`` holds one row per iteration up to the last checkpoint:
    ``iteration``, ``env_steps``, ``episodes``, ``mean_length`` (policy steps),
    ``success_rate``, ``mean_return``, ``seconds`` (wall clock since the run started).
    """

    def __init__(self, run_dir: Path | None, steps_per_iteration: int) -> None:
        self.path = run_dir / CURVE_FILE if run_dir is not None else None
        self.steps_per_iteration = steps_per_iteration
        self.trainer: Trainer | None = None
        self.rows: list[dict[str, Any]] = []
        self._pending: dict[int, list[tuple[float, bool, float]]] = defaultdict(list)
        self._time: dict[int, float] = {}
        self._t0 = time.perf_counter()
        self._offset_s = 0.0
        if self.path is not None and self.path.exists():
            self.rows = list(json.loads(self.path.read_text())["rows"])
            self._offset_s = float(self.rows[-1]["seconds"]) if self.rows else 0.0

    def truncate(self, iteration: int) -> None:
        """Drop rows past ``iteration`` (a resumed run redoes them)."""
        self.rows = [r for r in self.rows if r["iteration"] <= iteration]
        self._offset_s = float(self.rows[-1]["seconds"]) if self.rows else 0.0
        self._t0 = time.perf_counter()

    def __call__(self, ep: FinishedEpisodes) -> None:
        it = (self.trainer.iteration if self.trainer is not None else 0) + 1
        success = ep.success if ep.success is not None else np.zeros(len(ep.lengths), bool)
        self._time[it] = self._offset_s + time.perf_counter() - self._t0
        self._pending[it].extend(
            zip(ep.lengths.tolist(), success.tolist(), ep.returns.tolist(), strict=True)
        )

    def flush(self, upto: int) -> None:
        """Turn pending episodes of iterations ``<= upto`` into rows; save atomically."""
        for it in sorted(k for k in self._pending if k <= upto):
            eps = self._pending.pop(it)
            now = self._time.pop(it)
            if any(r["iteration"] == it for r in self.rows):
                continue
            lengths, success, returns = (np.asarray(x, float) for x in zip(*eps, strict=True))
            self.rows.append(
                {
                    "iteration": it,
                    "env_steps": it * self.steps_per_iteration,
                    "episodes": len(eps),
                    "mean_length": float(lengths.mean()),
                    "success_rate": float(success.mean()),
                    "mean_return": float(returns.mean()),
                    "seconds": round(now, 3),
                }
            )
        self.rows.sort(key=lambda r: r["iteration"])
        if self.path is not None:
            write_text_atomic(self.path, json.dumps({"rows": self.rows}, indent=0))

    def on_checkpoint(self, iteration: int, path: Path) -> None:
        self.flush(iteration)


def load_curve(run_dir: Path) -> list[dict[str, Any]]:
    """The rows of ``run_dir/curve.json`` (empty if none)."""
    path = Path(run_dir) / CURVE_FILE
    return list(json.loads(path.read_text())["rows"]) if path.exists() else []


# ---- training -----------------------------------------------------------------------------


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


def train_teacher(
    clipset: ClipSet,
    settings: TeacherSettings,
    run_dir: Path | None,
    *,
    max_seconds: float | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    trainer_out: list[Trainer] | None = None,
) -> TeacherResult:
    """Train (or resume) the teacher of ``clipset`` in ``run_dir``.

    Runs until ``settings.env_steps`` (rounded up to whole iterations) or, when
    ``max_seconds`` is given, until that wall-clock budget is spent (checked every
    ``checkpoint_interval`` iterations, each chunk ending with a checkpoint).
    ``on_progress(iteration, total)`` is called after each chunk. ``trainer_out``, if
    given, receives the :class:`Trainer` (for evaluation in the same process).
    """
    t0 = time.perf_counter()
    ts = settings.train_settings()
    env = build_teacher_env(clipset, settings)
    steps_per_it = env.num_envs * ts.ppo.horizon
    curve = CurveRecorder(run_dir, steps_per_it)
    trainer = Trainer(
        env,
        ts,
        run_dir,
        episode_hooks=[curve],
        stateful=env.stateful(psi=settings.psi),
        on_checkpoint=curve.on_checkpoint,
    )
    curve.trainer = trainer
    if trainer_out is not None:
        trainer_out.append(trainer)
    resumed = trainer.resume()
    curve.truncate(trainer.iteration)
    if run_dir is not None:
        write_text_atomic(
            Path(run_dir) / "teacher_settings.json",
            json.dumps(
                {"settings": settings.model_dump(mode="json"), "clips": env.clip_ids}, indent=1
            ),
        )
    result, budget_hit = trainer.train_budgeted(
        None,
        settings.checkpoint_interval,
        max_seconds=max_seconds,
        started=t0,
        on_progress=on_progress,
    )
    curve.flush(trainer.iteration)
    latest = trainer.latest_checkpoint()
    env.close()
    return TeacherResult(
        run_dir=run_dir,
        iterations=trainer.iteration,
        env_steps=trainer.env_steps,
        resumed_from=resumed,
        seconds=time.perf_counter() - t0,
        checkpoint=latest,
        curve=list(curve.rows),
        clip_ids=env.clip_ids,
        rejected=dict(clipset.rejected),
        stopped_by_budget=budget_hit,
        train_result=result,
    )


# ---- using a trained teacher --------------------------------------------------------------


def checkpoint_sha256(path: Path) -> str:
    """A content hash of a checkpoint folder (its ``meta.json`` lists every file's hash)."""
    return hashlib.sha256((Path(path) / "meta.json").read_bytes()).hexdigest()


class TeacherPolicy:
    """Deterministic actions of a trained teacher for a :class:`TeacherEnv`.

    Build with :func:`load_teacher`; :meth:`act` maps observations ``{group: [N, D]}``
    of ``env`` to the policy mean ``[N, A]``. The env's observation normalisers carry
    the checkpoint's statistics and are frozen.
    """

    def __init__(self, trainer: Trainer, env: TeacherEnv, checkpoint: Path | None) -> None:
        self.trainer = trainer
        self.env = env
        self.checkpoint = checkpoint
        self.sha256 = checkpoint_sha256(checkpoint) if checkpoint is not None else "untrained"
        for e in env.envs:
            if checkpoint is None:
                # The trainer's construction observed one reset batch; statistics of so
                # few rows (zero variance) would feed the untrained network clipped
                # garbage, so the baseline depended on which frames that reset drew.
                e.normalizer.reset()
            e.normalizer.frozen = True

    def act(self, obs: dict[str, NDArray[np.floating]]) -> NDArray[np.float32]:
        return self.trainer.act_deterministic(obs)


def load_teacher(
    run_dir: Path | None,
    env: TeacherEnv,
    settings: TeacherSettings,
    *,
    require: bool = True,
) -> TeacherPolicy:
    """The teacher of ``run_dir`` (newest good checkpoint) acting on ``env``.

    ``run_dir=None`` (or ``require=False`` and no checkpoint) gives the untrained policy
    of ``settings.seed``: the baseline the benchmark compares with.
    """
    from intermimic.rl.checkpoint import CheckpointError

    trainer = Trainer(env, settings.train_settings(), None, stateful=env.stateful(psi=False))
    c = None
    if run_dir is not None:
        root = Path(run_dir) / "checkpoints"
        c = ckpt.load_latest(root)
        if c is None and require:
            raise CheckpointError(
                f"{root}: no usable teacher checkpoint; run `intermimic train-teacher` first"
            )
        if c is not None:
            # evaluation worlds are fresh by design: silence the trainer's resume warning
            train_log = logging.getLogger("intermimic.rl.train")
            level = train_log.level
            train_log.setLevel(logging.ERROR)
            try:
                trainer.load(c, env_state=False)
            finally:
                train_log.setLevel(level)
    return TeacherPolicy(trainer, env, c.path if c is not None else None)


def plot_curve(rows: Sequence[dict[str, Any]], path: Path, title: str = "") -> Path | None:
    """Learning curve PNG (mean episode length and success rate over env steps)."""
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = [r["env_steps"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(x, [r["mean_length"] for r in rows], color="tab:blue", label="mean episode length")
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode length (policy steps)", color="tab:blue")
    ax2 = ax.twinx()
    ax2.plot(x, [r["success_rate"] for r in rows], color="tab:green", label="success rate")
    ax2.set_ylabel("success rate", color="tab:green")
    ax2.set_ylim(0, 1)
    ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path
