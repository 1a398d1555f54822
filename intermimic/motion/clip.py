"""The canonical human-object-interaction clip, :class:`HOIClip`.

Every reader produces one and every stage consumes one. Arrays are numpy, time first,
30 frames per second, SI units, z up, world frame, quaternions **w x y z**.

==================  ==============  =======  ===========================================
field               shape           dtype    meaning
==================  ==============  =======  ===========================================
``root_pos``        ``[T, 3]``      float32  pelvis position (m)
``root_quat``       ``[T, 4]``      float32  pelvis orientation, w x y z
``joint_rotvec``    ``[T, J, 3]``   float32  each joint's local rotation as a rotation
                                             vector (rad); joint j drives body j + 1
``body_pos``        ``[T, B, 3]``   float32  global body positions (m), B = J + 1
``body_quat``       ``[T, B, 4]``   float32  global body orientations, w x y z
``obj_pos``         ``[T, 3]``      float32  object position (m)
``obj_quat``        ``[T, 4]``      float32  object orientation, w x y z
``contact``         ``[T, B]``      int8     per-body label: +1 expected, 0 unknown,
                                             -1 must not touch
``obj_contact``     ``[T]``         int8     object-in-contact flag, 0 or 1
==================  ==============  =======  ===========================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, field_validator

from intermimic.motion.names import PLAIN_NAME, name_problem, printable

CANONICAL_FPS = 30.0

# A plain name (see intermimic.motion.names, the one rule): safe as a folder name.
NAME_PATTERN = PLAIN_NAME


def check_name(value: str, what: str) -> str:
    """Return ``value`` if it is a plain name safe to use as a path component, else raise
    ValueError (what pydantic validators need; :func:`intermimic.motion.names.check_name`
    raises :class:`~intermimic.errors.UnsafeNameError` with the same message)."""
    problem = name_problem(value)
    if problem is not None:
        raise ValueError(f"{what} {printable(value)} {problem}")
    return value


@dataclass(frozen=True)
class FieldSpec:
    """Shape, dtype and meaning of one array field; ``tail`` uses ``"J"``/``"B"`` symbols."""

    tail: tuple[int | str, ...]
    kind: Literal["float", "label"]
    unit: str
    frame: str
    description: str
    quaternion_order: str | None = None

    def tail_shape(self, n_bodies: int) -> tuple[int, ...]:
        sizes = {"B": n_bodies, "J": n_bodies - 1}
        return tuple(sizes[d] if isinstance(d, str) else d for d in self.tail)

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(np.float32) if self.kind == "float" else np.dtype(np.int8)


FIELDS: dict[str, FieldSpec] = {
    "root_pos": FieldSpec((3,), "float", "m", "world", "pelvis position"),
    "root_quat": FieldSpec((4,), "float", "1", "world", "pelvis orientation", "wxyz"),
    "joint_rotvec": FieldSpec(
        ("J", 3), "float", "rad", "parent body", "local joint rotation as a rotation vector"
    ),
    "body_pos": FieldSpec(("B", 3), "float", "m", "world", "global body positions"),
    "body_quat": FieldSpec(("B", 4), "float", "1", "world", "global body orientations", "wxyz"),
    "obj_pos": FieldSpec((3,), "float", "m", "world", "object position"),
    "obj_quat": FieldSpec((4,), "float", "1", "world", "object orientation", "wxyz"),
    "contact": FieldSpec(
        ("B",), "label", "1", "-", "per-body contact label: +1 expected, 0 unknown, -1 forbidden"
    ),
    "obj_contact": FieldSpec((), "label", "1", "-", "object-in-contact flag (0/1)"),
}
QUAT_FIELDS = tuple(k for k, s in FIELDS.items() if s.quaternion_order)


class ClipMeta(BaseModel):
    """Where a clip comes from and what it shows. Names are plain (safe as folder names)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: str
    subject: str
    clip_id: str
    object_name: str
    fps: float = CANONICAL_FPS
    source_fps: float | None = None
    source_path: str = ""
    source_sha256: str = ""
    source_format: str = ""

    @field_validator("dataset", "subject", "clip_id", "object_name")
    @classmethod
    def _plain(cls, v: str, info: Any) -> str:
        return check_name(v, info.field_name)

    @field_validator("fps")
    @classmethod
    def _positive(cls, v: float) -> float:
        if not np.isfinite(v) or v <= 0:
            raise ValueError(f"fps must be a positive number, got {v}")
        return v


@dataclass(frozen=True)
class HOIClip:
    """One clip: :class:`ClipMeta` plus the arrays of :data:`FIELDS` (see module docstring)."""

    meta: ClipMeta
    root_pos: NDArray[np.float32]
    root_quat: NDArray[np.float32]
    joint_rotvec: NDArray[np.float32]
    body_pos: NDArray[np.float32]
    body_quat: NDArray[np.float32]
    obj_pos: NDArray[np.float32]
    obj_quat: NDArray[np.float32]
    contact: NDArray[np.int8]
    obj_contact: NDArray[np.int8]
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def n_frames(self) -> int:
        return int(self.root_pos.shape[0])

    @property
    def n_bodies(self) -> int:
        return int(self.body_pos.shape[1])

    @property
    def seconds(self) -> float:
        return self.n_frames / self.meta.fps

    def arrays(self) -> dict[str, np.ndarray]:
        """The field arrays by name, in :data:`FIELDS` order."""
        return {name: getattr(self, name) for name in FIELDS}

    def with_arrays(self, **arrays: np.ndarray) -> HOIClip:
        unknown = set(arrays) - set(FIELDS)
        if unknown:
            raise KeyError(f"not clip fields: {', '.join(sorted(unknown))}")
        return replace(self, **cast(dict[str, Any], arrays))

    def with_meta(self, **changes: Any) -> HOIClip:
        return replace(self, meta=self.meta.model_copy(update=changes))

    def slice(self, start: int, stop: int) -> HOIClip:
        """Frames ``[start, stop)`` as a new clip (views, not copies)."""
        return self.with_arrays(**{k: v[start:stop] for k, v in self.arrays().items()})

    @property
    def held_frames(self) -> int:
        """Frames at the clip's end that repeat its last captured one
        (:func:`hold_last_frame`): not motion, so clip-wide measures leave them out."""
        return int(self.extra.get(HELD_FRAMES, 0))

    @classmethod
    def from_arrays(cls, meta: ClipMeta, arrays: Mapping[str, np.ndarray]) -> HOIClip:
        missing = [k for k in FIELDS if k not in arrays]
        if missing:
            raise KeyError(f"missing fields: {', '.join(missing)}")
        fields: dict[str, Any] = {k: arrays[k] for k in FIELDS}
        return cls(meta=meta, **fields)


#: ``HOIClip.extra`` key: how many frames at the end :func:`hold_last_frame` appended.
HELD_FRAMES = "held_frames"


def hold_last_frame(clip: HOIClip, frames: int) -> HOIClip:
    """``clip`` with its last frame repeated ``frames`` more times (at rest), marked in
    ``extra`` (:attr:`HOIClip.held_frames`) so that clip-wide measures (the reference's
    grounding, the planner's floor) stay those of the captured frames: a horizon that
    runs past the clip's end follows a reference that stays where the clip ends."""
    if frames < 0:
        raise ValueError(f"frames to hold must be >= 0, got {frames}")
    arrays = {
        k: np.concatenate([v, np.repeat(v[-1:], frames, axis=0)]) for k, v in clip.arrays().items()
    }
    held = replace(clip, extra={**clip.extra, HELD_FRAMES: clip.held_frames + frames})
    return held.with_arrays(**arrays)
