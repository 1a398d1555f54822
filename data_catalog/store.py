"""The MoCap store: one Zarr v3 group per dataset/subject.

Each group holds every :data:`~intermimic.motion.clip.FIELDS` array concatenated over
the subject's clips along time (chunked on time, zstd compressed), and a clip index in
its attributes (clip id, start, length, source hash and the rest of the metadata).

Writes never modify a live group. A new *generation* is written beside the old one,
renamed into place, and the subject's ``CURRENT`` pointer is swapped atomically: a
reader opens either the old generation or the new one, never a half-written subject.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from data_catalog.generation import (
    clip_index,
    generation_problems,
    link_generation,
    open_array,
    open_generation,
    quiet_consolidate,
    read_verified,
    series_fields,
    staged_replace,
    write_time_array,
)
from data_catalog.integrity import (
    CHECKSUMS,
    VERIFY_HINT,
    array_checksums,
    reading,
    verify_group,
)
from data_catalog.layout import LAYOUT_VERSION, Layout, safe
from intermimic.atomic import lock, write_text_atomic
from intermimic.errors import StoreDamagedError, StoreError, StoreUnavailableError
from intermimic.motion.clip import FIELDS, ClipMeta, HOIClip
from intermimic.motion.skeleton import SMPLX_BODY_NAMES

CURRENT = "CURRENT"
# Metadata kept per clip in the index; the arrays hold the rest.
_INDEX_META = (
    "clip_id",
    "object_name",
    "fps",
    "source_fps",
    "source_path",
    "source_sha256",
    "source_format",
)


class UnknownClipError(StoreError):
    """No clip with the requested id is in the store."""


@dataclass(frozen=True)
class ClipEntry:
    """One row of a subject's clip index: where the clip's frames lie in the arrays."""

    dataset: str
    subject: str
    clip_id: str
    start: int
    length: int
    sha256: str
    object_name: str


@dataclass(frozen=True)
class SubjectWrite:
    """What :meth:`Store.upsert_clips` did to one subject."""

    dataset: str
    subject: str
    generation: str | None  # None when nothing changed
    added: tuple[str, ...]
    replaced: tuple[str, ...]
    unchanged: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return self.generation is not None


class Store:
    """A MoCap store on local disk, rooted at ``root`` (created on first write)."""

    def __init__(self, root: str | Path) -> None:
        self.layout = Layout(root)
        self.root = self.layout.root

    # ---- setup -----------------------------------------------------------------------
    def ensure(self) -> None:
        """Create the store's skeleton, or fail with a StoreError saying why."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if not self.layout.manifest.exists():
                write_text_atomic(
                    self.layout.manifest, json.dumps({"layout_version": LAYOUT_VERSION}) + "\n"
                )
            self.layout.locks.mkdir(exist_ok=True)
        except OSError as exc:
            raise StoreUnavailableError(
                f"{self.root}: cannot write the store: {exc.strerror or exc}"
            ) from None
        manifest = self.read_manifest()
        if manifest.get("layout_version") != LAYOUT_VERSION:
            raise StoreError(
                f"{self.root}: store layout version {manifest.get('layout_version')} is not "
                f"the supported version {LAYOUT_VERSION}"
            )
        self.check_tables()
        self.clean_catalog_temps()

    def read_manifest(self) -> dict[str, Any]:
        """``store.json``; :class:`StoreDamagedError` when it is not a JSON object."""
        path = self.layout.manifest
        with reading(path, "store manifest"):
            manifest = json.loads(path.read_bytes())
        if not isinstance(manifest, dict):
            raise StoreDamagedError("the store manifest is not a JSON object", path)
        return manifest

    def catalog_tables(self) -> list[Path]:
        """The catalog's Parquet tables that exist."""
        d = self.layout.catalog_dir
        return sorted(d.glob("*.parquet")) if d.is_dir() else []

    def check_tables(self) -> None:
        """Read every catalog table whole: :class:`StoreDamagedError` naming the first one
        that does not read (truncated, garbled). They are small: one row per clip."""
        import pyarrow.parquet as pq

        for path in self.catalog_tables():
            with reading(path, "catalog table"):
                pq.read_table(path)

    def clean_catalog_temps(self) -> None:
        """Remove temporary files of catalog writers that died (under the catalog lock, so
        none of them is a live writer's)."""
        d = self.layout.catalog_dir
        if d.is_dir() and any(d.glob(".*.tmp-*")):
            with lock(self.layout.catalog_lock):
                for stale in d.glob(".*.tmp-*"):
                    if stale.is_dir():
                        shutil.rmtree(stale, ignore_errors=True)
                    else:
                        stale.unlink(missing_ok=True)

    # ---- listing ---------------------------------------------------------------------
    def datasets(self) -> list[str]:
        if not self.layout.mocap.is_dir():
            return []
        return sorted(p.name for p in self.layout.mocap.iterdir() if p.is_dir())

    def subjects(self, dataset: str | None = None) -> list[tuple[str, str]]:
        """``(dataset, subject)`` pairs that have a live generation."""
        out = []
        for ds in [dataset] if dataset else self.datasets():
            d = self.layout.mocap / safe(ds, "dataset")
            if d.is_dir():
                out += [(ds, p.name) for p in sorted(d.iterdir()) if (p / CURRENT).is_file()]
        return out

    def generation_path(self, dataset: str, subject: str) -> Path | None:
        """Path of the subject's live Zarr group, or None if it has none."""
        sdir = self.layout.subject_dir(dataset, subject)
        try:
            raw = (sdir / CURRENT).read_bytes()
        except FileNotFoundError:
            return None
        with reading(sdir / CURRENT, "generation pointer"):
            name = raw.decode().strip()
        if not name.startswith("g-") or not name.endswith(".zarr"):
            raise StoreDamagedError(f"names no generation ({name[:40]!r})", sdir / CURRENT)
        return sdir / safe(name, "generation")

    def _live(self, dataset: str, subject: str) -> Path:
        """Path of the subject's live generation; StoreError naming the known subjects."""
        path = self.generation_path(dataset, subject)
        if path is None:
            known = ", ".join(f"{d}/{s}" for d, s in self.subjects()) or "none"
            raise StoreError(
                f"{self.root}: no subject {dataset}/{subject} in the store (known: {known})"
            )
        return path

    def open_subject(self, dataset: str, subject: str) -> zarr.Group:
        """The subject's live Zarr group, read-only (its metadata read, its chunks not
        verified: the ``read_*`` methods verify what they read)."""
        return open_generation(self._live(dataset, subject))

    def index(self, dataset: str, subject: str) -> list[ClipEntry]:
        path = self._live(dataset, subject)
        g = open_generation(path)
        with reading(path / "zarr.json", "clip index"):
            return [
                ClipEntry(
                    dataset,
                    subject,
                    c["clip_id"],
                    c["start"],
                    c["length"],
                    c["source_sha256"],
                    c["object_name"],
                )
                for c in clip_index(g)
            ]

    def entries(self, dataset: str | None = None) -> Iterator[ClipEntry]:
        for ds, subj in self.subjects(dataset):
            yield from self.index(ds, subj)

    # ---- reading ---------------------------------------------------------------------
    def read_subject(self, dataset: str, subject: str) -> list[HOIClip]:
        """Every clip of a subject, in index order, from verified chunks only (a missing or
        changed chunk is a :class:`StoreDamagedError`, never zeros)."""
        path = self._live(dataset, subject)
        g = open_generation(path)
        arrays = {name: read_verified(g, path, name) for name in FIELDS}
        with reading(path / "zarr.json", "clip index"):
            return [self._clip_from(g, c, arrays) for c in clip_index(g)]

    def read_clip(self, dataset: str, subject: str, clip_id: str) -> HOIClip:
        path = self._live(dataset, subject)
        g = open_generation(path)
        for c in clip_index(g):
            if c["clip_id"] == clip_id:
                s, n = c["start"], c["length"]
                arrays = {name: read_verified(g, path, name, slice(s, s + n)) for name in FIELDS}
                with reading(path / "zarr.json", "clip index"):
                    return self._clip_from(g, {**c, "start": 0}, arrays)
        raise UnknownClipError(f"{self.root}: no clip {clip_id!r} in {dataset}/{subject}")

    def find_clip(self, clip_id: str, dataset: str | None = None) -> HOIClip:
        """The clip with this id, searched over every subject (of ``dataset`` if given)."""
        known: list[str] = []
        for entry in self.entries(dataset):
            if entry.clip_id == clip_id:
                return self.read_clip(entry.dataset, entry.subject, clip_id)
            known.append(entry.clip_id)
        hint = ", ".join(sorted(known)[:10]) + (" ..." if len(known) > 10 else "")
        raise UnknownClipError(
            f"{self.root}: unknown clip id {clip_id!r}"
            + (f" in dataset {dataset!r}" if dataset else "")
            + f"; known: {hint or 'none'}"
        )

    @staticmethod
    def _clip_from(g: zarr.Group, c: dict[str, Any], arrays: dict[str, np.ndarray]) -> HOIClip:
        s, n = c["start"], c["length"]
        meta = ClipMeta(
            dataset=str(g.attrs["dataset"]),
            subject=str(g.attrs["subject"]),
            **{k: c[k] for k in _INDEX_META if k in c},
        )
        return HOIClip.from_arrays(meta, {k: v[s : s + n] for k, v in arrays.items()})

    def nonfinite_counts(self, dataset: str, subject: str) -> dict[str, int]:
        """Non-finite values per float array of the subject's live group (chunk by chunk)."""
        path = self._live(dataset, subject)
        g = open_generation(path)
        bad: dict[str, int] = {}
        for name, spec in FIELDS.items():
            if spec.kind != "float":
                continue
            arr = open_array(g, name)
            verify_group(path, g, arrays=[name])  # a missing chunk is not "finite zeros"
            step = arr.chunks[0]
            n = 0
            with reading(path / name, "array"):
                for i in range(0, arr.shape[0], step):
                    n += int(np.count_nonzero(~np.isfinite(np.asarray(arr[i : i + step]))))
            if n:
                bad[name] = n
        return bad

    # ---- writing ---------------------------------------------------------------------
    def upsert_clips(
        self,
        dataset: str,
        subject: str,
        clips: Iterable[HOIClip],
        *,
        chunk_frames: int = 4096,
        zstd_level: int = 1,
    ) -> SubjectWrite:
        """Add or replace clips of one subject; unchanged clips (same id and hash) are kept.

        Writes a new generation only if something changed, under the subject's lock, so
        two writers of the same subject take turns and neither's clips are lost.
        """
        self.ensure()
        safe(dataset, "dataset")
        safe(subject, "subject")
        new = {c.meta.clip_id: c for c in clips}
        for c in new.values():
            if (c.meta.dataset, c.meta.subject) != (dataset, subject):
                raise ValueError(
                    f"clip {c.meta.clip_id} belongs to {c.meta.dataset}/{c.meta.subject}"
                )
        with lock(self.layout.subject_lock(dataset, subject)):
            # through the verified path: a new generation is written from whole data only
            existing = (
                {c.meta.clip_id: c for c in self.read_subject(dataset, subject)}
                if self.generation_path(dataset, subject)
                else {}
            )
            added = tuple(sorted(k for k in new if k not in existing))
            replaced = tuple(
                sorted(
                    k
                    for k in new
                    if k in existing and existing[k].meta.source_sha256 != new[k].meta.source_sha256
                )
            )
            unchanged = tuple(sorted(k for k in new if k not in added and k not in replaced))
            if not added and not replaced:
                return SubjectWrite(dataset, subject, None, added, replaced, unchanged)
            merged = {**existing, **{k: new[k] for k in added + replaced}}
            generation = self._write_generation(
                dataset, subject, [merged[k] for k in sorted(merged)], chunk_frames, zstd_level
            )
            return SubjectWrite(dataset, subject, generation, added, replaced, unchanged)

    def rewrite_subject(
        self,
        dataset: str,
        subject: str,
        clips: Iterable[HOIClip],
        *,
        chunk_frames: int = 4096,
        zstd_level: int = 1,
    ) -> str:
        """Write ``clips`` as the subject's whole content, without reading what is there
        (the repair of a damaged generation from its sources); returns the generation.

        A generation of the same content that exists already is checked and, when damaged,
        written again in its place. Derived groups (annotations) are not carried over.
        """
        self.ensure()
        clips = sorted(clips, key=lambda c: c.meta.clip_id)
        if not clips:
            raise StoreError(f"{self.root}: no clips to write for {dataset}/{subject}")
        for c in clips:
            if (c.meta.dataset, c.meta.subject) != (dataset, subject):
                raise ValueError(
                    f"clip {c.meta.clip_id} belongs to {c.meta.dataset}/{c.meta.subject}"
                )
        with lock(self.layout.subject_lock(dataset, subject)):
            return self._write_generation(dataset, subject, clips, chunk_frames, zstd_level)

    def _write_generation(
        self, dataset: str, subject: str, clips: list[HOIClip], chunk_frames: int, zstd_level: int
    ) -> str:
        digest = hashlib.sha256(f"layout{LAYOUT_VERSION}".encode())
        for c in clips:
            digest.update(f"{c.meta.clip_id}\0{c.meta.source_sha256}\0{c.meta.fps}\n".encode())
        generation = f"g-{digest.hexdigest()[:16]}.zarr"
        sdir = self.layout.subject_dir(dataset, subject)
        target = sdir / generation
        n_bodies = clips[0].n_bodies
        if any(c.n_bodies != n_bodies for c in clips):
            raise StoreError(f"{sdir}: clips of one subject must share a body count")
        # a generation of this content may exist (the one before, or one a writer renamed
        # into place before it died): reuse it only when it is whole
        if not target.is_dir() or generation_problems(target):
            index, start = [], 0
            for c in clips:
                entry = {k: getattr(c.meta, k) for k in _INDEX_META}
                index.append({**entry, "start": start, "length": c.n_frames})
                start += c.n_frames
            attrs: dict[str, Any] = {
                "layout_version": LAYOUT_VERSION,
                "dataset": dataset,
                "subject": subject,
                "fps": clips[0].meta.fps,
                "n_frames": start,
                "n_bodies": n_bodies,
                "body_names": list(SMPLX_BODY_NAMES) if n_bodies == len(SMPLX_BODY_NAMES) else None,
                "fields": {
                    name: {
                        "shape": ["T", *spec.tail],
                        "dtype": str(spec.dtype),
                        "unit": spec.unit,
                        "frame": spec.frame,
                        "description": spec.description,
                        **(
                            {"quaternion_order": spec.quaternion_order}
                            if spec.quaternion_order
                            else {}
                        ),
                    }
                    for name, spec in FIELDS.items()
                },
                "clips": index,
            }
            compressor = ZstdCodec(level=zstd_level)
            with staged_replace(target) as tmp:
                g = zarr.open_group(str(tmp), mode="w", zarr_format=3, attributes=attrs)
                for name, spec in FIELDS.items():
                    data = np.concatenate([getattr(c, name) for c in clips])
                    write_time_array(
                        g, name, data.astype(spec.dtype, copy=False), chunk_frames, compressor
                    )
                g.attrs.update({CHECKSUMS: array_checksums(tmp, FIELDS)})
                quiet_consolidate(tmp)
        write_text_atomic(sdir / CURRENT, generation + "\n")
        self._collect_garbage(sdir, keep={generation})
        return generation

    # ---- per-frame series derived from the clips (annotations, artifact reports) --------
    def write_series(
        self,
        dataset: str,
        subject: str,
        group: str,
        per_clip: Mapping[str, Mapping[str, np.ndarray]],
        *,
        attrs: Mapping[str, Any] | None = None,
        fill: Mapping[str, float | int] | None = None,
        chunk_frames: int = 4096,
        zstd_level: int = 1,
    ) -> str:
        """Store per-frame arrays of some clips as the subgroup ``group`` of the subject.

        ``per_clip[clip_id][field]`` is ``[T_clip, ...]``; the fields are concatenated in
        the subject's index order, so row ``i`` of ``group/field`` belongs to row ``i``
        of the MoCap arrays. Clips without data are filled with ``fill[field]`` (default
        NaN for floats, 0 for integers) and left out of the group's ``clips`` attribute.
        A new generation is made: the MoCap arrays are hard links to the live
        generation's files (nothing is copied or rewritten), an earlier ``group`` is
        replaced, and ``CURRENT`` is swapped atomically. Re-ingesting MoCap starts a
        fresh generation without derived groups: they belong to the clips they came from.
        """
        safe(group, "group")
        if group in FIELDS:
            raise StoreError(f"series group {group!r} would shadow a MoCap field")
        with lock(self.layout.subject_lock(dataset, subject)):
            src = self.generation_path(dataset, subject)
            if src is None:
                raise StoreError(f"{self.root}: no subject {dataset}/{subject} to annotate")
            g = open_generation(src)
            # the new generation links the live one's files: they must be whole
            if problems := generation_problems(src):
                path, what = problems[0]
                raise StoreDamagedError(f"{what}; {VERIFY_HINT}", path)
            index = {c["clip_id"]: c for c in clip_index(g)}
            unknown = sorted(set(per_clip) - set(index))
            if unknown:
                raise UnknownClipError(
                    f"{src}: no clip(s) {', '.join(unknown)} in {dataset}/{subject}"
                )
            fields = series_fields(per_clip, index, src)
            digest = hashlib.sha256(f"{src.name}\0{group}".encode())
            columns: dict[str, np.ndarray] = {}
            for name, (tail, dtype) in fields.items():
                blank = (fill or {}).get(name, np.nan if dtype.kind == "f" else 0)
                parts = []
                for cid, c in index.items():
                    if cid in per_clip:
                        parts.append(np.asarray(per_clip[cid][name], dtype=dtype))
                    else:
                        parts.append(np.full((c["length"], *tail), blank, dtype=dtype))
                columns[name] = np.concatenate(parts) if parts else np.zeros((0, *tail), dtype)
                digest.update(name.encode() + columns[name].tobytes())
            generation = f"g-{digest.hexdigest()[:16]}.zarr"
            sdir = src.parent
            target = sdir / generation
            if not target.is_dir() or generation_problems(target):
                with staged_replace(target) as tmp:
                    link_generation(src, tmp, drop=group)
                    root = zarr.open_group(str(tmp), mode="r+", use_consolidated=False)
                    sub = root.create_group(
                        group,
                        attributes={**(attrs or {}), "clips": sorted(per_clip)},
                    )
                    compressor = ZstdCodec(level=zstd_level)
                    for name, data in columns.items():
                        write_time_array(sub, name, data, chunk_frames, compressor)
                    sub.attrs.update({CHECKSUMS: array_checksums(tmp / group, columns)})
                    quiet_consolidate(tmp)
            write_text_atomic(sdir / CURRENT, generation + "\n")
            self._collect_garbage(sdir, keep={generation, src.name})
            return generation

    def series_groups(self, dataset: str, subject: str) -> list[str]:
        """Names of the derived groups the subject's live generation holds."""
        g = self.open_subject(dataset, subject)
        return sorted(name for name, _ in g.groups())

    def read_series(
        self, dataset: str, subject: str, group: str, clip_id: str | None = None
    ) -> dict[str, np.ndarray]:
        """Arrays of a derived group: all frames, or the rows of one clip."""
        path = self._live(dataset, subject)
        g = open_generation(path)
        if group not in g:
            raise StoreError(
                f"{self.root}: {dataset}/{subject} has no {group!r} series "
                f"(has: {', '.join(self.series_groups(dataset, subject)) or 'none'})"
            )
        with reading(path / group, "series group"):
            sub = g[group]
        if not isinstance(sub, zarr.Group):
            raise StoreDamagedError("is not a group", path / group)
        names = sorted(name for name, _ in sub.arrays())
        if clip_id is None:
            return {name: read_verified(sub, path / group, name) for name in names}
        for c in clip_index(g):
            if c["clip_id"] == clip_id:
                s, n = c["start"], c["length"]
                return {
                    name: read_verified(sub, path / group, name, slice(s, s + n)) for name in names
                }
        raise UnknownClipError(f"{self.root}: no clip {clip_id!r} in {dataset}/{subject}")

    def series_attrs(self, dataset: str, subject: str, group: str) -> dict[str, Any]:
        return dict(self.open_subject(dataset, subject)[group].attrs)

    @staticmethod
    def _collect_garbage(sdir: Path, keep: set[str]) -> None:
        """Drop generations other than the live one and the one before it.

        The previous generation stays so that a reader that opened it just before the
        swap can finish; anything older has had a whole write's time to be released.
        """
        gens = sorted(
            (p for p in sdir.glob("g-*.zarr") if p.name not in keep),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for old in gens[1:]:
            shutil.rmtree(old, ignore_errors=True)
        for stale in sdir.glob(".*.tmp-*"):
            # Staged folders of writers that died; we hold the subject lock, so none is live.
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)
