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

Every axis has a name (:func:`field_dimensions`), one per meaning, so that labelled-array
tools (xarray) never see two sizes under one name: time is ``frame``, then ``body`` (B),
``joint`` (J = B - 1, joint j drives body j + 1), ``xyz`` (3) or ``quat`` (4, w x y z).

A clip is *complete* when its teacher tracked it to the clip's last frame
(``info["success"]``, which the refinement sets only then); a partial clip stops where
the teacher fell. :func:`partial_reason` says so in words for the exports' records.
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

#: Name of the time axis (the first) of every per-frame array.
TIME_DIM = "frame"
#: Name of each axis symbol or size of a field's tail (:attr:`FieldSpec.tail`).
AXIS_DIMS: dict[int | str, str] = {"B": "body", "J": "joint", 3: "xyz", 4: "quat"}
#: Labels of the component axes: vector components and quaternion components (w x y z).
AXIS_LABELS: dict[str, tuple[str, ...]] = {"xyz": ("x", "y", "z"), "quat": ("w", "x", "y", "z")}


def field_dimensions(spec: FieldSpec) -> tuple[str, ...]:
    """The dimension names of a field's array: ``("frame", "body", "xyz")`` for ``[T, B, 3]``."""
    return (TIME_DIM, *(AXIS_DIMS[d] for d in spec.tail))


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
        """Whether the teacher tracked the clip to its last frame (the clip is complete)."""
        return bool(self.info.get("success", False))

    @property
    def complete(self) -> bool:
        """Refined to the clip's end: :attr:`success` (see the module docstring)."""
        return self.success

    @property
    def refined_frames(self) -> int:
        """Frames of refined motion this clip holds."""
        return self.clip.n_frames

    @property
    def clip_frames(self) -> int | None:
        """Frames of the raw clip it refines (None when the record does not say)."""
        n = self.info.get("raw_frames")
        return int(n) if isinstance(n, int | float) and not isinstance(n, bool) else None

    def arrays(self) -> dict[str, np.ndarray]:
        """Every :data:`EXPORT_FIELDS` array by name."""
        return {**self.clip.arrays(), **self.velocities}


def partial_reason(ec: ExportClip) -> str:
    """Why ``ec`` is not complete, in words: where its teacher stopped."""
    raw = ec.clip_frames
    of = f" of {raw}" if raw is not None else ""
    return (
        f"partial: the teacher stopped after {ec.refined_frames}{of} frames "
        "(did not reach the clip's end)"
    )


def velocity_source(ec: ExportClip, rtol: float = 1e-3) -> str:
    """Where ``ec``'s velocities come from: ``"finite differences"`` when they equal
    :func:`finite_difference_velocities` of its poses, else ``"simulation"`` (the
    refining simulator's body velocities, recorded with the rollout)."""
    fd = finite_difference_velocities(ec.clip)
    for name, want in fd.items():
        have = np.asarray(ec.velocities[name], np.float64)
        scale = max(1.0, float(np.abs(want).max(initial=0.0)))
        if not np.allclose(have, want, rtol=0.0, atol=rtol * scale):
            return "simulation"
    return "finite differences"
