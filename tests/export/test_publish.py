"""Publishing refined clips as versions: content, ids, no-op republish, checks, lineage,
the catalog, and a publisher killed midway."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import zarr

from data_catalog import Catalog, Store
from data_catalog.refined_layout import refined_sha256
from data_catalog.versions import (
    DATA,
    UnknownVersionError,
    current_version,
    list_versions,
    read_version,
    resolve_version,
    verify_version,
    version_clips_table,
    versions_dir,
    versions_table,
)
from stages.publish import (
    CHECK_FINITE,
    CHECK_PHYSICAL,
    CHECK_SUCCESS,
    STALL_ENV,
    PublishError,
    PublishSettings,
    code_version,
    gather_refined,
    publish_refined,
    quality_checks,
    version_id,
    version_inputs,
)
from tests.export.refined_series import sha

LOW_BAR = PublishSettings(min_success_ratio=0.0)
Make = Callable[..., Store]


def test_publish_gathers_every_subject_with_lineage(refined_store: Store) -> None:
    store = refined_store
    rep = publish_refined(store)
    assert rep.created and rep.made_current and current_version(store) == rep.version
    assert rep.version.startswith("v-") and list_versions(store) == [rep.version]
    assert all(c.passed for c in rep.checks), rep.checks
    clips, manifest = read_version(store, "current")
    assert sorted(ec.key for ec in clips) == [
        ("lab-refined", s, f"{s}_box_{i:03d}") for s in ("s1", "s2") for i in range(2)
    ]
    # the arrays are the refined clips', bit for bit
    for ec in clips:
        m = ec.clip.meta
        stored = store.read_clip(m.dataset, m.subject, m.clip_id)
        for name, a in stored.arrays().items():
            np.testing.assert_array_equal(getattr(ec.clip, name), a)
        assert ec.velocities["body_linvel"].shape == (ec.clip.n_frames, 52, 3)
        raw = store.read_clip("lab", m.subject, m.clip_id)
        assert ec.info["raw_sha256"] == raw.meta.source_sha256
        assert ec.info["refined_sha256"] == refined_sha256(
            ec.info["teacher_sha256"], raw.meta.source_sha256
        )
        assert ec.info["figures_raw_source"] == "artifact series, same frames"
    lineage = manifest["lineage"]
    assert len(lineage["raw_clips"]) == 4 and len(lineage["teachers"]) == 2
    assert {t["sha256"] for t in lineage["teachers"]} == {sha("teacher-a s1"), sha("teacher-a s2")}
    assert manifest["metrics"]["success_ratio"] == 0.5
    # consolidated metadata: one document describes the whole group
    root_meta = json.loads((rep.path / DATA / "zarr.json").read_text())
    assert "consolidated_metadata" in root_meta
    g = zarr.open_group(str(rep.path / DATA), mode="r")
    assert g.attrs["version"] == rep.version
    assert g.attrs["fields"]["body_quat"]["quaternion_order"] == "wxyz"
    assert g["body_pos"].attrs["unit"] == "m"
    # the catalog knows the version, its lineage and figures
    table = versions_table(store)
    assert list(table["version"]) == [rep.version] and int(table["clips"][0]) == 4
    assert json.loads(table["teachers"][0])[0]["sha256"] == sha("teacher-a s1")
    per_clip = version_clips_table(store, "current")
    assert len(per_clip) == 4
    raw_pen, ref_pen = (
        per_clip["raw_penetration_object_max"],
        per_clip["refined_penetration_object_max"],
    )
    assert (raw_pen > ref_pen).all()
    assert verify_version(store) == {}


def test_publishing_twice_is_a_no_op(refined_store: Store) -> None:
    first = publish_refined(refined_store)
    files = {p: p.stat().st_mtime_ns for p in first.path.rglob("*")}
    again = publish_refined(refined_store)
    assert again.version == first.version and not again.created and again.made_current
    assert {p: p.stat().st_mtime_ns for p in first.path.rglob("*")} == files
    assert list_versions(refined_store) == [first.version]
    assert len(versions_table(refined_store)) == 1


def test_version_id_is_stable_and_follows_every_input(tmp_path: Path, make_store: Make) -> None:
    one = ("s1",)
    a = publish_refined(make_store(tmp_path / "a", one)).version
    b = publish_refined(make_store(tmp_path / "b", one)).version
    assert a == b  # same inputs in another store, another run: the same id
    changed_raw = publish_refined(make_store(tmp_path / "c", one, raw_tag="re-captured")).version
    changed_teacher = publish_refined(make_store(tmp_path / "d", one, teacher="teacher-b")).version
    only_ok = publish_refined(
        make_store(tmp_path / "e", one), PublishSettings(only_successful=True)
    ).version
    assert len({a, changed_raw, changed_teacher, only_ok}) == 4
    # the code version is part of the hash too
    store = make_store(tmp_path / "f", one)
    gathered = gather_refined(store).clips
    now = version_id(version_inputs(gathered, PublishSettings(), code_version()))
    later = version_id(version_inputs(gathered, PublishSettings(), code_version() + "+1"))
    assert now == a and later != a


def test_only_successful_and_older_versions_stay(refined_store: Store) -> None:
    everything = publish_refined(refined_store)
    ok = publish_refined(refined_store, PublishSettings(only_successful=True))
    assert ok.version != everything.version and current_version(refined_store) == ok.version
    clips, manifest = read_version(refined_store, "current")
    assert [ec.clip.meta.clip_id for ec in clips] == ["s1_box_000", "s2_box_000"]
    assert all(ec.success for ec in clips)
    # the success ratio is the refinement's, not the filtered version's
    assert manifest["metrics"]["success_ratio"] == 1.0
    assert next(c for c in ok.checks if c.name == CHECK_SUCCESS).metadata["success_ratio"] == 0.5
    old, _ = read_version(refined_store, everything.version)
    assert len(old) == 4
    assert list_versions(refined_store) == [everything.version, ok.version]


def test_failed_checks_keep_the_previous_version_current(tmp_path: Path, make_store: Make) -> None:
    store = make_store(tmp_path / "store")
    good = publish_refined(store)
    # a new teacher that tracks nothing to the end, and is physically worse than the MoCap
    make_store(tmp_path / "store", teacher="bad", success=lambda s, i: False, refined_level=0.2)
    bad = publish_refined(store)
    assert bad.created and not bad.made_current and current_version(store) == good.version
    by_name = {c.name: c for c in bad.checks}
    assert by_name[CHECK_FINITE].passed
    assert not by_name[CHECK_SUCCESS].passed and by_name[CHECK_SUCCESS].blocking_failure
    phys = by_name[CHECK_PHYSICAL]
    assert not phys.passed
    offenders = {(o["clip"], o["figure"]) for o in phys.metadata["offenders"]}
    assert ("s1/s1_box_000", "penetration_object_max") in offenders
    assert ("s2/s2_box_001", "foot_skate_speed_mean") in offenders
    # the description names each failing comparison, not only the clip
    o = next(o for o in phys.metadata["offenders"] if o["clip"] == "s1/s1_box_000")
    assert (
        f"s1/s1_box_000 (penetration_object_max {o['refined']:.4g} > raw {o['raw']:.4g} + "
        f"{o['tolerance']:.4g}" in phys.description
    )
    assert bad.version in list_versions(store)  # published, readable, just not current
    assert len(read_version(store, bad.version)[0]) == 4
    # warn severity and a lower bar let it through; force_current regardless of checks
    lenient = PublishSettings(min_success_ratio=0.0, physical_severity="warn")
    assert publish_refined(store, lenient).made_current
    assert current_version(store) == bad.version


def test_physical_check_names_each_failing_figure_and_counts_the_rest() -> None:
    # 12 clips worse than raw: ground penetration by 1 cm on all, skating on the first
    raw = {
        "penetration_object_max": 0.02,
        "penetration_ground_max": 0.0,
        "floating_fraction": 0.0,
        "foot_skate_speed_mean": 0.1,
    }
    clips = []
    for i in range(12):
        ref = {**raw, "penetration_ground_max": 0.01}
        if i == 0:
            ref["foot_skate_speed_mean"] = 0.3
        clips.append(
            {
                "subject": "s1",
                "clip": f"c{i:02d}",
                "success": True,
                "figures_raw": raw,
                "figures_refined": ref,
            }
        )
    manifest = {"nonfinite": {}, "candidates": [{"success": True}] * 12, "clips": clips}
    phys = next(c for c in quality_checks(manifest, PublishSettings()) if c.name == CHECK_PHYSICAL)
    assert not phys.passed and len(phys.metadata["offenders"]) == 13
    assert phys.description.startswith("12 clip(s) worse than raw: s1/c00 (")
    assert (
        "s1/c00 (penetration_ground_max 0.01 > raw 0 + 0.005; "
        "foot_skate_speed_mean 0.3 > raw 0.1 + 0.05)" in phys.description
    )
    assert "s1/c09 (" in phys.description and "s1/c10" not in phys.description
    assert phys.description.endswith(", and 2 more")


def test_nonfinite_arrays_fail_the_finite_check(tmp_path: Path, make_store: Make) -> None:
    store = make_store(tmp_path / "store")
    from data_catalog.refined_import import record_refinement

    clip = store.read_clip("lab-refined", "s1", "s1_box_000")
    body = clip.body_pos.copy()
    body[3, 5] = np.nan
    record_refinement(
        store, "lab", "s1", [clip.with_arrays(body_pos=body)],
        teacher_sha256=sha("teacher-nan"), tracking={"s1_box_000": {"success": 1.0}},
    )  # fmt: skip
    rep = publish_refined(store, LOW_BAR)
    finite = next(c for c in rep.checks if c.name == CHECK_FINITE)
    assert not finite.passed and finite.metadata["non_finite_values"]["body_pos"] == 3
    assert not rep.made_current
    assert verify_version(store, rep.version)["body_pos"] == 3


def test_stale_refinements_are_left_out(tmp_path: Path, make_store: Make) -> None:
    store = make_store(tmp_path / "store")
    # the raw clip changes after refinement: its refined clip no longer belongs to it
    raw = store.read_clip("lab", "s1", "s1_box_001")
    store.upsert_clips("lab", "s1", [raw.with_meta(source_sha256=sha("new capture"))])
    rep = publish_refined(store, LOW_BAR)
    assert "lab-refined/s1/s1_box_001" in rep.excluded
    assert "stale" in rep.excluded["lab-refined/s1/s1_box_001"]
    assert rep.n_clips == 3


def test_nothing_to_publish(tmp_path: Path, make_store: Make) -> None:
    with pytest.raises(PublishError, match="no refined clips"):
        publish_refined(Store(tmp_path / "empty"))
    store = make_store(tmp_path / "store", success=lambda s, i: False)
    with pytest.raises(PublishError, match="none successful"):
        publish_refined(store, PublishSettings(only_successful=True))


def test_unknown_version_names_the_known_ones(refined_store: Store) -> None:
    with pytest.raises(UnknownVersionError, match="no current version; known versions: none"):
        resolve_version(refined_store, "current")
    rep = publish_refined(refined_store)
    with pytest.raises(UnknownVersionError, match=f"known versions: {rep.version}"):
        read_version(refined_store, "v-0000000000000000")


PUBLISHER = textwrap.dedent(
    """
    import sys
    from data_catalog import Store
    from stages.publish import publish_refined
    publish_refined(Store(sys.argv[1]))
    print("done", flush=True)
    """
)


def test_publish_killed_midway_leaves_the_previous_one(tmp_path: Path, make_store: Make) -> None:
    store = make_store(tmp_path / "store")
    first = publish_refined(store)
    make_store(tmp_path / "store", teacher="teacher-b")  # new inputs: a new version
    env = {**os.environ, STALL_ENV: "60"}
    proc = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, str(store.root)],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    root = versions_dir(store)
    deadline = time.monotonic() + 60
    try:
        # wait until the new version's arrays are on disk in its staging folder
        while not any(root.glob(".v-*.tmp-*/data.zarr/zarr.json")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the publisher never started writing"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert any(root.glob(".v-*.tmp-*"))  # the half-written version is there, hidden
    assert list_versions(store) == [first.version]
    assert current_version(store) == first.version
    clips, _ = read_version(store, "current")
    assert len(clips) == 4 and all(np.isfinite(ec.clip.body_pos).all() for ec in clips)
    assert list(versions_table(store)["version"]) == [first.version]
    # the next publish cleans up and completes the version
    again = publish_refined(store)
    assert again.created and again.version != first.version
    assert not any(root.glob(".*.tmp-*"))
    assert list_versions(store) == [first.version, again.version]
    assert Catalog(store.root).clips().empty  # the clip catalog is ingest's, untouched


def test_publishing_does_not_load_the_rl_stack() -> None:
    """Publishing and exporting read refined clips by the layout's names alone."""
    import subprocess
    import sys

    code = "import sys, stages.publish, stages.export; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
