"""The catalog is a view of the store: it heals from the live generations, and it is
keyed by dataset, subject and clip."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import data_catalog.catalog as catalog_mod
from data_catalog import Catalog, CatalogRow, Store
from data_catalog.catalog import STATUS_REJECTED
from data_catalog.reconcile import ReconcileReport, reconcile_catalog
from intermimic.motion.corrupt import corrupt
from intermimic.motion.formats import get_format
from intermimic.motion.formats.npz import write_npz
from intermimic.motion.synthetic import synthetic_clip, write_synthetic_dataset
from stages import ingest

ingest_mod = importlib.import_module(
    "stages.ingest"
)  # the module: ``stages.ingest`` is the function


def _store_view(root: Path) -> set[tuple]:
    store = Store(root)
    return {(e.dataset, e.subject, e.clip_id, e.sha256, e.length) for e in store.entries()}


def _catalog_view(root: Path) -> set[tuple]:
    ok = Catalog(root).ok_clips()
    return set(
        zip(ok["dataset"], ok["subject"], ok["clip"], ok["sha256"], ok["frames"], strict=True)
    )


def _consistent(root: Path) -> None:
    assert _catalog_view(root) == _store_view(root)
    ok = Catalog(root).ok_clips()
    assert ok["source_path"].str.len().gt(0).all()
    assert not ok.duplicated(["dataset", "subject", "clip"]).any()


@pytest.fixture
def src(tmp_path: Path) -> Path:
    write_synthetic_dataset(tmp_path / "src", subjects=("s1", "s2"), clips_per_subject=2)
    return tmp_path / "src"


def test_deleted_catalog_heals_on_reingest(src: Path, tmp_path: Path) -> None:
    """Issue item 2: after clips.parquet is deleted a re-ingest said "unchanged" and the
    catalog stayed empty for good."""
    root = tmp_path / "st"
    ingest([src], root)
    before = Catalog(root).ok_clips()
    (root / "catalog" / "clips.parquet").unlink()
    report = ingest([src], root)
    assert report.ingested == [] and len(report.unchanged) == 4
    assert report.catalog is not None and len(report.catalog.added) == 4
    _consistent(root)
    after = Catalog(root).ok_clips()
    cols = ["dataset", "subject", "clip", "object", "frames", "source_path", "sha256"]
    pd.testing.assert_frame_equal(before[cols], after[cols])


def test_deleted_catalog_heals_on_the_sample(sample_raw: Path, tmp_path: Path) -> None:
    root = tmp_path / "st"
    ingest([sample_raw], root)
    (root / "catalog" / "clips.parquet").unlink()
    report = ingest([sample_raw], root)
    assert len(report.unchanged) == 27 and not report.ingested
    assert len(Catalog(root).ok_clips()) == 27
    _consistent(root)


def test_stale_rows_heal(src: Path, tmp_path: Path) -> None:
    root = tmp_path / "st"
    ingest([src], root)
    path = root / "catalog" / "clips.parquet"
    df = pd.read_parquet(path)
    stamp = df.loc[df["clip"] == "s1_box_001", "ingested_at"].iloc[0]
    df.loc[df["clip"] == "s1_box_000", "sha256"] = "0" * 64
    df.loc[df["clip"] == "s2_box_000", "source_path"] = "/gone/s2_box_000.pt"
    df.loc[df["clip"] == "s2_box_001", "frames"] = 1
    extra = df[df["clip"] == "s1_box_000"].assign(clip="s1_box_404")  # not in the store
    pd.concat([df, extra]).to_parquet(path, index=False)
    report = ingest([src], root)
    assert report.ingested == []
    rec = report.catalog
    assert rec is not None
    assert {k[2] for k in rec.updated} == {"s1_box_000", "s2_box_000", "s2_box_001"}
    assert rec.removed == (("default", "s1", "s1_box_404"),)
    _consistent(root)
    ok = Catalog(root).ok_clips().set_index("clip")
    assert ok.loc["s2_box_000", "source_path"] == str(src / "s2_box_000.pt")
    assert ok.loc["s1_box_001", "ingested_at"] == stamp  # rows that agree are kept as is


class Killed(BaseException):
    """A writer killed at this point (not an Exception: nothing catches it)."""


def test_ingest_killed_before_the_catalog_heals(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "st"
    ingest([src / "s1_box_000.pt"], root)

    def die(*_: object, **__: object) -> None:
        raise Killed

    with monkeypatch.context() as m:  # killed after the data, before the catalog
        m.setattr(ingest_mod, "reconcile_catalog", die)
        with pytest.raises(Killed):
            ingest([src], root)
    assert len(_store_view(root)) == 4 and len(_catalog_view(root)) == 1
    with monkeypatch.context() as m:  # killed while the catalog is written
        m.setattr(catalog_mod, "write_bytes_atomic", die)
        with pytest.raises(Killed):
            ingest([src], root)
    assert len(_catalog_view(root)) == 1
    report = ingest([src], root)
    assert len(report.unchanged) == 4
    _consistent(root)


def test_same_clip_id_under_two_subjects_keeps_both_rows(tmp_path: Path) -> None:
    """Issue item 5: an npz of sub9 whose clip id is sub2's replaced sub2's catalog row."""
    (tmp_path / "pt").mkdir()
    sub2 = synthetic_clip("sub2", "largetable", 0, n_frames=40, seed=1)
    get_format("interact-pt").write(sub2, tmp_path / "pt" / "sub2_largetable_000.pt")
    root = tmp_path / "st"
    ingest([tmp_path / "pt"], root)
    sub9 = synthetic_clip("sub9", "largetable", 0, n_frames=50, seed=2)
    write_npz(sub9.with_meta(clip_id="sub2_largetable_000"), tmp_path / "sub9.npz")
    report = ingest([tmp_path / "sub9.npz"], root)
    assert [c.meta.subject for c in report.ingested] == ["sub9"]
    ok = Catalog(root).ok_clips()
    assert sorted(zip(ok["subject"], ok["clip"], ok["frames"], strict=True)) == [
        ("sub2", "sub2_largetable_000", 40),
        ("sub9", "sub2_largetable_000", 50),
    ]
    _consistent(root)
    again = ingest([tmp_path / "pt", tmp_path / "sub9.npz"], root)  # stable both ways
    assert again.ingested == [] and len(again.unchanged) == 2
    _consistent(root)


def test_reconcile_everything_drops_rows_the_store_lost_keeps_rejects(
    src: Path, tmp_path: Path
) -> None:
    root = tmp_path / "st"
    bad = corrupt("nan", src / "s1_box_000.pt", tmp_path / "bad")
    ingest([src, bad], root)
    assert len(Catalog(root).rejects()) == 1
    shutil.rmtree(root / "mocap" / "default" / "s2")  # a subject gone from the store
    report = reconcile_catalog(Store(root))
    assert isinstance(report, ReconcileReport)
    assert {k[1] for k in report.removed} == {"s2"} and len(report.removed) == 2
    assert report.unchanged == 2 and not report.added and not report.updated
    assert len(Catalog(root).rejects()) == 1
    _consistent(root)
    again = reconcile_catalog(Store(root))
    assert not again.changed and again.unchanged == 2


def test_reconcile_only_the_subjects_named(src: Path, tmp_path: Path) -> None:
    root = tmp_path / "st"
    ingest([src], root)
    (root / "catalog" / "clips.parquet").unlink()
    rec = reconcile_catalog(Store(root), [("default", "s2")])
    assert rec.subjects == (("default", "s2"),) and len(rec.added) == 2
    assert set(Catalog(root).ok_clips()["subject"]) == {"s2"}
    rec = reconcile_catalog(Store(root), [("default", "nobody")])  # not in the store
    assert not rec.changed
    reconcile_catalog(Store(root), None)
    _consistent(root)


def test_fixed_file_resolves_its_reject(src: Path, tmp_path: Path) -> None:
    root = tmp_path / "st"
    good = src / "s1_box_001.pt"
    data = good.read_bytes()
    good.write_bytes(data[:100])
    ingest([src], root)
    assert Catalog(root).rejects()["clip"].tolist() == ["s1_box_001"]
    good.write_bytes(data)
    ingest([src], root)
    assert Catalog(root).rejects().empty
    _consistent(root)


def test_reject_of_a_stored_clip_keeps_its_ok_row(src: Path, tmp_path: Path) -> None:
    """A bad new version is rejected; the stored clip and its ok row stay."""
    root = tmp_path / "st"
    ingest([src], root)
    p = src / "s1_box_000.pt"
    p.write_bytes(p.read_bytes()[:100])
    report = ingest([src], root)
    assert "stored version of this clip is kept" in report.rejected[0].reason
    cat = Catalog(root).clips()
    rows = cat[cat["clip"] == "s1_box_000"]
    assert sorted(rows["status"]) == ["ok", "rejected"]
    _consistent(root)


def test_upsert_keys_by_subject_too(tmp_path: Path) -> None:
    cat = Catalog(tmp_path)
    row = dict(dataset="d", clip="c", status="ok", frames=3)
    cat.upsert([CatalogRow(subject="a", **row), CatalogRow(subject="b", **row)])
    cat.upsert([CatalogRow(subject="a", **{**row, "frames": 4})])
    cat.upsert([CatalogRow(dataset="d", clip="c", status=STATUS_REJECTED, reason="x")])
    df = cat.clips()
    assert sorted(zip(df["subject"].fillna("-"), df["frames"].fillna(0), strict=True)) == [
        ("-", 0),
        ("a", 4),
        ("b", 3),
    ]
    assert np.all(df["source_path"].notna())
