"""Resampling a clip to the canonical frame rate.

Positions are interpolated linearly, rotations by slerp (rotation vectors through their
quaternions), labels take the nearest source frame.
"""

from __future__ import annotations

import numpy as np

from intermimic.motion.clip import FIELDS, HOIClip
from intermimic.motion.quat import quat_to_rotvec, rotvec_to_quat, slerp


def resample(clip: HOIClip, fps: float) -> HOIClip:
    """``clip`` at ``fps`` frames per second, covering the same time span.

    Output frame ``k`` is at time ``k / fps``; the last output frame is at or before the
    source's last frame. A clip already at ``fps`` is returned unchanged.
    """
    src_fps = clip.meta.fps
    if abs(src_fps - fps) < 1e-9:
        return clip
    n_src = clip.n_frames
    duration = (n_src - 1) / src_fps
    n_out = int(np.floor(duration * fps + 1e-9)) + 1
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
