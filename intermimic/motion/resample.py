"""Resampling a clip to the canonical frame rate.

Positions are interpolated linearly, rotations by slerp (rotation vectors through their
quaternions), labels take the nearest source frame.
"""

from __future__ import annotations

import math

import numpy as np

from intermimic.errors import ValidationError
from intermimic.motion.clip import FIELDS, HOIClip
from intermimic.motion.quat import quat_to_rotvec, rotvec_to_quat, slerp


def resampled_frames(n_src: int, src_fps: float, fps: float) -> int:
    """How many frames :func:`resample` makes of ``n_src`` frames at ``src_fps``."""
    if not (math.isfinite(src_fps) and math.isfinite(fps) and src_fps > 0 and fps > 0):
        raise ValueError(f"frame rates must be positive numbers, got {src_fps} and {fps}")
    if abs(src_fps - fps) < 1e-9:
        return n_src
    duration = (max(n_src, 1) - 1) / src_fps
    return math.floor(duration * fps + 1e-9) + 1


def resample(clip: HOIClip, fps: float, *, max_frames: int | None = None) -> HOIClip:
    """``clip`` at ``fps`` frames per second, covering the same time span.

    Output frame ``k`` is at time ``k / fps``; the last output frame is at or before the
    source's last frame. A clip already at ``fps`` is returned unchanged. When the result
    would have more than ``max_frames`` frames, :class:`~intermimic.errors.ValidationError`
    (naming the source file) is raised before anything is allocated.
    """
    src_fps = clip.meta.fps
    try:
        n_out = resampled_frames(clip.n_frames, src_fps, fps)
    except ValueError as exc:
        raise ValidationError(str(exc), clip.meta.source_path or None) from None
    if max_frames is not None and n_out > max_frames:
        raise ValidationError(
            f"resampling {clip.n_frames} frames from {src_fps:g} to {fps:g} fps gives "
            f"{n_out} frames, more than the limit max_frames={max_frames}",
            clip.meta.source_path or None,
        )
    if abs(src_fps - fps) < 1e-9:
        return clip
    n_src = clip.n_frames
    pos = np.arange(n_out) * (src_fps / fps)  # fractional source frame of each output frame
    i0 = np.clip(np.floor(pos).astype(np.int64), 0, n_src - 1)
    i1 = np.minimum(i0 + 1, n_src - 1)
    frac = pos - i0
    nearest = np.clip(np.rint(pos).astype(np.int64), 0, n_src - 1)

    out: dict[str, np.ndarray] = {}
    for name, spec in FIELDS.items():
        a = getattr(clip, name)
        if spec.kind == "label":
            out[name] = a[nearest]
            continue
        f = frac.reshape((-1,) + (1,) * (a.ndim - 1))
        if spec.quaternion_order:
            out[name] = slerp(a[i0], a[i1], f[..., 0]).astype(np.float32)
        elif name == "joint_rotvec":
            q = slerp(rotvec_to_quat(a[i0]), rotvec_to_quat(a[i1]), f[..., 0])
            out[name] = quat_to_rotvec(q).astype(np.float32)
        else:
            out[name] = ((1.0 - f) * a[i0] + f * a[i1]).astype(np.float32)
    resampled = clip.with_arrays(**out)
    return resampled.with_meta(fps=float(fps), source_fps=src_fps)
