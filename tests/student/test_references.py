"""Reference clips of the student: refined clips, raw MoCap where a refined one is too short."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_catalog import Store
from intermimic.errors import InputError
from intermimic.motion.synthetic import synthetic_clip
from intermimic.objects import ObjectLibrary
from stages.student import reference_groups


def _store(root: Path) -> Store:
    store = Store(root)
    raw = [
        synthetic_clip("s1", "box", i, 30, seed=i, dataset="lab").with_meta(
            source_sha256=f"{i:064x}"
        )
        for i in range(2)
    ]
    store.upsert_clips("lab", "s1", raw)
    # clip 0 refined to the end; clip 1's teacher fell after 8 frames
    short = synthetic_clip("s1", "box", 1, 8, seed=1, dataset="lab-refined")
    store.upsert_clips("lab-refined", "s1", [raw[0].with_meta(dataset="lab-refined"), short])
    return store


def test_short_refined_clip_falls_back_to_raw(tmp_path: Path, objects: ObjectLibrary) -> None:
    store = _store(tmp_path / "store")
    pairs = [("lab", "s1")]
    groups, rejected, _ = reference_groups(store, pairs, "refined", objects, raw_fallback=True)
    clips = {c.meta.clip_id: c for g in groups for c in g.clips}
    assert sorted(clips) == ["s1_box_000", "s1_box_001"]
    assert clips["s1_box_000"].meta.dataset == "lab-refined"
    assert clips["s1_box_001"].meta.dataset == "lab" and clips["s1_box_001"].n_frames == 30
    assert "replaced by the raw MoCap" in rejected["lab-refined/s1_box_001"]

    groups, rejected, _ = reference_groups(store, pairs, "refined", objects, raw_fallback=False)
    assert [c.meta.clip_id for g in groups for c in g.clips] == ["s1_box_000"]
    assert "replaced" not in rejected["lab-refined/s1_box_001"]


def test_no_trackable_reference_is_a_clear_error(tmp_path: Path, objects: ObjectLibrary) -> None:
    store = Store(tmp_path / "store")
    store.upsert_clips("lab", "s1", [synthetic_clip("s1", "box", 0, 8, seed=0, dataset="lab")])
    with pytest.raises(InputError, match="no clips a student can track.*8 frames"):
        reference_groups(store, [("lab", "s1")], "raw", objects)
