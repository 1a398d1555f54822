"""Repairing a store: what :func:`repair_store` can put right (see :mod:`stages.verify`)."""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from data_catalog.catalog import Catalog
from data_catalog.generation import generation_problems
from data_catalog.layout import LAYOUT_VERSION
from data_catalog.reconcile import reconcile_catalog
from data_catalog.store import CURRENT, Store
from data_catalog.versions import (
    VERSION_CLIPS_TABLE,
    VERSIONS_TABLE,
    clean_staging,
    publish_lock_path,
    record_version,
    version_manifest_at,
    versions_dir,
    versions_table,
)
from intermimic.atomic import lock, tmp_beside, write_text_atomic
from intermimic.errors import InputError, StoreError, UnknownFormatError
from intermimic.motion.clip import HOIClip
from intermimic.motion.load import decode_clip, resolve_format
from intermimic.motion.settings import IngestSettings
from stages.export import clean_stale_stagings
from stages.verify.checks import VerifyReport, is_refined, leftovers_in, verify_store


@dataclass
class RepairReport:
    """What :func:`repair_store` did, and the verification afterwards."""

    before: VerifyReport
    actions: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    after: VerifyReport | None = None


def _sources_of(st: Store, ds: str, subj: str) -> list[dict[str, Any]]:
    """Clip id, source path, hash and format of each clip of a subject: from its live
    generation's index when that reads, else from the catalog's ok rows."""
    try:
        g = st.open_subject(ds, subj)
        clips = cast(list[dict[str, Any]], g.attrs["clips"])
        return [
            {"clip": c["clip_id"], "path": c["source_path"], "sha256": c["source_sha256"],
             "format": c.get("source_format"), "frames": c["length"]}
            for c in clips
        ]  # fmt: skip
    except (StoreError, KeyError, TypeError):
        pass
    try:
        cat = Catalog(st.root).ok_clips()
    except Exception:  # an unreadable catalog: no sources known
        return []
    rows = cat[(cat["dataset"] == ds) & (cat["subject"] == subj)]
    return [
        {"clip": r.clip, "path": r.source_path, "sha256": r.sha256,
         "format": r.source_format, "frames": r.frames}
        for r in rows.itertuples(index=False)
    ]  # fmt: skip


def _from_source(ds: str, subj: str, src: dict[str, Any]) -> HOIClip:
    """The clip ``src`` describes, decoded again from its source file; StoreError saying
    why not (gone, changed, reads otherwise)."""
    path = Path(str(src["path"]))
    where = f"{ds}/{subj}/{src['clip']}"
    if not path.is_file():
        raise StoreError(f"{where}: its source {path} is gone")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != src["sha256"]:
        raise StoreError(f"{where}: its source {path} has changed since it was ingested")
    settings = IngestSettings(dataset=ds, format=src.get("format") or None)
    try:
        clip = decode_clip(data, path, resolve_format(path, settings.format), settings)
    except (InputError, UnknownFormatError) as exc:
        raise StoreError(f"{where}: {exc}") from None
    if (clip.meta.subject, clip.meta.clip_id) != (subj, src["clip"]) or (
        src.get("frames") is not None and clip.n_frames != int(src["frames"])
    ):
        raise StoreError(f"{where}: {path} reads as another clip now (other ingest settings?)")
    return clip


def _rebuild_subject(st: Store, ds: str, subj: str) -> list[str]:
    """Rewrite a damaged raw subject: each clip whose chunks are whole from the store,
    each other clip from its source file when that is unchanged. A clip that can be had
    from neither is left out (and said so: ingest it anew). Returns what was done."""
    if is_refined(ds):
        raise StoreError(f"{ds}/{subj} is refined data: run `intermimic refine` for it again")
    sources = _sources_of(st, ds, subj)
    if not sources:
        raise StoreError(f"{ds}/{subj}: neither its clip index nor the catalog reads")
    kept: list[HOIClip] = []
    from_source: list[str] = []
    lost: list[str] = []
    for src in sources:
        try:
            kept.append(st.read_clip(ds, subj, str(src["clip"])))
            continue
        except StoreError:
            pass
        try:
            kept.append(_from_source(ds, subj, src))
            from_source.append(str(src["clip"]))
        except (StoreError, OSError) as exc:
            lost.append(f"{exc}")
    if not kept:
        raise StoreError(f"{ds}/{subj}: no clip can be recovered ({'; '.join(lost)})")
    try:
        derived = st.series_groups(ds, subj)
    except StoreError:
        derived = ["?"]
    generation = st.rewrite_subject(ds, subj, kept)
    done = [
        f"rewrote {ds}/{subj} as {generation}: {len(kept) - len(from_source)} clip(s) from "
        f"the store, {len(from_source)} re-read from their sources"
        + (
            "; run `intermimic annotate` for it again (derived series are not carried over)"
            if derived
            else ""
        )
    ]
    done += [f"left out {why}: ingest it anew" for why in lost]
    return done


def _adopt(st: Store, ds: str, subj: str) -> str:
    sdir = st.layout.subject_dir(ds, subj)
    with lock(st.layout.subject_lock(ds, subj)):
        if (sdir / CURRENT).exists():
            return f"{ds}/{subj} has a {CURRENT} again"
        whole = [g for g in sdir.glob("g-*.zarr") if not generation_problems(g)]
        if not whole:
            for g in sdir.glob("g-*.zarr"):
                shutil.rmtree(g, ignore_errors=True)
            return f"removed the damaged, unswitched generation(s) of {ds}/{subj}"
        newest = max(whole, key=lambda p: p.stat().st_mtime)
        write_text_atomic(sdir / CURRENT, newest.name + "\n")
        return f"{ds}/{subj}: adopted {newest.name} as its live generation"


