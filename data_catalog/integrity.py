"""Integrity of data at rest: per-file checksums of Zarr groups and verified reads.

Zarr reads a missing chunk as the array's fill value (zeros), so a deleted or lost
chunk file would read back as plausible data and be written onward. Every group we
write therefore records, in its attributes under ``checksums``, the sha256 and size of
each file of each of its arrays (every chunk and the array's metadata document)::

    "checksums": {"algorithm": "sha256",
                  "files": {"body_pos/zarr.json": [hex, size],
                            "body_pos/c/0/0/0": [hex, size], ...}}

Paths are relative to the group. A verified read checks, before reading an array, that
every chunk key of the array's chunk grid (of the rows read) is recorded and on disk
with that hash: a missing or changed chunk is a :class:`StoreDamagedError` naming the
file, never zeros. Groups written before checksums were kept carry none; they are read
as before (``verify`` says so).

:func:`reading` is the boundary where the errors of damaged files (``JSONDecodeError``,
pyarrow's ``ArrowInvalid``, zarr's and the codecs' errors) become one
:class:`StoreDamagedError` naming the file.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from intermimic.atomic import sha256_file
from intermimic.errors import InterMimicError, StoreDamagedError

CHECKSUMS = "checksums"
ALGORITHM = "sha256"
#: What reading a damaged file raises: JSON and Parquet decoding (both ValueErrors),
#: zarr's errors (ValueErrors), codec errors (RuntimeError), missing files (OSError).
DAMAGE_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    LookupError,
    TypeError,
    RuntimeError,
    OSError,
    EOFError,
)
#: Metadata documents of Zarr format 3 and 2.
METADATA_FILES = ("zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata")
VERIFY_HINT = "run `intermimic verify --store STORE` for what to do"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


@contextlib.contextmanager
def reading(path: str | Path, what: str = "") -> Iterator[None]:
    """Turn the errors of reading a damaged ``path`` into :class:`StoreDamagedError`.

    Errors of our own (an unknown clip, a missing subject) pass through unchanged.
    """
    try:
        yield
    except InterMimicError:
        raise
    except DAMAGE_ERRORS as exc:
        raise StoreDamagedError(
            f"damaged or unreadable{f' {what}' if what else ''} ({_first_line(exc)}); "
            + VERIFY_HINT,
            path,
        ) from None


def checksum_record(files: dict[str, tuple[str, int]]) -> dict[str, Any]:
    """The ``checksums`` attribute for ``files`` (relative path -> (hex, size))."""
    return {"algorithm": ALGORITHM, "files": {k: [h, n] for k, (h, n) in sorted(files.items())}}


def array_checksums(root: Path, names: Iterable[str]) -> dict[str, Any]:
    """Checksums of every file of the arrays ``names`` of the group at ``root`` (on disk)."""
    files: dict[str, tuple[str, int]] = {}
    for name in names:
        for p in sorted((root / name).rglob("*")):
            if p.is_file():
                files[p.relative_to(root).as_posix()] = sha256_file(p)
    return checksum_record(files)


def _chunk_range(arr: zarr.Array, rows: tuple[int, int] | None) -> Iterator[tuple[int, ...]]:
    """Chunk coordinates of ``arr`` that hold rows ``[start, stop)`` (all when None)."""
    grid = arr.cdata_shape
    if not grid or any(n == 0 for n in grid):
        return
    first, last = 0, grid[0]
    if rows is not None and arr.ndim:
        step = arr.chunks[0]
        first = max(0, rows[0] // step)
        last = min(grid[0], -(-rows[1] // step)) if rows[1] > rows[0] else first
    for i in range(first, last):
        for rest in np.ndindex(*grid[1:]):
            yield (i, *(int(r) for r in rest))


def group_problems(
    root: Path,
    g: zarr.Group,
    *,
    arrays: Iterable[str] | None = None,
    rows: tuple[int, int] | None = None,
    deep: bool = True,
) -> list[tuple[Path, str]]:
    """What is wrong with the arrays of the group ``g`` at ``root``: (file, problem) pairs.

    ``arrays``: which arrays (default every array directly in the group); ``rows``: only
    the chunks holding these rows; ``deep``: hash the files (else existence and size).
    """
    sums = g.attrs.get(CHECKSUMS)
    files: dict[str, Any] | None = dict(sums.get("files") or {}) if isinstance(sums, dict) else None
    names = list(arrays) if arrays is not None else sorted(n for n, _ in g.arrays())
    out: list[tuple[Path, str]] = []
    for name in names:
        with reading(root / name, "array"):
            arr = g[name]
        if not isinstance(arr, zarr.Array):
            out.append((root / name, "is not an array"))
            continue
        if files is None:
            continue  # written before checksums were kept: nothing to compare against
        keys = [f"{name}/{arr.metadata.encode_chunk_key(c)}" for c in _chunk_range(arr, rows)]
        if rows is None:  # the array's other files too (its metadata document)
            grid = set(keys)
            keys += [k for k in files if k.startswith(f"{name}/") and k not in grid]
        for rel in keys:
            path = root / rel
            want = files.get(rel)
            if want is None:
                out.append((path, "chunk not recorded in the group's checksums"))
                continue
            if not path.is_file():
                out.append((path, "missing (a chunk or metadata file of the array)"))
                continue
            size = path.stat().st_size
            if size != want[1]:
                out.append((path, f"size {size} bytes, {want[1]} written"))
            elif deep and sha256_file(path)[0] != want[0]:
                out.append((path, "checksum mismatch: the file changed since it was written"))
    return out


def verify_group(
    root: Path,
    g: zarr.Group,
    *,
    arrays: Iterable[str] | None = None,
    rows: tuple[int, int] | None = None,
) -> None:
    """:class:`StoreDamagedError` naming the first damaged file of ``arrays`` (rows)."""
    problems = group_problems(root, g, arrays=arrays, rows=rows)
    if problems:
        path, what = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise StoreDamagedError(f"{what}{more}; {VERIFY_HINT}", path)


def metadata_problems(root: Path) -> list[tuple[Path, str]]:
    """Metadata documents under ``root`` that do not parse as JSON objects."""
    out: list[tuple[Path, str]] = []
    for p in sorted(root.rglob("*")):
        if p.name in METADATA_FILES and p.is_file():
            try:
                doc = json.loads(p.read_bytes())
            except (ValueError, OSError) as exc:
                out.append((p, f"unreadable metadata ({_first_line(exc)})"))
                continue
            if not isinstance(doc, dict):
                out.append((p, "metadata is not a JSON object"))
    return out


def has_checksums(g: zarr.Group) -> bool:
    return isinstance(g.attrs.get(CHECKSUMS), dict)
