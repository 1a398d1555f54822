"""The environment a teacher trains in.

A subject's clips may show several objects (sub2: largetable and woodchair) while a
:class:`~intermimic.env.TrackingEnv` holds one object, so :class:`TeacherEnv` stacks one
tracking env per object (worlds shared out by frames) behind one policy and is the
:class:`~intermimic.rl.vecenv.ArrayVecEnv` the trainer sees. By default
(``residual_actions``) the policy's action is an offset from the PD targets of the
reference's next pose: a project choice that makes the untrained policy track for a
second instead of falling at once, so a CPU budget goes into corrections. It reports
``reward_terms``, ``terminated_by`` (IET reason -> ``[N]``), ``success`` (the episode
reached its clip's last frame without early termination) and ``final`` (``clip``:
subject-wide clip index, ``frame``).

:class:`PSIState` gives an env's PSI buffer ``state_dict``/``load_state_dict``, so the
buffer (filled inside the env with states its rollouts reached, see
``PSISettings.rule``) is saved in every checkpoint and restored on resume; the env's
observation normaliser is saved beside it. :class:`FeedForwardState` does the same for
the feed-forward base actions (:meth:`TeacherEnv.set_feedforward`, recipe
``planner_ff``), so evaluation, refinement and the student act on the base the teacher
was trained with.

:func:`build_teacher_env` and :func:`build_teacher_env_exact` build the env over a
:class:`~intermimic.rl.clipset.ClipSet` (:func:`~intermimic.rl.clipset.prepare_clips`).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from intermimic.env import TrackingEnv
from intermimic.env.feedforward import FeedForwardError
from intermimic.rl.clipset import ClipSet
from intermimic.rl.plan_feedback import (
    PLAN_GROUP,
    PlanObservations,
    plan_group,
    record_plan_observations,
)
from intermimic.rl.teacher_settings import TeacherSettings
from intermimic.sim.factory import make_backend

log = logging.getLogger(__name__)


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
    """One or more :class:`TrackingEnv` (one per object) as one vec-env (torch tensors on
    the tracking envs' device).

    Observations: ``policy [N, obs_dim]`` (each tracking env's normalised observation)
    and ``critic [N, 1]`` (the fraction of the clip already played: the value of a
    truncated episode depends on it). Actions ``[N, action_dim]`` in ``[-1, 1]``; with
    ``residual_scale`` they are offsets: the tracking env receives
    ``reference_actions() + residual_scale * actions`` (the PD targets of the next
    reference pose, plus a correction), and :attr:`last_actions` keeps what it received.
    With :meth:`set_feedforward` the base is a plan's action where the plan covers the
    world's clip frame (a zero residual replays the plan), the reference's elsewhere.
    With ``plan_feedback`` (recipe ``planner_fb``) the observations also carry the
    actor's ``plan`` group ``[N, obs_dim + 2]`` (:func:`~intermimic.rl.plan_feedback.
    plan_group`), recorded again whenever the plans change.
    """

    def __init__(
        self,
        envs: Sequence[TrackingEnv],
        names: Sequence[str],
        *,
        residual_scale: float | None = None,
        plan_feedback: bool = False,
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
        self.device = self.envs[0].device
        self.last_actions = torch.zeros(
            (self.num_envs, self.num_actions), dtype=torch.float64, device=self.device
        )
        """The env-level actions (PD target map input, float64) of the last step."""
        self.feedforward: dict[str, NDArray[np.float64]] = {}
        """Clip id -> feed-forward actions ``[n, A]`` as given to :meth:`set_feedforward`
        (also those of clips no tracking env holds: they are saved as they came)."""
        self.plan_feedback = plan_feedback
        """Whether observations carry the actor's ``"plan"`` group (recipe ``planner_fb``,
        :mod:`intermimic.rl.plan_feedback`)."""
        self.plan_obs: list[PlanObservations | None] = [None] * len(self.envs)
        """Per tracking env: the observations its plans' replays pass through."""

    def _critic(self) -> torch.Tensor:
        parts = [
            e.frame.to(torch.float32) / (e.rt.clip_len[e.clip] - 1).clamp(min=1).to(torch.float32)
            for e in self.envs
        ]
        return torch.cat(parts)[:, None]

    def groups_of(self, per_env: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        """The observation groups of the tracking envs' normalised observations
        ``per_env`` (one ``[n_e, D]`` each, as their ``step``/``reset_to`` return them)."""
        out = {"policy": torch.cat(list(per_env)), "critic": self._critic()}
        if self.plan_feedback:
            out[PLAN_GROUP] = torch.cat(
                [
                    plan_group(e, t, o)
                    for e, t, o in zip(self.envs, self.plan_obs, per_env, strict=True)
                ]
            )
        return out

    def reset(self) -> dict[str, torch.Tensor]:
        return self.groups_of([e.reset() for e in self.envs])

    def step(
        self, actions: torch.Tensor | NDArray[np.floating]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        a = torch.as_tensor(actions, device=self.device).to(torch.float64)
        if self.residual_scale is not None:
            a = self.reference_actions() + self.residual_scale * a
        self.last_actions = a
        outs = [e.step(a[s]) for e, s in zip(self.envs, self.slices, strict=True)]
        reward = torch.cat([o[1] for o in outs])
        terminated = torch.cat([o[2] for o in outs])
        truncated = torch.cat([o[3] for o in outs])
        infos = [o[4] for o in outs]
        terms = {
            k: torch.cat([i["reward_terms"][k] for i in infos]) for k in infos[0]["reward_terms"]
        }
        clip = torch.cat(
            [i["clip"] + int(off) for i, off in zip(infos, self.clip_offset, strict=True)]
        )
        # summed on the device: a Python number here would be a host read every step
        nan = torch.stack([e.nan_counters for e in self.envs]).sum(dim=0).to(torch.float32)
        info: dict[str, Any] = {
            "reward_terms": terms,
            "terminated_by": {
                k: torch.cat([i["terminated_by"][k] for i in infos])
                for k in infos[0]["terminated_by"]
            },
            # reached the clip's last frame (not truncated by the rollout_length cap)
            "success": torch.cat([i["clip_end"] for i in infos]),
            "final": {"clip": clip, "frame": torch.cat([i["frame"] for i in infos])},
            "log": {"nan_resets": nan[0], "nan_action_worlds": nan[1]},
        }
        return self.groups_of([o[0] for o in outs]), reward, terminated, truncated, info

    def reference_actions(self) -> torch.Tensor:
        """``[N, A]`` base actions (float64): those whose PD targets are each world's next
        reference pose, or the feed-forward's where it covers the world's frame."""
        return torch.cat([e.reference_actions_tensor() for e in self.envs])

    @property
    def exact_state(self) -> bool:
        """Whether every tracking env can save its exact state (resume is bit-exact)."""
        return all(e.exact_state for e in self.envs)

    def state_dict(self) -> dict[str, Any]:
        """Each tracking env's physics and episode state and the last actions."""
        out: dict[str, Any] = {
            f"env.{n}": e.state_dict() for n, e in zip(self.names, self.envs, strict=True)
        }
        out["last_actions"] = self.last_actions.cpu().numpy().copy()
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for n, e in zip(self.names, self.envs, strict=True):
            e.load_state_dict(state[f"env.{n}"])
        self.last_actions = torch.as_tensor(
            np.asarray(state["last_actions"], np.float64), device=self.device
        ).clone()

    def seed_psi(self, seeds: Mapping[str, Any]) -> dict[str, int]:
        """Seed the PSI buffers with states along clips (``clip id -> [n, nq + nv]``, see
        :meth:`TrackingEnv.seed_psi`); returns the frames seeded per clip id."""
        out: dict[str, int] = {}
        for cid, states in seeds.items():
            out[cid] = sum(e.seed_psi(cid, states) for e in self.envs)
        return out

    def set_feedforward(
        self, actions: Mapping[str, Any] | None, *, truncate: bool = False
    ) -> dict[str, int]:
        """Make ``actions`` (clip id -> ``[n, A]``: a plan's env-level action at each clip
        frame ``0..n-1``) the base of the residual actions at those frames, in every
        tracking env (:meth:`TrackingEnv.set_feedforward`; None or ``{}`` removes it).
        Returns the frames covered per given clip id (0: no tracking env holds it, it is
        ignored). A plan longer than its clip allows raises
        :class:`~intermimic.env.feedforward.FeedForwardError` unless ``truncate``."""
        given = {cid: np.array(a, np.float64) for cid, a in (actions or {}).items()}
        covered = dict.fromkeys(given, 0)
        try:
            for e in self.envs:
                ff = e.set_feedforward(given, truncate=truncate)
                if ff is not None:
                    covered.update(ff.covered)
        except FeedForwardError:
            for e in self.envs:  # all or nothing: the envs keep what they had
                e.set_feedforward(self.feedforward, truncate=True)
            raise
        self.feedforward = given
        if self.plan_feedback:
            self.plan_obs = [record_plan_observations(e) for e in self.envs]
            log.info("plan observations: %s", [t.frames if t else 0 for t in self.plan_obs])
        return covered

    def stateful(self, *, psi: bool = True) -> dict[str, Any]:
        """Objects to save in checkpoints: PSI buffers (with ``psi``), observation
        normalisers and the feed-forward actions (:class:`FeedForwardState`)."""
        out: dict[str, Any] = {}
        for name, e in zip(self.names, self.envs, strict=True):
            if psi:
                out[f"psi.{name}"] = PSIState(e)
            out[f"obs_norm.{name}"] = e.normalizer
        out[FEEDFORWARD_STATE] = FeedForwardState(self)
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


#: The name :meth:`TeacherEnv.stateful` saves the feed-forward actions under.
FEEDFORWARD_STATE = "feedforward"


def saved_feedforward(state: Mapping[str, Any]) -> dict[str, NDArray[np.float64]]:
    """The feed-forward actions (clip id -> ``[n, A]``) a checkpoint's state tree
    (``Checkpoint.state``) holds; empty for a teacher trained without one."""
    objects = state.get("objects") or {}
    ff = objects.get(FEEDFORWARD_STATE) or {}
    return {cid: np.asarray(a, np.float64) for cid, a in ff.items()}


class FeedForwardState:
    """Checkpoint state of a teacher env's feed-forward actions: clip id -> ``[n, A]``.

    Loading installs them with ``truncate=True`` (:meth:`TeacherEnv.set_feedforward`), so
    a checkpoint evaluated on another clip set applies the plans of the clip ids it holds,
    cut to their clips, and ignores the rest. A checkpoint without this entry (older, or
    of a run without feed-forward) leaves the env's fresh state: no feed-forward, the
    reference base, as such teachers were trained (``Trainer.load`` keeps the fresh state
    of an object a checkpoint has no state for)."""

    def __init__(self, env: TeacherEnv) -> None:
        self.env = env

    def state_dict(self) -> dict[str, Any]:
        return {cid: a.copy() for cid, a in self.env.feedforward.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.env.set_feedforward(state, truncate=True)


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
    env_s = settings.env_settings(psi=psi)
    envs = []
    for name in clipset.groups:
        scene = clipset.scenes[name]
        opts: dict[str, Any] = {"n_threads": settings.sim_threads}
        if settings.backend == "warp":
            # the physics on the policy's device: the env's tensors meet the policy's there
            # (None would let Warp pick cuda:0 on a GPU machine for a cpu policy)
            opts = {"device": settings.device}
        backend = make_backend(settings.backend, scene, worlds[name], **opts)
        envs.append(TrackingEnv(scene, clipset.groups[name], backend, settings=env_s))
    scale = settings.residual_scale if settings.residual_actions else None
    return TeacherEnv(
        envs,
        list(clipset.groups),
        residual_scale=scale,
        plan_feedback=settings.recipe == "planner_fb",
    )
