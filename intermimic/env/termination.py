"""Interaction early termination (IET).

An episode stops as soon as tracking is lost, so the policy does not learn from states
the reference never visits (a fallen humanoid, a dropped object). Conditions, each a
threshold of :class:`~intermimic.env.settings.TerminationSettings` (``None`` turns it
off), all strict (a value exactly at its threshold does not terminate):

* ``root_height``: the pelvis is lower than ``min_root_height`` (m);
* ``key_body_error``: mean key-body position error above ``max_key_body_error`` (m);
* ``object_error``: mean object surface-point error above ``max_object_error`` (m);
* ``ig_ratio``: mean interaction-graph edge error over the mean reference edge length
  above ``max_ig_ratio``;
* ``hand_contact``: a hand the reference requires on the object has not touched it for
  more than ``max_missing_hand_frames`` consecutive frames (one counter per hand).

On the first ``grace_steps`` policy steps after a reset only ``root_height`` applies, as
in InterMimic's released task (a start state, MoCap or stored, may begin slightly off).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from intermimic.env.rewards import Comparison, hand_required_and_touching
from intermimic.env.settings import TerminationSettings

F64 = NDArray[np.float64]

REASONS: tuple[str, ...] = (
    "root_height",
    "key_body_error",
    "object_error",
    "ig_ratio",
    "hand_contact",
)


def _norm(d: NDArray[np.floating]) -> F64:
    return np.sqrt(np.einsum("...i,...i->...", d, d))


def key_body_error(c: Comparison) -> F64:
    """``[N]`` mean key-body position error (m)."""
    return _norm(c.key_pos_sim - c.key_pos_ref).mean(axis=-1)


def object_error(c: Comparison) -> F64:
    """``[N]`` mean object surface-point error (m)."""
    return _norm(c.points_sim - c.points_ref).mean(axis=-1)


def ig_ratio(c: Comparison) -> F64:
    """``[N]`` mean interaction-graph edge error over the mean reference edge length."""
    n = c.ig_sim.shape[0]
    err = _norm(c.ig_sim - c.ig_ref).reshape(n, -1).mean(axis=-1)
    ref = _norm(c.ig_ref).reshape(n, -1).mean(axis=-1)
    return err / np.maximum(ref, 1e-9)


def missing_hand_contact(
    c: Comparison, hands: tuple[NDArray[np.int64], NDArray[np.int64]]
) -> NDArray[np.bool_]:
    """``[N, 2]`` (left, right): the hand is required on the object and none of its
    bodies touches it."""
    req, tch = hand_required_and_touching(c.touch, c.labels, hands)
    missing: NDArray[np.bool_] = req & ~tch
    return missing


def update_missing_frames(
    count: NDArray[np.int64], missing: NDArray[np.bool_]
) -> NDArray[np.int64]:
    """Consecutive-frame counters (``[N, 2]``, one per hand, or any shape): +1 where
    ``missing``, back to 0 elsewhere."""
    return np.where(missing, count + 1, 0)


def check_termination(
    c: Comparison,
    root_height: NDArray[np.floating],
    missing_frames: NDArray[np.int64],
    s: TerminationSettings,
    episode_len: NDArray[np.integer] | None = None,
) -> tuple[NDArray[np.bool_], dict[str, NDArray[np.bool_]]]:
    """``(terminated [N], reasons)``: which worlds stop, and why (every condition ``[N]``).

    ``root_height`` ``[N]`` (m); ``missing_frames`` ``[N, 2]`` (or ``[N]``) the counters
    of :func:`update_missing_frames`, already updated for this step; ``episode_len``
    ``[N]`` policy steps since each world's reset, this one included (None: past the
    grace steps everywhere).
    """
    n = root_height.shape[0]
    off = np.zeros(n, dtype=bool)
    if not s.enabled:
        return off, dict.fromkeys(REASONS, off)
    missing = np.asarray(missing_frames).reshape(n, -1).max(axis=1, initial=0)
    reasons = {
        "root_height": root_height < s.min_root_height if s.min_root_height is not None else off,
        "key_body_error": key_body_error(c) > s.max_key_body_error
        if s.max_key_body_error is not None
        else off,
        "object_error": object_error(c) > s.max_object_error
        if s.max_object_error is not None
        else off,
        "ig_ratio": ig_ratio(c) > s.max_ig_ratio if s.max_ig_ratio is not None else off,
        "hand_contact": missing > s.max_missing_hand_frames
        if s.max_missing_hand_frames is not None
        else off,
    }
    if episode_len is not None and s.grace_steps > 0:
        grace = np.asarray(episode_len) <= s.grace_steps
        for k in REASONS:
            if k != "root_height":
                reasons[k] = reasons[k] & ~grace
    done = np.zeros(n, dtype=bool)
    for v in reasons.values():
        done |= v
    return done, reasons
