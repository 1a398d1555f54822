"""Reading one clip file into a validated, canonical :class:`HOIClip`."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import numpy as np

from intermimic.errors import ReadError, UnknownFormatError, ValidationError
from intermimic.motion.clip import CANONICAL_FPS, QUAT_FIELDS, HOIClip
from intermimic.motion.formats import ClipFormat, Decoded, format_for_path, get_format
from intermimic.motion.limits import (
    ReadLimits,
    check_array,
    check_fps,
    current_limits,
    using_limits,
)
from intermimic.motion.names import safe_text
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


def read_bytes(path: Path, max_bytes: int | None = None) -> bytes:
    """The file's bytes, with OS errors turned into a ReadError that names the file.

    Only regular files are read (a FIFO or a device named on the command line is a
    ReadError, not a hang); a file over ``max_bytes`` (default: the current limits'
    ``max_file_bytes``) is a ReadError too, found without reading more than the limit.
    """
    limit = current_limits().max_file_bytes if max_bytes is None else max_bytes
    try:
        # non-blocking: opening a FIFO must not wait for a writer (no effect on files)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError
            if not stat.S_ISREG(st.st_mode):
                raise ReadError("not a regular file (a device, pipe or socket)", path)
            if st.st_size > limit:
                raise ReadError(
                    f"file has {st.st_size} bytes, more than the limit max_file_bytes={limit}",
                    path,
                )
            data = f.read(limit + 1)
    except PermissionError:
        raise ReadError("permission denied (cannot read the file)", path) from None
    except IsADirectoryError:
        raise ReadError("is a directory, not a clip file", path) from None
    except OSError as exc:
        raise ReadError(f"cannot read: {exc.strerror or exc}", path) from None
    if len(data) > limit:
        raise ReadError(f"file grew past the limit max_file_bytes={limit} while read", path)
    return data


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


def check_decoded(decoded: Decoded, path: Path, limits: ReadLimits) -> float:
    """Bounds every reader's output must keep, whatever the format (a third-party reader
    included): arrays within the limits, a frame rate within ``[min_fps, max_fps]``.
    Returns the frame rate."""
    for name, a in decoded.arrays.items():
        shape = tuple(int(d) for d in getattr(a, "shape", ()))
        try:
            dtype = np.dtype(getattr(a, "dtype", np.float64))
        except TypeError:  # a torch dtype, say: counted as 8 bytes a value
            dtype = np.dtype(np.float64)
        check_array(name, shape, dtype, path, limits)
    return check_fps(decoded.meta.get("fps", CANONICAL_FPS), path, limits)


def decode_clip(
    data: bytes, path: Path, fmt: ClipFormat, settings: IngestSettings | None = None
) -> HOIClip:
    """Decode, validate and resample one clip whose bytes were already read.

    Readers check declared sizes against ``settings.limits()`` before allocating; the
    frame rate is checked before resampling, the resampled frame count before it is
    made, and ``min_frames`` applies to the clip as stored (after resampling).
    """
    s = settings or IngestSettings()
    limits = s.limits()
    with using_limits(limits):
        decoded = fmt.decode(data, path)
    check_decoded(decoded, path, limits)
    raw = decoded.arrays
    if s.trim_invalid_leading_frames:
        raw = trim_leading_invalid(raw, s.quat_tolerance)
    arrays = validate_arrays(raw, path, min_frames=2, quat_tolerance=s.quat_tolerance)
    meta = make_meta(
        path,
        dataset=s.dataset,
        source_path=safe_text(str(path)),
        source_sha256=hashlib.sha256(data).hexdigest(),
        source_format=fmt.name,
        **decoded.meta,
    )
    clip = HOIClip(meta=meta, **arrays, extra=decoded.extra)
    out = resample(clip, s.fps, max_frames=s.max_frames)
    if out.n_frames < s.min_frames:
        how = (
            f" after resampling from {clip.meta.fps:g} to {s.fps:g} fps" if out is not clip else ""
        )
        raise ValidationError(
            f"clip has {out.n_frames} frame(s){how}, at least {s.min_frames} needed", path
        )
    return out


def read_clip(
    path: str | Path, format: str | None = None, settings: IngestSettings | None = None
) -> HOIClip:
    """Read, validate and resample one clip file.

    Raises :class:`~intermimic.errors.InputError` (naming the file) for anything wrong
    with it, :class:`~intermimic.errors.UnknownFormatError` for an unknown format.
    """
    p = Path(path)
    s = settings or IngestSettings()
    fmt = resolve_format(p, format if format is not None else s.format)
    with using_limits(s.limits()):
        data = read_bytes(p)
    return decode_clip(data, p, fmt, s)
