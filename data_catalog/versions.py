"""Published versions of the refined dataset, at rest: where they live, which is current,
reading them back, and their rows in the catalog.

Layout (under the store root)::

    STORE/datasets/refined/
        CURRENT                        id of the current version, swapped atomically
        v-<16 hex>/                    one version: written beside, renamed into place
            data.zarr/                 HOI Zarr v3 group (data_catalog.hoi_zarr), consolidated
            version.json               manifest: id, inputs, lineage and figures per clip
    STORE/catalog/dataset_versions.parquet        one row per version (lineage, figures)
    STORE/catalog/dataset_version_clips.parquet   one row per clip of each version

A version is never modified once renamed into place, and nothing deletes old versions:
a reader that holds a version id can always read it. A writer killed midway leaves only
a hidden staging folder (:func:`clean_staging` removes it, under the publish lock).
Writing a version is the publish stage's work (:mod:`stages.publish`).
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from data_catalog.hoi_zarr import (
    nonfinite_counts,
    read_hoi_group,
)
from data_catalog.integrity import reading
from data_catalog.store import Store
from intermimic.atomic import lock, write_bytes_atomic
from intermimic.contact.artifacts import PHYSICAL_FIGURES
from intermimic.errors import StoreDamagedError, StoreError
from intermimic.export.clips import ExportClip

PUBLISH_LAYOUT_VERSION = 1


DATASET = "refined"


CURRENT = "CURRENT"


DATA = "data.zarr"


MANIFEST = "version.json"


VERSIONS_TABLE = "dataset_versions.parquet"


VERSION_CLIPS_TABLE = "dataset_version_clips.parquet"


class UnknownVersionError(StoreError):
    """No published version has the requested id."""


def versions_dir(store: Store) -> Path:
    return store.root / "datasets" / DATASET


def publish_lock_path(store: Store) -> Path:
    return store.layout.locks / f"publish.{DATASET}.lock"


def version_dir(store: Store, version: str) -> Path:
    return versions_dir(store) / resolve_version(store, version)


def list_versions(store: Store) -> list[str]:
    """Ids of every published version, oldest first (staging folders are not versions)."""
    root = versions_dir(store)
    if not root.is_dir():
        return []
    found = [p for p in root.glob("v-*") if p.is_dir() and (p / MANIFEST).is_file()]
    found.sort(key=lambda p: (str(version_manifest_at(p)["created_at"]), p.name))
    return [p.name for p in found]


def current_version(store: Store) -> str | None:
    path = versions_dir(store) / CURRENT
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    with reading(path, "current-version pointer"):
        name = raw.decode().strip()
    if name and not name.startswith("v-"):
        raise StoreDamagedError(f"names no version ({name[:40]!r})", path)
    return name or None


def resolve_version(store: Store, version: str) -> str:
    """The id of ``version`` ("current" or an id); :class:`UnknownVersionError` naming the
    known versions otherwise."""
    known = list_versions(store)
    vid = current_version(store) if version == "current" else version
    if vid is None or vid not in known:
        what = "no current version" if vid is None else f"unknown version {version!r}"
        listing = ", ".join(known) or "none (publish one first: intermimic publish)"
        raise UnknownVersionError(f"{versions_dir(store)}: {what}; known versions: {listing}")
    return vid


def version_manifest(store: Store, version: str = "current") -> dict[str, Any]:
    return version_manifest_at(versions_dir(store) / resolve_version(store, version))


def read_version(
    store: Store,
    version: str = "current",
    *,
    subjects: Iterable[str] | None = None,
    only_successful: bool = False,
) -> tuple[list[ExportClip], dict[str, Any]]:
    """The clips of a version (optionally some subjects, only successful ones) and its
    manifest. Unknown subjects raise :class:`StoreError` naming the version's subjects."""
    vid = resolve_version(store, version)
    manifest = version_manifest(store, vid)
    wanted = set(subjects) if subjects else None
    if wanted:
        have = {c["subject"] for c in manifest["clips"]}
        if missing := sorted(wanted - have):
            raise StoreError(
                f"version {vid} has no subject(s) {', '.join(missing)}; "
                f"it has: {', '.join(sorted(have))}"
            )

    def keep(entry: Mapping[str, Any]) -> bool:
        if wanted is not None and entry["subject"] not in wanted:
            return False
        return not only_successful or bool((entry.get("info") or {}).get("success"))

    clips, _ = read_hoi_group(versions_dir(store) / vid / DATA, keep)
    return clips, manifest


