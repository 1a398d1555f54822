"""What an export holds per clip: the canonical clip, its velocities and its record.

:class:`ExportClip` is an :class:`~intermimic.motion.clip.HOIClip` plus the per-frame
velocities that motion-tracking projects expect (world frame, from the simulation when
the clip was refined there, else by finite differences of the poses) and ``info``: the
clip's success flag, tracking errors, quality figures and lineage (JSON-able values).

==================  ==============  =======  ==========================================
velocity field      shape           dtype    meaning
==================  ==============  =======  ==========================================
``body_linvel``     ``[T, B, 3]``   float32  linear velocity of each body (m/s), world
``body_angvel``     ``[T, B, 3]``   float32  angular velocity of each body (rad/s), world
``obj_linvel``      ``[T, 3]``      float32  object linear velocity (m/s), world
``obj_angvel``      ``[T, 3]``      float32  object angular velocity (rad/s), world
==================  ==============  =======  ==========================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from intermimic.motion.clip import FIELDS, FieldSpec, HOIClip
from intermimic.motion.quat import quat_conj, quat_mul, quat_to_rotvec

VELOCITY_FIELDS: dict[str, FieldSpec] = {
    "body_linvel": FieldSpec(("B", 3), "float", "m/s", "world", "linear velocity of each body"),
    "body_angvel": FieldSpec(("B", 3), "float", "rad/s", "world", "angular velocity of each body"),
    "obj_linvel": FieldSpec((3,), "float", "m/s", "world", "object linear velocity"),
    "obj_angvel": FieldSpec((3,), "float", "rad/s", "world", "object angular velocity"),
}
#: Every per-frame array an export carries, clip fields first.
EXPORT_FIELDS: dict[str, FieldSpec] = {**FIELDS, **VELOCITY_FIELDS}


def linear_velocity(pos: np.ndarray, fps: float) -> np.ndarray:
    """``[T, ..., 3]`` positions -> velocities (central differences, one-sided at the ends)."""
    p = np.asarray(pos, np.float64)
    if len(p) < 2:
        return np.zeros_like(p, dtype=np.float32)
    return (np.gradient(p, axis=0) * fps).astype(np.float32)


def angular_velocity(quat: np.ndarray, fps: float) -> np.ndarray:
    """``[T, ..., 4]`` world orientations (w x y z) -> world angular velocities ``[T, ..., 3]``.

    The rotation from frame t to t+1 in the world frame is ``q[t+1] q[t]^-1``; its rotation
    vector times fps is the velocity over that step, assigned to both its frames' average
    the way :func:`linear_velocity`'s central differences are (the ends one-sided).
    """
    q = np.asarray(quat, np.float64)
    if len(q) < 2:
        return np.zeros((*q.shape[:-1], 3), np.float32)
    step = quat_to_rotvec(quat_mul(q[1:], quat_conj(q[:-1]))) * fps  # [T-1, ..., 3]
    out = np.empty((*q.shape[:-1], 3))
    out[0], out[-1] = step[0], step[-1]
    out[1:-1] = 0.5 * (step[1:] + step[:-1])
    return out.astype(np.float32)


def finite_difference_velocities(clip: HOIClip) -> dict[str, np.ndarray]:
    """The :data:`VELOCITY_FIELDS` of a clip, from its poses."""
    fps = clip.meta.fps
    return {
        "body_linvel": linear_velocity(clip.body_pos, fps),
        "body_angvel": angular_velocity(clip.body_quat, fps),
        "obj_linvel": linear_velocity(clip.obj_pos, fps),
        "obj_angvel": angular_velocity(clip.obj_quat, fps),
    }


@dataclass(frozen=True)
class ExportClip:
    """One clip of a published dataset: motion, velocities and its record."""

    clip: HOIClip
    velocities: dict[str, np.ndarray]
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        clip: HOIClip,
        velocities: Mapping[str, np.ndarray] | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> ExportClip:
        """Velocities given (e.g. the simulation's) are used where their shape fits; the
        others come from finite differences of the poses."""
        given = dict(velocities or {})
        derived: dict[str, np.ndarray] | None = None
        out: dict[str, np.ndarray] = {}
        for name, spec in VELOCITY_FIELDS.items():
            shape = (clip.n_frames, *spec.tail_shape(clip.n_bodies))
            v = given.get(name)
            if v is not None and np.shape(v) == shape:
                out[name] = np.asarray(v, np.float32)
            else:
                derived = derived or finite_difference_velocities(clip)
                out[name] = derived[name]
        return cls(clip, out, dict(info or {}))

    @property
    def key(self) -> tuple[str, str, str]:
        m = self.clip.meta
        return (m.dataset, m.subject, m.clip_id)

    @property
    def success(self) -> bool:
        return bool(self.info.get("success", False))

    def arrays(self) -> dict[str, np.ndarray]:
        """Every :data:`EXPORT_FIELDS` array by name."""
        return {**self.clip.arrays(), **self.velocities}
