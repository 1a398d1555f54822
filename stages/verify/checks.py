"""Verifying a store: :func:`verify_store` lists what is wrong at rest (:mod:`stages.verify`)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import pandas as pd

from data_catalog.catalog import STATUS_OK, Catalog, row_keys, rows_table
from data_catalog.generation import generation_problems
from data_catalog.hoi_zarr import hoi_group_problems
from data_catalog.integrity import has_checksums
from data_catalog.layout import LAYOUT_VERSION
from data_catalog.reconcile import live_rows
from data_catalog.refined_layout import REFINED_SUFFIX
from data_catalog.store import CURRENT, Store
from data_catalog.versions import (
    DATA,
    MANIFEST,
    VERSION_CLIPS_TABLE,
    VERSIONS_TABLE,
    current_version,
    publish_lock_path,
    version_manifest_at,
    versions_dir,
    versions_table,
)
from intermimic.atomic import lock
from intermimic.errors import StoreDamagedError, StoreError
from stages.export import EXPORT_JSON, staging_alive

DAMAGED = "damaged"
INCONSISTENT = "inconsistent"
LEFTOVER = "leftover"
#: Columns an ok catalog row must agree on with the store.
_COMPARED = ("object", "frames", "sha256", "source_path", "source_format")
EXPORTS = "exports"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the store: where, what, and how to repair it."""

    kind: str  # damaged, inconsistent or leftover
    path: str
    what: str
    repair: str
    fix: tuple[str, ...] | None = None  # what repair_store does about it; None: nothing

    def line(self) -> str:
        return f"{self.kind}: {self.path}: {self.what}"


@dataclass
class VerifyReport:
    """What :func:`verify_store` found."""

    store: Path
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.problems

    def summary_line(self) -> str:
        """One line: the first problem and how many more."""
        if not self.problems:
            return f"{self.store}: no problems found"
        first = self.problems[0]
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return (
            f"{first.path}: {first.what}{more}; "
            f"run `intermimic verify --store {self.store}` for what to do"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "store": str(self.store),
            "clean": self.clean,
            "checked": self.checked,
            "problems": [asdict(p) for p in self.problems],
            "notes": self.notes,
        }


# ---- verification ---------------------------------------------------------------------------


def is_refined(dataset: str) -> bool:
    """Refined data (``<dataset>-refined``, ``-refined-<embodiment>``) has no catalog rows."""
    return dataset.endswith(REFINED_SUFFIX) or f"{REFINED_SUFFIX}-" in dataset


def _lock_free(path: Path) -> bool:
    """Whether nobody holds the lock at ``path`` now (a writer alive holds it)."""
    if not path.parent.is_dir():
        return True
    held = lock(path, timeout=0)
    try:
        held.acquire(timeout=0)
    except TimeoutError:
        return False
    held.release()
    return True


