"""Physical state initialisation (PSI).

MoCap states are often not physically valid (a hand inside the object, feet in the
floor); starting episodes from them teaches the policy to recover from states it will
never meet. PSI keeps, per reference frame, a few simulated states that successful
rollouts reached and starts episodes from those.

:class:`PSIBuffer` holds ``slots_per_frame`` states per global reference frame. Slot 0
is the MoCap state and stays (it is the fallback, and the state of a hybrid start); the
other slots hold simulated states. Two rules (``PSISettings.rule``):

``"released"`` (the default; InterMimic's released ``intermimic.py``, see
docs/fidelity.md rows 63-68). Every slot has a score: slot 0 is 1, a simulated slot the
score its state was admitted with (0 while empty), decayed by ``score_decay`` on every
:meth:`PSIBuffer.decay`. A reset

* draws a clip uniformly;
* with probability ``hybrid_prob`` starts at its frame 0 from the MoCap state;
* otherwise draws a frame ``t`` in ``[0, max(1, L - rollout_length))`` of that clip with
  probability proportional to 1 / (sum of the frame's slot scores), so frames with few
  or poor simulated states are drawn more; for a clip of ``rollout_length`` frames or
  fewer that is always frame 0; then a slot with probability proportional to its score.

States enter through :meth:`PSIBuffer.admit` (scored by the environment when a rollout
ends, see ``TrackingEnv._psi_bookkeeping``; :func:`best_per_frame` picks the one state
per frame it takes): each replaces the lowest-scored simulated slot of its frame,
whatever that slot's score.

``"confirm"`` (this project's earlier rule): states enter a ring of slots
(:meth:`PSIBuffer.add`, oldest overwritten); a non-hybrid start draws a frame with
probability proportional to the running average of how often episodes started there
failed (:meth:`PSIBuffer.report`, floored by ``min_score``; with ``starts="reached"``
only clip starts and frames holding a rollout state), and one of its filled slots
uniformly.

Everything a step touches lives on ``device`` as tensors: the states (float64), slot
scores, fill marks, ring positions, failure averages, the clip tables and the
``torch.Generator`` every draw comes from (seeded at construction: same seed, same
draws on the same device). A draw, an admission or a report is a handful of kernels
that read nothing back to the host: a masked batch passes ``where`` instead of being
compacted (compaction would read its size back), and masked-out entries write to a
scratch frame past the last one. Only the read methods for tests and logging
(:meth:`PSIBuffer.drawable`, :meth:`PSIBuffer.scores`, :meth:`PSIBuffer.probabilities`)
and checkpoints (:meth:`PSIBuffer.state_dict`) copy to host numpy arrays.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from intermimic.env.settings import PSISettings

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
Tensor = torch.Tensor


def best_per_frame(frames: Tensor, scores: Tensor, valid: Tensor, n_frames: int) -> Tensor:
    """``[M]`` bool: among the ``valid`` entries of global ``frames [M]`` (long, in
    ``[0, n_frames)`` where valid), the best-scored one of each frame, on equal scores
    the first listed (the released admission takes the lowest world). What
    :meth:`PSIBuffer.admit` needs (one state per frame), found with two scatter
    reductions over ``n_frames + 1`` bins (the last one collects the invalid entries), so
    nothing is read back to the host."""
    m = frames.shape[0]
    g = torch.where(valid, frames, n_frames)
    sc = torch.where(valid, scores, -torch.inf)
    best = torch.full((n_frames + 1,), -torch.inf, dtype=sc.dtype, device=sc.device)
    best = best.scatter_reduce(0, g, sc, "amax")
    is_best = valid & (sc == best[g])
    pos = torch.arange(m, device=frames.device)
    first = torch.full((n_frames + 1,), m, dtype=torch.long, device=frames.device)
    first = first.scatter_reduce(0, g, torch.where(is_best, pos, m), "amin")
    return is_best & (first[g] == pos)


class PSIBuffer:
    """States ``[F, K, S]`` per global reference frame (``S`` = nq + nv of the scene).

    ``mocap_states`` ``[F, S]`` seeds slot 0; ``startable`` ``[F]`` marks frames an
    episode may start at (not a clip's last frame); ``clip_starts`` ``[C]`` are the
    global indices of each clip's frame 0 (ascending from 0; clip ``c`` runs to the
    next clip's start); ``device`` holds every tensor below; ``rollout_length`` is the
    episode cap of the released rule (start frames ``< L - rollout_length``).

    Per-step state: ``states [F, K, S]`` float64, ``score [F, K]`` float64 and
    ``filled [F, K]`` bool (views of buffers of ``F + 1`` rows, the last a scratch row
    for masked writes), ``failure [F]`` float64 (confirm rule), and ``rng``, the
    ``torch.Generator`` of every draw.
    """

    def __init__(
        self,
        mocap_states: NDArray[np.floating],
        startable: NDArray[np.bool_],
        clip_starts: I64,
        settings: PSISettings | None = None,
        seed: int = 0,
        device: str | torch.device = "cpu",
        rollout_length: int = 300,
    ) -> None:
        self.settings = s = settings or PSISettings()
        f, dim = mocap_states.shape
        k = s.slots_per_frame
        startable = np.asarray(startable, dtype=bool)
        if not startable.any():
            raise ValueError("no reference frame an episode can start at")
        starts = np.asarray(clip_starts, dtype=np.int64)
        if len(starts) == 0 or starts[0] != 0 or (np.diff(np.append(starts, f)) <= 0).any():
            raise ValueError(f"clip_starts {starts} do not split {f} frames into clips")
        if s.rule == "released" and not startable[starts].all():
            bad = np.flatnonzero(~startable[starts]).tolist()
            raise ValueError(f"clips {bad} cannot start at their frame 0")
        clip_len = np.diff(np.append(starts, f)).astype(np.int64)
        clip_of_frame = np.repeat(np.arange(len(clip_len)), clip_len)
        frame_in_clip = np.arange(f) - starts[clip_of_frame]
        self.rollout_length = int(rollout_length)
        self.device = dev = torch.device(device)

        def put(a: NDArray[Any]) -> Tensor:
            return torch.as_tensor(a, device=dev)

        # Clip tables, built once on the host.
        self.clip_starts = put(starts)
        self.clip_len = put(clip_len)
        self.clip_of_frame = put(clip_of_frame)
        self.startable = put(startable)
        self._is_clip_start = put(np.isin(np.arange(f), starts))
        # Released rule: the frames a draw may start at, clip by clip (draw_end[c] of
        # them from _draw_first[c]): a draw touches only these (on sub2 one frame per
        # clip), not all F.
        draw_end = np.maximum(1, clip_len - self.rollout_length)
        in_draw = (frame_in_clip < draw_end[clip_of_frame]) & startable
        draw_stop = np.cumsum(draw_end).astype(np.int64)
        self.draw_end = put(draw_end)
        self._in_draw = put(in_draw)
        self._draw_idx = put(np.flatnonzero(in_draw).astype(np.int64))
        self._draw_first = put(draw_stop - draw_end)
        self._draw_stop = put(draw_stop)

        # Per-step state. Row F of each buffer is scratch: a masked-out entry of admit or
        # add writes there, so a masked batch needs no compaction.
        self._states = torch.zeros((f + 1, k, dim), dtype=torch.float64, device=dev)
        self._states[:f, 0] = put(np.asarray(mocap_states, np.float64))
        self._filled = torch.zeros((f + 1, k), dtype=torch.bool, device=dev)
        self._filled[:, 0] = True
        # released rule: slot scores (MoCap 1, empty 0)
        self._score = torch.zeros((f + 1, k), dtype=torch.float64, device=dev)
        self._score[:, 0] = 1.0
        # confirm rule: ring positions among slots 1..K-1, failure averages
        self._next_buf = torch.zeros(f + 1, dtype=torch.long, device=dev)
        self.states, self.filled, self.score = self._states[:f], self._filled[:f], self._score[:f]
        self._next = self._next_buf[:f]
        self.failure = torch.ones(f, dtype=torch.float64, device=dev)  # unexplored: drawn early
        # Row sums of the scores as a matrix-vector product: torch's sum over a row of K
        # (3) values is several times slower on the CPU.
        self._ones = torch.ones(k, dtype=torch.float64, device=dev)
        self.rng = torch.Generator(device=dev)
        self.rng.manual_seed(int(seed))

    @property
    def n_frames(self) -> int:
        return int(self.states.shape[0])

    # ---- start draws -------------------------------------------------------------

    def _drawable(self) -> Tensor:
        if self.settings.rule == "released":
            return self._in_draw
        if self.settings.starts == "all":
            return self.startable
        return self.startable & (self.filled[:, 1:].any(dim=1) | self._is_clip_start)

    def _weights(self) -> Tensor:
        if self.settings.rule == "released":
            # the MoCap slot's 1 keeps every sum >= 1
            return torch.where(self._in_draw, 1.0 / (self.score @ self._ones), 0.0)
        w = self.failure.clamp(min=self.settings.min_score)
        return torch.where(self._drawable(), w, 0.0)

    def drawable(self) -> NDArray[np.bool_]:
        """``[F]`` frames a non-hybrid draw may start at (host copy). Released rule:
        frames ``< max(1, L - rollout_length)`` of each clip; confirm rule: every
        startable frame, or with ``starts="reached"`` only clip starts and frames holding
        a rollout state."""
        return self._drawable().cpu().numpy().copy()

    def scores(self) -> F64:
        """``[F]`` unnormalised start-frame weights within a draw (host copy; 0 where a
        start is impossible). Released rule: 1 / the frame's summed slot scores (the clip
        is drawn first, uniformly); confirm rule: the failure average floored by
        ``min_score``."""
        return self._weights().cpu().numpy().copy()

    def probabilities(self) -> F64:
        """``[F]`` probability of each start frame in a non-hybrid draw (host copy)."""
        sc = self._weights()
        if self.settings.rule == "released":
            n_clips = len(self.clip_len)
            per_clip = torch.zeros(n_clips, dtype=sc.dtype, device=sc.device)
            per_clip.index_add_(0, self.clip_of_frame, sc)
            p = sc / per_clip[self.clip_of_frame] / n_clips
        else:
            p = sc / sc.sum()
        return p.cpu().numpy().copy()

    def sample(self, n: int) -> tuple[Tensor, Tensor, Tensor]:
        """Draw ``n`` starts on the device: ``(frames [n] long global, states [n, S]
        float64, hybrid [n] bool)``."""
        if self.settings.rule == "released":
            frames, slot, hybrid = self._draw_released(n)
        else:
            frames, slot, hybrid = self._draw_confirm(n)
        return frames, self.states[frames, slot], hybrid

    def _uniform(self, rows: int, n: int) -> Tensor:
        """``[rows, n]`` float64 uniforms in [0, 1) (multiples of 2**-53)."""
        return torch.rand((rows, n), generator=self.rng, dtype=torch.float64, device=self.device)

    def _integers(self, high: int, n: int) -> Tensor:
        """``[n]`` integers uniform in ``[0, high)``."""
        return torch.randint(high, (n,), generator=self.rng, device=self.device)

    def _draw_released(self, n: int) -> tuple[Tensor, Tensor, Tensor]:
        u = self._uniform(3, n)
        hybrid = u[0] < self.settings.hybrid_prob
        clip = self._integers(len(self.clip_len), n)
        # Inverse CDF within the clip's run of drawable frames on the cumulative weights
        # 1 / (summed slot scores; >= 1 by the MoCap slot) of all drawable frames: the
        # first frame whose cumulative weight exceeds x.
        w = 1.0 / (self.score.index_select(0, self._draw_idx) @ self._ones)
        cw = torch.nn.functional.pad(torch.cumsum(w, 0), (1, 0))
        a, b = self._draw_first[clip], self._draw_stop[clip]
        k = torch.searchsorted(cw[1:], torch.lerp(cw[a], cw[b], u[1]), right=True)
        k = torch.clamp(k, a, b - 1)  # guards float rounding at the ends
        frames = torch.where(hybrid, self.clip_starts[clip], self._draw_idx[k])
        # Slot proportional to its score; none found (rounding) falls back to MoCap slot 0
        # (argmax returns the first maximum).
        cum = torch.cumsum(self.score[frames], dim=1)
        slot = (cum > (u[2] * cum[:, -1])[:, None]).to(torch.uint8).argmax(dim=1)
        return frames, torch.where(hybrid, 0, slot), hybrid

    def _draw_confirm(self, n: int) -> tuple[Tensor, Tensor, Tensor]:
        u = self._uniform(3, n)
        hybrid = u[0] < self.settings.hybrid_prob
        # Inverse CDF: the first frame whose cumulative weight reaches x in (0, total]
        # (1 - u is in (0, 1]), which is never a frame of weight 0 and never past the end.
        cdf = torch.cumsum(self._weights(), 0)
        frames = torch.searchsorted(cdf, (1.0 - u[1]) * cdf[-1])
        clip = self._integers(len(self.clip_starts), n)
        frames = torch.where(hybrid, self.clip_starts[clip], frames)
        # A uniform draw among the frame's filled slots: the k-th filled one, k uniform.
        filled = self.filled[frames]
        k = torch.floor(u[2] * filled.sum(dim=1)).long()
        slot = (torch.cumsum(filled, dim=1) > k[:, None]).to(torch.uint8).argmax(dim=1)
        return frames, torch.where(hybrid, 0, slot), hybrid

    # ---- storing states ------------------------------------------------------------

    def _frames(self, frames: Tensor | NDArray[np.integer], where: Tensor | None) -> Tensor:
        """Global ``frames`` as a long tensor on the device, masked-out entries sent to
        the scratch row."""
        f = torch.as_tensor(frames, dtype=torch.long, device=self.device)
        if where is None:
            return f
        return torch.where(where.to(self.device), f, self.n_frames)

    def admit(
        self,
        frames: Tensor | NDArray[np.integer],
        states: Tensor | NDArray[np.floating],
        scores: Tensor | NDArray[np.floating],
        where: Tensor | None = None,
    ) -> None:
        """Released rule: store states ``[k, S]`` at global ``frames [k]`` with ``scores
        [k]``, each in its frame's lowest-scored simulated slot (the first of equals),
        replacing whatever it held; with ``where [k]`` (bool) only the entries it marks.
        The stored entries must be at distinct frames (:func:`best_per_frame` picks one
        per frame): frames given on the host (numpy) are checked, a tensor is trusted
        (checking it would read it back; two states at one frame would race for one
        slot). A buffer with one slot per frame keeps only the MoCap state."""
        if self.settings.slots_per_frame == 1:
            return
        if not isinstance(frames, Tensor):
            host = np.asarray(frames, dtype=np.int64)
            if where is None and len(np.unique(host)) != len(host):
                raise ValueError("admit takes one state per frame (pick the best first)")
        f = self._frames(frames, where)
        slot = 1 + torch.argmin(self._score[f, 1:], dim=1)
        self._states[f, slot] = torch.as_tensor(states, dtype=torch.float64, device=self.device)
        self._score[f, slot] = torch.as_tensor(scores, dtype=torch.float64, device=self.device)
        self._filled[f, slot] = True

    def decay(self, where: Tensor | bool = True) -> None:
        """Released rule: multiply every simulated slot's score by ``1 - score_decay``
        (once per step in which a rollout of a clip longer than ``rollout_length``
        ended); the MoCap slot keeps 1. A 0-d bool tensor ``where`` applies it only when
        true, without reading it back (the factor is then 1, which changes nothing)."""
        rate = 1.0 - self.settings.score_decay
        if isinstance(where, Tensor):
            # a float64 tensor, so that the factor is the same double as ``rate``
            factor = torch.full((), rate, dtype=torch.float64, device=self.device)
            self.score[:, 1:] *= torch.where(where.to(self.device), factor, 1.0)
        elif where:
            self.score[:, 1:] *= rate

    def add(
        self,
        frames: Tensor | NDArray[np.integer],
        states: Tensor | NDArray[np.floating],
        where: Tensor | None = None,
    ) -> None:
        """Confirm rule: store states ``[k, S]`` reached at global ``frames [k]`` in the
        ring slots (oldest overwritten); with ``where [k]`` (bool) only the entries it
        marks. Several states of one frame in a batch take consecutive slots. A buffer
        with one slot per frame keeps only the MoCap state."""
        ring = self.settings.slots_per_frame - 1
        if ring == 0:
            return
        key = self._frames(frames, where)
        order = torch.argsort(key, stable=True)
        f = key[order]
        # Rank of each entry among equal frames: position minus its group's first position.
        rank = torch.arange(len(f), device=self.device) - torch.searchsorted(f, f)
        slot = 1 + (self._next_buf[f] + rank) % ring
        st = torch.as_tensor(states, dtype=torch.float64, device=self.device)
        self._states[f, slot] = st[order]
        self._filled[f, slot] = True
        self._next_buf.index_add_(0, f, torch.ones_like(f))
        self._next_buf %= ring

    def report(
        self,
        frames: Tensor | NDArray[np.integer],
        failed: Tensor | NDArray[np.bool_],
        where: Tensor | None = None,
    ) -> None:
        """Confirm rule: update the failure average of start ``frames [k]`` with episode
        outcomes ``failed [k]`` (early termination); with ``where [k]`` (bool) only the
        entries it marks. Repeated frames are averaged first."""
        f = torch.as_tensor(frames, dtype=torch.long, device=self.device)
        fail = torch.as_tensor(failed, device=self.device).to(torch.float64)
        ones = torch.ones_like(fail)
        if where is not None:
            # masked entries add 0 to both sums, so the frames they name keep their average
            ones = where.to(self.device, torch.float64)
            fail = fail * ones
        cnt = torch.zeros_like(self.failure).index_add_(0, f, ones)
        fails = torch.zeros_like(self.failure).index_add_(0, f, fail)
        a = self.settings.score_ema
        avg = (1 - a) * self.failure + a * fails / cnt.clamp(min=1.0)
        self.failure.copy_(torch.where(cnt > 0, avg, self.failure))

    # ---- checkpoints ---------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything a draw depends on, as numpy arrays: rollout slots (exact, float64;
        slot 0 is rebuilt from the clips), slot scores, fill marks, ring positions,
        failure averages and the generator state (``rng``, uint8)."""

        def host(t: Tensor) -> NDArray[Any]:
            return t.cpu().numpy().copy()

        return {
            "states": host(self.states[:, 1:]),
            "score": host(self.score),
            "filled": host(self.filled),
            "next": host(self._next),
            "failure": host(self.failure),
            "rng": host(self.rng.get_state()),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; raises ``ValueError`` when the shapes differ (the
        clips changed since it was saved) or, under the released rule, when it has no
        slot scores (saved before the rule existed). A state saved before the buffer
        moved to torch (``rng`` a numpy ``bit_generator.state`` dict) loads too; see
        :func:`_legacy_seed`."""
        states = np.asarray(state["states"])
        if states.shape != tuple(self.states[:, 1:].shape):
            raise ValueError(
                f"PSI state has shape {states.shape}, the buffer {tuple(self.states[:, 1:].shape)}"
            )
        score = state.get("score")
        if score is None and self.settings.rule == "released":
            raise ValueError("PSI state has no slot scores (saved under the confirm rule)")
        if score is not None and np.shape(score) != tuple(self.score.shape):
            raise ValueError(
                f"PSI scores have shape {np.shape(score)}, the buffer {tuple(self.score.shape)}"
            )

        def dev(a: Any, dtype: torch.dtype) -> Tensor:
            return torch.as_tensor(np.asarray(a), device=self.device).to(dtype)

        self.states[:, 1:] = dev(states, torch.float64)
        if score is not None:
            self.score.copy_(dev(score, torch.float64))
        self.filled.copy_(dev(state["filled"], torch.bool))
        self._next.copy_(dev(state["next"], torch.long))
        self.failure.copy_(dev(state["failure"], torch.float64))
        rng = state["rng"]
        if isinstance(rng, dict):
            self.rng.manual_seed(_legacy_seed(rng))
            return
        saved = torch.as_tensor(np.asarray(rng, np.uint8))
        if saved.numel() == self.rng.get_state().numel():
            self.rng.set_state(saved)
        else:
            # Saved by a generator of another kind of device (CPU Mersenne Twister,
            # CUDA Philox): its state cannot be carried over; a seed derived from it
            # keeps the resumed draws deterministic.
            self.rng.manual_seed(_digest_seed(saved.numpy().tobytes()))


def _digest_seed(data: bytes) -> int:
    """A 64-bit seed from ``data`` (SHA-256), the same on every run and machine."""
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "little")


def _legacy_seed(rng: dict[str, Any]) -> int:
    """A seed for the torch generator from a numpy ``bit_generator.state`` dict (what
    checkpoints held before the buffer's draws moved to the device). The numpy stream
    cannot be continued by torch; seeding from the saved state keeps a resumed run's
    draws deterministic (the same checkpoint always gives the same draws) and distinct
    from a fresh run's. PCG64 (``default_rng``, the only generator those buffers used):
    its 128-bit ``state`` and ``inc``; anything else: a digest of the dict's text."""
    inner = rng.get("state")
    if isinstance(inner, dict) and "state" in inner and "inc" in inner:
        mixed = int(inner["state"]) ^ int(inner["inc"])
        return (mixed ^ (mixed >> 64)) & (2**64 - 1)
    return _digest_seed(repr(sorted(rng.items(), key=lambda kv: str(kv[0]))).encode())