def clean_staging(root: Path) -> None:
    """Remove staging folders of publishers that died (we hold the publish lock)."""
    if root.is_dir():
        for stale in root.glob(".*.tmp-*"):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


def version_manifest_at(vdir: Path) -> dict[str, Any]:
    """A version's ``version.json``; :class:`StoreDamagedError` naming it when it does not
    read as a manifest."""
    path = vdir / MANIFEST
    with reading(path, "version manifest"):
        manifest = json.loads(path.read_bytes())
        if not isinstance(manifest, dict):
            raise StoreDamagedError("the version manifest is not a JSON object", path)
        if missing := [k for k in ("version", "created_at", "clips") if k not in manifest]:
            raise StoreDamagedError(f"the version manifest lacks {', '.join(missing)}", path)
    return dict(manifest)


def _read_table(path: Path) -> pd.DataFrame:
    with reading(path, "catalog table"):
        return pd.read_parquet(path)


def verify_version(store: Store, version: str = "current") -> dict[str, int]:
    """Non-finite values per array of a version, read back from disk."""
    return nonfinite_counts(version_dir(store, version) / DATA)


def record_version(store: Store, manifest: dict[str, Any], path: Path) -> None:
    """One row for the version, one per clip; replaced if the version is recorded already."""
    cat = store.layout.catalog_dir
    m = manifest["metrics"]
    row = {
        "version": manifest["version"],
        "dataset": DATASET,
        "created_at": pd.Timestamp(manifest["created_at"]),
        "clips": m["clips"],
        "subjects": len(manifest["subjects"]),
        "frames": manifest["frames"],
        "success_ratio": m["success_ratio"],
        "e_h_cm": m["e_h_cm"],
        "e_o_cm": m["e_o_cm"],
        "only_successful": manifest["settings"]["only_successful"],
        "code_version": manifest["code_version"],
        "path": str(path),
        "raw_clips": json.dumps(manifest["lineage"]["raw_clips"]),
        "teachers": json.dumps(manifest["lineage"]["teachers"]),
        "figures": json.dumps({"raw": m["figures_raw"], "refined": m["figures_refined"]}),
    }
    clip_rows = []
    for c in manifest["clips"]:
        r = {
            "version": manifest["version"], "dataset": c["dataset"], "subject": c["subject"],
            "clip": c["clip"], "frames": c["frames"], "success": c["success"],
            "e_h_cm": c.get("e_h_cm"), "e_o_cm": c.get("e_o_cm"),
            "raw_dataset": c["raw_dataset"], "raw_sha256": c["raw_sha256"],
            "teacher_sha256": c["teacher_sha256"], "refined_sha256": c["refined_sha256"],
        }  # fmt: skip
        for f in PHYSICAL_FIGURES:
            r[f"raw_{f}"] = (c.get("figures_raw") or {}).get(f)
            r[f"refined_{f}"] = (c.get("figures_refined") or {}).get(f)
        clip_rows.append(r)
    with lock(store.layout.catalog_lock):
        for name, new in ((VERSIONS_TABLE, [row]), (VERSION_CLIPS_TABLE, clip_rows)):
            path_t = cat / name
            old = _read_table(path_t) if path_t.exists() else pd.DataFrame()
            if not old.empty:
                old = old[old["version"] != manifest["version"]]
            table = pd.concat([old, pd.DataFrame(new)], ignore_index=True)
            buf = io.BytesIO()
            table.to_parquet(buf, index=False)
            write_bytes_atomic(path_t, buf.getvalue())


def versions_table(store: Store) -> pd.DataFrame:
    """The catalog's table of published versions (empty if none), oldest first."""
    path = store.layout.catalog_dir / VERSIONS_TABLE
    if not path.exists():
        return pd.DataFrame(columns=["version", "dataset", "created_at", "clips"])
    return _read_table(path).sort_values("created_at").reset_index(drop=True)


def version_clips_table(store: Store, version: str | None = None) -> pd.DataFrame:
    """Per-clip lineage and figures of every version (or one)."""
    path = store.layout.catalog_dir / VERSION_CLIPS_TABLE
    df = _read_table(path) if path.exists() else pd.DataFrame(columns=["version"])
    if version is not None:
        df = df[df["version"] == resolve_version(store, version)].reset_index(drop=True)
    return df
