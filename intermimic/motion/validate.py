"""Checks every clip passes before it enters the store.

:func:`validate_arrays` is format independent: readers turn a file into named arrays and
metadata, this module decides whether they form a valid :class:`HOIClip`. Every failure
raises :class:`~intermimic.errors.ValidationError` naming the file and the exact problem.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydantic

from intermimic.errors import ValidationError
from intermimic.motion.clip import FIELDS, QUAT_FIELDS, ClipMeta
from intermimic.motion.quat import quat_norm_error

_RENORMALISE_ABOVE = 1e-6
_ALLOWED_LABELS = {"contact": (-1, 0, 1), "obj_contact": (0, 1)}


def _first_bad(mask: np.ndarray) -> int:
    """Frame index of the first True along axis 0."""
    return int(np.argmax(mask.reshape(mask.shape[0], -1).any(axis=1)))


def validate_arrays(
    arrays: dict[str, np.ndarray],
    path: str | Path,
    *,
    min_frames: int = 2,
    quat_tolerance: float = 1e-3,
) -> dict[str, np.ndarray]:
    """Check and canonicalise the arrays of one clip; return them cast and renormalised.

    Rules: every field of :data:`FIELDS` present (object pose included), numeric, of the
    documented rank and width, float fields floating-point, the same frame count
    everywhere and at least ``min_frames``, all values finite, quaternion norms within
    ``quat_tolerance`` of 1 (then renormalised), labels in their allowed sets.
    """
    missing = [k for k in FIELDS if k not in arrays]
    if missing:
        raise ValidationError(f"missing field(s) {', '.join(missing)}", path)

    body_pos = np.asarray(arrays["body_pos"])
    if body_pos.ndim != 3:
        raise ValidationError(f"body_pos has rank {body_pos.ndim}, expected 3 [T, B, 3]", path)
    n_bodies = int(body_pos.shape[1])
    if n_bodies < 2:
        raise ValidationError(f"body_pos has {n_bodies} bodies, expected at least 2", path)

    out: dict[str, np.ndarray] = {}
    n_frames: int | None = None
    for name, spec in FIELDS.items():
        a = np.asarray(arrays[name])
        tail = spec.tail_shape(n_bodies)
        if a.dtype.kind not in "biuf":
            raise ValidationError(f"{name} has dtype {a.dtype}, expected a numeric array", path)
        if spec.kind == "float" and a.dtype.kind != "f":
            raise ValidationError(
                f"{name} has integer dtype {a.dtype}, expected floating point", path
            )
        want = "[T" + "".join(f", {d}" for d in tail) + "]"
        if a.ndim != 1 + len(tail):
            raise ValidationError(
                f"{name} has rank {a.ndim}, expected {1 + len(tail)} {want}", path
            )
        if a.shape[1:] != tail:
            raise ValidationError(f"{name} has shape {list(a.shape)}, expected {want}", path)
        if n_frames is None:
            n_frames = int(a.shape[0])
        elif a.shape[0] != n_frames:
            raise ValidationError(
                f"{name} has {a.shape[0]} frames, other fields have {n_frames}", path
            )
        if a.dtype.kind == "f":
            finite = np.isfinite(a)
            if not finite.all():
                bad = ~finite
                kinds = []
                if np.isnan(a).any():
                    kinds.append("NaN")
                if np.isinf(a).any():
                    kinds.append("Inf")
                raise ValidationError(
                    f"{name} has {int(bad.sum())} non-finite value(s) ({'/'.join(kinds)}), "
                    f"first at frame {_first_bad(bad)}",
                    path,
                )
        if spec.kind == "label":
            allowed = _ALLOWED_LABELS[name]
            ok = np.isin(a, allowed)
            if not ok.all():
                bad_values = sorted({float(v) for v in np.unique(a[~ok])})[:5]
                raise ValidationError(
                    f"{name} has label(s) {bad_values} outside {sorted(allowed)}, "
                    f"first at frame {_first_bad(~ok)}",
                    path,
                )
        out[name] = a.astype(spec.dtype, copy=False)

    assert n_frames is not None
    if n_frames < min_frames:
        raise ValidationError(f"clip has {n_frames} frame(s), at least {min_frames} needed", path)

    for name in QUAT_FIELDS:
        q = out[name]
        err = quat_norm_error(q)
        worst = float(err.max())
        if worst > quat_tolerance:
            bad = err > quat_tolerance
            first = _first_bad(bad)
            flat = q.reshape(n_frames, -1, 4)[first]
            worst_in_frame = int(np.argmax(err.reshape(n_frames, -1)[first]))
            norm = float(np.linalg.norm(flat[worst_in_frame].astype(np.float64)))
            raise ValidationError(
                f"{name} has {int(bad.sum())} quaternion(s) off unit norm by more than "
                f"{quat_tolerance:g} (first at frame {first}, norm {norm:.4g})",
                path,
            )
        if worst > _RENORMALISE_ABOVE:
            # Only the quaternions visibly off unit norm: float32 rounding (~6e-8) is left
            # alone so that a clip written and read back stays bit-identical.
            fix = err > _RENORMALISE_ABOVE
            q = q.copy()
            q64 = q[fix].astype(np.float64)
            q[fix] = (q64 / np.linalg.norm(q64, axis=-1, keepdims=True)).astype(np.float32)
            out[name] = q
    return out


def make_meta(path: str | Path, **fields: object) -> ClipMeta:
    """Build :class:`ClipMeta`, turning pydantic's complaint into a ValidationError on ``path``."""
    try:
        return ClipMeta(**fields)  # type: ignore[arg-type]
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ValidationError(f"bad clip metadata: {problems}", path) from None
