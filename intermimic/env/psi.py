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
ends, see ``TrackingEnv._psi_bookkeeping``): each replaces the lowest-scored simulated
slot of its frame, whatever that slot's score.

``"confirm"`` (this project's earlier rule): states enter a ring of slots
(:meth:`PSIBuffer.add`, oldest overwritten); a non-hybrid start draws a frame with
probability proportional to the running average of how often episodes started there
failed (:meth:`PSIBuffer.report`, floored by ``min_score``; with ``starts="reached"``
only clip starts and frames holding a rollout state), and one of its filled slots
uniformly.

Every draw comes from one ``numpy.random.Generator`` seeded at construction: same seed,
same draws. States are a float64 tensor on ``device``; scores, fill marks and the RNG
live on the host.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from intermimic.env.settings import PSISettings

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


class PSIBuffer:
    """States ``[F, K, S]`` per global reference frame (``S`` = nq + nv of the scene).

    ``mocap_states`` ``[F, S]`` seeds slot 0; ``startable`` ``[F]`` marks frames an
    episode may start at (not a clip's last frame); ``clip_starts`` ``[C]`` are the
    global indices of each clip's frame 0 (ascending from 0; clip ``c`` runs to the
    next clip's start); ``device`` holds the states (float64 tensor);
    ``rollout_length`` is the episode cap of the released rule (start frames ``< L -
    rollout_length``).
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
        if not startable.any():
            raise ValueError("no reference frame an episode can start at")
        self.clip_starts = np.asarray(clip_starts, dtype=np.int64)
        if (
            len(self.clip_starts) == 0
            or self.clip_starts[0] != 0
            or (np.diff(np.append(self.clip_starts, f)) <= 0).any()
        ):
            raise ValueError(f"clip_starts {self.clip_starts} do not split {f} frames into clips")
        self.clip_len = np.diff(np.append(self.clip_starts, f)).astype(np.int64)
        self.clip_of_frame = np.repeat(np.arange(len(self.clip_len)), self.clip_len)
        frame_in_clip = np.arange(f) - self.clip_starts[self.clip_of_frame]
        self.rollout_length = int(rollout_length)
        self.device = torch.device(device)
        self.states = torch.zeros(
            (f, s.slots_per_frame, dim), dtype=torch.float64, device=self.device
        )
        self.states[:, 0] = torch.as_tensor(
            np.asarray(mocap_states, np.float64), device=self.device
        )
        self.filled = np.zeros((f, s.slots_per_frame), dtype=bool)
        self.filled[:, 0] = True
        self.startable = np.asarray(startable, dtype=bool)
        # released rule: slot scores (MoCap 1, empty 0) and the frames a draw may start at
        self.score = np.zeros((f, s.slots_per_frame))
        self.score[:, 0] = 1.0
        draw_end = np.maximum(1, self.clip_len - self.rollout_length)  # per clip
        self.draw_end = draw_end
        self._in_draw = (frame_in_clip < draw_end[self.clip_of_frame]) & self.startable
        # The drawable frames, clip by clip (draw_end[c] of them from _draw_first[c]): a
        # draw touches only these (on sub2 one frame per clip), not all F.
        self._draw_idx = np.flatnonzero(self._in_draw)
        self._draw_first = np.concatenate([[0], np.cumsum(draw_end)[:-1]]).astype(np.int64)
        if s.rule == "released" and not self.startable[self.clip_starts].all():
            bad = np.flatnonzero(~self.startable[self.clip_starts]).tolist()
            raise ValueError(f"clips {bad} cannot start at their frame 0")
        # confirm rule: ring positions and failure averages
        self._next = np.zeros(f, dtype=np.int64)  # ring position among slots 1..K-1
        self.failure = np.ones(f)  # unexplored frames count as failing: drawn early
        self.rng = np.random.default_rng(seed)

    @property
    def n_frames(self) -> int:
        return int(self.states.shape[0])

    # ---- start draws -------------------------------------------------------------

    def drawable(self) -> NDArray[np.bool_]:
        """``[F]`` frames a non-hybrid draw may start at. Released rule: frames ``< max(1,
        L - rollout_length)`` of each clip; confirm rule: every startable frame, or with
        ``starts="reached"`` only clip starts and frames holding a rollout state."""
        if self.settings.rule == "released":
            return self._in_draw.copy()
        if self.settings.starts == "all":
            return self.startable
        reached: NDArray[np.bool_] = np.asarray(self.filled[:, 1:].any(axis=1))
        reached[self.clip_starts] = True
        return self.startable & reached

    def scores(self) -> F64:
        """``[F]`` unnormalised start-frame weights within a draw (0 where a start is
        impossible). Released rule: 1 / the frame's summed slot scores (the clip is drawn
        first, uniformly); confirm rule: the failure average floored by ``min_score``."""
        if self.settings.rule == "released":
            # the MoCap slot's 1 keeps every sum >= 1
            return np.where(self._in_draw, 1.0 / self.score.sum(axis=1), 0.0)
        return np.where(self.drawable(), np.maximum(self.failure, self.settings.min_score), 0.0)

    def probabilities(self) -> F64:
        """``[F]`` probability of each start frame in a non-hybrid draw."""
        sc = self.scores()
        if self.settings.rule == "released":
            per_clip = np.bincount(self.clip_of_frame, weights=sc, minlength=len(self.clip_len))
            return sc / per_clip[self.clip_of_frame] / len(self.clip_len)
        return sc / sc.sum()

    def sample(self, n: int) -> tuple[I64, torch.Tensor, NDArray[np.bool_]]:
        """Draw ``n`` starts: ``(frames [n] global, states [n, S] float64 tensor on the
        buffer's device, hybrid [n])``."""
        if self.settings.rule == "released":
            frames, slot, hybrid = self._draw_released(n)
        else:
            frames, slot, hybrid = self._draw_confirm(n)
        pick = torch.from_numpy(frames * self.states.shape[1] + slot).to(self.device)
        return frames, self.states.flatten(0, 1)[pick], hybrid

    def _draw_released(self, n: int) -> tuple[I64, I64, NDArray[np.bool_]]:
        hybrid = self.rng.random(n) < self.settings.hybrid_prob
        clip = self.rng.integers(0, len(self.clip_len), n)
        u, v = self.rng.random(n), self.rng.random(n)
        # Inverse CDF within the clip's run of drawable frames on the cumulative weights
        # 1 / (summed slot scores; >= 1 by the MoCap slot) of all drawable frames: the
        # first frame whose cumulative weight exceeds x.
        cw = np.concatenate([[0.0], np.cumsum(1.0 / self.score[self._draw_idx].sum(axis=1))])
        a = self._draw_first[clip]
        b = a + self.draw_end[clip]
        lo, hi = cw[a], cw[b]
        k = np.searchsorted(cw[1:], lo + u * (hi - lo), side="right")
        k = np.clip(k, a, b - 1)  # guards float rounding at the ends
        frames = np.where(hybrid, self.clip_starts[clip], self._draw_idx[k]).astype(np.int64)
        # Slot proportional to its score; none found (rounding) falls back to MoCap slot 0.
        cum = np.cumsum(self.score[frames], axis=1)
        slot = np.argmax(cum > (v * cum[:, -1])[:, None], axis=1)
        slot = np.where(hybrid, 0, slot)
        return frames, slot.astype(np.int64), hybrid

    def _draw_confirm(self, n: int) -> tuple[I64, I64, NDArray[np.bool_]]:
        s = self.settings
        hybrid = self.rng.random(n) < s.hybrid_prob
        frames = self.rng.choice(self.n_frames, size=n, p=self.probabilities())
        frames = np.where(
            hybrid, self.clip_starts[self.rng.integers(0, len(self.clip_starts), n)], frames
        )
        # A uniform draw among the frame's filled slots: the k-th filled one, k uniform.
        filled = self.filled[frames]
        k = np.floor(self.rng.random(n) * filled.sum(axis=1)).astype(np.int64)
        slot = np.argmax(np.cumsum(filled, axis=1) > k[:, None], axis=1)
        slot = np.where(hybrid, 0, slot)
        return frames.astype(np.int64), slot.astype(np.int64), hybrid

    # ---- storing states ------------------------------------------------------------

    def admit(self, frames: I64, states: torch.Tensor | NDArray[np.floating], scores: F64) -> None:
        """Released rule: store states ``[k, S]`` at distinct global ``frames [k]`` with
        ``scores [k]``, each in its frame's lowest-scored simulated slot (the first of
        equals), replacing whatever it held. A buffer with one slot per frame keeps only
        the MoCap state."""
        if self.settings.slots_per_frame == 1 or len(frames) == 0:
            return
        frames = np.asarray(frames, dtype=np.int64)
        if len(np.unique(frames)) != len(frames):
            raise ValueError("admit takes one state per frame (pick the best first)")
        slot = 1 + np.argmin(self.score[frames, 1:], axis=1)
        st = torch.as_tensor(states, dtype=torch.float64, device=self.device)
        dev = self.device
        self.states[torch.from_numpy(frames).to(dev), torch.from_numpy(slot).to(dev)] = st
        self.score[frames, slot] = np.asarray(scores, np.float64)
        self.filled[frames, slot] = True

    def decay(self) -> None:
        """Released rule: multiply every simulated slot's score by ``1 - score_decay``
        (once per step in which a rollout of a clip longer than ``rollout_length``
        ended); the MoCap slot keeps 1."""
        self.score[:, 1:] *= 1.0 - self.settings.score_decay

    def add(self, frames: I64, states: torch.Tensor | NDArray[np.floating]) -> None:
        """Confirm rule: store states ``[k, S]`` (tensor or array) reached at global
        ``frames [k]`` in the ring slots (oldest overwritten). Several states of one frame
        in a batch take consecutive slots. A buffer with one slot per frame keeps only
        the MoCap state."""
        ring = self.settings.slots_per_frame - 1
        if ring == 0 or len(frames) == 0:
            return
        frames = np.asarray(frames, dtype=np.int64)
        order = np.argsort(frames, kind="stable")
        f = frames[order]
        # Rank of each entry among equal frames: position minus its group's first position.
        first = np.searchsorted(f, f, side="left")
        rank = np.arange(len(f)) - first
        slot = 1 + (self._next[f] + rank) % ring
        st = torch.as_tensor(states, dtype=torch.float64, device=self.device)
        self.states[torch.from_numpy(f).to(self.device), torch.from_numpy(slot).to(self.device)] = (
            st[torch.from_numpy(order).to(self.device)]
        )
        self.filled[f, slot] = True
        np.add.at(self._next, f, 1)
        self._next %= ring

    def report(self, frames: I64, failed: NDArray[np.bool_]) -> None:
        """Confirm rule: update the failure average of start ``frames [k]`` with episode
        outcomes ``failed [k]`` (early termination). Repeated frames are averaged first."""
        if len(frames) == 0:
            return
        cnt = np.bincount(frames, minlength=self.n_frames)
        fails = np.bincount(frames, weights=failed.astype(np.float64), minlength=self.n_frames)
        seen = cnt > 0
        a = self.settings.score_ema
        self.failure[seen] = (1 - a) * self.failure[seen] + a * fails[seen] / cnt[seen]

    # ---- checkpoints ---------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Everything a draw depends on, as numpy arrays: rollout slots (exact, float64;
        slot 0 is rebuilt from the clips), slot scores, fill marks, ring positions,
        failure averages and the RNG."""
        return {
            "states": self.states[:, 1:].cpu().numpy().copy(),
            "score": self.score.copy(),
            "filled": self.filled.copy(),
            "next": self._next.copy(),
            "failure": self.failure.copy(),
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; raises ``ValueError`` when the shapes differ (the
        clips changed since it was saved) or, under the released rule, when it has no
        slot scores (saved before the rule existed)."""
        states = np.asarray(state["states"])
        if states.shape != self.states[:, 1:].shape:
            raise ValueError(
                f"PSI state has shape {states.shape}, the buffer {self.states[:, 1:].shape}"
            )
        score = state.get("score")
        if score is None and self.settings.rule == "released":
            raise ValueError("PSI state has no slot scores (saved under the confirm rule)")
        if score is not None and np.shape(score) != self.score.shape:
            raise ValueError(
                f"PSI scores have shape {np.shape(score)}, the buffer {self.score.shape}"
            )
        self.states[:, 1:] = torch.as_tensor(states, dtype=torch.float64, device=self.device)
        if score is not None:
            self.score[...] = np.asarray(score, np.float64)
        self.filled[...] = np.asarray(state["filled"], bool)
        self._next[...] = np.asarray(state["next"], np.int64)
        self.failure[...] = np.asarray(state["failure"], np.float64)
        self.rng.bit_generator.state = state["rng"]
