"""Rollouts: run a policy on clips and record every simulated frame (refinement, evaluation).

Refinement replays a trained teacher on every clip and keeps the simulated motion. For
each clip, ``attempts`` worlds start from the clip's MoCap state at frame 0 and run
the teacher's deterministic policy (attempt 0 exactly; later attempts add Gaussian
action noise of std ``attempt_noise`` from a seeded generator, so they explore nearby
outcomes). An attempt ends at the clip's last frame (success) or at early termination.
The best attempt (longest, then lowest mean key-body + object error) is the refined
motion.

What is recorded per frame (``[L+1, ...]``, frame 0 the start state, ``L`` the policy
steps survived): ``qpos``, ``qvel``, body poses and velocities, object pose and
velocities, the ``actions`` the tracking env applied (PD target map input, after the
residual is added to the reference; the row of the last frame is 0), per-body contact
forces ``[52, 3]`` (object, ground, self), and the tracking errors ``key_body_error`` (m,
mean over key bodies) and ``object_error`` (m, mean over object surface points).

The simulation is read through a thin backend proxy that snapshots the states after
every physics step, *before* the environment's auto-reset replaces a finished world's
state, so the terminal frame of an episode is kept. Starts come from a scripted stand-in
for the PSI buffer. Everything else is the training environment itself, so observations
and termination are exactly those the teacher was trained with.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from intermimic.env import TrackingEnv
from intermimic.env.geometry import object_points, quat_to_matrix
from intermimic.humanoid.embodiment import SmplxEmbodiment
from intermimic.motion.clip import HOIClip
from intermimic.motion.kinematics import euler_xyz_to_rotvec
from intermimic.rl.clipset import ClipSet
from intermimic.rl.teacher_env import build_teacher_env_exact
from intermimic.rl.teacher_policy import TeacherPolicy, load_teacher
from intermimic.rl.teacher_settings import TeacherSettings
from intermimic.rl.vecenv import to_host
from intermimic.sim.backend import BodyStates, SimBackend

F64 = NDArray[np.float64]

#: Per-frame series of a rollout, besides the clip fields (stored with the refined clip).
SERIES = (
    "qpos",
    "qvel",
    "actions",
    "contact_forces",
    "body_linvel",
    "body_angvel",
    "obj_linvel",
    "obj_angvel",
    "key_body_error",
    "object_error",
)


@dataclass
class Rollout:
    """One attempt on one clip. ``arrays`` are per-frame ``[duration + 1, ...]``."""

    clip_id: str
    object_name: str
    attempt: int
    success: bool
    duration: int
    """Policy steps tracked before early termination or the clip's end."""
    clip_frames: int
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    ended_by: tuple[str, ...] = ()
    """Why the attempt ended: the early-termination reasons of its last step
    (:data:`~intermimic.env.termination.REASONS`; ``"non_finite"`` for a world whose
    state broke), ``("clip_end",)`` at the clip's last frame, ``("episode_cap",)`` when
    the episode cap cut it; empty where unknown (plans cached before it was recorded)."""

    @property
    def e_h(self) -> float:
        """Mean key-body error (m) over the tracked frames."""
        return float(np.mean(self.arrays["key_body_error"]))

    @property
    def e_o(self) -> float:
        """Mean object surface-point error (m) over the tracked frames."""
        return float(np.mean(self.arrays["object_error"]))

    @property
    def duration_fraction(self) -> float:
        return self.duration / max(self.clip_frames - 1, 1)

    def sort_key(self) -> tuple[float, float]:
        """Smaller is better: longer first, then lower error."""
        return (-self.duration, self.e_h + self.e_o)


class _ScriptedStarts:
    """Stands in for the PSI buffer: the first draw returns the given starts, later draws
    (auto-resets of finished worlds, whose data is no longer recorded) the first one."""

    def __init__(self, frames: NDArray[np.int64], states: F64, device: torch.device) -> None:
        self.frames = frames
        self.states = torch.from_numpy(np.asarray(states, np.float64)).to(device)
        self.used = False

    def sample(self, n: int) -> tuple[NDArray[np.int64], torch.Tensor, NDArray[np.bool_]]:
        if not self.used and n == len(self.frames):
            self.used = True
            return self.frames.copy(), self.states.clone(), np.ones(n, bool)
        return (
            np.repeat(self.frames[:1], n),
            self.states[:1].repeat(n, 1),
            np.ones(n, bool),
        )

    def add(self, frames: Any, states: Any) -> None:
        pass

    def report(self, frames: Any, failed: Any) -> None:
        pass

    def admit(self, frames: Any, states: Any, scores: Any) -> None:
        pass

    def decay(self) -> None:
        pass


