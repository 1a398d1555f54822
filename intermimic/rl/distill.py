"""Student distillation: teacher-refined references, DAgger, then PPO fine-tuning.

The pieces, each usable alone:

* :class:`TeacherActor` / :func:`load_teacher_actor`: a trained teacher's actor (an
  rsl-rl MLP) and its environment observation normalisers, read from its run
  directory's newest good checkpoint, acting on teacher observations.
* :class:`StudentEnv`: the :class:`~intermimic.rl.vecenv.NumpyVecEnv` the trainer
  sees. One :class:`~intermimic.env.TrackingEnv` per (subject, object) group, so every
  world has a fixed subject and hence a fixed teacher. After every step the state of
  each world is observed twice: the tracking env's own observation (the teacher's
  future offsets, normalised with the teacher's statistics) goes to the teacher; the
  student's observation (its own offsets, :meth:`TrackingEnv.observe_raw`, unnormalised:
  the normaliser is in the model) goes to the student. Observation groups: ``policy``
  (student), ``critic`` (clip progress), ``teacher`` (the teacher's action mean in the
  student's action space), ``teacher_mask`` (1 where the world has a teacher) and
  ``driven`` (1 where the teacher drives the world this episode). At each episode start
  a world is driven by its teacher with probability beta (DAgger): the executed action
  is then the teacher's, else the student's.
* :class:`StudentPPO`: rsl-rl's storage, GAE and models with our update: the
  distillation loss ``mean ||mu_student - mu_teacher||^2`` (worlds with a teacher), the
  value loss from the start (critic warm-up), and PPO's clipped surrogate on the
  student-driven samples once the :class:`~intermimic.rl.schedules.WarmupGate` opened;
  the distillation weight then decays to its floor.
* :class:`StudentTrainer`: :class:`~intermimic.rl.train.Trainer` (checkpoints, resume,
  TensorBoard) building :class:`StudentPPO` with a student network.
* :func:`train_student`: build it all and train (or resume) for a budget.
* :class:`StudentPolicy` / :func:`load_student`: deterministic student actions for
  evaluation, tracking and export.

rsl-rl's own ``Distillation`` algorithm and ``DistillationRunner`` cover behaviour
cloning with the teacher's observation set only; the method needs per-world teachers
with their own observations, DAgger mixing and a PPO phase, so the algorithm is ours
while storage, models, distributions and normalisers are rsl-rl's.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from rsl_rl.models import MLPModel
from rsl_rl.utils import resolve_class
from tensordict import TensorDict

from intermimic.atomic import write_text_atomic
from intermimic.env import EnvSettings, TrackingEnv
from intermimic.env.settings import PSISettings
from intermimic.errors import InputError
from intermimic.motion.clip import HOIClip
from intermimic.rl import checkpoint as ckpt
from intermimic.rl.checkpoint import CheckpointError
from intermimic.rl.ppo import InterMimicPPO, rsl_rl_config
from intermimic.rl.schedules import WarmupGate, beta, distill_weight, explained_variance
from intermimic.rl.student import ObsLayout, build_student_model, student_model_cfg
from intermimic.rl.student_settings import StudentSettings
from intermimic.rl.teacher import (
    CurveRecorder,
    PSIState,
    TeacherSettings,
    checkpoint_sha256,
    share_worlds,
)
from intermimic.rl.train import Trainer, TrainResult
from intermimic.sim.scene import Scene

log = logging.getLogger(__name__)

SETTINGS_FILE = "student_settings.json"
SUMMARY_FILE = "student.json"


class MissingTeacherError(CheckpointError):
    """A subject the student needs a teacher for has no usable teacher checkpoint."""


# ---- teachers ---------------------------------------------------------------------------


@dataclass
class TeacherActor:
    """A trained teacher's actor and the observation statistics it was trained with."""

    subject: str
    run_dir: Path
    checkpoint: Path
    sha256: str
    settings: TeacherSettings
    actor: MLPModel
    obs_norm: dict[str, dict[str, np.ndarray]]
    """object name -> the tracking env's normaliser state (``mean``, ``var``, ``count``)."""

    @property
    def residual_scale(self) -> float | None:
        s = self.settings
        return s.residual_scale if s.residual_actions else None

    @property
    def obs_dim(self) -> int:
        return int(self.actor.obs_dim)

    def act(self, obs: NDArray[np.floating]) -> NDArray[np.float64]:
        """Action means ``[n, A]`` of normalised teacher observations ``[n, D]``."""
        x = torch.as_tensor(np.asarray(obs, np.float32))
        td = TensorDict({"policy": x}, batch_size=[x.shape[0]])
        with torch.inference_mode():
            return self.actor(td).numpy().astype(np.float64)


