"""The catalog as a view of the store: its ok rows rebuilt from the live generations.

The store is the truth: each subject's live generation (``CURRENT``) holds the clip
index with every clip's source path, hash and length. The catalog's ok rows are derived
from it, so a catalog that was deleted, is stale (old hash or source path), or missed a
write (an ingest killed between the data and the catalog) heals on the next
:func:`reconcile_catalog`, which every ingest runs for the subjects it touched. Reject
rows are not derived from the store and are kept as they are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from data_catalog.catalog import (
    STATUS_OK,
    Catalog,
    CatalogRow,
    replace_rows,
    row_keys,
    rows_table,
)
from data_catalog.store import Store

#: Columns an ok row must agree on with the store to be left as it is.
_COMPARED = ("object", "frames", "sha256", "source_path", "source_format")

ClipKey = tuple[str, str, str]  # dataset, subject, clip


@dataclass(frozen=True)
class ReconcileReport:
    """What :func:`reconcile_catalog` changed in the catalog's ok rows."""

    subjects: tuple[tuple[str, str], ...]
    added: tuple[ClipKey, ...] = ()  # in the store, missing from the catalog
    updated: tuple[ClipKey, ...] = ()  # in both, the catalog's row was stale
    removed: tuple[ClipKey, ...] = ()  # ok in the catalog, no longer in the store
    unchanged: int = 0
    rows: int = 0  # rows in the catalog afterwards (ok and rejected)
    details: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def summary(self) -> dict[str, int]:
        return {
            "subjects": len(self.subjects),
            "added": len(self.added),
            "updated": len(self.updated),
            "removed": len(self.removed),
            "unchanged": self.unchanged,
        }


def live_rows(store: Store, dataset: str, subject: str) -> list[CatalogRow]:
    """The ok rows the subject's live generation implies (none when it has none)."""
    if store.generation_path(dataset, subject) is None:
        return []
    entries = store.index(dataset, subject)
    attrs: dict[str, Any] = dict(store.open_subject(dataset, subject).attrs)
    clips = attrs.get("clips")
    meta = {c.get("clip_id"): c for c in clips or [] if isinstance(c, dict)}
    subject_fps = attrs.get("fps")
    rows = []
    for e in entries:
        m = meta.get(e.clip_id, {})
        raw_fps = m.get("fps", subject_fps)
        fps = float(raw_fps) if isinstance(raw_fps, int | float) else math.nan
        ok_fps = math.isfinite(fps) and fps > 0
        rows.append(
            CatalogRow(
                dataset=dataset,
                clip=e.clip_id,
                status=STATUS_OK,
                subject=subject,
                object=e.object_name,
                frames=int(e.length),
                seconds=e.length / fps if ok_fps else None,
                source_path=str(m.get("source_path") or ""),
                sha256=e.sha256 or None,
                source_format=m.get("source_format") or None,
            )
        )
    return rows


def _norm(v: object) -> object:
    return None if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else v


def reconcile_catalog(
    store: Store, subjects: Iterable[tuple[str, str]] | None = None
) -> ReconcileReport:
    """Make the catalog's ok rows of ``subjects`` match the store's live generations.

    ``subjects``: ``(dataset, subject)`` pairs; None means every subject, those in the
    store and those the catalog has ok rows of (a subject gone from the store loses its
    rows). For each, rows missing from the catalog are added, stale rows (another hash,
    source path, length, object or format) replaced, and ok rows of clips the store no
    longer holds dropped; rows that agree keep their ``ingested_at``. Reject rows stay.
    The store is read under the catalog lock, so of two concurrent reconciles the later
    one reads the later generation.
    """
    catalog = Catalog(store.root)
    wanted = None if subjects is None else sorted({(str(d), str(s)) for d, s in subjects})
    result: dict[str, Any] = {}

    def edit(old: pd.DataFrame) -> pd.DataFrame:
        old = old.loc[~row_keys(old).duplicated(keep="last")]
        ok = old["status"] == STATUS_OK
        if wanted is None:
            in_catalog = {
                (d, s)
                for d, s in zip(old.loc[ok, "dataset"], old.loc[ok, "subject"], strict=True)
                if isinstance(s, str)
            }
            scope = sorted(set(store.subjects()) | in_catalog)
            mine = ok.copy()  # every ok row is in scope, also those without a subject
        else:
            scope = wanted
            pairs = set(scope)
            mine = ok & pd.Series(
                [
                    (d, s) in pairs
                    for d, s in zip(old["dataset"], old["subject"].fillna(""), strict=True)
                ],
                index=old.index,
                dtype=bool,
            )
        live = rows_table(r for d, s in scope for r in live_rows(store, d, s))
        current = old[mine]
        cur_by_key = dict(zip(row_keys(current), current.itertuples(index=False), strict=True))
        live_by_key = dict(zip(row_keys(live), live.itertuples(index=False), strict=True))
        added, updated, keep_old = [], [], []
        for key, row in live_by_key.items():
            have = cur_by_key.get(key)
            if have is None:
                added.append(key[:3])
            elif any(_norm(getattr(have, c)) != _norm(getattr(row, c)) for c in _COMPARED):
                updated.append(key[:3])
            else:
                keep_old.append(key)
        removed = [k[:3] for k in cur_by_key if k not in live_by_key]
        result.update(
            subjects=tuple(scope),
            added=tuple(sorted(added)),
            updated=tuple(sorted(updated)),
            removed=tuple(sorted(removed)),
            unchanged=len(keep_old),
        )
        # rows that agree are kept as they are (their ingested_at too)
        fresh = live[~row_keys(live).isin(keep_old)] if keep_old else live
        return replace_rows(old[~mine | row_keys(old).isin(keep_old)], fresh)

    table = catalog.update(edit)
    return ReconcileReport(rows=len(table), **result)
