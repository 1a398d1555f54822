"""The catalog: a Parquet table (pandas) of every clip the store has seen.

One row per ``(dataset, subject, clip)`` and status: ok clips with their frames and
source, rejected files with the reason. Ok rows are a view of the store (see
:mod:`data_catalog.reconcile`, which rebuilds them from the subjects' live generations);
reject rows record what ingest refused. Updated under a lock and written atomically, so
concurrent ingests of different subjects never lose each other's rows.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from data_catalog.layout import Layout
from intermimic.atomic import lock, write_bytes_atomic
from intermimic.motion.names import safe_text

STATUS_OK = "ok"
STATUS_REJECTED = "rejected"


@dataclass(frozen=True)
class CatalogRow:
    """One clip (or rejected file) in the catalog."""

    dataset: str
    clip: str
    status: str
    subject: str | None = None
    object: str | None = None
    frames: int | None = None
    seconds: float | None = None
    source_path: str = ""
    sha256: str | None = None
    source_format: str | None = None
    reason: str | None = None
    ingested_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        # Paths and reasons may hold bytes that are not UTF-8 or control characters
        # (a file name is any bytes): escaped, so the table always writes and prints.
        for name in _TEXT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, safe_text(value))


_TEXT_FIELDS = ("dataset", "clip", "subject", "object", "source_path", "source_format", "reason")
#: A row's key: one ok row per clip of a subject, one reject row per rejected clip name.
KEY = ["dataset", "subject", "clip", "status"]


COLUMNS = [
    "dataset", "subject", "clip", "object", "frames", "seconds", "source_path",
    "sha256", "source_format", "status", "reason", "ingested_at",
]  # fmt: skip
_DTYPES = {
    "dataset": "string", "subject": "string", "clip": "string", "object": "string",
    "frames": "Int64", "seconds": "float64", "source_path": "string", "sha256": "string",
    "source_format": "string", "status": "string", "reason": "string",
}  # fmt: skip


FIGURE_COLUMNS = ["dataset", "subject", "clip", "stage", "figure", "value", "computed_at"]
_FIGURE_DTYPES = {
    "dataset": "string", "subject": "string", "clip": "string", "stage": "string",
    "figure": "string", "value": "float64",
}  # fmt: skip


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    df = df.reindex(columns=COLUMNS)
    df = df.astype(_DTYPES)
    df["ingested_at"] = pd.to_datetime(df["ingested_at"], utc=True)
    return df


def empty_table() -> pd.DataFrame:
    return _typed(pd.DataFrame(columns=COLUMNS))


def rows_table(rows: Iterable[CatalogRow]) -> pd.DataFrame:
    """A typed table of ``rows`` (the last of rows sharing a key wins)."""
    new = pd.DataFrame([asdict(r) for r in rows])
    if new.empty:
        return empty_table()
    new = _typed(new)
    return new.loc[~row_keys(new).duplicated(keep="last")].reset_index(drop=True)


def row_keys(df: pd.DataFrame) -> pd.MultiIndex:
    """Each row's :data:`KEY` (a missing subject as "")."""
    keys = df[KEY].astype(object).copy()
    keys["subject"] = keys["subject"].where(df["subject"].notna(), "")
    return pd.MultiIndex.from_frame(keys)


