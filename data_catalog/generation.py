"""One subject's Zarr generation on disk: writing time-chunked arrays, linking unchanged
arrays from the previous generation, staging and swapping, opening and verified reads
(every chunk checked against its recorded sha256), and what is wrong with one."""

from __future__ import annotations

import contextlib
import os
import shutil
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from data_catalog.integrity import (
    group_problems,
    metadata_problems,
    reading,
    verify_group,
)
from data_catalog.layout import safe
from intermimic.atomic import tmp_beside
from intermimic.errors import StoreDamagedError, StoreError
from intermimic.motion.clip import FIELDS


def series_fields(
    per_clip: Mapping[str, Mapping[str, np.ndarray]], index: Mapping[str, Any], where: Path
) -> dict[str, tuple[tuple[int, ...], np.dtype[Any]]]:
    """Field name -> (trailing shape, dtype), checked the same across clips and lengths."""
    fields: dict[str, tuple[tuple[int, ...], np.dtype[Any]]] = {}
    for cid, arrays in per_clip.items():
        for name, a in arrays.items():
            safe(name, "series field")
            a = np.asarray(a)
            if a.shape[:1] != (index[cid]["length"],):
                raise StoreError(
                    f"{where}: series {name!r} of {cid} has {a.shape[:1]} frames, "
                    f"the clip has {index[cid]['length']}"
                )
            spec = (tuple(a.shape[1:]), a.dtype)
            if fields.setdefault(name, spec) != spec:
                raise StoreError(f"{where}: series {name!r} differs in shape or dtype across clips")
        if fields and set(arrays) != set(fields):
            raise StoreError(
                f"{where}: clip {cid} has fields {sorted(arrays)}, others {sorted(fields)}"
            )
    return fields


def link_generation(src: Path, dst: Path, drop: str) -> None:
    """Fill ``dst`` with hard links to ``src``'s files, except the subgroup ``drop``.

    The root's metadata is copied, not linked: consolidation rewrites it, and a write
    through a link would change the live generation too.
    """
    for path in src.rglob("*"):
        rel = path.relative_to(src)
        if rel.parts[0] == drop:
            continue
        out = dst / rel
        if path.is_dir():
            out.mkdir(parents=True, exist_ok=True)
        elif rel == Path("zarr.json"):
            shutil.copyfile(path, out)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, out)


def clip_index(g: zarr.Group) -> list[dict[str, Any]]:
    """The clip index kept in a generation's attributes."""
    return cast(list[dict[str, Any]], g.attrs["clips"])


def open_array(g: zarr.Group, name: str) -> zarr.Array:
    with reading(f"{g.store_path}/{name}", "array"):
        arr = g[name]
    if not isinstance(arr, zarr.Array):
        raise StoreDamagedError(f"{name!r} is not an array", f"{g.store_path}/{name}")
    return arr


def read_verified(g: zarr.Group, root: Path, name: str, rows: slice | None = None) -> np.ndarray:
    """One array (or some rows of it), read only once its chunks are verified."""
    arr = open_array(g, name)
    verify_group(root, g, arrays=[name], rows=None if rows is None else (rows.start, rows.stop))
    with reading(root / name, "array"):
        return np.asarray(arr[...] if rows is None else arr[rows])


def write_time_array(
    g: zarr.Group, name: str, data: np.ndarray, chunk_frames: int, compressor: ZstdCodec
) -> None:
    """One array, time first, chunked on time only."""
    # create, then assign: several times faster than create_array(data=...)
    arr = g.create_array(
        name,
        shape=data.shape,
        dtype=data.dtype,
        chunks=(min(chunk_frames, max(1, len(data))), *data.shape[1:]),
        compressors=compressor,
        dimension_names=["time", *(f"d{i}" for i in range(1, data.ndim))],
        # every chunk on disk, even one of fill values: a missing chunk is damage
        config={"write_empty_chunks": True},
    )
    arr[...] = data


def quiet_consolidate(path: Path) -> None:
    with warnings.catch_warnings():
        # Consolidated metadata is a zarr-python extension for format 3; we want it anyway.
        warnings.simplefilter("ignore", UserWarning)
        zarr.consolidate_metadata(str(path))


def open_generation(path: Path) -> zarr.Group:
    """The generation at ``path``, read-only; :class:`StoreDamagedError` if unreadable."""
    with reading(path / "zarr.json", "generation"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        g = zarr.open_group(str(path), mode="r", use_consolidated=True)
        if not isinstance(g.attrs.get("clips"), list):
            raise StoreDamagedError("the generation has no clip index", path / "zarr.json")
        return g


@contextlib.contextmanager
def staged_replace(target: Path) -> Iterator[Path]:
    """A temporary folder beside ``target``, renamed to ``target`` on success; a (damaged)
    folder already at ``target`` is moved aside first and removed. The caller holds the
    subject's lock."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_beside(target)
    tmp.mkdir()
    try:
        yield tmp
        aside = None
        if target.exists():
            aside = tmp_beside(target)
            os.rename(target, aside)
        os.rename(tmp, target)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def generation_problems(path: Path, *, deep: bool = True) -> list[tuple[Path, str]]:
    """What is wrong with the generation at ``path`` (every array, every derived group):
    (file, problem) pairs, empty when it is whole."""
    out = metadata_problems(path)
    if out:
        return out
    try:
        g = open_generation(path)
        out += group_problems(path, g, arrays=list(FIELDS), deep=deep)
        for name, sub in g.groups():
            out += group_problems(path / name, sub, deep=deep)
    except StoreDamagedError as exc:
        out.append((Path(exc.path or path), exc.reason))
    return out
