"""Derived per-frame series in the subject's group, and per-clip figures in the catalog."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_catalog import Catalog, Store
from intermimic.errors import StoreError
from intermimic.motion.synthetic import write_synthetic_dataset
from stages import ingest


@pytest.fixture
def store(tmp_path: Path) -> Store:
    write_synthetic_dataset(tmp_path / "src", subjects=("s1",), clips_per_subject=3)
    ingest([tmp_path / "src"], tmp_path / "st")
    return Store(tmp_path / "st")


def _series(store: Store, clip: str, value: float) -> dict[str, np.ndarray]:
    n = store.find_clip(clip).n_frames
    return {"labels": np.full((n, 52), 1, np.int8), "gap": np.full(n, value, np.float32)}


def test_series_aligned_with_clips_and_old_generation_untouched(store: Store) -> None:
    before = store.generation_path("default", "s1")
    body_before = store.read_clip("default", "s1", "s1_box_001").body_pos
    per_clip = {
        "s1_box_000": _series(store, "s1_box_000", 0.5),
        "s1_box_002": _series(store, "s1_box_002", 2.0),
    }
    store.write_series("default", "s1", "contact_intents", per_clip, attrs={"settings": {"k": 1}})
    after = store.generation_path("default", "s1")
    assert after != before
    assert store.series_groups("default", "s1") == ["contact_intents"]
    got = store.read_series("default", "s1", "contact_intents", "s1_box_002")
    assert got["gap"].shape == (store.find_clip("s1_box_002").n_frames,)
    assert (got["gap"] == 2.0).all() and (got["labels"] == 1).all()
    missing = store.read_series("default", "s1", "contact_intents", "s1_box_001")
    assert np.isnan(missing["gap"]).all() and (missing["labels"] == 0).all()
    attrs = store.series_attrs("default", "s1", "contact_intents")
    assert attrs["clips"] == ["s1_box_000", "s1_box_002"] and attrs["settings"] == {"k": 1}
    # MoCap arrays identical, and hard-linked rather than copied
    np.testing.assert_array_equal(
        store.read_clip("default", "s1", "s1_box_001").body_pos, body_before
    )
    chunk_old = next((before / "body_pos").rglob("c/*/*/*"))
    chunk_new = after / chunk_old.relative_to(before)
    assert chunk_old.stat().st_ino == chunk_new.stat().st_ino
    # the previous generation still reads as it was (no derived group)
    import zarr

    assert "contact_intents" not in zarr.open_group(str(before), mode="r")


def test_rewriting_a_group_replaces_it(store: Store) -> None:
    store.write_series("default", "s1", "g", {"s1_box_000": _series(store, "s1_box_000", 1.0)})
    store.write_series("default", "s1", "g", {"s1_box_001": _series(store, "s1_box_001", 3.0)})
    assert store.series_attrs("default", "s1", "g")["clips"] == ["s1_box_001"]
    assert np.isnan(store.read_series("default", "s1", "g", "s1_box_000")["gap"]).all()


def test_bad_series_rejected(store: Store) -> None:
    with pytest.raises(StoreError, match="frames"):
        store.write_series("default", "s1", "g", {"s1_box_000": {"gap": np.zeros(3)}})
    with pytest.raises(StoreError, match="no clip"):
        store.write_series("default", "s1", "g", {"nope": {"gap": np.zeros(3)}})
    with pytest.raises(StoreError, match="shadow"):
        store.write_series("default", "s1", "body_pos", {})
    with pytest.raises(StoreError, match="no 'other' series"):
        store.read_series("default", "s1", "other")


def test_figures_by_stage(tmp_path: Path) -> None:
    cat = Catalog(tmp_path)
    cat.upsert_figures(
        "d", "s1", "raw", {"c1": {"penetration": 0.02, "jitter": 1.0}, "c2": {"penetration": 0.0}}
    )
    cat.upsert_figures("d", "s1", "refined", {"c1": {"penetration": 0.001}})
    cat.upsert_figures("d", "s1", "raw", {"c1": {"penetration": 0.03}})  # replaces c1's raw figures
    raw = cat.figures_wide("raw").set_index("clip")
    assert raw.loc["c1", "penetration"] == pytest.approx(0.03)
    assert "jitter" not in raw.columns and raw.loc["c2", "penetration"] == 0.0
    assert cat.figures("refined")["value"].tolist() == [pytest.approx(0.001)]
