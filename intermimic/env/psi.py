"""Physical state initialisation (PSI).

MoCap states are often not physically valid (a hand inside the object, feet in the
floor); starting episodes from them teaches the policy to recover from states it will
never meet. PSI keeps, per reference frame, a few simulated states that successful
rollouts reached and starts episodes from those.

:class:`PSIBuffer` holds ``slots_per_frame`` states per global reference frame. Slot 0
is the MoCap state and stays (it is the fallback, and the state of a hybrid start);
slots ``1..K-1`` are a ring filled by :meth:`PSIBuffer.add`. A reset

* with probability ``hybrid_prob`` starts a uniformly drawn clip at its frame 0 from
  the MoCap state (so the clip's beginning is always practised);
* otherwise draws a start frame with probability proportional to its score, and one of
  that frame's filled slots uniformly. With ``starts="reached"`` only clip starts and
  frames holding a rollout state can be drawn, so the starts move along the clip as the
  policy gets further (a curriculum for small budgets).

A frame's score is a running average of how often episodes started there failed
(floored by ``min_score``): frames the policy cannot yet handle get drawn more. Every
draw comes from one ``numpy.random.Generator`` seeded at construction: same seed, same
draws.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from intermimic.env.settings import PSISettings

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


class PSIBuffer:
    """States ``[F, K, S]`` per global reference frame (``S`` = nq + nv of the scene).

    ``mocap_states`` ``[F, S]`` seeds slot 0; ``startable`` ``[F]`` marks frames an
    episode may start at (not a clip's last frame); ``clip_starts`` ``[C]`` are the
    global indices of each clip's frame 0 (for hybrid starts).
    """

    def __init__(
        self,
        mocap_states: NDArray[np.floating],
        startable: NDArray[np.bool_],
        clip_starts: I64,
        settings: PSISettings | None = None,
        seed: int = 0,
    ) -> None:
        self.settings = s = settings or PSISettings()
        f, dim = mocap_states.shape
        if not startable.any():
            raise ValueError("no reference frame an episode can start at")
        self.states = np.zeros((f, s.slots_per_frame, dim))
        self.states[:, 0] = mocap_states
        self.filled = np.zeros((f, s.slots_per_frame), dtype=bool)
        self.filled[:, 0] = True
        self._next = np.zeros(f, dtype=np.int64)  # ring position among slots 1..K-1
        self.startable = np.asarray(startable, dtype=bool)
        self.failure = np.ones(f)  # unexplored frames count as failing: drawn early
        self.clip_starts = np.asarray(clip_starts, dtype=np.int64)
        self.rng = np.random.default_rng(seed)

    @property
    def n_frames(self) -> int:
        return int(self.states.shape[0])

    def drawable(self) -> NDArray[np.bool_]:
        """``[F]`` frames a non-hybrid draw may start at: every startable frame, or with
        ``starts="reached"`` only clip starts and frames holding a rollout state."""
        if self.settings.starts == "all":
            return self.startable
        reached: NDArray[np.bool_] = np.asarray(self.filled[:, 1:].any(axis=1))
        reached[self.clip_starts] = True
        return self.startable & reached

    def scores(self) -> F64:
        """``[F]`` unnormalised start probabilities (0 where a start is impossible)."""
        return np.where(self.drawable(), np.maximum(self.failure, self.settings.min_score), 0.0)

    def probabilities(self) -> F64:
        """``[F]`` probability of each start frame in a non-hybrid draw."""
        sc = self.scores()
        return sc / sc.sum()

    def sample(self, n: int) -> tuple[I64, F64, NDArray[np.bool_]]:
        """Draw ``n`` starts: ``(frames [n] global, states [n, S], hybrid [n])``."""
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
        return frames.astype(np.int64), self.states[frames, slot].copy(), hybrid

    def add(self, frames: I64, states: NDArray[np.floating]) -> None:
        """Store states ``[k, S]`` reached at global ``frames [k]`` in the ring slots
        (oldest overwritten). Several states of one frame in a batch take consecutive
        slots. A buffer with one slot per frame keeps only the MoCap state."""
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
        self.states[f, slot] = np.asarray(states)[order]
        self.filled[f, slot] = True
        np.add.at(self._next, f, 1)
        self._next %= ring

    def state_dict(self) -> dict[str, Any]:
        """Everything a draw depends on: rollout slots (exact, float64; slot 0 is rebuilt
        from the clips), fill marks, ring positions, failure averages and the RNG."""
        return {
            "states": self.states[:, 1:].copy(),
            "filled": self.filled.copy(),
            "next": self._next.copy(),
            "failure": self.failure.copy(),
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`; raises ``ValueError`` when the shapes differ (the
        clips changed since it was saved)."""
        states = np.asarray(state["states"])
        if states.shape != self.states[:, 1:].shape:
            raise ValueError(
                f"PSI state has shape {states.shape}, the buffer {self.states[:, 1:].shape}"
            )
        self.states[:, 1:] = states
        self.filled[...] = np.asarray(state["filled"], bool)
        self._next[...] = np.asarray(state["next"], np.int64)
        self.failure[...] = np.asarray(state["failure"], np.float64)
        self.rng.bit_generator.state = state["rng"]

    def report(self, frames: I64, failed: NDArray[np.bool_]) -> None:
        """Update the failure average of start ``frames [k]`` with episode outcomes
        ``failed [k]`` (early termination). Repeated frames are averaged first."""
        if len(frames) == 0:
            return
        cnt = np.bincount(frames, minlength=self.n_frames)
        fails = np.bincount(frames, weights=failed.astype(np.float64), minlength=self.n_frames)
        seen = cnt > 0
        a = self.settings.score_ema
        self.failure[seen] = (1 - a) * self.failure[seen] + a * fails[seen] / cnt[seen]