def _remove_temps(folder: Path, lock_path: Path) -> list[str]:
    done = []
    with lock(lock_path):
        for p in leftovers_in(folder):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            done.append(f"removed {p}")
    return done


def _republish(st: Store, vid: str) -> str:
    from stages.publish import PublishSettings, publish_refined
    from stages.publish.gather import gather_refined
    from stages.publish.write import code_version, version_id, version_inputs

    vdir = versions_dir(st) / vid
    try:
        settings = PublishSettings(**dict(version_manifest_at(vdir).get("settings") or {}))
    except (StoreError, ValueError, TypeError):
        rows = versions_table(st) if (st.layout.catalog_dir / VERSIONS_TABLE).exists() else None
        row = rows[rows["version"] == vid] if rows is not None else None
        only = bool(row["only_successful"].iloc[0]) if row is not None and len(row) else False
        settings = PublishSettings(only_successful=only)
    gathered = gather_refined(st, settings.datasets)
    included = [ec for ec in gathered.clips if ec.success or not settings.only_successful]
    if not included or version_id(version_inputs(included, settings, code_version())) != vid:
        raise StoreError(
            f"version {vid}: its inputs changed since it was published; publish again "
            "(the damaged version stays as it is)"
        )
    with lock(publish_lock_path(st)):
        # aside as a staging folder: the publish below removes it under its lock
        vdir.rename(tmp_beside(vdir))
    rep = publish_refined(st, settings.model_copy(update={"force_current": False}))
    return f"republished {rep.version}"


def repair_store(store: Store | str | Path) -> RepairReport:
    """Repair what :func:`verify_store` finds and can be repaired; verify again."""
    st = store if isinstance(store, Store) else Store(store)
    before = verify_store(st)
    out = RepairReport(before)
    fixes = list(dict.fromkeys(p.fix for p in before.problems if p.fix is not None))

    def attempt(what: str, fn: Any, *args: Any) -> Any:
        try:
            result = fn(*args)
        except (StoreError, OSError) as exc:
            out.failed.append(f"{what}: {exc}")
            return None
        if isinstance(result, str):
            out.actions.append(result)
        elif isinstance(result, list):
            out.actions.extend(result)
        return result

    if ("manifest",) in fixes:
        write_text_atomic(st.layout.manifest, json.dumps({"layout_version": LAYOUT_VERSION}) + "\n")
        out.actions.append(f"wrote {st.layout.manifest}")
    rebuild_catalog = rebuild_versions = False
    for fix in fixes:
        if fix[0] == "table":
            path = Path(fix[1])
            aside = path.with_name(path.name + ".damaged")
            with lock(st.layout.catalog_lock):
                path.replace(aside)
            out.actions.append(f"set {path} aside as {aside.name}")
            rebuild_catalog |= path == st.layout.clips_table
            rebuild_versions |= path.name in (VERSIONS_TABLE, VERSION_CLIPS_TABLE)
    if ("catalog_temps",) in fixes:
        attempt("catalog temps", _remove_temps, st.layout.catalog_dir, st.layout.catalog_lock)
    if ("version_temps",) in fixes:
        with lock(publish_lock_path(st)):
            clean_staging(versions_dir(st))
        out.actions.append(f"removed the staging folders in {versions_dir(st)}")
    reconcile: set[tuple[str, str]] = set()
    for fix in fixes:
        kind, args = fix[0], fix[1:]
        if kind == "subject_temps":
            ds, subj = args
            attempt(f"{ds}/{subj}", _remove_temps, st.layout.subject_dir(ds, subj),
                    st.layout.subject_lock(ds, subj))  # fmt: skip
        elif kind == "adopt":
            if attempt(f"{args[0]}/{args[1]}", _adopt, st, *args) is not None:
                reconcile.add((args[0], args[1]))
        elif kind == "subject":
            if attempt(f"{args[0]}/{args[1]}", _rebuild_subject, st, *args) is not None:
                reconcile.add((args[0], args[1]))
        elif kind == "reconcile":
            reconcile.add((args[0], args[1]))
        elif kind == "export_stagings":
            attempt(args[0], lambda t: [f"removed {p}" for p in
                                        clean_stale_stagings(st, Path(t))], args[0])  # fmt: skip
    if rebuild_catalog:
        reconcile |= {(d, s) for d, s in st.subjects() if not is_refined(d)}
    reconcile = {k for k in reconcile if not is_refined(k[0])}
    if reconcile:
        try:
            rep = reconcile_catalog(st, sorted(reconcile))
            out.actions.append(
                f"rebuilt the catalog rows of {len(reconcile)} subject(s): "
                + ", ".join(f"{k} {v}" for k, v in rep.summary().items() if k != "subjects")
            )
        except (StoreError, OSError) as exc:
            out.failed.append(f"catalog: {exc}")
    for fix in fixes:
        if fix[0] == "republish":
            attempt(f"version {fix[1]}", _republish, st, fix[1])
    vroot = versions_dir(st)
    for vdir in sorted(vroot.glob("v-*")) if vroot.is_dir() else []:
        if rebuild_versions or ("record_version", vdir.name) in fixes:
            try:
                record_version(st, version_manifest_at(vdir), vdir)
                out.actions.append(f"recorded version {vdir.name} in the catalog")
            except StoreError as exc:
                out.failed.append(f"version {vdir.name}: {exc}")
    out.after = verify_store(st)
    return out
