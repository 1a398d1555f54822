"""Interaction early termination (IET).

An episode stops as soon as tracking is lost, so the policy does not learn from states
the reference never visits (a fallen humanoid, a dropped object). Conditions, each a
threshold of :class:`~intermimic.env.settings.TerminationSettings` (``None`` turns it
off), all strict (a value exactly at its threshold does not terminate):

* ``root_height``: the pelvis is lower than ``min_root_height`` (m);
* ``key_body_error``: mean key-body position error above ``max_key_body_error`` (m);
* ``object_error``: mean object surface-point error above ``max_object_error`` (m);
* ``ig_ratio``: some interaction-graph edge (key body to object point) is off by more
  than ``max_ig_ratio`` times its length, the reference's or the simulated one's,
  floored at ``ig_length_floor`` (m) (released: 2 and 0.5 m);
* ``hand_contact``: a hand the reference requires on the object has not touched it for
  more than ``max_missing_hand_frames`` consecutive frames (one counter per hand).

On the first ``grace_steps`` policy steps after a reset only ``root_height`` applies, as
in InterMimic's released task (a start state, MoCap or stored, may begin slightly off).

Inputs and outputs are ``torch.Tensor`` on one device (errors in the comparison's float
dtype, conditions bool, counters integer); nothing leaves the device. A non-finite
error compares False against every threshold: the environment terminates broken worlds
by its own test.
"""

from __future__ import annotations

import torch
from torch import Tensor

from intermimic.env.rewards import Comparison, hand_required_and_touching
from intermimic.env.settings import TerminationSettings

REASONS: tuple[str, ...] = (
    "root_height",
    "key_body_error",
    "object_error",
    "ig_ratio",
    "hand_contact",
)


def _norm(d: Tensor) -> Tensor:
    """``|d|`` over the last axis (3), by components (see ``rewards._sqnorm``)."""
    x, y, z = d.unbind(-1)
    return torch.sqrt(torch.addcmul(torch.addcmul(x * x, y, y), z, z))


def key_body_error(c: Comparison) -> Tensor:
    """``[N]`` mean key-body position error (m)."""
    return _norm(c.key_pos_sim - c.key_pos_ref).mean(dim=-1)


def object_error(c: Comparison) -> Tensor:
    """``[N]`` mean object surface-point error (m)."""
    return _norm(c.points_sim - c.points_ref).mean(dim=-1)


def ig_ratio(c: Comparison, floor: float) -> Tensor:
    """``[N]`` the largest, over the interaction graph's edges, of ``|g_sim - g_ref| /
    max(|g|, floor)`` with ``|g|`` the reference or the simulated edge's length
    (whichever gives the larger ratio, released: either above 2 terminates).

    From squared lengths: ``max(a / x, a / y) = a / min(x, y)``, and the square root is
    taken of the per-world maximum only (monotone); rounding below zero is clamped."""
    short = torch.minimum(c.ig_ref_sq, c.ig_sim_sq).clamp_min(floor * floor)
    worst = (c.ig_err_sq / short).flatten(1).amax(dim=-1)
    return torch.sqrt(worst.clamp_min(0.0))


def missing_hand_contact(c: Comparison, hands: tuple[Tensor, Tensor]) -> Tensor:
    """``[N, 2]`` bool (left, right): the hand is required on the object and none of its
    bodies touches it. ``hands``: long index tensors into the bodies."""
    req, tch = hand_required_and_touching(c.touch, c.labels, hands)
    return req & ~tch


def update_missing_frames(count: Tensor, missing: Tensor) -> Tensor:
    """Consecutive-frame counters (``[N, 2]``, one per hand, or any shape; integer): +1
    where ``missing`` (bool), back to 0 elsewhere. A new tensor of ``count``'s dtype."""
    return (count + 1).masked_fill_(~missing, 0)


def check_termination(
    c: Comparison,
    root_height: Tensor,
    missing_frames: Tensor,
    s: TerminationSettings,
    episode_len: Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """``(terminated [N], reasons)``: which worlds stop, and why (every condition ``[N]``
    bool).

    ``root_height`` ``[N]`` (m); ``missing_frames`` ``[N, 2]`` (or ``[N]``) the counters
    of :func:`update_missing_frames`, already updated for this step; ``episode_len``
    ``[N]`` policy steps since each world's reset, this one included (None: past the
    grace steps everywhere).
    """
    n = root_height.shape[0]
    off = torch.zeros(n, dtype=torch.bool, device=root_height.device)
    if not s.enabled:
        return off, dict.fromkeys(REASONS, off)
    reasons = {
        "root_height": root_height < s.min_root_height if s.min_root_height is not None else off,
        "key_body_error": key_body_error(c) > s.max_key_body_error
        if s.max_key_body_error is not None
        else off,
        "object_error": object_error(c) > s.max_object_error
        if s.max_object_error is not None
        else off,
        "ig_ratio": ig_ratio(c, s.ig_length_floor) > s.max_ig_ratio
        if s.max_ig_ratio is not None
        else off,
        "hand_contact": _longest_missing(missing_frames, n) > s.max_missing_hand_frames
        if s.max_missing_hand_frames is not None
        else off,
    }
    if episode_len is not None and s.grace_steps > 0:
        past_grace = episode_len > s.grace_steps  # every condition applies
        for k in REASONS:
            if k != "root_height":
                reasons[k] = reasons[k] & past_grace
    done = torch.stack(list(reasons.values())).any(dim=0)
    return done, reasons


def _longest_missing(missing_frames: Tensor, n: int) -> Tensor:
    """``[N]`` the largest of each world's hand counters, 0 for none (numpy's
    ``max(initial=0)``; torch's ``amax`` refuses empty rows)."""
    if missing_frames.numel() == 0:
        return torch.zeros(n, dtype=torch.long, device=missing_frames.device)
    return missing_frames.reshape(n, -1).amax(dim=1).clamp_min(0)