def load_teacher_actor(run_dir: Path, subject: str, action_dim: int = 153) -> TeacherActor:
    """The teacher in ``run_dir`` (newest good checkpoint); :class:`MissingTeacherError`
    naming ``subject`` when there is none."""
    run_dir = Path(run_dir)
    c = ckpt.load_latest(run_dir / "checkpoints")
    if c is None:
        raise MissingTeacherError(
            f"subject {subject!r} has no usable teacher checkpoint in {run_dir / 'checkpoints'}; "
            "run `intermimic train-teacher` for it (or --set missing_teacher=skip)"
        )
    saved = run_dir / "teacher_settings.json"
    settings = (
        TeacherSettings(**json.loads(saved.read_text())["settings"])
        if saved.exists()
        else TeacherSettings()
    )
    state = {k[6:]: v for k, v in c.model.items() if k.startswith("actor.")}
    obs_dim = (
        int(state["obs_normalizer._mean"].shape[-1]) if "obs_normalizer._mean" in state else None
    )
    if obs_dim is None:
        first = next(k for k in state if k.startswith("mlp.") and k.endswith("weight"))
        obs_dim = int(state[first].shape[1])
    cls, kwargs = resolve_class(rsl_rl_config(settings.train_settings())["actor"])
    obs = TensorDict({"policy": torch.zeros(1, obs_dim)}, batch_size=[1])
    actor = cls(obs, {"actor": ["policy"]}, "actor", action_dim, **kwargs)
    actor.load_state_dict(state, strict=True)
    actor.eval()
    norms = {
        k[len("obs_norm.") :]: v for k, v in c.state["objects"].items() if k.startswith("obs_norm.")
    }
    return TeacherActor(subject, run_dir, c.path, checkpoint_sha256(c.path), settings, actor, norms)


# ---- the environment ----------------------------------------------------------------------


@dataclass
class StudentGroup:
    """Clips of one subject showing one object, in one scene."""

    subject: str
    object_name: str
    clips: list[HOIClip]
    scene: Scene

    @property
    def name(self) -> str:
        return f"{self.subject}.{self.object_name}"

    @property
    def frames(self) -> int:
        return sum(c.n_frames for c in self.clips)


