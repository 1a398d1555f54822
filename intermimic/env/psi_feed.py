"""PSI's feed from the environment's episodes (``PSISettings.rule``).

:class:`~intermimic.env.psi.PSIBuffer` holds the states episodes start from; this module
decides which states of the environment's episodes enter it. The released rule keeps the
states of an episode a later admission may need and scores the episode's frames when it
ends; the confirm rule keeps one candidate state per world until its rollout confirms or
fails it. :class:`PSIFeed` owns that per-world state;
:class:`~intermimic.env.tracking_env.TrackingEnv` owns the episodes and hands them over
once a step, before it resets the finished worlds (:meth:`PSIFeed.after_step`).

Nothing here reads a tensor back to the host: a batch works under a mask where a
selection would need its size, and an empty index selection does nothing.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from intermimic.env.psi import PSIBuffer, best_per_frame
from intermimic.env.reference import ReferenceMotion, ReferenceTensors
from intermimic.env.settings import EnvSettings
from intermimic.sim.backend import SimBackend

Tensor = torch.Tensor


class Episodes(NamedTuple):
    """Every world's episode, ``[N]`` long tensors on the device. Handed over on each
    call rather than held: the masked reset replaces these tensors instead of writing
    into them."""

    clip: Tensor
    frame: Tensor  # in the clip
    start: Tensor  # global start frame
    length: Tensor  # policy steps since the start (``TrackingEnv.episode_len``)


class PSIFeed:
    """What ``N`` worlds' episodes give PSI, for ``ref``'s clips (``rt`` its tensors on
    ``device``) under ``settings`` (the rule's per-world buffers are sized from them);
    ``state_dim`` is ``nq + nv``.

    The environment's settings, PSI buffer and backend are passed to every call, not
    held: callers replace them on a built environment (a rollout lifts the episode cap,
    scripts its starts, records its backend), and each step must use the current ones.
    """

    def __init__(
        self,
        ref: ReferenceMotion,
        rt: ReferenceTensors,
        settings: EnvSettings,
        state_dim: int,
        n_worlds: int,
        device: torch.device,
    ) -> None:
        n, dev = n_worlds, device
        self.ref, self.rt, self.device = ref, rt, dev
        self._all = torch.arange(n, device=dev)
        self._frame_in_clip = torch.as_tensor(np.asarray(ref.frame_in_clip, np.int64), device=dev)
        # A PSI candidate per world: a state awaiting confirmation by its rollout (float64,
        # as PSI stores it).
        self.cand_state = torch.zeros((n, state_dim), dtype=torch.float64, device=dev)
        self.cand_frame = torch.zeros(n, dtype=torch.long, device=dev)
        self.cand_age = torch.full((n,), -1, dtype=torch.long, device=dev)  # -1: none
        # Released PSI rule: when an episode ends, its states at frames t in [start +
        # margin, end - margin) of a clip longer than rollout_length R are scored, and only
        # frames t < L - R can take one (no draw starts later). So each world keeps the
        # states of its episode steps k in [margin, min(R - 1 - margin, L_max - R))
        # (float64, exact, as PSI stores them): ``traj[w, k - margin]``. H is 0 (nothing
        # kept) when no clip is longer than R + margin (every sub2 clip), at most R - 1 -
        # 2 margin = 279: N x 279 x (nq + nv) x 8 B, 47 MB at 64 worlds of the SMPL-X scene
        # (332 values; the released keeps all 300 steps in float32, 25 MB).
        ps, r = settings.psi, settings.rollout_length
        clip_len = ref.clip_len
        # per clip: frames t < this can be admitted
        self._admit_end = torch.as_tensor(np.asarray(clip_len - r, np.int64), device=dev)
        self._long_clip = self._admit_end > 0  # per clip: L > R, PSI scores its rollouts
        self._any_long_clip = bool((clip_len > r).any())
        released = ps.rule == "released" and ps.enabled and ps.slots_per_frame > 1
        # The first admissible step is never the start state itself (released: idx > 0).
        self._traj_first = max(ps.admit_margin, 1)
        h = min(r - 1 - ps.admit_margin, int(clip_len.max()) - r) - self._traj_first
        self.traj_len = h = max(0, h) if released else 0
        # One more step column (h) where worlds that keep nothing write each step's state:
        # every world writes, so no step compacts the recording worlds (which would read
        # their count back to the host).
        cols = h + 1 if h else 0
        self._traj_buf = torch.zeros((n, cols, state_dim), dtype=torch.float64, device=dev)
        self.traj = self._traj_buf[:, :h]

    def started(self, ids: Tensor) -> None:
        """Worlds ``ids`` (long) start new episodes: their candidates are dropped."""
        self.cand_age[ids] = -1

    def started_where(self, mask: Tensor) -> None:
        """:meth:`started` for the worlds ``mask [N]`` marks (no host read)."""
        self.cand_age = torch.where(mask, -1, self.cand_age)

    def after_step(
        self,
        settings: EnvSettings,
        psi: PSIBuffer,
        backend: SimBackend,
        ep: Episodes,
        terminated: Tensor,
        truncated: Tensor,
        idx: Tensor,
        bad: Tensor,
        done: Tensor,
        ids: Tensor | None,
    ) -> None:
        """Feed ``psi`` with this step's outcomes (before the finished worlds are reset):
        ``terminated``, ``truncated``, ``bad`` (physics blow-up) and ``done`` ``[N]``
        bool, ``idx`` ``[N]`` the global reference frames of the worlds' states, ``ids``
        (long) the finished worlds' indices, or None to
        work on every row under the ``done`` mask (the masked reset). Reads nothing back
        to the host: masks where a selection would need its size, and an empty ``ids``
        does nothing."""
        s = settings.psi
        if s.rule == "released":
            if s.enabled:
                self.released(settings, psi, backend, ep, bad, done, ids)
            return
        # confirm rule: start frames follow failure rates even without collection
        if ids is None:
            psi.report(ep.start, terminated, where=done)
        else:
            psi.report(ep.start[ids], terminated[ids])
        if s.enabled:
            self.confirm(settings, psi, backend, ep, terminated, truncated, idx)

    def released(
        self,
        settings: EnvSettings,
        psi: PSIBuffer,
        backend: SimBackend,
        ep: Episodes,
        bad: Tensor,
        done: Tensor,
        ids: Tensor | None,
    ) -> None:
        """Released rule (``intermimic.py`` ``_compute_reset``): keep this step's state in
        ``traj`` where it may be admitted later; for every episode that ended (``done``;
        ``ids`` its indices, or None to score every row under the mask) on a clip of L >
        R = ``rollout_length`` frames after more than ``min_rollout`` frames, score each
        frame t in [start + margin, end - margin), t < L - R, as (end - t) / (min(L,
        start + R) - t), the share of the horizon left at t that the rollout survived;
        per frame, the best rollout's state enters PSI when its score exceeds
        ``admit_score`` (a rollout that blew up, ``bad``, is no evidence);
        then, if an episode of such a clip ended, decay every simulated slot's score."""
        s, r, h = settings.psi, settings.rollout_length, self.traj_len
        m, first = s.admit_margin, self._traj_first
        if h > 0:
            j = ep.length - first
            rec = (j >= 0) & (j < h) & (ep.frame < self._admit_end[ep.clip])
            # PSI keeps float64 states (the tensors of ``read`` are float32): exact on the
            # mujoco backend, gathered on the device on warp. Worlds that keep nothing
            # write to the spare column h.
            col = torch.where(rec, j, h)
            self._traj_buf[self._all, col] = backend.state_rows(self._all)
        if not self._any_long_clip:
            return
        # Index mode scores the finished rows; masked mode every row, under ``done``.
        rows = self._all if ids is None else ids
        clip = ep.clip[rows]
        ended = self._long_clip[clip] & done[rows]
        if h > 0:
            end = ep.frame[rows]
            start = self._frame_in_clip[ep.start[rows]]
            length = self.rt.clip_len[clip]
            t = start[:, None] + first + torch.arange(h, device=self.device)[None]  # [k, h]
            ok = (t < (end - m)[:, None]) & (t < self._admit_end[clip][:, None])
            ok &= (ended & ~bad[rows] & (end - start > s.min_rollout))[:, None]
            horizon = torch.minimum(length, start + r)[:, None]
            score = (end[:, None] - t).to(torch.float64) / (horizon - t).to(torch.float64)
            cand = ok & (score > s.admit_score)
            # rows that are not candidates may name frames past the buffer: kept in range
            g = (self.rt.clip_start[clip][:, None] + t).clamp(max=self.ref.n_frames - 1)
            g = g.flatten()
            sc = score.flatten()
            # The best rollout per frame (released: max over the ended rollouts; on equal
            # scores the lowest world, as ``nonzero`` lists ``ids`` in order).
            keep = best_per_frame(g, sc, cand.flatten(), self.ref.n_frames)
            traj = self.traj if ids is None else self.traj[ids]  # no copy of every row
            psi.admit(g, traj.flatten(0, 1), sc, where=keep)
        psi.decay(ended.any())

    def confirm(
        self,
        settings: EnvSettings,
        psi: PSIBuffer,
        backend: SimBackend,
        ep: Episodes,
        terminated: Tensor,
        truncated: Tensor,
        idx: Tensor,
    ) -> None:
        """Confirm rule: confirm candidates whose rollout ran ``confirm_frames`` more
        frames (or reached the clip's end) without early termination; drop those of
        failed rollouts; take new candidates every ``add_every`` steps. Masked over all
        worlds (no selection is read back)."""
        s = settings.psi
        has = self.cand_age >= 0
        self.cand_age = torch.where(has, self.cand_age + 1, -1)
        ok = has & ~terminated & ((self.cand_age >= s.confirm_frames) | truncated)
        psi.add(self.cand_frame, self.cand_state, where=ok)
        self.cand_age = torch.where(ok | terminated, -1, self.cand_age)
        take = (self.cand_age < 0) & ~terminated & ~truncated
        take &= ep.length % s.add_every == 0
        # PSI keeps exact float64 states (the tensors of ``read`` are float32).
        state = backend.state_rows(self._all)
        self.cand_state = torch.where(take[:, None], state, self.cand_state)
        self.cand_frame = torch.where(take, idx, self.cand_frame)
        self.cand_age = torch.where(take, 0, self.cand_age)