class RecordingBackend:
    """Delegates to a backend; after every ``step`` keeps a snapshot of the new state
    (``last``: ``qpos``, ``qvel``, ``bs`` host :class:`BodyStates`, ``forces``, and the
    solver's ``warmstart``, with which a world reset to the state steps on as this one
    would), taken before the environment's auto-reset can replace a finished world's
    state."""

    def __init__(self, inner: SimBackend) -> None:
        self._inner = inner
        self.last: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def snapshot(self) -> dict[str, Any]:
        b = self._inner
        return {
            "qpos": b.qpos(),
            "qvel": b.qvel(),
            "bs": b.body_states(),
            "forces": b.contact_forces().copy(),
            "warmstart": b.warmstart(),
        }

    def step(self, substeps: int) -> None:
        self._inner.step(substeps)
        self.last = self.snapshot()


def key_body_error(pos: F64, ref_pos: F64, key_idx: NDArray[np.int64]) -> F64:
    """``[N]`` mean distance (m) of the key bodies ``key_idx`` of body positions ``pos
    [N, B, 3]`` from the reference's ``ref_pos [N, B, 3]`` at the same frames: the
    recorded ``key_body_error`` (E_h per frame)."""
    return np.linalg.norm(pos[:, key_idx] - ref_pos[:, key_idx], axis=-1).mean(axis=-1)


def _errors(env: TrackingEnv, bs: BodyStates, idx: NDArray[np.int64]) -> tuple[F64, F64]:
    """``(key-body error [N], object error [N])`` in m against reference frames ``idx``."""
    ref = env.ref
    e_h = key_body_error(bs.pos, ref.body_pos[idx], env.key_idx)
    # float64 on the host: the recorded errors are exact
    q, p = torch.from_numpy(bs.obj_quat), torch.from_numpy(bs.obj_pos)
    pts = object_points(p, quat_to_matrix(q), torch.from_numpy(env.points)).numpy()
    e_o = np.linalg.norm(pts - ref.points[idx], axis=-1).mean(axis=-1)
    return e_h, e_o


def frame_record(
    env: TrackingEnv, snap: dict[str, Any], idx: NDArray[np.int64], actions: F64
) -> dict[str, np.ndarray]:
    """One recorded frame of every world in ``snap`` (a :class:`RecordingBackend`
    snapshot) against reference frames ``idx``, with the ``actions`` row."""
    bs: BodyStates = snap["bs"]
    e_h, e_o = _errors(env, bs, idx)
    return {
        "qpos": snap["qpos"],
        "qvel": snap["qvel"],
        "body_pos": bs.pos,
        "body_quat": bs.quat,
        "body_linvel": bs.linvel,
        "body_angvel": bs.angvel,
        "obj_pos": bs.obj_pos,
        "obj_quat": bs.obj_quat,
        "obj_linvel": bs.obj_linvel,
        "obj_angvel": bs.obj_angvel,
        "contact_forces": snap["forces"],
        "actions": actions,
        "key_body_error": e_h,
        "object_error": e_o,
    }


