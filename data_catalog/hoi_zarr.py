"""The self-describing HOI Zarr layout of published versions and ``zarr3``/``zarr2`` exports.

One group. Each of :data:`~intermimic.export.clips.EXPORT_FIELDS` (the clip fields plus
world-frame velocities) is one array, time first, every clip's frames one after the
other, chunked on time only. The group's attributes say everything a reader needs
without this project::

    layout, layout_version      "intermimic-hoi", 1
    conventions                 units, up axis, frame, time axis, quaternion order
    fps, n_frames, n_bodies, body_names
    fields                      per array: shape symbols, dtype, unit, frame, meaning,
                                quaternion order (w x y z) where it is one
    clips                       per clip: dataset, subject, clip_id, object, fps, start,
                                length, source hash and ``info`` (success, figures, lineage)
    ... plus what the caller adds (version id, lineage, settings)

Each array repeats its own unit, frame and meaning in its attributes (and, in format 2,
xarray's ``_ARRAY_DIMENSIONS``). Metadata is consolidated, so opening reads one document.

Zarr format 3 and format 2 are written by the same code, straight from the
specifications: the metadata documents (``zarr.json``; ``.zarray``, ``.zattrs``,
``.zgroup``, ``.zmetadata``) are built here, and the chunks are encoded with numcodecs
(the codecs zarr-python uses) and written by a small thread pool, one call per chunk.
zarr-python's own write path spends far longer than the data's size warrants on
per-array and per-chunk bookkeeping (about 50 ms per group before any data on this
machine, while a plain ``numpy.save`` of the sample's 20 MB takes 15 ms); this way the
write stays close to ``numpy.save`` (``bench/export.py``). The group's document is
written last, so a group that opens is complete. Every round trip test reads the
written groups back with zarr-python itself.

Chunks are uncompressed by default: on refined motion (float32 from a simulator, noisy in
the low bits) LZ4 with byte shuffle saves about 15 % and zstd less, measured on the
sample, for several times the write time. ``compression="lz4"`` or ``"zstd"`` turns it on.
Chunk keys use the ``default`` encoding with ``.`` as separator (``c.0.0.0``), which the
specification allows, so that an array's chunks lie in one folder.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numcodecs
import numpy as np
import zarr

from data_catalog.integrity import (
    CHECKSUMS,
    checksum_record,
    group_problems,
    metadata_problems,
    reading,
    verify_group,
)
from intermimic.errors import StoreDamagedError, StoreError
from intermimic.export.clips import EXPORT_FIELDS, ExportClip
from intermimic.motion.clip import ClipMeta, HOIClip
from intermimic.motion.skeleton import SMPLX_BODY_NAMES

LAYOUT = "intermimic-hoi"
HOI_LAYOUT_VERSION = 1
Compression = Literal["none", "lz4", "zstd"]
COMPRESSIONS: tuple[str, ...] = ("none", "lz4", "zstd")
CONVENTIONS = {
    "units": "SI (m, s, rad)",
    "up_axis": "z",
    "frame": "world unless a field says otherwise",
    "time_axis": 0,
    "quaternion_order": "wxyz",
    "contact_labels": "+1 contact expected, 0 unknown, -1 must not touch",
}
#: Most buffers one writev takes (IOV_MAX is 1024 on Linux); more parts are joined first.
_MAX_IOV = 512
_META_KEYS = ("source_fps", "source_path", "source_sha256", "source_format")


def jsonable(value: Any) -> Any:
    """``value`` with NaN/inf as None and numpy scalars as Python ones (JSON attributes)."""
    if value is None or type(value) in (str, int, bool):  # most leaves: nothing to do
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _codec(compression: str, level: int) -> Any:
    """The numcodecs codec that encodes chunks (None: raw bytes)."""
    if compression == "none":
        return None
    if compression == "lz4":
        # Blosc-LZ4 with byte shuffle: fast enough to keep pace with the disk, and the
        # shuffle groups float exponents, which is most of what compresses in MoCap.
        return numcodecs.Blosc(cname="lz4", clevel=max(1, level), shuffle=numcodecs.Blosc.SHUFFLE)
    if compression == "zstd":
        return numcodecs.Zstd(level=level)
    raise ValueError(f"unknown compression {compression!r}; known: {', '.join(COMPRESSIONS)}")


def _v3_codecs(compression: str, level: int, dtype: np.dtype[Any]) -> list[dict[str, Any]]:
    """The codec chain of a format 3 array, as the spec spells it."""
    serializer: dict[str, Any] = {"name": "bytes"}
    if dtype.itemsize > 1:
        serializer["configuration"] = {"endian": "little"}
    if compression == "none":
        return [serializer]
    if compression == "lz4":
        conf = {"typesize": dtype.itemsize, "cname": "lz4", "clevel": max(1, level),
                "shuffle": "shuffle", "blocksize": 0}  # fmt: skip
        return [serializer, {"name": "blosc", "configuration": conf}]
    return [serializer, {"name": "zstd", "configuration": {"level": level, "checksum": False}}]


def _v2_compressor(compression: str, level: int) -> dict[str, Any] | None:
    codec = _codec(compression, level)
    return None if codec is None else dict(codec.get_config())


def _array_document(
    zarr_format: int,
    shape_: tuple[int, ...],
    dtype: np.dtype[Any],
    chunk: int,
    compression: str,
    level: int,
    attrs: dict[str, Any],
) -> dict[str, Any]:
    """The metadata document of one array (``zarr.json`` or ``.zarray``), per the spec."""
    shape = list(shape_)
    chunks = [chunk, *shape[1:]]
    fill: float | int = 0.0 if dtype.kind == "f" else 0
    if zarr_format == 3:
        return {
            "shape": shape,
            "data_type": str(dtype),
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunks}},
            # "." keeps every chunk of an array in one folder: no nested folder per chunk
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "."}},
            "fill_value": fill,
            "codecs": _v3_codecs(compression, level, dtype),
            "attributes": attrs,
            "dimension_names": ["time", *(f"d{i}" for i in range(1, len(shape)))],
            "zarr_format": 3,
            "node_type": "array",
            "storage_transformers": [],
        }
    return {
        "shape": shape,
        "chunks": chunks,
        "dtype": dtype.str,
        "fill_value": fill,
        "order": "C",
        "filters": None,
        "dimension_separator": ".",
        "compressor": _v2_compressor(compression, level),
        "zarr_format": 2,
        "attributes": attrs,  # goes to .zattrs
    }


def _chunk_key(zarr_format: int, i: int, ndim: int) -> str:
    """Key of the ``i``-th chunk along time (the only chunked axis)."""
    idx = [str(i), *("0" for _ in range(ndim - 1))]
    return "c." + ".".join(idx) if zarr_format == 3 else ".".join(idx)


def _write_json(path: Path, doc: Any) -> tuple[str, int]:
    """One metadata document; its folder exists (made once per array: mkdir is slow here).
    Returns the (sha256, size) of the bytes written."""
    data = json.dumps(doc, allow_nan=False).encode()
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest(), len(data)


def field_attrs(name: str) -> dict[str, Any]:
    spec = EXPORT_FIELDS[name]
    return {
        "shape": ["T", *spec.tail],
        "dtype": str(spec.dtype),
        "unit": spec.unit,
        "frame": spec.frame,
        "description": spec.description,
        **({"quaternion_order": spec.quaternion_order} if spec.quaternion_order else {}),
    }


def clip_entry(ec: ExportClip, start: int) -> dict[str, Any]:
    m = ec.clip.meta
    return jsonable(
        {
            "dataset": m.dataset,
            "subject": m.subject,
            "clip_id": m.clip_id,
            "object_name": m.object_name,
            "fps": m.fps,
            **{k: getattr(m, k) for k in _META_KEYS},
            "start": start,
            "length": ec.clip.n_frames,
            "info": ec.info,
        }
    )


def _chunk_parts(
    parts: list[np.ndarray], offsets: list[int], start: int, stop: int
) -> list[np.ndarray]:
    """Views of the per-clip arrays that cover rows ``[start, stop)`` of their concatenation."""
    out = []
    for a, off in zip(parts, offsets, strict=True):
        lo, hi = max(start, off), min(stop, off + len(a))
        if lo < hi:
            out.append(a[lo - off : hi - off])
    return out


def _write_chunk(path: Path, parts: list[np.ndarray], rows: int, codec: Any) -> tuple[str, int]:
    """One chunk of ``rows`` rows from ``parts`` (fewer rows: the tail is fill value, as a
    regular chunk grid stores edge chunks at full size). Returns the (sha256, size) of
    the bytes written."""
    have = sum(len(p) for p in parts)
    if have < rows:
        parts = [*parts, np.zeros((rows - have, *parts[0].shape[1:]), parts[0].dtype)]
    if codec is None and len(parts) <= _MAX_IOV:
        # raw bytes: one gathered write straight from the clips' arrays, no copy
        views = [_bytes(p) for p in parts]
    else:
        block = np.ascontiguousarray(parts[0] if len(parts) == 1 else np.concatenate(parts))
        views = [_bytes(block) if codec is None else memoryview(codec.encode(block)).cast("B")]
    digest = hashlib.sha256()
    for v in views:
        digest.update(v)
    size = sum(v.nbytes for v in views)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        todo = size
        while todo:
            n = os.writev(fd, views)
            todo -= n
            if todo:  # a short write: carry on from where it stopped
                views = _advance(views, n)
    finally:
        os.close(fd)
    return digest.hexdigest(), size


def _bytes(a: np.ndarray) -> memoryview:
    """The bytes of an array, as a view (no copy when it is contiguous already)."""
    return memoryview(np.ascontiguousarray(a)).cast("B")  # type: ignore[arg-type]


def _advance(views: list[memoryview], n: int) -> list[memoryview]:
    out = []
    for v in views:
        if n >= v.nbytes:
            n -= v.nbytes
            continue
        out.append(v[n:])
        n = 0
    return out


def write_hoi_group(
    path: Path,
    clips: Sequence[ExportClip],
    *,
    zarr_format: Literal[2, 3] = 3,
    attrs: Mapping[str, Any] | None = None,
    compression: str = "none",
    level: int = 1,
    chunk_frames: int = 8192,
    threads: int = 2,
) -> int:
    """Write ``clips`` as one HOI group at ``path`` (which must not exist yet; stage it).

    The group's attributes record the sha256 and size of every file of every array
    (``checksums``, see :mod:`data_catalog.integrity`), so that a reader can tell a
    missing or changed chunk from data. Returns the bytes of array data written (before
    compression).
    """
    if not clips:
        raise StoreError(f"{path}: no clips to write")
    n_bodies = clips[0].clip.n_bodies
    if any(ec.clip.n_bodies != n_bodies for ec in clips):
        raise StoreError(f"{path}: clips of one dataset must share a body count")
    fps = {ec.clip.meta.fps for ec in clips}
    index, start = [], 0
    for ec in clips:
        index.append(clip_entry(ec, start))
        start += ec.clip.n_frames
    group_attrs = jsonable(
        {
            "layout": LAYOUT,
            "layout_version": HOI_LAYOUT_VERSION,
            "conventions": CONVENTIONS,
            "fps": fps.pop() if len(fps) == 1 else None,
            "n_frames": start,
            "n_clips": len(clips),
            "n_bodies": n_bodies,
            "body_names": list(SMPLX_BODY_NAMES) if n_bodies == len(SMPLX_BODY_NAMES) else None,
            # the body the motion is of, and the hinge order of joint arrays derived from it
            "embodiment": "smplx" if n_bodies == len(SMPLX_BODY_NAMES) else None,
            "joint_names": [f"{b}_{a}" for b in SMPLX_BODY_NAMES[1:] for a in "xyz"]
            if n_bodies == len(SMPLX_BODY_NAMES)
            else None,
            "fields": {name: field_attrs(name) for name in EXPORT_FIELDS},
            **(attrs or {}),
        }
    )
    group_attrs["clips"] = index  # each entry is JSON-ready already (clip_entry)
    codec = _codec(compression, level)
    total = start
    path.mkdir(parents=True)
    documents: dict[str, dict[str, Any]] = {}
    per_clip = [ec.arrays() for ec in clips]  # once: building the dicts is not free
    written = 0
    with ThreadPoolExecutor(max(1, threads)) as pool:
        futures: list[tuple[str, Any]] = []
        for name, spec in EXPORT_FIELDS.items():
            # no concatenation: each chunk is gathered from the clips' own arrays
            parts = [np.asarray(a[name]).astype(spec.dtype, copy=False) for a in per_clip]
            offsets = [int(o) for o in np.cumsum([0, *(len(a) for a in parts[:-1])])]
            shape = (total, *parts[0].shape[1:])
            # equal chunks of at most chunk_frames: a regular grid pads the last chunk to
            # full size, so 8193 frames in chunks of 8192 would write almost twice the data
            n_chunks = -(-total // max(1, chunk_frames))
            step = max(1, -(-total // n_chunks))
            attrs = field_attrs(name)
            if zarr_format == 2:
                attrs["_ARRAY_DIMENSIONS"] = ["time", *(f"d{i}" for i in range(1, len(shape)))]
            documents[name] = _array_document(
                zarr_format, shape, spec.dtype, step, compression, level, attrs
            )
            (path / name).mkdir()  # every chunk key is a file name in this folder
            for i, s in enumerate(range(0, total, step)):
                key = _chunk_key(zarr_format, i, len(shape))
                chunk = _chunk_parts(parts, offsets, s, s + step)
                job = pool.submit(_write_chunk, path / name / key, chunk, step, codec)
                futures.append((f"{name}/{key}", job))
            written += sum(a.nbytes for a in parts)
        sums = {rel: f.result() for rel, f in futures}
    _write_metadata(path, zarr_format, group_attrs, documents, sums)
    return written


def _write_metadata(
    path: Path,
    zarr_format: int,
    attrs: dict[str, Any],
    arrays: dict[str, dict[str, Any]],
    sums: dict[str, tuple[str, int]],
) -> None:
    """Every array's document, then the group's with the consolidated metadata and the
    checksums of every array file (last, so that a group document on disk means the
    arrays are complete)."""
    if zarr_format == 3:
        for name, doc in arrays.items():
            sums[f"{name}/zarr.json"] = _write_json(path / name / "zarr.json", doc)
        attrs[CHECKSUMS] = checksum_record(sums)
        consolidated = {"kind": "inline", "must_understand": False, "metadata": arrays}
        group = {"attributes": attrs, "zarr_format": 3, "consolidated_metadata": consolidated,
                 "node_type": "group"}  # fmt: skip
        _write_json(path / "zarr.json", group)
        return
    flat: dict[str, Any] = {".zgroup": {"zarr_format": 2}, ".zattrs": attrs}
    for name, doc in arrays.items():
        array_attrs = doc.pop("attributes", None) or {}
        sums[f"{name}/.zarray"] = _write_json(path / name / ".zarray", doc)
        sums[f"{name}/.zattrs"] = _write_json(path / name / ".zattrs", array_attrs)
        flat[f"{name}/.zarray"] = doc
        flat[f"{name}/.zattrs"] = array_attrs
    attrs[CHECKSUMS] = checksum_record(sums)
    _write_json(path / ".zattrs", attrs)
    _write_json(path / ".zmetadata", {"metadata": flat, "zarr_consolidated_format": 1})
    _write_json(path / ".zgroup", {"zarr_format": 2})


def open_hoi_group(path: Path) -> zarr.Group:
    """The group at ``path`` (format 2 or 3), read-only, checked to be our layout."""
    doc = path / "zarr.json" if (path / "zarr.json").exists() else path / ".zmetadata"
    if not path.is_dir():
        raise StoreDamagedError("missing: no Zarr group here", path)
    with reading(doc, "Zarr group metadata"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        g = zarr.open_group(str(path), mode="r", use_consolidated=True)
    if g.attrs.get("layout") != LAYOUT:
        raise StoreError(f"{path}: not an {LAYOUT} group (layout {g.attrs.get('layout')!r})")
    return g


def hoi_group_problems(path: Path, *, deep: bool = True) -> list[tuple[Path, str]]:
    """What is wrong with the HOI group at ``path``: (file, problem) pairs, empty if whole."""
    out = metadata_problems(path) if path.is_dir() else [(path, "missing")]
    if out:
        return out
    try:
        g = open_hoi_group(path)
        out += group_problems(path, g, arrays=list(EXPORT_FIELDS), deep=deep)
    except StoreError as exc:
        out.append((Path(getattr(exc, "path", None) or path), str(exc)))
    return out


def read_hoi_group(
    path: Path, keep: Callable[[dict[str, Any]], bool] | None = None
) -> tuple[list[ExportClip], dict[str, Any]]:
    """Every clip of the group at ``path`` (or those whose index entry ``keep(entry)``
    accepts), and the group's attributes."""
    g = open_hoi_group(path)
    attrs: dict[str, Any] = dict(g.attrs.asdict())
    attrs.pop(CHECKSUMS, None)
    with reading(path, "clip index"):
        index: list[dict[str, Any]] = list(attrs["clips"])
    entries = [c for c in index if keep is None or keep(c)]
    if not entries:
        return [], attrs
    verify_group(path, g, arrays=list(EXPORT_FIELDS))  # a missing chunk is damage, not zeros
    arrays = {}
    for name in EXPORT_FIELDS:
        with reading(path / name, "array"):
            arr = g[name]
            assert isinstance(arr, zarr.Array)
            arrays[name] = np.asarray(arr[...])
    out = []
    for c in entries:
        s, n = c["start"], c["length"]
        meta = ClipMeta(
            dataset=c["dataset"],
            subject=c["subject"],
            clip_id=c["clip_id"],
            object_name=c["object_name"],
            fps=c["fps"],
            **{k: c[k] for k in _META_KEYS if c.get(k) is not None},
        )
        rows = {k: v[s : s + n] for k, v in arrays.items()}
        clip = HOIClip.from_arrays(meta, rows)
        vel = {k: rows[k] for k in EXPORT_FIELDS if k not in clip.arrays()}
        out.append(ExportClip(clip, vel, dict(c.get("info") or {})))
    return out, attrs


def nonfinite_counts(path: Path) -> dict[str, int]:
    """Non-finite values per float array of the group at ``path`` (chunk by chunk)."""
    g = open_hoi_group(path)
    bad: dict[str, int] = {}
    for name, spec in EXPORT_FIELDS.items():
        if spec.kind != "float":
            continue
        verify_group(path, g, arrays=[name])
        with reading(path / name, "array"):
            arr = g[name]
            assert isinstance(arr, zarr.Array)
            step = arr.chunks[0]
            n = sum(
                int(np.count_nonzero(~np.isfinite(np.asarray(arr[i : i + step]))))
                for i in range(0, arr.shape[0], step)
            )
        if n:
            bad[name] = n
    return bad
