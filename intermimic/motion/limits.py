"""Bounds on what one clip file may make us allocate.

A small file can declare a huge array (an ``.npy`` header, a zero-stride tensor, a zip
member's size) or a frame rate that resamples a short clip into millions of frames.
Readers check every declared shape, dtype, stride and frame rate against
:class:`ReadLimits` *before* allocating, and raise a :class:`~intermimic.errors.ReadError`
naming the file and the limit: the batch records a reject and goes on.

The limits come from :class:`~intermimic.motion.settings.IngestSettings`
(``max_frames``, ``min_fps``, ``max_fps``, ``max_file_bytes``, ``max_array_bytes``).
:func:`~intermimic.motion.load.decode_clip` makes them current for the readers
(:func:`using_limits`), so a format's ``decode(data, path)`` keeps its signature and
reads them with :func:`current_limits`.
"""

from __future__ import annotations

import contextlib
import math
import zipfile
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from intermimic.errors import ReadError, ValidationError


@dataclass(frozen=True)
class ReadLimits:
    """The most one clip file may declare. Defaults match IngestSettings'."""

    max_frames: int = 1_000_000
    min_fps: float = 1.0
    max_fps: float = 1000.0
    max_file_bytes: int = 2 * 2**30
    max_array_bytes: int = 2 * 2**30


_DEFAULT = ReadLimits()
_CURRENT: ContextVar[ReadLimits | None] = ContextVar("intermimic_read_limits", default=None)


def current_limits() -> ReadLimits:
    """The limits readers apply now (the defaults outside :func:`using_limits`)."""
    return _CURRENT.get() or _DEFAULT


@contextlib.contextmanager
def using_limits(limits: ReadLimits) -> Iterator[ReadLimits]:
    """Make ``limits`` current for the readers called inside the block."""
    token = _CURRENT.set(limits)
    try:
        yield limits
    finally:
        _CURRENT.reset(token)


def _count(shape: tuple[int, ...]) -> int:
    return math.prod(int(d) for d in shape)


def check_array(
    name: str,
    shape: tuple[int, ...],
    dtype: np.dtype,
    path: str | Path,
    limits: ReadLimits | None = None,
    *,
    itemsize: int | None = None,
) -> int:
    """Check a declared array (before it exists); return its size in bytes.

    The first axis is time for every clip array: at most ``max_frames``. The array, at
    ``itemsize`` bytes per value (default the dtype's), at most ``max_array_bytes``.
    """
    lim = limits or current_limits()
    if any(int(d) < 0 for d in shape):
        raise ReadError(f"{name} declares a negative dimension {list(shape)}", path)
    if dtype.hasobject:
        raise ReadError(f"{name} holds Python objects ({dtype}); only numbers are read", path)
    if shape and int(shape[0]) > lim.max_frames:
        raise ReadError(
            f"{name} declares {int(shape[0])} frames {list(shape)}, more than the limit "
            f"max_frames={lim.max_frames}",
            path,
        )
    nbytes = _count(shape) * (dtype.itemsize if itemsize is None else itemsize)
    if nbytes > lim.max_array_bytes:
        raise ReadError(
            f"{name} declares {list(shape)} {dtype} ({nbytes / 2**20:.0f} MiB), more than "
            f"the limit max_array_bytes={lim.max_array_bytes}",
            path,
        )
    return nbytes


def check_frames(n: int, path: str | Path, what: str, limits: ReadLimits | None = None) -> None:
    lim = limits or current_limits()
    if n > lim.max_frames:
        raise ValidationError(
            f"{what} has {n} frames, more than the limit max_frames={lim.max_frames}", path
        )


def check_fps(fps: object, path: str | Path, limits: ReadLimits | None = None) -> float:
    """``fps`` as a float if it is a finite rate within ``[min_fps, max_fps]``."""
    lim = limits or current_limits()
    try:
        value = float(fps)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise ValidationError(f"frame rate {fps!r} is not a number", path) from None
    if not math.isfinite(value) or not lim.min_fps <= value <= lim.max_fps:
        raise ValidationError(
            f"frame rate {value:g} fps is outside [{lim.min_fps:g}, {lim.max_fps:g}] "
            "(limits min_fps, max_fps)",
            path,
        )
    return value


def check_archive(zf: zipfile.ZipFile, path: str | Path, limits: ReadLimits | None = None) -> None:
    """A zip archive (``.npz``, torch's ``.pt``) whose members, unpacked, stay within
    ``max_file_bytes`` in all (no zip bombs)."""
    lim = limits or current_limits()
    total = sum(i.file_size for i in zf.infolist())
    if total > lim.max_file_bytes:
        raise ReadError(
            f"archive unpacks to {total} bytes, more than the limit "
            f"max_file_bytes={lim.max_file_bytes}",
            path,
        )
