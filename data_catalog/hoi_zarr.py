"""The self-describing HOI Zarr layout of published versions and ``zarr3``/``zarr2`` exports.

One group. Each of :data:`~intermimic.export.clips.EXPORT_FIELDS` (the clip fields plus
world-frame velocities) is one array, time first, every clip's frames one after the
other, chunked on time only. The group's attributes say everything a reader needs
without this project::

    layout, layout_version      "intermimic-hoi", 2
    conventions                 units, up axis, frame, time axis, quaternion order
    fps, n_frames, n_bodies, body_names
    fields                      per array: shape symbols, dtype, unit, frame, meaning,
                                quaternion order (w x y z) where it is one
    clips                       per clip: dataset, subject, clip_id, object, fps, start,
                                length, source hash and ``info`` (success, figures, lineage)
    ... plus what the caller adds (version id, lineage, settings)

Each array repeats its own unit (``unit`` and CF's ``units``), frame and meaning in its
attributes. Every axis is named (format 3: ``dimension_names``; format 2: the
``_ARRAY_DIMENSIONS`` attribute), one name per meaning
(:func:`~intermimic.export.clips.field_dimensions`: ``frame``, ``body``, ``joint``,
``xyz``, ``quat``), and coordinate arrays label them, so that ``xarray.open_zarr`` opens
the group as a Dataset (layout version 2; version 1 groups lack them and read as before)::

    body [body], joint [joint]        body names; joint j drives body j + 1 (its name)
    xyz [xyz], quat [quat]            "x" "y" "z"; "w" "x" "y" "z"
    clip_id [clip_id]                 clip ids, in the order their frames follow
    clip_dataset, clip_subject,       per clip
    clip_object, clip_start,
    clip_length, clip_success
    [clip_id]
    clip_index, frame_in_clip [frame] per frame: which clip (position along
                                      ``clip_id``) and which frame of it

The group attribute ``coordinates`` names the non-index ones (the CF convention xarray
follows). Strings are ``string`` (vlen-utf8) arrays in format 3 and fixed-width unicode
(``<U``) in format 2. Arrays of format 2 carry no fill value (``null``): xarray takes it
as the missing-value marker and would read every stored 0 as NaN. Metadata is
consolidated, so opening reads one document.

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
from intermimic.export.clips import (
    AXIS_LABELS,
    EXPORT_FIELDS,
    TIME_DIM,
    ExportClip,
    field_dimensions,
)
from intermimic.motion.clip import ClipMeta, HOIClip
from intermimic.motion.skeleton import SMPLX_BODY_NAMES

LAYOUT = "intermimic-hoi"
HOI_LAYOUT_VERSION = 2
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
    dims: Sequence[str],
) -> dict[str, Any]:
    """The metadata document of one array (``zarr.json`` or ``.zarray``), per the spec.

    ``dtype`` of kind ``U`` is a string array: format 3 ``string`` (vlen-utf8, one
    chunk), format 2 fixed-width ``<U``; ``dims`` names every axis."""
    shape = list(shape_)
    chunks = [chunk, *shape[1:]]
    strings = dtype.kind == "U"
    fill: float | int | bool | str = (
        "" if strings else False if dtype.kind == "b" else 0.0 if dtype.kind == "f" else 0
    )
    if zarr_format == 3:
        if strings:
            data_type: str = "string"
            codecs: list[dict[str, Any]] = [{"name": "vlen-utf8", "configuration": {}}]
        else:
            data_type = str(dtype)
            codecs = _v3_codecs(compression, level, dtype)
        return {
            "shape": shape,
            "data_type": data_type,
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": chunks}},
            # "." keeps every chunk of an array in one folder: no nested folder per chunk
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "."}},
            "fill_value": fill,
            "codecs": codecs,
            "attributes": attrs,
            "dimension_names": list(dims),
            "zarr_format": 3,
            "node_type": "array",
            "storage_transformers": [],
        }
    return {
        "shape": shape,
        "chunks": chunks,
        "dtype": dtype.str,
        # no fill value: xarray takes a format 2 fill value as its missing-value marker
        # and would read every stored 0 (or False) as NaN
        "fill_value": None,
        "order": "C",
        "filters": None,
        "dimension_separator": ".",
        "compressor": None if strings else _v2_compressor(compression, level),
        "zarr_format": 2,
        "attributes": {**attrs, "_ARRAY_DIMENSIONS": list(dims)},  # goes to .zattrs
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
        "dimensions": list(field_dimensions(spec)),
        "dtype": str(spec.dtype),
        "unit": spec.unit,
        "units": spec.unit,  # the CF name, what xarray and its plotting read
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


#: Coordinates along ``clip_id`` (one value per clip) that are not its index. (Not
#: ``clip``: ``Dataset.clip`` is a method, so ``ds.clip`` would not reach it.)
CLIP_COORDINATES: dict[str, str] = {
    "clip_dataset": "dataset of each clip",
    "clip_subject": "subject of each clip",
    "clip_object": "object of each clip",
    "clip_start": "first frame of each clip along the frame axis",
    "clip_length": "frames of each clip",
    "clip_success": "whether the clip was tracked to its last frame (complete)",
}
#: Coordinates along ``frame``: which clip a frame belongs to, and which frame of it.
FRAME_COORDINATES: dict[str, str] = {
    "clip_index": "position along the clip_id axis of the clip this frame belongs to",
    "frame_in_clip": "frame number within its clip (0 at the clip's first frame)",
}
#: Every coordinate array of the layout (version 2), index coordinates first.
COORDINATES: tuple[str, ...] = (
    "body", "joint", *AXIS_LABELS, "clip_id", *CLIP_COORDINATES, *FRAME_COORDINATES,
)  # fmt: skip


def body_names(n_bodies: int) -> list[str]:
    """SMPL-X body names for 52 bodies, else ``body0``, ``body1``, ..."""
    if n_bodies == len(SMPLX_BODY_NAMES):
        return list(SMPLX_BODY_NAMES)
    return [f"body{i}" for i in range(n_bodies)]


def _static_coordinates(
    clips: Sequence[ExportClip], n_bodies: int, starts: Sequence[int]
) -> dict[str, tuple[np.ndarray, str, str]]:
    """name -> (values, dimension, description) of every coordinate not along frame."""
    names = body_names(n_bodies)
    metas = [ec.clip.meta for ec in clips]
    out: dict[str, tuple[np.ndarray, str, str]] = {
        "body": (np.asarray(names), "body", "body names (body 0 is the root, the pelvis)"),
        "joint": (np.asarray(names[1:]), "joint", "joint j drives body j + 1: its body's name"),
    }
    for dim, labels in AXIS_LABELS.items():
        what = "vector components" if dim == "xyz" else "quaternion components, w x y z"
        out[dim] = (np.asarray(labels), dim, what)
    out["clip_id"] = (np.asarray([m.clip_id for m in metas]), "clip_id", "clip ids, in frame order")
    values = {
        "clip_dataset": np.asarray([m.dataset for m in metas]),
        "clip_subject": np.asarray([m.subject for m in metas]),
        "clip_object": np.asarray([m.object_name for m in metas]),
        "clip_start": np.asarray(starts, np.int64),
        "clip_length": np.asarray([ec.clip.n_frames for ec in clips], np.int64),
        "clip_success": np.asarray([ec.success for ec in clips], np.bool_),
    }
    for name, what in CLIP_COORDINATES.items():
        out[name] = (values[name], "clip_id", what)
    return out


def _write_strings(path: Path, values: np.ndarray, zarr_format: int) -> tuple[str, int]:
    """The one chunk of a string array: vlen-utf8 (format 3) or fixed-width UTF-32."""
    if zarr_format == 3:
        data = bytes(numcodecs.VLenUTF8().encode(np.asarray(values, dtype=object)))
    else:
        data = np.ascontiguousarray(values).tobytes()
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest(), len(data)


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
    missing or changed chunk from data. Returns the bytes of field array data written
    (before compression; the small coordinate arrays not counted).
    """
    if not clips:
        raise StoreError(f"{path}: no clips to write")
    n_bodies = clips[0].clip.n_bodies
    if any(ec.clip.n_bodies != n_bodies for ec in clips):
        raise StoreError(f"{path}: clips of one dataset must share a body count")
    fps = {ec.clip.meta.fps for ec in clips}
    index, starts, start = [], [], 0
    for ec in clips:
        index.append(clip_entry(ec, start))
        starts.append(start)
        start += ec.clip.n_frames
    smplx = n_bodies == len(SMPLX_BODY_NAMES)
    group_attrs = jsonable(
        {
            "layout": LAYOUT,
            "layout_version": HOI_LAYOUT_VERSION,
            "conventions": CONVENTIONS,
            "fps": fps.pop() if len(fps) == 1 else None,
            "n_frames": start,
            "n_clips": len(clips),
            "n_bodies": n_bodies,
            "body_names": list(SMPLX_BODY_NAMES) if smplx else None,
            # the body the motion is of, and the hinge order of joint arrays derived from it
            "embodiment": "smplx" if smplx else None,
            "joint_names": [f"{b}_{a}" for b in SMPLX_BODY_NAMES[1:] for a in "xyz"]
            if smplx
            else None,
            "fields": {name: field_attrs(name) for name in EXPORT_FIELDS},
            # CF: the arrays that label others rather than hold data (xarray reads this)
            "coordinates": " ".join([*CLIP_COORDINATES, *FRAME_COORDINATES]),
            **(attrs or {}),
        }
    )
    group_attrs["clips"] = index  # each entry is JSON-ready already (clip_entry)
    codec = _codec(compression, level)
    total = start
    # equal chunks of at most chunk_frames: a regular grid pads the last chunk to full
    # size, so 8193 frames in chunks of 8192 would write almost twice the data
    n_chunks = -(-total // max(1, chunk_frames))
    step = max(1, -(-total // n_chunks))
    path.mkdir(parents=True)
    documents: dict[str, dict[str, Any]] = {}
    per_clip = [ec.arrays() for ec in clips]  # once: building the dicts is not free
    # per-frame arrays: name -> (one part per clip, dtype, attributes, dimension names)
    series: dict[str, tuple[list[np.ndarray], np.dtype[Any], dict[str, Any], tuple[str, ...]]]
    series = {
        name: (
            # no concatenation: each chunk is gathered from the clips' own arrays
            [np.asarray(a[name]).astype(spec.dtype, copy=False) for a in per_clip],
            spec.dtype,
            field_attrs(name),
            field_dimensions(spec),
        )
        for name, spec in EXPORT_FIELDS.items()
    }
    i32 = np.dtype(np.int32)
    frame_parts = {
        "clip_index": [np.full(ec.clip.n_frames, i, i32) for i, ec in enumerate(clips)],
        "frame_in_clip": [np.arange(ec.clip.n_frames, dtype=i32) for ec in clips],
    }
    for name, what in FRAME_COORDINATES.items():
        series[name] = (frame_parts[name], i32, {"description": what}, (TIME_DIM,))
    written = 0
    with ThreadPoolExecutor(max(1, threads)) as pool:
        futures: list[tuple[str, Any]] = []
        for name, (parts, dtype, array_attrs, dims) in series.items():
            offsets = [int(o) for o in np.cumsum([0, *(len(a) for a in parts[:-1])])]
            shape = (total, *parts[0].shape[1:])
            documents[name] = _array_document(
                zarr_format, shape, dtype, step, compression, level, array_attrs, dims
            )
            (path / name).mkdir()  # every chunk key is a file name in this folder
            for i, s in enumerate(range(0, total, step)):
                key = _chunk_key(zarr_format, i, len(shape))
                chunk = _chunk_parts(parts, offsets, s, s + step)
                job = pool.submit(_write_chunk, path / name / key, chunk, step, codec)
                futures.append((f"{name}/{key}", job))
            if name in EXPORT_FIELDS:
                written += sum(a.nbytes for a in parts)
        for name, (values, dim, what) in _static_coordinates(clips, n_bodies, starts).items():
            n = len(values)
            documents[name] = _array_document(
                zarr_format, (n,), values.dtype, n, compression, level, {"description": what},
                (dim,),
            )  # fmt: skip
            (path / name).mkdir()
            key = _chunk_key(zarr_format, 0, 1)
            if values.dtype.kind == "U":
                job = pool.submit(_write_strings, path / name / key, values, zarr_format)
            else:
                job = pool.submit(_write_chunk, path / name / key, [values], n, codec)
            futures.append((f"{name}/{key}", job))
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
        coords = [c for c in COORDINATES if c in g]  # none in layout version 1
        out += group_problems(path, g, arrays=[*EXPORT_FIELDS, *coords], deep=deep)
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