def leftovers_in(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp-*")) if folder.is_dir() else []


class _Verifier:
    def __init__(self, store: Store, deep: bool) -> None:
        self.store = store
        self.deep = deep
        self.report = VerifyReport(store.root)
        self.damaged_subjects: set[tuple[str, str]] = set()
        self.catalog: pd.DataFrame | None = None

    def add(
        self, kind: str, path: Path | str, what: str, repair: str, fix: tuple[str, ...] | None
    ) -> None:
        self.report.problems.append(Problem(kind, str(path), what, repair, fix))

    # -- layout and tables --
    def layout(self) -> None:
        st = self.store
        path = st.layout.manifest
        if not path.exists():
            if any(st.root.iterdir()):
                self.add(DAMAGED, path, "missing store manifest", "--repair writes it",
                         ("manifest",))  # fmt: skip
            return
        try:
            version = st.read_manifest().get("layout_version")
        except StoreDamagedError as exc:
            self.add(DAMAGED, path, exc.reason.split(";")[0], "--repair writes it again",
                     ("manifest",))  # fmt: skip
            return
        if version != LAYOUT_VERSION:
            what = f"layout version {version!r}, this code reads {LAYOUT_VERSION}"
            self.add(DAMAGED, path, what, "open the store with the code that wrote it", None)

    def tables(self) -> None:
        import pyarrow.parquet as pq

        st = self.store
        how = {
            st.layout.clips_table.name: "--repair sets it aside and rebuilds the ok rows from "
            "the store (its reject rows are lost)",
            st.layout.figures_table.name: "--repair sets it aside; run `intermimic annotate` "
            "(and refine) again to measure the figures",
            VERSIONS_TABLE: "--repair rebuilds it from the versions' manifests",
            VERSION_CLIPS_TABLE: "--repair rebuilds it from the versions' manifests",
        }
        for path in st.catalog_tables():
            try:
                pq.read_table(path)
            except Exception as exc:  # any failure to read is damage
                what = f"unreadable catalog table ({type(exc).__name__})"
                self.add(DAMAGED, path, what, how.get(path.name, "--repair sets it aside"),
                         ("table", str(path)))  # fmt: skip
                continue
            self.report.checked["tables"] = self.report.checked.get("tables", 0) + 1
        if st.layout.clips_table.exists() and not any(
            p.path == str(st.layout.clips_table) for p in self.report.problems
        ):
            try:
                self.catalog = Catalog(st.root).clips()
            except Exception as exc:  # reads, but not as a catalog
                self.add(DAMAGED, st.layout.clips_table, f"not a catalog table "
                         f"({type(exc).__name__})", how[st.layout.clips_table.name],
                         ("table", str(st.layout.clips_table)))  # fmt: skip
        if leftovers_in(st.layout.catalog_dir) and _lock_free(st.layout.catalog_lock):
            for p in leftovers_in(st.layout.catalog_dir):
                self.add(LEFTOVER, p, "temporary file of a catalog writer that died",
                         "--repair removes it", ("catalog_temps",))  # fmt: skip

    # -- subjects --
    def subject_dirs(self, wanted: set[tuple[str, str]] | None) -> list[tuple[str, str, Path]]:
        mocap = self.store.layout.mocap
        out = []
        if mocap.is_dir():
            for ds in sorted(p for p in mocap.iterdir() if p.is_dir()):
                for sd in sorted(p for p in ds.iterdir() if p.is_dir()):
                    if wanted is None or (ds.name, sd.name) in wanted:
                        out.append((ds.name, sd.name, sd))
        return out

    def subject(self, ds: str, subj: str, sdir: Path) -> None:
        st = self.store
        lock_path = st.layout.subject_lock(ds, subj)
        temps = leftovers_in(sdir)
        if temps and _lock_free(lock_path):
            for p in temps:
                self.add(LEFTOVER, p, "staging left by a writer that died",
                         "--repair removes it", ("subject_temps", ds, subj))  # fmt: skip
        gens = sorted(sdir.glob("g-*.zarr"))
        if not (sdir / CURRENT).exists():
            if gens and _lock_free(lock_path):
                self.add(INCONSISTENT, sdir, f"{len(gens)} generation(s) but no {CURRENT} "
                         "(a write that died before it was switched to)",
                         "--repair adopts the newest whole generation, or run the ingest "
                         "again", ("adopt", ds, subj))  # fmt: skip
            return
        reingest = (
            "--repair rewrites the subject: whole clips from the store, the others from their "
            "source files when unchanged"
            if not is_refined(ds)
            else f"run `intermimic refine` for subject {subj} again"
        )
        try:
            path = st.generation_path(ds, subj)
        except StoreDamagedError as exc:
            self.damaged_subjects.add((ds, subj))
            self.add(DAMAGED, exc.path or sdir / CURRENT, exc.reason.split(";")[0], reingest,
                     ("subject", ds, subj))  # fmt: skip
            return
        assert path is not None
        if not path.is_dir():
            self.damaged_subjects.add((ds, subj))
            self.add(DAMAGED, path, f"missing: {CURRENT} names it", reingest,
                     ("subject", ds, subj))  # fmt: skip
            return
        problems = generation_problems(path, deep=self.deep)
        self.report.checked["generations"] = self.report.checked.get("generations", 0) + 1
        for file, what in problems:
            self.add(DAMAGED, file, what.split("; run")[0], reingest, ("subject", ds, subj))
        if problems:
            self.damaged_subjects.add((ds, subj))
            return
        g = st.open_subject(ds, subj)
        if not has_checksums(g):
            self.report.notes.append(
                f"{path}: written before checksums were kept (chunks not verified); "
                "ingesting a changed clip of the subject writes a generation with them"
            )

    # -- catalog vs store --
    def catalog_vs_store(self, wanted: set[tuple[str, str]] | None) -> None:
        if self.catalog is None:
            return
        st = self.store
        cat = self.catalog
        ok = cat[cat["status"] == STATUS_OK]
        in_store = [
            (ds, subj)
            for ds, subj in st.subjects()
            if not is_refined(ds) and (wanted is None or (ds, subj) in wanted)
        ]
        by_subject: dict[tuple[str, str], pd.DataFrame] = {
            (str(d), str(s)): rows
            for (d, s), rows in ok.groupby(["dataset", "subject"], dropna=True)
        }
        clips_table = st.layout.clips_table
        for key in sorted(set(in_store) | {k for k in by_subject if not is_refined(k[0])}):
            if wanted is not None and key not in wanted:
                continue
            if key in self.damaged_subjects:
                continue
            ds, subj = key
            try:
                live = rows_table(live_rows(st, ds, subj))
            except StoreError:
                continue  # reported with the subject
            have = by_subject.get(key, ok.iloc[0:0])
            live_by = dict(zip(row_keys(live), live.itertuples(index=False), strict=True))
            have_by = dict(zip(row_keys(have), have.itertuples(index=False), strict=True))
            fix = ("reconcile", ds, subj)
            how = "--repair rebuilds the subject's catalog rows from the store"
            for k in sorted(set(live_by) - set(have_by)):
                self.add(INCONSISTENT, clips_table, f"no ok row for {ds}/{subj}/{k[2]}, "
                         "which the store holds", how, fix)  # fmt: skip
            for k in sorted(set(have_by) - set(live_by)):
                self.add(INCONSISTENT, clips_table, f"ok row for {ds}/{subj}/{k[2]}, "
                         "which the store does not hold", how, fix)  # fmt: skip
            for k in sorted(set(have_by) & set(live_by)):
                a, b = have_by[k], live_by[k]
                diff = [c for c in _COMPARED if _norm(getattr(a, c)) != _norm(getattr(b, c))]
                if diff:
                    self.add(INCONSISTENT, clips_table, f"row of {ds}/{subj}/{k[2]} differs "
                             f"from the store in {', '.join(diff)}", how, fix)  # fmt: skip

    # -- published versions --
    def versions(self) -> None:
        st = self.store
        root = versions_dir(st)
        if not root.is_dir():
            return
        if leftovers_in(root) and _lock_free(publish_lock_path(st)):
            for p in leftovers_in(root):
                self.add(LEFTOVER, p, "staging of a publisher that died",
                         "--repair removes it (so does the next publish)",
                         ("version_temps",))  # fmt: skip
        on_disk: dict[str, dict[str, Any] | None] = {}
        for vdir in sorted(p for p in root.glob("v-*") if p.is_dir()):
            vid = vdir.name
            self.report.checked["versions"] = self.report.checked.get("versions", 0) + 1
            republish = ("--repair republishes it when its inputs still give this version "
                         "id; else publish again")  # fmt: skip
            try:
                manifest = version_manifest_at(vdir)
            except StoreDamagedError as exc:
                on_disk[vid] = None
                self.add(DAMAGED, exc.path or vdir / MANIFEST, exc.reason.split(";")[0],
                         republish, ("republish", vid))  # fmt: skip
                continue
            on_disk[vid] = manifest
            problems = hoi_group_problems(vdir / DATA, deep=self.deep)
            for file, what in problems:
                self.add(DAMAGED, file, what.split("; run")[0], republish, ("republish", vid))
            if problems:
                continue
            try:
                self._manifest_matches(vdir, manifest, republish)
            except (StoreError, KeyError, TypeError, AttributeError) as exc:
                self.add(DAMAGED, vdir / DATA, f"clip index unreadable ({type(exc).__name__})",
                         republish, ("republish", vid))  # fmt: skip
        try:
            current = current_version(st)
        except StoreDamagedError as exc:
            self.add(DAMAGED, exc.path or root / CURRENT, exc.reason.split(";")[0],
                     "publish again, or write a version id into it", None)  # fmt: skip
            current = None
        if current is not None and current not in on_disk:
            self.add(DAMAGED, root / CURRENT, f"names {current}, which is not published here",
                     "publish again (`intermimic publish`)", None)  # fmt: skip
        self._version_tables(on_disk)

    def _manifest_matches(self, vdir: Path, manifest: dict[str, Any], how: str) -> None:
        from data_catalog.hoi_zarr import open_hoi_group

        attrs = open_hoi_group(vdir / DATA).attrs
        clips = cast(list[dict[str, Any]], attrs["clips"])
        data = [(c.get("subject"), c.get("clip_id"), c.get("length")) for c in clips]
        listed = [(c.get("subject"), c.get("clip"), c.get("frames")) for c in manifest["clips"]]
        if sorted(data, key=str) != sorted(listed, key=str):
            self.add(INCONSISTENT, vdir / MANIFEST, "lists other clips than data.zarr holds",
                     how, ("republish", vdir.name))  # fmt: skip
        if attrs.get("version") not in (None, vdir.name):
            self.add(INCONSISTENT, vdir / DATA, f"belongs to version {attrs.get('version')}",
                     how, ("republish", vdir.name))  # fmt: skip

    def _version_tables(self, on_disk: dict[str, dict[str, Any] | None]) -> None:
        st = self.store
        table = st.layout.catalog_dir / VERSIONS_TABLE
        if any(p.path == str(table) for p in self.report.problems):
            return
        rows = set(versions_table(st)["version"]) if table.exists() else set()
        for vid, manifest in on_disk.items():
            if manifest is not None and vid not in rows:
                self.add(INCONSISTENT, table, f"no row for version {vid}",
                         "--repair records it from its manifest (so does the next publish)",
                         ("record_version", vid))  # fmt: skip
        for vid in sorted(rows - set(on_disk)):
            self.add(INCONSISTENT, table, f"row for version {vid}, which is not on disk",
                     "publish again; the row stays as a record", None)  # fmt: skip

    # -- exports made into the store by the pipeline --
    def exports(self) -> None:
        root = self.store.root / EXPORTS
        if not root.is_dir():
            return
        for p in sorted(root.rglob(".*.tmp-*")):
            if any(part.startswith(".") for part in p.relative_to(root).parts[:-1]):
                continue  # inside a staging folder
            if staging_alive(self.store, p):
                continue
            self.add(LEFTOVER, p, "staging of an export that died",
                     "--repair removes it (so does the next export to that folder)",
                     ("export_stagings", str(_export_target(p))))  # fmt: skip
        for record in sorted(root.rglob(EXPORT_JSON)):
            try:
                doc = json.loads(record.read_bytes())
                if not isinstance(doc, dict):
                    raise ValueError("not a JSON object")
            except (OSError, ValueError) as exc:
                self.add(DAMAGED, record, f"unreadable export record ({type(exc).__name__})",
                         "export that version again (`intermimic export`)", None)  # fmt: skip


def _export_target(staged: Path) -> Path:
    """The export folder a staging folder ``.<name>.tmp-<hex>`` belongs to."""
    return staged.parent / staged.name[1:].rsplit(".tmp-", 1)[0]


def _norm(v: object) -> object:
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def verify_store(
    store: Store | str | Path,
    *,
    deep: bool = True,
    subjects: Iterable[tuple[str, str]] | None = None,
) -> VerifyReport:
    """Everything wrong with the store at rest (see the module docstring).

    ``deep``: hash every chunk (else existence and size only). ``subjects``: only these
    ``(dataset, subject)`` pairs, with the layout and the catalog tables (no versions and
    exports). Raises :class:`StoreError` only when there is no store at all.
    """
    st = store if isinstance(store, Store) else Store(store)
    if not st.root.is_dir():
        raise StoreError(f"{st.root}: no such store")
    wanted = None if subjects is None else {(str(d), str(s)) for d, s in subjects}
    v = _Verifier(st, deep)
    v.layout()
    v.tables()
    for ds, subj, sdir in v.subject_dirs(wanted):
        v.subject(ds, subj, sdir)
    v.report.checked["subjects"] = len(v.subject_dirs(wanted))
    v.catalog_vs_store(wanted)
    if wanted is None:
        v.versions()
        v.exports()
    return v.report


# ---- repair ---------------------------------------------------------------------------------