def rollout_env(
    policy: TeacherPolicy,
    attempts: int,
    noise: float = 0.0,
    seed: int = 0,
    init_noise: float = 0.0,
) -> list[Rollout]:
    """Run every attempt of every clip of ``policy.env`` (built with ``len(clips) x
    attempts`` worlds per tracking env, world ``w`` = clip ``w // attempts``, attempt
    ``w % attempts``) to its end; one :class:`Rollout` per world. ``init_noise`` (rad)
    adds Gaussian noise to every world's initial hinge angles (robustness tests)."""
    tenv = policy.env
    rng = np.random.default_rng(seed)
    for e in tenv.envs:
        n = e.n_worlds
        local = np.arange(n) // attempts
        frames = e.ref.clip_start[local].astype(np.int64)
        starts = e.ref.states()[frames]
        if init_noise > 0:
            hinge = e.scene.humanoid_qpos_adr[7:]
            starts[:, hinge] += rng.standard_normal((n, len(hinge))) * init_noise
        e.psi = _ScriptedStarts(frames, starts, e.device)  # type: ignore[assignment]
        # An attempt runs its clip to the end: lift the training episode cap
        # (EnvSettings.rollout_length, 300 steps) above the longest clip.
        cap = int(e.ref.clip_len.max()) + 1
        e.settings = e.settings.model_copy(update={"rollout_length": cap})
        e.backend = RecordingBackend(e.backend)  # type: ignore[assignment]
    obs = tenv.reset()
    records: list[list[dict[str, np.ndarray]]] = []
    for e in tenv.envs:
        snap = e.backend.snapshot()  # type: ignore[attr-defined]
        idx = e.ref.global_index(*e.clip_frame())
        records.append([frame_record(e, snap, idx, np.zeros((e.n_worlds, tenv.num_actions)))])
    attempt = np.arange(tenv.num_envs) % attempts
    alive = np.ones(tenv.num_envs, bool)
    success = np.zeros(tenv.num_envs, bool)
    duration = np.zeros(tenv.num_envs, np.int64)
    ended_by: dict[int, tuple[str, ...]] = {}
    for t in range(tenv.max_episode_length):
        actions = np.asarray(policy.act(obs), np.float64)
        if noise > 0:
            jitter = rng.standard_normal(actions.shape) * noise
            actions = actions + np.where((attempt > 0)[:, None], jitter, 0.0)
        before = [e.clip_frame() for e in tenv.envs]
        obs, _, terminated_t, truncated_t, info = tenv.step(actions)
        terminated, truncated = to_host(terminated_t), to_host(truncated_t)
        last_actions = to_host(tenv.last_actions)
        for k, (e, sl) in enumerate(zip(tenv.envs, tenv.slices, strict=True)):
            clip, frame = before[k]
            idx = e.ref.global_index(clip, frame + 1)
            snap = e.backend.last  # type: ignore[attr-defined]
            # the actions row belongs to the frame they were applied at (the previous one)
            records[k][-1]["actions"] = np.where(
                alive[sl, None], last_actions[sl], records[k][-1]["actions"]
            )
            records[k].append(frame_record(e, snap, idx, np.zeros_like(actions[sl])))
        done = (terminated | truncated) & alive
        if done.any():
            reasons = {name: to_host(v) for name, v in info["terminated_by"].items()}
            clip_end = to_host(info["success"])
            for w in np.nonzero(done)[0].tolist():
                ended_by[w] = end_reasons(
                    bool(terminated[w]),
                    bool(clip_end[w]),
                    {name: bool(v[w]) for name, v in reasons.items()},
                )
        duration[alive] = t + 1
        success |= truncated & alive
        alive &= ~done
        if not alive.any():
            break
    out: list[Rollout] = []
    for k, (e, sl) in enumerate(zip(tenv.envs, tenv.slices, strict=True)):
        stacked = {name: np.stack([r[name] for r in records[k]], axis=1) for name in records[k][0]}
        name = tenv.names[k]
        for w in range(e.n_worlds):
            g = sl.start + w
            c = w // attempts
            n = int(duration[g]) + 1
            out.append(
                Rollout(
                    clip_id=e.ref.clip_ids[c],
                    object_name=name,
                    attempt=int(attempt[g]),
                    success=bool(success[g]),
                    duration=int(duration[g]),
                    clip_frames=int(e.ref.clip_len[c]),
                    arrays={key: v[w, :n].copy() for key, v in stacked.items()},
                    ended_by=ended_by.get(g, ("episode_cap",)),
                )
            )
    return out


def end_reasons(terminated: bool, clip_end: bool, reasons: dict[str, bool]) -> tuple[str, ...]:
    """:attr:`Rollout.ended_by` of a world's last step: the early-termination
    ``reasons`` that fired (``"non_finite"`` if it terminated with none: the env ends a
    broken world by its own test), else ``"clip_end"`` or ``"episode_cap"``."""
    if terminated:
        return tuple(k for k, v in reasons.items() if v) or ("non_finite",)
    return ("clip_end",) if clip_end else ("episode_cap",)


def best_rollouts(rollouts: Sequence[Rollout]) -> dict[str, Rollout]:
    """The best attempt per clip id (longest, then lowest error; ties: lowest attempt)."""
    best: dict[str, Rollout] = {}
    for r in sorted(rollouts, key=lambda r: (r.clip_id, r.sort_key(), r.attempt)):
        best.setdefault(r.clip_id, r)
    return best


def evaluate(
    clipset: ClipSet,
    settings: TeacherSettings,
    run_dir: Any | None,
    *,
    attempts: int | None = None,
    noise: float | None = None,
    max_worlds: int | None = None,
    require: bool = True,
) -> dict[str, Rollout]:
    """Best rollout per clip of ``clipset`` for the teacher in ``run_dir`` (``None``: the
    untrained policy of ``settings.seed``); arguments as :func:`iter_attempts`."""
    best: dict[str, Rollout] = {}
    for batch in iter_attempts(
        clipset, settings, run_dir,
        attempts=attempts, noise=noise, max_worlds=max_worlds, require=require,
    ):  # fmt: skip
        best.update(best_rollouts(batch))
    return best


