"""Bounded reading of ``.npz`` archives: every member's ``.npy`` header is read and
checked against :mod:`intermimic.motion.limits` before the member is loaded.

``numpy.load`` allocates the whole declared array before it reads a byte of data, so a
1 KB archive whose header says ``(10**9, 591)`` would ask for gigabytes. Here the header
is parsed with :mod:`numpy.lib.format` first; the member must also hold the bytes it
declares (its unpacked size in the zip), so a small member cannot claim a big array.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.lib.format as npy_format

from intermimic.errors import ReadError, UnsafeNameError, ValidationError
from intermimic.motion.limits import ReadLimits, check_archive, check_array, current_limits
from intermimic.motion.names import check_name

NpzFile = np.lib.npyio.NpzFile
_HEADER_BYTES = 10_000  # numpy's own default bound on an .npy header


def open_npz(data: bytes, path: Path, limits: ReadLimits | None = None) -> NpzFile:
    """The archive in ``data``, its unpacked size checked; ReadError when it is none."""
    if not data:
        raise ReadError("empty file (0 bytes)", path)
    try:
        z = np.load(io.BytesIO(data), allow_pickle=False)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise ReadError(
            f"not a readable .npz archive (truncated or damaged?): {exc}", path
        ) from None
    if not isinstance(z, NpzFile):
        raise ReadError("holds a single array, expected an .npz archive of named arrays", path)
    try:
        check_archive(_zip(z), path, limits)
    except ReadError:
        z.close()
        raise
    return z


def _zip(z: NpzFile) -> zipfile.ZipFile:
    zf = z.zip
    if zf is None:
        raise ValueError("the archive is closed")
    return zf


def open_npz_path(path: Path, limits: ReadLimits | None = None) -> NpzFile:
    """:func:`open_npz` of a file on disk, at most ``max_file_bytes`` of it read."""
    lim = limits or current_limits()
    try:
        with open(path, "rb") as f:
            data = f.read(lim.max_file_bytes + 1)
    except OSError as exc:
        raise ReadError(f"cannot read: {exc.strerror or exc}", path) from None
    if len(data) > lim.max_file_bytes:
        raise ReadError(f"file is larger than the limit max_file_bytes={lim.max_file_bytes}", path)
    return open_npz(data, path, lim)


def member_header(z: NpzFile, key: str, path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """``(shape, dtype, unpacked member size)`` of ``key`` from its ``.npy`` header only."""
    try:
        name = cast(Any, z)._files[key]  # the member's name in the zip (``key`` + ``.npy``)
        zf = _zip(z)
        info = zf.getinfo(name)
        with zf.open(info) as f:
            version = npy_format.read_magic(f)
            if version == (1, 0):
                shape, _, dtype = npy_format.read_array_header_1_0(f, _HEADER_BYTES)
            elif version == (2, 0):
                shape, _, dtype = npy_format.read_array_header_2_0(f, _HEADER_BYTES)
            else:  # (3, 0): utf-8 header, same layout; numpy has no public reader for it
                read = getattr(npy_format, "_read_array_header")  # noqa: B009
                shape, _, dtype = read(f, version, _HEADER_BYTES)
    except KeyError:
        raise ReadError(f"missing key {key!r}", path) from None
    except (ValueError, EOFError, OSError, zipfile.BadZipFile) as exc:
        raise ReadError(f"unreadable array {key!r}: not an .npy member ({exc})", path) from None
    return tuple(int(d) for d in shape), np.dtype(dtype), int(info.file_size)


def load_member(
    z: NpzFile, key: str, path: Path, limits: ReadLimits | None = None
) -> np.ndarray[Any, Any]:
    """Member ``key`` after its declared shape and dtype passed the limits."""
    shape, dtype, stored = member_header(z, key, path)
    if dtype.hasobject:
        raise ReadError(
            f"unreadable array {key!r}: holds Python objects ({dtype}), which are not "
            "unpickled (allow_pickle=False)",
            path,
        )
    nbytes = check_array(key, shape, dtype, path, limits)
    if nbytes > stored:
        raise ReadError(
            f"array {key!r} declares {list(shape)} {dtype} ({nbytes} bytes) but its member "
            f"holds only {stored} bytes",
            path,
        )
    try:
        return np.asarray(z[key])
    except ValueError as exc:
        raise ReadError(f"unreadable array {key!r}: {exc}", path) from None
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ReadError(f"damaged .npz member {key!r}: {exc}", path) from None


def scalar(z: NpzFile, key: str, path: Path) -> object:
    """The 0-d member ``key`` as a Python value."""
    a = load_member(z, key, path)
    if a.ndim != 0:
        raise ReadError(f"key {key!r} must be a scalar, has shape {list(a.shape)}", path)
    return a.item()


def name_of(z: NpzFile, key: str, path: Path) -> str:
    """The 0-d text member ``key``, checked to be a plain name (ValidationError if not)."""
    return plain(str(scalar(z, key, path)), key, path)


def plain(value: str, what: str, path: Path) -> str:
    """``value`` if it is a plain name, else a ValidationError on ``path`` saying why."""
    try:
        return check_name(value, what)
    except UnsafeNameError as exc:
        raise ValidationError(str(exc), path) from None
