"""Batch ingestion on synthetic clips and every kind of bad file."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from data_catalog import Catalog, Store
from intermimic.errors import UnsafeNameError
from intermimic.motion.corrupt import KINDS, MARKER, corrupt
from intermimic.motion.formats import get_format
from intermimic.motion.settings import IngestSettings
from intermimic.motion.synthetic import synthetic_clip, write_synthetic_dataset
from stages import ingest

EXPECTED_REASON = {
    "truncated": "not a readable torch file",
    "empty": "empty file",
    "not_a_tensor": "expected one tensor",
    "wrong_width": "width 590, expected 591",
    "rank1": "rank 1",
    "rank3": "rank 3",
    "integer_dtype": "expected floating point",
    "nan": "NaN",
    "inf": "Inf",
    "zero_quaternion": "root_quat",
    "zero_object_quaternion": "obj_quat",
    "bad_body_quaternion": "body_quat",
    "contact_label_2": "outside",
    "one_frame": "1 frame",
    "duplicate": "same content",
    "unreadable": "permission denied",
    "malicious_pickle": "refused to unpickle",
    "bad_name": "does not parse",
}


@contextmanager
def as_nobody_if_root(*dirs: Path) -> Iterator[None]:
    """Root reads any file, so permissions are only real under another user."""
    if os.geteuid() != 0:
        yield
        return
    for d in dirs:
        for p in [d, *d.rglob("*")]:
            if p.is_dir():
                os.chmod(p, 0o777)
            elif os.stat(p).st_mode & 0o777:
                os.chmod(p, 0o666)
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


@pytest.fixture
def world() -> Iterator[Path]:
    # Not pytest's tmp_path: its parents are private to root, and one test runs as nobody.
    d = Path(tempfile.mkdtemp(prefix="intermimic-test-"))
    os.chmod(d, 0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_every_bad_kind_rejected_batch_goes_on(world: Path) -> None:
    good = write_synthetic_dataset(world / "good", subjects=("s1", "s2"), clips_per_subject=2)
    assert set(KINDS) == set(EXPECTED_REASON)
    bad = {kind: corrupt(kind, good[0], world / "bad") for kind in KINDS}
    with as_nobody_if_root(world):
        report = ingest([world / "good", world / "bad"], world / "store")
    assert not (world / "bad" / MARKER).exists(), "the malicious pickle ran code"
    assert len(report.ingested) == 4 and report.frames == sum(c.n_frames for c in report.ingested)
    by_path = {r.path: r for r in report.rejected}
    assert len(by_path) == len(KINDS)
    for kind, path in bad.items():
        assert EXPECTED_REASON[kind] in by_path[str(path)].reason, (kind, by_path[str(path)])
    cat = Catalog(world / "store")
    assert len(cat.ok_clips()) == 4
    rejects = cat.rejects()
    assert len(rejects) == len(KINDS)
    assert set(rejects["source_path"]) == {str(p) for p in bad.values()}
    assert rejects["reason"].notna().all()
    # good data is all there
    store = Store(world / "store")
    assert store.subjects() == [("default", "s1"), ("default", "s2")]
    assert [e.clip_id for e in store.index("default", "s1")] == ["s1_box_000", "s1_box_001"]


def test_store_holds_exact_values(tmp_path: Path) -> None:
    paths = write_synthetic_dataset(tmp_path / "src", subjects=("s1",), clips_per_subject=3)
    ingest([tmp_path / "src"], tmp_path / "st", IngestSettings(dataset="lab"))
    store = Store(tmp_path / "st")
    g = store.open_subject("lab", "s1")
    total = sum(e.length for e in store.index("lab", "s1"))
    assert g["body_quat"].shape == (total, 52, 4)
    assert g.attrs["fields"]["body_quat"]["quaternion_order"] == "wxyz"
    assert g["root_pos"].compressors[0].to_dict()["name"] == "zstd"
    for p in paths:
        want = get_format("interact-pt").decode(p.read_bytes(), p)
        got = store.find_clip(p.stem)
        np.testing.assert_array_equal(got.body_pos, want.arrays["body_pos"])
        assert got.meta.source_sha256 and got.meta.dataset == "lab"


def test_reingest_unchanged_changes_nothing(tmp_path: Path) -> None:
    write_synthetic_dataset(tmp_path / "src", subjects=("s1",), clips_per_subject=2)
    ingest([tmp_path / "src"], tmp_path / "st")
    snap = {
        p: p.stat().st_mtime_ns for p in (tmp_path / "st").rglob("*") if ".locks" not in p.parts
    }
    report = ingest([tmp_path / "src"], tmp_path / "st")
    assert report.ingested == [] and len(report.unchanged) == 2 and report.n_ok == 2
    after = {
        p: p.stat().st_mtime_ns for p in (tmp_path / "st").rglob("*") if ".locks" not in p.parts
    }
    assert after == snap


def test_changed_file_replaces_its_clip(tmp_path: Path) -> None:
    paths = write_synthetic_dataset(tmp_path / "src", subjects=("s1",), clips_per_subject=2)
    ingest([tmp_path / "src"], tmp_path / "st")
    store = Store(tmp_path / "st")
    first_gen = store.generation_path("default", "s1")
    changed = synthetic_clip("s1", "box", 1, n_frames=40, seed=99)
    get_format("interact-pt").write(changed, paths[1])
    report = ingest([tmp_path / "src"], tmp_path / "st")
    assert [c.meta.clip_id for c in report.ingested] == ["s1_box_001"]
    assert report.writes[0].replaced == ("s1_box_001",)
    assert store.generation_path("default", "s1") != first_gen
    assert store.find_clip("s1_box_001").n_frames == 40
    assert store.find_clip("s1_box_000").n_frames == 90
    assert Catalog(tmp_path / "st").ok_clips().set_index("clip").loc["s1_box_001", "frames"] == 40


def test_bad_new_version_keeps_stored_clip(tmp_path: Path) -> None:
    paths = write_synthetic_dataset(tmp_path / "src", subjects=("s1",), clips_per_subject=1)
    ingest([tmp_path / "src"], tmp_path / "st")
    paths[0].write_bytes(paths[0].read_bytes()[:100])
    report = ingest([tmp_path / "src"], tmp_path / "st")
    assert "stored version of this clip is kept" in report.rejected[0].reason
    assert Store(tmp_path / "st").find_clip("s1_box_000").n_frames == 90


def test_unsafe_dataset_name_rejected(tmp_path: Path) -> None:
    write_synthetic_dataset(tmp_path / "src", subjects=("s1",), clips_per_subject=1)
    report = ingest([tmp_path / "src"], tmp_path / "st", IngestSettings(dataset="../escape"))
    assert report.n_ok == 0 and "not a plain name" in report.rejected[0].reason
    assert not (tmp_path / "escape").exists()
    with pytest.raises(UnsafeNameError):
        Store(tmp_path / "st").open_subject("..", "x")


def test_subject_escaping_the_store_is_rejected(tmp_path: Path) -> None:
    clip = synthetic_clip(subject="s1")
    get_format("npz").write(clip, tmp_path / "good.npz")
    arrays = dict(np.load(tmp_path / "good.npz"))
    for i, evil in enumerate(("../../outside", "..", "a/../../b", ".hidden")):
        np.savez(
            tmp_path / f"evil{i}.npz",
            **{**arrays, "subject": np.array(evil), "clip_id": np.array(f"e{i}")},
        )
    report = ingest([tmp_path], tmp_path / "root" / "st")
    assert len(report.ingested) == 1 and len(report.rejected) == 4
    assert all("not a plain name" in r.reason for r in report.rejected)
    assert sorted(p.name for p in (tmp_path / "root").iterdir()) == ["st"]
    assert Store(tmp_path / "root" / "st").subjects() == [("default", "s1")]


def test_missing_source_is_a_reject(tmp_path: Path) -> None:
    report = ingest([tmp_path / "nope_box_001.pt"], tmp_path / "st")
    assert "cannot read" in report.rejected[0].reason or "No such file" in report.rejected[0].reason


def test_sample_ingests_whole(sample_raw: Path, tmp_path: Path) -> None:
    report = ingest([sample_raw], tmp_path / "st", IngestSettings(dataset="omomo"))
    assert len(report.ingested) == 27 and not report.rejected
    assert report.frames == 5834
    assert Store(tmp_path / "st").subjects() == [("omomo", "sub2")]