def replace_rows(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """``old`` with the rows that share a key with ``new`` replaced by ``new``'s."""
    if new.empty:
        return old
    keep = ~row_keys(old).isin(row_keys(new))
    return pd.concat([old[keep], new], ignore_index=True) if keep.any() else new


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    if len(a) != len(b):
        return False
    try:
        pd.testing.assert_frame_equal(
            a.reset_index(drop=True), b.reset_index(drop=True), check_dtype=False
        )
    except AssertionError:
        return False
    return True


class Catalog:
    """The catalog of the store at ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.layout = Layout(root)

    def clips(self) -> pd.DataFrame:
        """Every row, sorted by dataset, subject and clip (an empty, typed table if none)."""
        path = self.layout.clips_table
        if not path.exists():
            return empty_table()
        return _typed(pd.read_parquet(path))

    def ok_clips(self) -> pd.DataFrame:
        df = self.clips()
        return df[df["status"] == STATUS_OK].reset_index(drop=True)

    def rejects(self) -> pd.DataFrame:
        df = self.clips()
        return df[df["status"] == STATUS_REJECTED].reset_index(drop=True)

    def update(self, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> pd.DataFrame:
        """Read, ``edit`` and write the table under the catalog lock (one atomic rewrite,
        skipped when nothing changed); returns the table as written."""
        with lock(self.layout.catalog_lock):
            old = self.clips()
            table = _typed(edit(old.copy()))
            table = table.sort_values(["dataset", "subject", "clip", "status"], na_position="last")
            table = table.reset_index(drop=True)
            if not _same(old, table):
                buf = io.BytesIO()
                table.to_parquet(buf, index=False)
                write_bytes_atomic(self.layout.clips_table, buf.getvalue())
            return table

    def upsert(self, rows: Iterable[CatalogRow]) -> None:
        """Insert or replace rows keyed by ``(dataset, subject, clip, status)``."""
        new = rows_table(rows)
        if new.empty:
            return
        self.update(lambda old: replace_rows(old, new))

    def record_rejects(
        self,
        rows: Iterable[CatalogRow],
        *,
        resolved: Iterable[tuple[str, str, str]] = (),
        resolved_paths: Iterable[str] = (),
    ) -> None:
        """Upsert reject rows; drop earlier reject rows that are resolved: those of clips
        ``(dataset, subject, clip)`` that ingested fine since (a reject that names no
        subject matches any), and those of source files that now read fine."""
        new = rows_table(rows)
        done = {(d, s, c) for d, s, c in resolved}
        done_any = {(d, c) for d, _, c in done}
        paths = {safe_text(p) for p in resolved_paths}

        def edit(old: pd.DataFrame) -> pd.DataFrame:
            rej = old["status"] == STATUS_REJECTED
            subj = old["subject"].fillna("")
            hit = [
                (d, s, c) in done or (s == "" and (d, c) in done_any)
                for d, s, c in zip(old["dataset"], subj, old["clip"], strict=True)
            ]
            stale = rej & (
                pd.Series(hit, index=old.index, dtype=bool) | old["source_path"].isin(paths)
            )
            kept = old[~stale]
            return replace_rows(kept, new) if not new.empty else kept

        self.update(edit)

    # ---- per-clip quality figures (artifact reports, tracking metrics) -----------------
    def figures(self, stage: str | None = None) -> pd.DataFrame:
        """Long table of figures: dataset, subject, clip, stage, figure, value, computed_at."""
        path = self.layout.figures_table
        df = pd.read_parquet(path) if path.exists() else pd.DataFrame(columns=FIGURE_COLUMNS)
        df = df.reindex(columns=FIGURE_COLUMNS).astype(_FIGURE_DTYPES)
        df["computed_at"] = pd.to_datetime(df["computed_at"], utc=True)
        return df if stage is None else df[df["stage"] == stage].reset_index(drop=True)

    def figures_wide(self, stage: str) -> pd.DataFrame:
        """One row per clip of ``stage``, one column per figure."""
        df = self.figures(stage)
        return df.pivot_table(
            index=["dataset", "subject", "clip"], columns="figure", values="value", aggfunc="last"
        ).reset_index()

    def upsert_figures(
        self, dataset: str, subject: str, stage: str, per_clip: Mapping[str, Mapping[str, float]]
    ) -> None:
        """Replace the ``stage`` figures of these clips (other clips and stages stay)."""
        now = datetime.now(UTC)
        new = pd.DataFrame(
            [
                (dataset, subject, clip, stage, name, float(value), now)
                for clip, figs in per_clip.items()
                for name, value in figs.items()
            ],
            columns=FIGURE_COLUMNS,
        )
        with lock(self.layout.catalog_lock):
            old = self.figures()
            drop = (
                (old["dataset"] == dataset)
                & (old["stage"] == stage)
                & old["clip"].isin(list(per_clip))
            )
            table = pd.concat([old[~drop], new.astype(_FIGURE_DTYPES)], ignore_index=True)
            buf = io.BytesIO()
            table.to_parquet(buf, index=False)
            write_bytes_atomic(self.layout.figures_table, buf.getvalue())

    def find_sha256(self, sha256: str) -> pd.DataFrame:
        """Ok rows whose source had this content hash."""
        df = self.ok_clips()
        return df[df["sha256"] == sha256]
