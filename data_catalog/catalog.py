"""The catalog: a Parquet table (pandas) of every clip the store has seen.

One row per ``(dataset, clip)``: ok clips with their frames and source, rejected files
with the reason. Updated under a lock and written atomically, so concurrent ingests of
different subjects never lose each other's rows.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from data_catalog.layout import Layout
from intermimic.atomic import lock, write_bytes_atomic

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

    def upsert(self, rows: Iterable[CatalogRow]) -> None:
        """Insert or replace rows keyed by ``(dataset, clip)``; one atomic rewrite."""
        new = pd.DataFrame([asdict(r) for r in rows])
        if new.empty:
            return
        with lock(self.layout.catalog_lock):
            old = self.clips()
            new = _typed(new).drop_duplicates(["dataset", "clip"], keep="last")
            keys = pd.MultiIndex.from_frame(new[["dataset", "clip"]])
            keep = ~pd.MultiIndex.from_frame(old[["dataset", "clip"]]).isin(keys)
            table = pd.concat([old[keep], new], ignore_index=True) if keep.any() else new
            table = table.sort_values(["dataset", "subject", "clip"], na_position="last")
            buf = io.BytesIO()
            table.reset_index(drop=True).to_parquet(buf, index=False)
            write_bytes_atomic(self.layout.clips_table, buf.getvalue())

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
