"""Feed-forward base actions per reference frame: a plan's actions as a residual policy's base.

A residual policy acts around a base action. By default that is the action whose PD
targets are the next reference pose (:meth:`~intermimic.env.TrackingEnv.reference_actions`),
and a policy whose mean is 0 follows the MoCap's poses: it falls within a second on
contact-rich clips, because MoCap poses are not physically consistent. A plan that already
tracks the clip in this physics (the sampling planner's committed actions, one per clip
frame) is a better base: with it, a zero residual replays the plan from the MoCap start and
the policy only has to learn the feedback that keeps it there from other states.

:class:`FeedForward` holds such actions as a table over an environment's global reference
frames (``ReferenceMotion.clip_start[c] + f``): row ``g`` of ``table [F, A]`` is the
action applied at clip frame ``f`` (the one that moved the plan from ``f`` to ``f + 1``)
wherever ``mask [F]`` says a plan covers it; elsewhere (clips without a plan, frames
beyond a partial plan) the caller's own base stays (:meth:`FeedForward.apply`).

It is built from ``{clip id: actions [n, A]}`` (:meth:`FeedForward.build`):

* clip ids the reference does not hold are ignored and listed in :attr:`ignored`, so one
  mapping (a teacher's checkpoint, all of a subject's clips) serves an environment over
  any subset of those clips;
* ``A`` must be the environment's action dimension and ``n`` at most ``clip_len - 1``
  (the last frame has no successor to act towards); otherwise :class:`FeedForwardError`
  names the clip. ``truncate=True`` cuts a too-long plan to the clip instead: a clip of
  the same id but fewer frames (a refined reference, shorter than the raw clip a teacher
  was planned on) takes the plan where it applies;
* values must be finite.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from intermimic.errors import InputError

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


class FeedForwardError(InputError):
    """Feed-forward actions that do not fit a clip of the environment (shape, values)."""


class ClipFrames(Protocol):
    """What :class:`FeedForward` reads of a :class:`~intermimic.env.ReferenceMotion`."""

    clip_ids: tuple[str, ...]
    clip_start: I64
    clip_len: I64
    n_frames: int


@dataclass(frozen=True)
class FeedForward:
    """Per-global-frame base actions (see the module docstring)."""

    table: F64
    """``[F, A]`` the action at each global reference frame (0 where not covered)."""
    mask: NDArray[np.bool_]
    """``[F]`` whether a plan covers the frame."""
    covered: dict[str, int] = field(default_factory=dict)
    """Clip id -> frames covered (``0..n-1``), for the clips the reference holds."""
    ignored: tuple[str, ...] = ()
    """Clip ids given that the reference does not hold."""

    @classmethod
    def build(
        cls,
        ref: ClipFrames,
        action_dim: int,
        actions: Mapping[str, ArrayLike],
        *,
        truncate: bool = False,
    ) -> FeedForward:
        """The table of ``actions`` (clip id -> ``[n, action_dim]``) over ``ref``'s frames."""
        table = np.zeros((int(ref.n_frames), int(action_dim)), np.float64)
        mask = np.zeros(int(ref.n_frames), bool)
        covered: dict[str, int] = {}
        ignored: list[str] = []
        index = {cid: c for c, cid in enumerate(ref.clip_ids)}
        for cid, given in actions.items():
            if cid not in index:
                ignored.append(cid)
                continue
            c = index[cid]
            a = np.asarray(given, np.float64)
            room = int(ref.clip_len[c]) - 1
            if a.ndim != 2 or a.shape[1] != action_dim:
                raise FeedForwardError(
                    f"feed-forward of clip {cid!r}: actions need shape [n, {action_dim}] "
                    f"(the environment's action dimension), got {a.shape}"
                )
            if a.shape[0] > room:
                if not truncate:
                    raise FeedForwardError(
                        f"feed-forward of clip {cid!r}: {a.shape[0]} actions, but the clip "
                        f"has {room + 1} frames, so at most {room} (the last frame has no "
                        "next one to act towards)"
                    )
                a = a[:room]
            if not np.isfinite(a).all():
                raise FeedForwardError(f"feed-forward of clip {cid!r}: actions hold NaN or inf")
            start = int(ref.clip_start[c])
            table[start : start + len(a)] = a
            mask[start : start + len(a)] = True
            covered[cid] = len(a)
        return cls(table, mask, covered, tuple(ignored))

    @property
    def empty(self) -> bool:
        """Whether no frame is covered (the base is the caller's everywhere)."""
        return not bool(self.mask.any())

    def apply(self, idx: I64, base: F64) -> F64:
        """``base [N, A]`` with the rows of worlds at covered global frames ``idx [N]``
        replaced by the table's (a new array; ``base`` is left as it is)."""
        i = np.asarray(idx, np.int64)
        return np.where(self.mask[i][:, None], self.table[i], base)