def iter_attempts(
    clipset: ClipSet,
    settings: TeacherSettings,
    run_dir: Any | None,
    *,
    attempts: int | None = None,
    noise: float | None = None,
    max_worlds: int | None = None,
    require: bool = True,
) -> Iterator[list[Rollout]]:
    """Every attempt (default ``settings.attempts``, noise ``settings.attempt_noise``)
    on every clip of ``clipset``, one list per batch of at most ``max_worlds`` worlds
    (default ``settings.worlds``), so a caller can keep only what it needs."""
    att = attempts if attempts is not None else settings.attempts
    sigma = noise if noise is not None else settings.attempt_noise
    per_batch = max(1, (max_worlds or settings.worlds) // att)
    clips = [(name, c) for name, g in clipset.groups.items() for c in g]
    for b in range(0, len(clips), per_batch):
        part = clips[b : b + per_batch]
        groups: dict[str, list[HOIClip]] = {}
        for name, c in part:
            groups.setdefault(name, []).append(c)
        sub = ClipSet(groups, {k: clipset.scenes[k] for k in groups})
        env = build_teacher_env_exact(sub, settings, {k: len(v) * att for k, v in groups.items()})
        try:
            policy = load_teacher(run_dir, env, settings, require=require)
            rollouts = rollout_env(policy, att, sigma, seed=settings.seed + b)
        finally:
            env.close()
        yield rollouts


def summarize(best: dict[str, Rollout]) -> dict[str, float]:
    """Success rate, mean duration (steps and fraction of the clip), E_h and E_o (cm).

    Errors are averaged over every tracked frame of every clip (frame-weighted)."""
    rs = list(best.values())
    if not rs:
        return {}
    e_h = np.concatenate([r.arrays["key_body_error"] for r in rs])
    e_o = np.concatenate([r.arrays["object_error"] for r in rs])
    return {
        "clips": float(len(rs)),
        "success_rate": float(np.mean([r.success for r in rs])),
        "mean_duration": float(np.mean([r.duration for r in rs])),
        "mean_duration_fraction": float(np.mean([r.duration_fraction for r in rs])),
        "e_h_cm": float(100 * e_h.mean()),
        "e_o_cm": float(100 * e_o.mean()),
    }


def refined_clip(
    rollout: Rollout,
    raw: HOIClip,
    scene: Any,
    *,
    dataset: str,
    source_sha256: str,
    source_path: str = "",
) -> HOIClip:
    """The simulated motion of ``rollout`` as an :class:`HOIClip` of ``dataset``.

    Root and joint rotations come from the simulated ``qpos`` (hinge angles back to
    rotation vectors), body and object poses from the simulation; contact labels and the
    object-contact flag are the raw clip's (the intent), cut to the tracked length."""
    a = rollout.arrays
    n = a["qpos"].shape[0]
    hq = a["qpos"][:, scene.humanoid_qpos_adr]
    if isinstance(scene.embodiment, SmplxEmbodiment):
        hq = scene.embodiment.smplx_qpos(hq)  # welded fingers (hands="body") at their pose
    root_quat = hq[:, 3:7] / np.linalg.norm(hq[:, 3:7], axis=1, keepdims=True)
    rotvec = euler_xyz_to_rotvec(hq[:, 7:].reshape(n, -1, 3))
    f32 = np.float32
    meta = raw.meta.model_copy(
        update={
            "dataset": dataset,
            "source_path": source_path,
            "source_sha256": source_sha256,
            "source_format": "teacher-rollout",
        }
    )
    return HOIClip(
        meta=meta,
        root_pos=hq[:, :3].astype(f32),
        root_quat=root_quat.astype(f32),
        joint_rotvec=rotvec.astype(f32),
        body_pos=a["body_pos"].astype(f32),
        body_quat=a["body_quat"].astype(f32),
        obj_pos=a["obj_pos"].astype(f32),
        obj_quat=a["obj_quat"].astype(f32),
        contact=np.asarray(raw.contact[:n], np.int8),
        obj_contact=np.asarray(raw.obj_contact[:n], np.int8),
    )


def rollout_series(rollout: Rollout) -> dict[str, np.ndarray]:
    """The :data:`SERIES` of a rollout as float32 arrays (for ``Store.write_series``)."""
    return {k: np.asarray(rollout.arrays[k], np.float32) for k in SERIES}
