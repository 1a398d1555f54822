"""The environment a student trains in: tracking envs with per-world teachers and DAgger.

:class:`StudentEnv` is the :class:`~intermimic.rl.vecenv.ArrayVecEnv` the trainer sees.
One :class:`~intermimic.env.TrackingEnv` per (subject, object) :class:`StudentGroup`, so
every world has a fixed subject and hence a fixed teacher. After every step the state of
each world is observed twice: the tracking env's own observation (the teacher's future
offsets, normalised with the teacher's statistics) goes to the teacher; the student's
observation (its own offsets, :meth:`TrackingEnv.observe_raw`, unnormalised: the
normaliser is in the model) goes to the student. Observation groups: ``policy``
(student), ``critic`` (clip progress), ``teacher`` (the teacher's action mean in the
student's action space), ``teacher_mask`` (1 where the world has a teacher) and
``driven`` (1 where the teacher drives the world this episode). At each episode start a
world is driven by its teacher with probability beta (DAgger): the executed action is
then the teacher's, else the student's. :class:`DaggerState` saves those draws in
checkpoints.

A teacher's action is its own base plus its residual: the reference's next-pose action,
or, for a teacher trained on a plan (:attr:`TeacherActor.feedforward`), the plan's action
where it covers the world's clip frame. The student's base is always the reference's (a
general student has no plan), so its label is ``(teacher action - reference) / scale``.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import mujoco
import numpy as np
import torch
from numpy.typing import NDArray

from intermimic.env import EnvSettings, TrackingEnv
from intermimic.env.settings import ObservationSettings, PSISettings
from intermimic.errors import InputError
from intermimic.motion.clip import HOIClip
from intermimic.rl.plan_feedback import plan_group, record_plan_observations
from intermimic.rl.student_model import ObsLayout
from intermimic.rl.student_settings import StudentSettings
from intermimic.rl.teacher_actor import TeacherActor
from intermimic.rl.teacher_env import PSIState, share_worlds
from intermimic.rl.vecenv import Array, to_host
from intermimic.sim.factory import make_backend
from intermimic.sim.scene import Scene


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
            _same_physics(e, t, g.subject)
            if g.object_name not in t.obs_norm:
                raise InputError(
                    f"teacher of {g.subject!r} ({t.checkpoint}) was not trained on object "
                    f"{g.object_name!r}"
                )
            e.normalizer.load_state_dict(t.obs_norm[g.object_name])
            e.normalizer.frozen = True
        # Each teacher's own base where it was trained on a plan (None: the reference's).
        self._teacher_ff = [
            None if t is None else t.feedforward_for(e.ref, e.action_dim)
            for e, t in zip(self.envs, self.teachers, strict=True)
        ]
        # A planner_fb teacher's mean needs the observations its plans pass through, in
        # this env (a replay of each plan here; the env's own base stays the reference's).
        self._teacher_plan_obs = [
            record_plan_observations(e, ff)
            if t is not None and ff is not None and t.settings.recipe == "planner_fb"
            else None
            for e, t, ff in zip(self.envs, self.teachers, self._teacher_ff, strict=True)
        ]
        self.has_teacher = np.concatenate(
            [
                np.full(e.n_worlds, t is not None)
                for e, t in zip(self.envs, self.teachers, strict=True)
            ]
        )
        e0 = self.envs[0]
        layouts = {e.obs_layout for e in self.envs}
        if len(layouts) > 1:
            # one student observes every world: one layout (the teachers' trained ones)
            seen = ", ".join(
                f"{n}: {e.obs_layout}" for n, e in zip(self.names, self.envs, strict=True)
            )
            raise InputError(
                f"the tracking envs observe in different layouts ({seen}); one student "
                "observes every world: train the teachers with one obs_layout"
            )
        self.layout = ObsLayout(
            len(e0.scene.humanoid_body_ids),
            int(len(e0.key_idx) * len(e0.ig_points)),
            self.offsets,
            e0.obs_layout,
            len(e0.key_idx) if e0.obs_layout == "released" else 0,
            len(e0.spin_idx) if e0.obs_layout == "released" else 0,
        )
        self.obs_dim = self.layout.dim
        self.beta = float(beta)
        self.rng = np.random.default_rng(seed)
        self.driven = np.zeros(self.num_envs, bool)
        self.last_actions = np.zeros((self.num_envs, self.num_actions))
        self._teacher_env = np.zeros((self.num_envs, self.num_actions))
        self._teacher_target = np.zeros((self.num_envs, self.num_actions))

    # ---- vec-env API ---------------------------------------------------------------------

    def reset(self) -> dict[str, NDArray[np.float32]]:
        teacher_obs = [to_host(e.reset()) for e in self.envs]
        self._draw(np.arange(self.num_envs))
        return self._obs(teacher_obs)

    def step(
        self, actions: Array
    ) -> tuple[
        dict[str, NDArray[np.float32]],
        NDArray[np.float64],
        NDArray[np.bool_],
        NDArray[np.bool_],
        dict[str, Any],
    ]:
        a = to_host(actions).astype(np.float64)
        ref = self.reference_actions()
        student = ref + self.residual_scale * a if self.residual_scale is not None else a
        executed = np.where(self.driven[:, None], self._teacher_env, student)
        self.last_actions = executed
        # The distillation bookkeeping (teachers, DAgger draws) is host numpy: the tracking
        # envs' tensors come over here (zero-copy on the CPU).
        steps = [e.step(executed[s]) for e, s in zip(self.envs, self.slices, strict=True)]
        outs = [(to_host(o), to_host(r), to_host(te), to_host(tr)) for o, r, te, tr, _ in steps]
        infos = [st[4] for st in steps]
        reward = np.concatenate([o[1] for o in outs])
        terminated = np.concatenate([o[2] for o in outs])
        truncated = np.concatenate([o[3] for o in outs])
        driven_frac = float(self.driven.mean())
        done = terminated | truncated
        if done.any():
            self._draw(np.flatnonzero(done))
        obs = self._obs([o[0] for o in outs])
        clip = np.concatenate(
            [to_host(i["clip"]) + off for i, off in zip(infos, self.clip_offset, strict=True)]
        )
        info: dict[str, Any] = {
            "reward_terms": {
                k: np.concatenate([to_host(i["reward_terms"][k]) for i in infos])
                for k in infos[0]["reward_terms"]
            },
            # the early-termination reasons, per world (as the teacher env's)
            "terminated_by": {
                k: np.concatenate([to_host(i["terminated_by"][k]) for i in infos])
                for k in infos[0]["terminated_by"]
            },
            # reached the clip's last frame (not truncated by the rollout_length cap)
            "success": np.concatenate([to_host(i["clip_end"]) for i in infos]),
            "final": {
                "clip": clip,
                "frame": np.concatenate([to_host(i["frame"]) for i in infos]),
            },
            "log": {
                "beta": self.beta,
                "teacher_driven": driven_frac,
                # a tensor, as the teacher's: no extra host read for a log value
                "nan_resets": torch.stack([e.nan_counters[0] for e in self.envs])
                .sum()
                .to(torch.float32),
            },
        }
        return obs, reward, terminated, truncated, info

    def set_beta(self, value: float) -> None:
        """Teacher-driving probability of episodes that start from now on."""
        self.beta = float(value)

    def reference_actions(self) -> NDArray[np.float64]:
        """``[N, A]`` actions whose PD targets are each world's next reference pose."""
        return np.concatenate([e.reference_actions() for e in self.envs])

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
        parts = []
        for e in self.envs:
            clip, frame = e.clip_frame()
            parts.append(frame / np.maximum(e.ref.clip_len[clip] - 1, 1).astype(np.float64))
        return np.concatenate(parts).astype(np.float32)[:, None]

    def _obs(self, teacher_obs: Sequence[NDArray[np.floating]]) -> dict[str, NDArray[np.float32]]:
        ref = self.reference_actions()
        for k, (t, sl) in enumerate(zip(self.teachers, self.slices, strict=True)):
            if t is None:
                self._teacher_env[sl] = 0.0
                self._teacher_target[sl] = 0.0
                continue
            plan = None
            if t.settings.recipe == "planner_fb":
                e = self.envs[k]
                o = torch.as_tensor(np.asarray(teacher_obs[k], np.float32), device=e.device)
                plan = to_host(plan_group(e, self._teacher_plan_obs[k], o))
            a_t = t.act(teacher_obs[k], plan)
            s_t = t.residual_scale
            base, ff = ref[sl], self._teacher_ff[k]
            if ff is not None:  # the teacher's own base: its plan where it covers the frame
                base = ff.apply(self.envs[k].ref.global_index(*self.envs[k].clip_frame()), base)
            env_a = base + s_t * a_t if s_t is not None else a_t
            self._teacher_env[sl] = env_a
            s = self.residual_scale
            self._teacher_target[sl] = (env_a - ref[sl]) / s if s is not None else env_a
        student = np.concatenate([to_host(e.observe_raw(self.offsets)) for e in self.envs])
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
    on, its observation layout included), else ``env_settings`` (default
    :class:`EnvSettings` with the observation layout of the groups' teachers, so that
    every world observes alike)."""
    if not groups:
        raise InputError("no clips to track")
    if not isinstance(worlds, Mapping):
        counts = share_worlds([g.frames for g in groups], worlds or settings.worlds)
        worlds = {g.name: n for g, n in zip(groups, counts, strict=True)}
    use_psi = settings.psi if psi is None else psi
    if env_settings is None:
        layouts = {t.settings.obs_layout for g in groups if (t := teachers.get(g.subject))}
        layout = layouts.pop() if len(layouts) == 1 else "compact"
        env_settings = EnvSettings(observation=ObservationSettings(layout=layout))
    envs = []
    for g in groups:
        t = teachers.get(g.subject)
        if t is not None:
            es = t.settings.env_settings(psi=use_psi).model_copy(update={"seed": settings.seed})
        else:
            es = env_settings.model_copy(
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


def _same_physics(env: TrackingEnv, teacher: TeacherActor, subject: str) -> None:
    """Refuse a teacher trained on other physics than the student env's scene: its
    actions would drive another simulation than the one they were learned in."""
    want = teacher.settings.scene_settings()
    scene = env.scene
    m = scene.model
    have = (float(m.opt.timestep), tuple(float(x) for x in m.geom_solref[scene.ground_geom_id]))
    # the hands' grip: the object's collision geoms carry it (SceneSettings.object_solref)
    parts = [g for g in scene.object_geom_ids if m.geom_contype[g] or m.geom_conaffinity[g]]
    grip = tuple(float(x) for x in m.geom_solref[parts[0]]) if parts else want.object_solref
    cone = "elliptic" if m.opt.cone == mujoco.mjtCone.mjCONE_ELLIPTIC else "pyramidal"
    if (
        abs(have[0] - want.timestep) > 1e-9
        or not np.allclose(have[1], want.ground_solref)
        or not np.allclose(grip, want.object_solref)
        or cone != want.friction_cone
        or abs(float(m.opt.impratio) - want.impratio) > 1e-9
    ):
        raise InputError(
            f"teacher of {subject!r} ({teacher.checkpoint}) was trained at "
            f"physics_hz={teacher.settings.physics_hz}, ground solref "
            f"{teacher.settings.ground_solref}, object solref {want.object_solref}, "
            f"{want.friction_cone} friction cone, impratio {want.impratio:g}; the student's "
            f"scene steps at {1.0 / have[0]:g} Hz with ground solref {have[1]}, object "
            f"solref {grip}, {cone} cone, impratio {float(m.opt.impratio):g}: distil from "
            "teachers of the default physics"
        )