class DaggerState:
    """Checkpoint state of the DAgger draws (beta, RNG, which worlds the teacher drives)."""

    def __init__(self, env: StudentEnv) -> None:
        self.env = env

    def state_dict(self) -> dict[str, Any]:
        e = self.env
        return {"beta": e.beta, "driven": e.driven.copy(), "rng": e.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        e = self.env
        e.beta = float(state["beta"])
        driven = np.asarray(state["driven"], bool)
        if driven.shape == e.driven.shape:
            e.driven = driven & e.has_teacher
        e.rng.bit_generator.state = state["rng"]


class StudentEnv:
    """Tracking envs, one per :class:`StudentGroup`, as one numpy vec-env (see the module
    docstring). ``teachers`` maps subjects to their :class:`TeacherActor` (subjects
    without one get ``teacher_mask`` 0 and are never teacher-driven). Actions are in the
    student's action space: with ``residual_scale`` offsets from the reference's next
    pose, else absolute; :attr:`last_actions` holds what the tracking envs received."""

    def __init__(
        self,
        envs: Sequence[TrackingEnv],
        groups: Sequence[StudentGroup],
        teachers: Mapping[str, TeacherActor],
        offsets: Sequence[int],
        *,
        residual_scale: float | None,
        beta: float = 0.0,
        seed: int = 0,
    ) -> None:
        if not envs:
            raise ValueError("StudentEnv needs at least one tracking env")
        self.envs = list(envs)
        self.groups = list(groups)
        self.names = [g.name for g in self.groups]
        self.offsets = tuple(int(k) for k in offsets)
        self.num_actions = int(self.envs[0].action_dim)
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
        self.teachers: list[TeacherActor | None] = [teachers.get(g.subject) for g in self.groups]
        for e, g, t in zip(self.envs, self.groups, self.teachers, strict=True):
            if t is None:
                e.normalizer.frozen = True  # the student normalises its own observation
                continue
            if t.obs_dim != e.obs_dim:
                raise InputError(
                    f"teacher of {g.subject!r} observes {t.obs_dim} values, the tracking env "
                    f"gives {e.obs_dim}: it was trained with other observation settings"
                )
            if g.object_name not in t.obs_norm:
                raise InputError(
                    f"teacher of {g.subject!r} ({t.checkpoint}) was not trained on object "
                    f"{g.object_name!r}"
                )
            e.normalizer.load_state_dict(t.obs_norm[g.object_name])
            e.normalizer.frozen = True
        self.has_teacher = np.concatenate(
            [
                np.full(e.n_worlds, t is not None)
                for e, t in zip(self.envs, self.teachers, strict=True)
            ]
        )
        self.layout = ObsLayout(
            len(self.envs[0].scene.humanoid_body_ids),
            int(len(self.envs[0].key_idx) * len(self.envs[0].ig_points)),
            self.offsets,
        )
        self.obs_dim = self.layout.dim
        self.beta = float(beta)
        self.rng = np.random.default_rng(seed)
        self.driven = np.zeros(self.num_envs, bool)
        self.last_actions = np.zeros((self.num_envs, self.num_actions))
        self._teacher_env = np.zeros((self.num_envs, self.num_actions))
        self._teacher_target = np.zeros((self.num_envs, self.num_actions))

    # ---- numpy vec-env API ---------------------------------------------------------------

    def reset(self) -> dict[str, NDArray[np.float32]]:
        teacher_obs = [e.reset() for e in self.envs]
        self._draw(np.arange(self.num_envs))
        return self._obs(teacher_obs)

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
        ref = self.reference_actions()
        student = ref + self.residual_scale * a if self.residual_scale is not None else a
        executed = np.where(self.driven[:, None], self._teacher_env, student)
        self.last_actions = executed
        outs = [e.step(executed[s]) for e, s in zip(self.envs, self.slices, strict=True)]
        reward = np.concatenate([o[1] for o in outs])
        terminated = np.concatenate([o[2] for o in outs])
        truncated = np.concatenate([o[3] for o in outs])
        infos = [o[4] for o in outs]
        driven_frac = float(self.driven.mean())
        done = terminated | truncated
        if done.any():
            self._draw(np.flatnonzero(done))
        obs = self._obs([o[0] for o in outs])
        clip = np.concatenate(
            [i["clip"] + off for i, off in zip(infos, self.clip_offset, strict=True)]
        )
        info: dict[str, Any] = {
            "reward_terms": {
                k: np.concatenate([i["reward_terms"][k] for i in infos])
                for k in infos[0]["reward_terms"]
            },
            "success": truncated & ~terminated,
            "final": {"clip": clip, "frame": np.concatenate([i["frame"] for i in infos])},
            "log": {
                "beta": self.beta,
                "teacher_driven": driven_frac,
                "nan_resets": float(sum(e.n_nan_resets for e in self.envs)),
            },
        }
        return obs, reward, terminated, truncated, info

    def set_beta(self, value: float) -> None:
        """Teacher-driving probability of episodes that start from now on."""
        self.beta = float(value)

    def reference_actions(self) -> NDArray[np.float64]:
        """``[N, A]`` actions whose PD targets are each world's next reference pose."""
        parts = []
        for e, adr in zip(self.envs, self.hinge_qpos, strict=True):
            idx = e.ref.global_index(e.clip, e.frame + 1)
            parts.append(np.clip(e.action_map.actions(e.ref.qpos[idx][:, adr]), -1.0, 1.0))
        return np.concatenate(parts)

    @property
    def exact_state(self) -> bool:
        """Whether every tracking env can save its exact state (bit-exact resume)."""
        return all(
            hasattr(e, "state_dict") and bool(getattr(e, "exact_state", False)) for e in self.envs
        )

    def state_dict(self) -> dict[str, Any]:
        """Each tracking env's state (when they can save it) and the teacher caches."""
        out: dict[str, Any] = {
            f"env.{n}": e.state_dict()  # type: ignore[attr-defined]
            for n, e in zip(self.names, self.envs, strict=True)
        }
        out["last_actions"] = self.last_actions.copy()
        out["teacher_env"] = self._teacher_env.copy()
        out["teacher_target"] = self._teacher_target.copy()
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for n, e in zip(self.names, self.envs, strict=True):
            e.load_state_dict(state[f"env.{n}"])  # type: ignore[attr-defined]
        self.last_actions = np.asarray(state["last_actions"], np.float64).copy()
        self._teacher_env = np.asarray(state["teacher_env"], np.float64).copy()
        self._teacher_target = np.asarray(state["teacher_target"], np.float64).copy()

    def stateful(self, *, psi: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"dagger": DaggerState(self)}
        if psi:
            for name, e in zip(self.names, self.envs, strict=True):
                out[f"psi.{name}"] = PSIState(e)
        return out

    def close(self) -> None:
        for e in self.envs:
            e.close()

    # ---- internals ----------------------------------------------------------------------

    def _draw(self, ids: NDArray[np.int64]) -> None:
        u = self.rng.random(len(ids))
        self.driven[ids] = (u < self.beta) & self.has_teacher[ids]

    def _progress(self) -> NDArray[np.float32]:
        parts = [
            e.frame / np.maximum(e.ref.clip_len[e.clip] - 1, 1).astype(np.float64)
            for e in self.envs
        ]
        return np.concatenate(parts).astype(np.float32)[:, None]

    def _obs(self, teacher_obs: Sequence[NDArray[np.floating]]) -> dict[str, NDArray[np.float32]]:
        ref = self.reference_actions()
        for k, (t, sl) in enumerate(zip(self.teachers, self.slices, strict=True)):
            if t is None:
                self._teacher_env[sl] = 0.0
                self._teacher_target[sl] = 0.0
                continue
            a_t = t.act(teacher_obs[k])
            s_t = t.residual_scale
            env_a = ref[sl] + s_t * a_t if s_t is not None else a_t
            self._teacher_env[sl] = env_a
            s = self.residual_scale
            self._teacher_target[sl] = (env_a - ref[sl]) / s if s is not None else env_a
        student = np.concatenate([e.observe_raw(self.offsets) for e in self.envs])
        return {
            "policy": student.astype(np.float32),
            "critic": self._progress(),
            "teacher": self._teacher_target.astype(np.float32),
            "teacher_mask": self.has_teacher.astype(np.float32)[:, None],
            "driven": self.driven.astype(np.float32)[:, None],
        }


def build_student_env(
    groups: Sequence[StudentGroup],
    teachers: Mapping[str, TeacherActor],
    settings: StudentSettings,
    worlds: Mapping[str, int] | int | None = None,
    *,
    psi: bool | None = None,
    residual_scale: float | str | None = "settings",
    env_settings: EnvSettings | None = None,
) -> StudentEnv:
    """A :class:`StudentEnv` over ``groups``: ``worlds`` per group name (a dict), or a
    total shared out by frames (default ``settings.worlds``). Each group's tracking env
    uses its teacher's environment settings (so the teacher sees what it was trained
    on), else ``env_settings`` (default :class:`EnvSettings`)."""
    from intermimic.sim.factory import make_backend

    if not groups:
        raise InputError("no clips to track")
    if not isinstance(worlds, Mapping):
        counts = share_worlds([g.frames for g in groups], worlds or settings.worlds)
        worlds = {g.name: n for g, n in zip(groups, counts, strict=True)}
    use_psi = settings.psi if psi is None else psi
    envs = []
    for g in groups:
        t = teachers.get(g.subject)
        if t is not None:
            es = t.settings.env_settings(psi=use_psi).model_copy(update={"seed": settings.seed})
        else:
            base = env_settings or EnvSettings()
            es = base.model_copy(
                update={"seed": settings.seed, "psi": PSISettings(enabled=use_psi)}
            )
        opts: dict[str, Any] = {"n_threads": settings.sim_threads}
        if settings.backend == "warp":
            opts = {"device": settings.device if settings.device.startswith("cuda") else None}
        backend = make_backend(settings.backend, g.scene, worlds[g.name], **opts)
        envs.append(TrackingEnv(g.scene, g.clips, backend, settings=es))
    scale = (
        (settings.residual_scale if settings.residual_actions else None)
        if residual_scale == "settings"
        else residual_scale
    )
    start_beta = settings.beta_start if settings.uses_teacher else 0.0
    return StudentEnv(
        envs,
        groups,
        teachers,
        settings.future_offsets,
        residual_scale=scale,  # type: ignore[arg-type]
        beta=start_beta,
        seed=settings.seed,
    )


# ---- the algorithm ------------------------------------------------------------------------


class StudentPPO(InterMimicPPO):
    """rsl-rl PPO with action distillation, a critic warm-up gate and masked PPO terms."""

    def __init__(
        self,
        *args: Any,
        use_distill: bool = True,
        use_ppo: bool = True,
        warmup: bool = True,
        warmup_threshold: float = 0.6,
        warmup_patience: int = 3,
        distill_weight_decay: float = 0.95,
        distill_weight_floor: float = 0.1,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.use_distill = use_distill
        self.use_ppo = use_ppo
        self.decay = distill_weight_decay
        self.floor = distill_weight_floor
        self.gate = WarmupGate(warmup_threshold, warmup_patience)
        if not warmup:
            self.gate.opened_at = 0  # PPO from the first update
        self.on_update: Callable[[int], None] | None = None
        """Called with the number of completed updates after each update (beta)."""

    def update(self) -> dict[str, float]:
        st = self.storage
        ev = explained_variance(st.values.cpu().numpy(), st.returns.cpu().numpy())
        gate_open = self.gate.update(ev)
        ppo_on = self.use_ppo and gate_open
        w_d = (
            distill_weight(
                self.gate.updates_since_open() if ppo_on else None,
                decay=self.decay,
                floor=self.floor,
            )
            if self.use_distill
            else 0.0
        )
        sums = {"value": 0.0, "surrogate": 0.0, "distill": 0.0, "bound": 0.0}
        done = skipped = 0
        for batch in st.mini_batch_generator(self.num_mini_batches, self.num_learning_epochs):
            obs = batch.observations
            assert obs is not None
            self.actor(obs, stochastic_output=True)
            mean = self.actor.output_mean
            values = self.critic(obs)
            if self.use_clipped_value_loss:
                clipped = batch.values + (values - batch.values).clamp(  # type: ignore[operator]
                    -self.clip_param, self.clip_param
                )
                value_loss = torch.max(
                    (values - batch.returns).pow(2), (clipped - batch.returns).pow(2)
                ).mean()
            else:
                value_loss = (batch.returns - values).pow(2).mean()  # type: ignore[operator]
            bound = self.bound_loss(mean)
            loss = self.value_loss_coef * value_loss + self.bound_loss_coef * bound
            distill = torch.zeros(())
            if self.use_distill:
                mask = obs["teacher_mask"].reshape(-1)
                err = (mean - obs["teacher"]).pow(2).mean(dim=-1)
                distill = (err * mask).sum() / mask.sum().clamp_min(1.0)
                loss = loss + w_d * distill
            surrogate = torch.zeros(())
            if ppo_on:
                log_prob = self.actor.get_output_log_prob(batch.actions)  # type: ignore[arg-type]
                adv = torch.squeeze(batch.advantages)  # type: ignore[arg-type]
                ratio = torch.exp(log_prob - torch.squeeze(batch.old_actions_log_prob))  # type: ignore[arg-type]
                per = torch.max(
                    -adv * ratio,
                    -adv * torch.clamp(ratio, 1.0 - self.clip_param, 1.0 + self.clip_param),
                )
                own = 1.0 - obs["driven"].reshape(-1)  # the student's own actions only
                surrogate = (per * own).sum() / own.sum().clamp_min(1.0)
                loss = loss + surrogate - self.entropy_coef * self.actor.output_entropy.mean()
            if not self._guarded_step(loss):
                skipped += 1
                continue
            done += 1
            sums["value"] += value_loss.item()
            sums["surrogate"] += surrogate.item()
            sums["distill"] += distill.item()
            sums["bound"] += bound.item()
        flat = st.observations.flatten(0, 1)
        self.actor.update_normalization(flat)  # type: ignore[arg-type]
        self.critic.update_normalization(flat)  # type: ignore[arg-type]
        st.clear()
        losses = {k: (v / done if done else math.nan) for k, v in sums.items()}
        losses.update(
            {
                "explained_variance": ev,
                "distill_weight": w_d,
                "ppo_active": float(ppo_on),
                "skipped_nonfinite": float(skipped),
            }
        )
        if self.on_update is not None:
            self.on_update(self.gate.updates)
        return losses


def student_config(settings: StudentSettings, layout: ObsLayout) -> dict[str, Any]:
    """The rsl-rl config (``OnPolicyRunner`` format) of a student run."""
    cfg = rsl_rl_config(settings.train_settings())
    cfg["obs_groups"] = {"actor": ["policy"], "critic": ["policy", "critic"]}
    cfg["actor"] = student_model_cfg(
        settings.architecture,
        layout,
        width=settings.width,
        layers=settings.layers,
        heads=settings.heads,
        head_hidden_dims=settings.head_hidden_dims,
        mlp_hidden_dims=settings.mlp_hidden_dims,
        init_log_std=settings.init_log_std,
    )
    cfg["algorithm"].update(
        {
            "class_name": "intermimic.rl.distill:StudentPPO",
            "use_distill": settings.uses_teacher,
            "use_ppo": settings.uses_ppo,
            "warmup": settings.warmup,
            "warmup_threshold": settings.warmup_threshold,
            "warmup_patience": settings.warmup_patience,
            "distill_weight_decay": settings.distill_weight_decay,
            "distill_weight_floor": settings.distill_weight_floor,
        }
    )
    return cfg


def beta_at(settings: StudentSettings, updates: int) -> float:
    """The DAgger beta after ``updates`` completed updates (0 without a teacher)."""
    if not settings.uses_teacher:
        return 0.0
    return beta(
        updates,
        start=settings.beta_start,
        end=settings.beta_end,
        hold=settings.beta_hold_iterations,
        anneal=settings.beta_anneal_iterations,
    )


class StudentTrainer(Trainer):
    """:class:`Trainer` with :class:`StudentPPO` and a student network; the warm-up gate
    is saved in every checkpoint, and beta follows the completed updates."""

    def __init__(
        self,
        env: StudentEnv,
        settings: StudentSettings,
        run_dir: Path | None,
        **kwargs: Any,
    ) -> None:
        self.student_settings = settings
        self._cfg = student_config(settings, env.layout)
        super().__init__(env, settings.train_settings(), run_dir, **kwargs)
        self.student_env = env
        alg = self.alg
        assert isinstance(alg, StudentPPO)
        self.stateful["schedule"] = alg.gate
        alg.on_update = lambda u: env.set_beta(beta_at(settings, u))

    def _build_algorithm(self) -> InterMimicPPO:
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):
            alg = StudentPPO.construct_algorithm(
                self.vecenv.get_observations(), self.vecenv, self._cfg, self.settings.device
            )
        assert isinstance(alg, StudentPPO)
        return alg


# ---- training -------------------------------------------------------------------------------


@dataclass
class StudentResult:
    """What :func:`train_student` did."""

    run_dir: Path | None
    iterations: int
    env_steps: int
    resumed_from: int | None
    seconds: float
    checkpoint: Path | None
    curve: list[dict[str, Any]]
    clip_ids: list[str]
    groups: list[str]
    teachers: dict[str, str] = field(default_factory=dict)
    """subject -> teacher checkpoint SHA-256."""
    stopped_by_budget: bool = False
    gate_opened_at: int | None = None
    last_losses: dict[str, float] = field(default_factory=dict)
    train_result: TrainResult | None = None


def student_meta(settings: StudentSettings, env: StudentEnv) -> dict[str, Any]:
    """What a run directory's ``student_settings.json`` holds besides the settings."""
    return {
        "settings": settings.model_dump(mode="json"),
        "layout": env.layout.to_dict(),
        "obs_dim": env.obs_dim,
        "action_dim": env.num_actions,
        "groups": env.names,
        "clips": env.clip_ids,
        "teachers": {t.subject: t.sha256 for t in env.teachers if t is not None},
    }


def train_student(
    groups: Sequence[StudentGroup],
    teachers: Mapping[str, TeacherActor],
    settings: StudentSettings,
    run_dir: Path | None,
    *,
    max_seconds: float | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> StudentResult:
    """Train (or resume) a student on ``groups`` in ``run_dir``; running it again
    continues from the newest good checkpoint. Stops at ``settings.env_steps`` or after
    ``max_seconds`` of wall clock (checked every ``checkpoint_interval`` iterations)."""
    t0 = time.perf_counter()
    if settings.uses_teacher:
        missing = sorted({g.subject for g in groups} - set(teachers))
        if missing:
            raise MissingTeacherError(
                f"no teacher for subject(s) {', '.join(missing)}: mode {settings.mode!r} needs one"
            )
    env = build_student_env(groups, teachers if settings.uses_teacher else {}, settings)
    ts = settings.train_settings()
    curve = CurveRecorder(run_dir, env.num_envs * ts.ppo.horizon)
    trainer = StudentTrainer(
        env,
        settings,
        run_dir,
        episode_hooks=[curve],
        stateful=env.stateful(psi=settings.psi),
        on_checkpoint=curve.on_checkpoint,
    )
    curve.trainer = trainer
    alg = trainer.alg
    assert isinstance(alg, StudentPPO)
    resumed = trainer.resume()
    curve.truncate(trainer.iteration)
    env.set_beta(beta_at(settings, alg.gate.updates))
    if run_dir is not None:
        write_text_atomic(
            Path(run_dir) / SETTINGS_FILE, json.dumps(student_meta(settings, env), indent=1)
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
    return StudentResult(
        run_dir=run_dir,
        iterations=trainer.iteration,
        env_steps=trainer.env_steps,
        resumed_from=resumed,
        seconds=time.perf_counter() - t0,
        checkpoint=latest,
        curve=list(curve.rows),
        clip_ids=env.clip_ids,
        groups=env.names,
        teachers={t.subject: t.sha256 for t in env.teachers if t is not None},
        stopped_by_budget=budget_hit,
        gate_opened_at=alg.gate.opened_at if settings.uses_ppo else None,
        last_losses=dict(result.history[-1].losses) if result and result.history else {},
        train_result=result,
    )


# ---- using a trained student -----------------------------------------------------------------


class StudentPolicy:
    """A trained student: raw student observations -> deterministic actions.

    ``model`` is the student network (normaliser inside); ``settings`` its
    :class:`StudentSettings`; ``env`` the :class:`StudentEnv` it acts on (set by whoever
    builds one, e.g. evaluation)."""

    kind = "student"

    def __init__(
        self,
        model: Any,
        settings: StudentSettings,
        checkpoint: Path | None,
        meta: dict[str, Any],
    ) -> None:
        self.model = model.eval()
        self.settings = settings
        self.checkpoint = checkpoint
        self.meta = meta
        self.sha256 = checkpoint_sha256(checkpoint) if checkpoint is not None else "untrained"
        self.env: StudentEnv | None = None

    @property
    def offsets(self) -> list[int]:
        return list(self.settings.future_offsets)

    @property
    def residual_scale(self) -> float | None:
        s = self.settings
        return s.residual_scale if s.residual_actions else None

    def act(self, obs: Mapping[str, NDArray[np.floating]]) -> NDArray[np.float32]:
        x = torch.as_tensor(np.asarray(obs["policy"], np.float32))
        with torch.inference_mode():
            return self.model.act_flat(x).numpy().astype(np.float32)


def load_student(run_dir: Path) -> StudentPolicy:
    """The student of ``run_dir`` (newest good checkpoint); :class:`CheckpointError`
    when there is none."""
    run_dir = Path(run_dir)
    meta_path = run_dir / SETTINGS_FILE
    if not meta_path.exists():
        raise CheckpointError(
            f"{run_dir}: no {SETTINGS_FILE}; not a student run (intermimic distill)"
        )
    meta = json.loads(meta_path.read_text())
    settings = StudentSettings(**meta["settings"])
    layout = ObsLayout.from_dict(meta["layout"])
    model = build_student_model(
        student_config(settings, layout)["actor"], int(meta["obs_dim"]), int(meta["action_dim"])
    )
    c = ckpt.load_latest(run_dir / "checkpoints")
    if c is None:
        raise CheckpointError(f"{run_dir / 'checkpoints'}: no usable student checkpoint")
    model.load_state_dict({k[6:]: v for k, v in c.model.items() if k.startswith("actor.")})
    return StudentPolicy(model, settings, c.path, meta)


class TeacherDriver:
    """A teacher evaluated like a student: the env computes its action (``teacher``
    group) and :meth:`act` passes it through. Build the env with the teacher's
    ``residual_scale`` so the two action spaces are the same."""

    kind = "teacher"

    def __init__(self, teacher: TeacherActor) -> None:
        self.teacher = teacher
        self.sha256 = teacher.sha256
        self.checkpoint = teacher.checkpoint
        self.env: StudentEnv | None = None

    @property
    def residual_scale(self) -> float | None:
        return self.teacher.residual_scale

    def act(self, obs: Mapping[str, NDArray[np.floating]]) -> NDArray[np.float32]:
        return np.asarray(obs["teacher"], np.float32)
