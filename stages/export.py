"""Export a published version for other projects: ``intermimic export``, ``hoi_dataset_export``.

The export folder is built beside its target and renamed into place, so a reader never
sees half an export, and two exports at once never mix: each stages its own folder;
when both target the same folder, they take turns for the final swap (a file lock) and
the last one wins whole.

The target must be missing, an empty folder, or exactly an earlier export of ours: its
``export.json`` lists what the export wrote (``contents``), and a folder that holds
anything else (a user's own files beside an ``export.json``) is refused, naming the
folder and what is in the way. Nothing of the user's is ever deleted.

An exporter that is killed leaves its hidden staging folder ``.<out>.tmp-*`` beside the
target; the next export to that target removes those whose exporter is gone (each
staging folder is held by a lock while its exporter lives).

Every export holds the data card ``README.md`` (:mod:`intermimic.export.card`),
``export.json`` (version, format, clips and their files, what was left out and why,
lineage, humanoid and object records, contents), the humanoid per subject
(``humanoid/<subject>.xml`` and ``humanoid/bone_offsets.json``,
:mod:`intermimic.export.humanoid`) and the object meshes (``objects/<name>/``,
:mod:`intermimic.export.objects`).

Clips of cleaned (refined) data are exported only when refined to their end: a clip
whose teacher fell before the clip's last frame (partial) is left out and recorded with
why, unless ``include_partial`` asks for it. The ``interact-pt`` format is
InterMimic-compatible by default (:mod:`intermimic.export.interact_pt`): clips whose
names InterMimic's loaders would misread are refused, recorded, and the rest written.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, Field, model_validator

from data_catalog.hoi_zarr import jsonable, write_hoi_group
from data_catalog.store import Store
from data_catalog.versions import read_version, resolve_version
from intermimic.atomic import lock, tmp_beside
from intermimic.export import (
    FORMATS,
    ExportClip,
    ExportError,
    NothingToExportError,
    data_card,
    write_interact_pt,
    write_motion_npz,
)
from intermimic.export.clips import partial_reason
from intermimic.export.humanoid import FOLDER as HUMANOID_FOLDER
from intermimic.export.humanoid import write_humanoids
from intermimic.export.objects import FOLDER as OBJECTS_FOLDER
from intermimic.export.objects import export_objects

EXPORT_JSON = "export.json"
CARD = "README.md"
Format = Literal["zarr3", "zarr2", "interact-pt", "npz"]


class ExportSettings(BaseModel):
    """Which version, which clips, which format."""

    version: str = Field("current", description="version id, or 'current'")
    format: Format = Field("zarr3", description="zarr3, zarr2, interact-pt or npz")
    subjects: list[str] | None = Field(None, description="only these subjects; None: all")
    include_partial: bool = Field(
        False,
        description="also export partial clips (the teacher did not reach the clip's end); "
        "by default they are left out and listed in the card",
    )
    only_successful: bool = Field(
        False,
        description="only clips tracked to their last frame: the default now (kept for old "
        "scripts; contradicts include_partial)",
    )
    intermimic_compatible: bool = Field(
        True,
        description="interact-pt as InterMimic's loaders read it: placeholder row 0, "
        "subjects sub<N>, object names without '_' (other clips refused and listed)",
    )
    objects_dir: str | None = Field(
        None,
        description="objects folder (<name>/<name>.obj) whose meshes go into the export; "
        "None: $INTERMIMIC_OBJECTS or the sample's objects",
    )
    copy_meshes: bool = Field(
        True, description="copy object meshes into objects/ (false: name and hash them only)"
    )
    compression: Literal["none", "lz4", "zstd"] = Field(
        "none",
        description="chunk compression of Zarr exports (lz4, zstd: about 15 % smaller on "
        "refined float data, several times slower to write)",
    )
    chunk_frames: int = Field(8192, ge=1, description="frames per chunk of Zarr exports")

    @model_validator(mode="after")
    def _partial_or_not(self) -> Self:
        if self.include_partial and self.only_successful:
            raise ValueError(
                "include_partial and only_successful contradict each other: only clips "
                "refined to their end are exported unless include_partial is set"
            )
        return self


@dataclass
class ExportReport:
    """What :func:`export_version` wrote."""

    version: str
    format: str
    out: Path
    clips: int
    subjects: list[str]
    files: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    """Clips the format could not write (or refused), and why."""
    left_out: dict[str, str] = field(default_factory=dict)
    """Clips of the selection not exported (partial ones), and why."""
    humanoids: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    bytes_written: int = 0
    """Array bytes written (before compression)."""
    seconds: float = 0.0

    @property
    def mb_per_s(self) -> float:
        return self.bytes_written / 1e6 / self.seconds if self.seconds > 0 else float("nan")


def write_format(
    clips: list[ExportClip], fmt: str, folder: Path, settings: ExportSettings, attrs: dict[str, Any]
) -> tuple[dict[str, str], dict[str, str], int]:
    """Write ``clips`` in ``fmt`` into ``folder``: (files, skipped, array bytes)."""
    if fmt in ("zarr3", "zarr2"):
        n = write_hoi_group(
            folder / "data.zarr", clips, zarr_format=3 if fmt == "zarr3" else 2, attrs=attrs,
            compression=settings.compression, chunk_frames=settings.chunk_frames,
        )  # fmt: skip
        return {"data.zarr": "every clip"}, {}, n
    if fmt == "interact-pt":
        res = write_interact_pt(clips, folder, intermimic_compatible=settings.intermimic_compatible)
    elif fmt == "npz":
        res = write_motion_npz(clips, folder)
    else:
        raise ExportError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    written = {v for v in res["files"].values()}
    n = sum(a.nbytes for ec in clips if "/".join(ec.key) in written for a in ec.arrays().values())
    return res["files"], res["skipped"], n


def key(ec: ExportClip) -> str:
    """``dataset/subject/clip``: how records name a clip."""
    return "/".join(ec.key)


def select_clips(
    clips: list[ExportClip], settings: ExportSettings
) -> tuple[list[ExportClip], dict[str, str]]:
    """The clips to export and those left out (key -> why): partial clips are left out
    unless ``settings.include_partial``."""
    if settings.include_partial:
        return list(clips), {}
    keep = [ec for ec in clips if ec.complete]
    return keep, {key(ec): partial_reason(ec) for ec in clips if not ec.complete}


_REFUSE_HINT = "name a new or empty folder, or an earlier export to replace"


def export_contents(record: dict[str, Any]) -> set[str]:
    """The top-level names an export wrote, from its ``export.json`` record (``contents``;
    for exports made before it was recorded, the names of ``files`` plus the card)."""
    listed = record.get("contents")
    if isinstance(listed, list) and all(isinstance(n, str) for n in listed):
        return set(listed)
    files = record.get("files")
    if not isinstance(files, dict):
        return set()
    return {str(k).split("/")[0] for k in files} | {EXPORT_JSON, CARD}


def _check_target(out: Path) -> None:
    """Refuse ``out`` unless it is missing, empty, or exactly an earlier export of ours."""
    if not out.exists() and not out.is_symlink():
        return
    if out.is_symlink() or not out.is_dir():
        raise ExportError(f"{out} exists and is not a folder; {_REFUSE_HINT}")
    names = {p.name for p in out.iterdir()}
    if not names:
        return
    if EXPORT_JSON not in names:
        raise ExportError(f"{out} exists and is not an export (no {EXPORT_JSON}); {_REFUSE_HINT}")
    try:
        record = json.loads((out / EXPORT_JSON).read_bytes())
    except (OSError, ValueError):
        record = None
    ours = export_contents(record) if isinstance(record, dict) and "version" in record else set()
    if not ours:
        raise ExportError(
            f"{out} is not an export of ours ({EXPORT_JSON} does not read as one); " + _REFUSE_HINT
        )
    if extra := sorted(names - ours):
        shown = ", ".join(extra[:5]) + (" ..." if len(extra) > 5 else "")
        raise ExportError(
            f"{out} holds files that are not part of the earlier export ({shown}); "
            f"nothing was written: {_REFUSE_HINT}"
        )


def _swap_lock(store: Store, out: Path) -> Any:
    key = hashlib.sha256(str(out.resolve()).encode()).hexdigest()[:16]
    return lock(store.layout.locks / f"export.{key}.lock")


def _staging_lock(store: Store, staged: Path) -> Any:
    """The lock a live exporter holds on its staging folder."""
    key = hashlib.sha256(str(staged.resolve()).encode()).hexdigest()[:16]
    return lock(store.layout.locks / f"export-stage.{key}.lock")


def stale_stagings(out: Path) -> list[Path]:
    """Hidden staging (and set-aside) folders of exports to ``out``, live or not."""
    parent = out.parent
    if not parent.is_dir():
        return []
    return sorted(parent.glob(f".{glob_escape(out.name)}.tmp-*"))


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def staging_alive(store: Store, staged: Path) -> bool:
    """Whether the exporter that staged ``staged`` is still running (holds its lock)."""
    held = _staging_lock(store, staged)
    try:
        held.acquire(timeout=0)
    except TimeoutError:
        return True
    held.release()
    return False


def clean_stale_stagings(store: Store, out: Path) -> list[Path]:
    """Remove the staging folders of exports to ``out`` whose exporter died; returns them.

    Under the target's swap lock (so no folder set aside by a swap is live), and each
    staging folder only when its own lock is free (its exporter is gone).
    """
    removed: list[Path] = []
    found = stale_stagings(out)
    if not found:
        return removed
    with _swap_lock(store, out):
        for p in found:
            held = _staging_lock(store, p)
            try:
                held.acquire(timeout=0)
            except TimeoutError:
                continue  # a live exporter's
            try:
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
                removed.append(p)
                Path(held.lock_file).unlink(missing_ok=True)  # its owner is gone
            finally:
                held.release()
    return removed


def _swap_into_place(staged: Path, out: Path, store: Store) -> None:
    with _swap_lock(store, out):
        _check_target(out)
        aside: Path | None = None
        if out.exists():
            if any(out.iterdir()):
                aside = tmp_beside(out)
                os.rename(out, aside)
            else:
                out.rmdir()
        os.rename(staged, out)
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)


def export_version(
    store: Store, out: str | Path, settings: ExportSettings | None = None
) -> ExportReport:
    """Export (part of) a published version into the folder ``out`` (see the module docstring).

    Raises :class:`~data_catalog.versions.UnknownVersionError` (naming the known versions)
    for an unknown version, :class:`NothingToExportError` (an :class:`ExportError`)
    when no clip may be written (all partial, or every clip refused by the format),
    :class:`ExportError` when the target is not ours to replace.
    """
    t0 = time.perf_counter()
    s = settings or ExportSettings()
    out = Path(out)
    if s.format not in FORMATS:
        raise ExportError(f"unknown export format {s.format!r}; known: {', '.join(FORMATS)}")
    store.ensure()  # the export's lock lives in the store
    vid = resolve_version(store, s.version)
    _check_target(out)
    clean_stale_stagings(store, out)
    selected, manifest = read_version(store, vid, subjects=s.subjects)
    which = f" for subjects {', '.join(s.subjects)}" if s.subjects else ""
    if not selected:
        raise NothingToExportError(f"version {vid}: no clips to export{which}")
    clips, left_out = select_clips(selected, s)
    if not clips:
        raise NothingToExportError(
            f"version {vid}: no clips to export{which}: all {len(selected)} are partial "
            "(the teacher did not reach the clip's end); --include-partial "
            "(include_partial=true) exports them"
        )
    exported_at = datetime.now(UTC).isoformat()
    out.parent.mkdir(parents=True, exist_ok=True)
    staged = tmp_beside(out)
    held = _staging_lock(store, staged)
    held.acquire()  # before the folder exists: a cleaner never sees it unheld
    try:
        staged.mkdir()
        attrs = {"version": vid, "dataset": manifest["dataset"], "lineage": manifest["lineage"],
                 "code_version": manifest["code_version"], "export_format": s.format}  # fmt: skip
        files, skipped, nbytes = write_format(clips, s.format, staged, s, attrs)
        if not files:
            shown = "; ".join(f"{k}: {why}" for k, why in sorted(skipped.items())[:5])
            more = f" (and {len(skipped) - 5} more)" if len(skipped) > 5 else ""
            raise NothingToExportError(
                f"version {vid}: no clip could be written as {s.format}: {shown}{more}"
            )
        written = set(files.values())
        exported = [ec for ec in clips if s.format.startswith("zarr") or key(ec) in written]
        humanoids = write_humanoids(exported, staged)
        objects = export_objects(
            {ec.clip.meta.object_name for ec in exported}, staged, s.objects_dir,
            copy=s.copy_meshes,
        )  # fmt: skip
        extra = [n for n in (HUMANOID_FOLDER, OBJECTS_FOLDER) if (staged / n).exists()]
        record = {
            "version": vid,
            "format": s.format,
            "exported_at": exported_at,
            "settings": s.model_dump(),
            "code_version": manifest["code_version"],
            "files": files,
            "contents": sorted({str(k).split("/")[0] for k in files} | {EXPORT_JSON, CARD, *extra}),
            "skipped": skipped,
            "left_out": left_out,
            "clips": [
                {
                    "dataset": ec.clip.meta.dataset,
                    "subject": ec.clip.meta.subject,
                    "clip": ec.clip.meta.clip_id,
                    "object": ec.clip.meta.object_name,
                    "frames": ec.clip.n_frames,
                    "clip_frames": ec.clip_frames,
                    "complete": ec.complete,
                    **ec.info,
                }
                for ec in exported
            ],
            "humanoid": humanoids,
            "objects": objects,
            "lineage": manifest["lineage"],
        }
        (staged / EXPORT_JSON).write_text(json.dumps(jsonable(record), indent=1) + "\n")
        (staged / CARD).write_text(
            data_card(
                manifest,
                s.format,
                clips,
                files,
                skipped,
                out.name,
                exported_at,
                left_out=left_out,
                humanoids=humanoids,
                objects=objects,
                include_partial=s.include_partial,
                intermimic_compatible=s.intermimic_compatible,
            )
        )
        _swap_into_place(staged, out, store)
    finally:
        if staged.exists():
            shutil.rmtree(staged, ignore_errors=True)
        Path(held.lock_file).unlink(missing_ok=True)  # a unique name: only we use it
        held.release()
    return ExportReport(
        version=vid,
        format=s.format,
        out=out,
        clips=len(exported),
        subjects=sorted({ec.clip.meta.subject for ec in exported}),
        files=files,
        skipped=skipped,
        left_out=left_out,
        humanoids=humanoids,
        objects=objects,
        bytes_written=nbytes,
        seconds=time.perf_counter() - t0,
    )
