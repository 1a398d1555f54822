"""Reading one clip file into a validated, canonical :class:`HOIClip`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from intermimic.errors import ReadError, UnknownFormatError
from intermimic.motion.clip import QUAT_FIELDS, HOIClip
from intermimic.motion.formats import ClipFormat, format_for_path, get_format
from intermimic.motion.quat import quat_norm_error
from intermimic.motion.resample import resample
from intermimic.motion.settings import IngestSettings
from intermimic.motion.validate import make_meta, validate_arrays


def resolve_format(path: Path, format: str | None) -> ClipFormat:
    """The named format, or the one whose suffix matches ``path``."""
    if format is not None:
        return get_format(format)
    fmt = format_for_path(path)
    if fmt is None:
        raise UnknownFormatError(f"{path}: no format reads files named like this; pass a format")
    return fmt


def read_bytes(path: Path) -> bytes:
    """The file's bytes, with OS errors turned into a ReadError that names the file."""
    try:
        return path.read_bytes()
    except PermissionError:
        raise ReadError("permission denied (cannot read the file)", path) from None
    except IsADirectoryError:
        raise ReadError("is a directory, not a clip file", path) from None
    except OSError as exc:
        raise ReadError(f"cannot read: {exc.strerror or exc}", path) from None


def trim_leading_invalid(
    arrays: dict[str, np.ndarray], quat_tolerance: float
) -> dict[str, np.ndarray]:
    """Arrays without the leading frames that hold non-finite values or bad quaternions.

    Arrays of unexpected shape are returned untouched; validation then names the problem.
    """
    try:
        n = len(arrays["root_pos"])
        good = np.ones(n, dtype=bool)
        for name, a in arrays.items():
            a = np.asarray(a)
            if a.dtype.kind != "f" or len(a) != n:
                continue
            good &= np.isfinite(a.reshape(n, -1)).all(axis=1)
            if name in QUAT_FIELDS:
                good &= (quat_norm_error(a).reshape(n, -1) <= quat_tolerance).all(axis=1)
    except (KeyError, TypeError, ValueError):
        return arrays
    first = int(np.argmax(good)) if good.any() else n
    return arrays if first == 0 else {k: np.asarray(v)[first:] for k, v in arrays.items()}


def decode_clip(
    data: bytes, path: Path, fmt: ClipFormat, settings: IngestSettings | None = None
) -> HOIClip:
    """Decode, validate and resample one clip whose bytes were already read."""
    s = settings or IngestSettings()
    decoded = fmt.decode(data, path)
    raw = decoded.arrays
    if s.trim_invalid_leading_frames:
        raw = trim_leading_invalid(raw, s.quat_tolerance)
    arrays = validate_arrays(raw, path, min_frames=s.min_frames, quat_tolerance=s.quat_tolerance)
    meta = make_meta(
        path,
        dataset=s.dataset,
        source_path=str(path),
        source_sha256=hashlib.sha256(data).hexdigest(),
        source_format=fmt.name,
        **decoded.meta,
    )
    clip = HOIClip(meta=meta, **arrays, extra=decoded.extra)
    return resample(clip, s.fps)


def read_clip(
    path: str | Path, format: str | None = None, settings: IngestSettings | None = None
) -> HOIClip:
    """Read, validate and resample one clip file.

    Raises :class:`~intermimic.errors.InputError` (naming the file) for anything wrong
    with it, :class:`~intermimic.errors.UnknownFormatError` for an unknown format.
    """
    p = Path(path)
    fmt = resolve_format(
        p, format if format is not None else (settings.format if settings else None)
    )
    return decode_clip(read_bytes(p), p, fmt, settings)
