"""The new-subjects sensor, the Definitions, and the main job runner."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dagster as dg
import pytest

from assets_defs.partitions import subjects
from assets_defs.resources import MocapSource, MocapSourcesResource
from intermimic.motion.synthetic import write_synthetic_dataset, write_synthetic_objects
from pipeline.resources import parse_sources
from pipeline.sensors import new_subjects_sensor


def test_sensor_adds_new_subjects_and_requests_changed(tmp_path: Path) -> None:
    src = tmp_path / "src"
    paths = write_synthetic_dataset(src, subjects=("s1", "s2"), clips_per_subject=1)
    res = MocapSourcesResource(sources=[MocapSource(path=str(src))])
    instance = dg.DagsterInstance.ephemeral()
    ctx = dg.build_sensor_context(instance=instance, resources={"mocap_sources": res})
    first = new_subjects_sensor(ctx)
    assert sorted(r.partition_key for r in first.run_requests) == ["s1", "s2"]
    assert first.dynamic_partitions_requests[0].partition_keys == ["s1", "s2"]
    instance.add_dynamic_partitions(subjects.name, ["s1", "s2"])

    ctx = dg.build_sensor_context(
        instance=instance, resources={"mocap_sources": res}, cursor=first.cursor
    )
    again = new_subjects_sensor(ctx)
    assert again.run_requests == [] and again.dynamic_partitions_requests == []

    later = time.time() + 5
    os.utime(paths[1], (later, later))  # s2's file changed
    write_synthetic_dataset(src, subjects=("s3",), clips_per_subject=1)
    ctx = dg.build_sensor_context(
        instance=instance, resources={"mocap_sources": res}, cursor=again.cursor
    )
    third = new_subjects_sensor(ctx)
    assert sorted(r.partition_key for r in third.run_requests) == ["s2", "s3"]
    assert third.dynamic_partitions_requests[0].partition_keys == ["s3"]


def test_parse_sources() -> None:
    got = parse_sources("/a:omomo:interact-pt; /b")
    assert [(s.path, s.dataset, s.format) for s in got] == [
        ("/a", "omomo", "interact-pt"),
        ("/b", "default", None),
    ]


def test_definitions_load() -> None:
    from pipeline.definitions import defs

    job = defs.resolve_job_def("ingest")
    assert job.partitions_def == subjects
    assert defs.resolve_sensor_def("new_subjects_sensor")
    assert {k.to_user_string() for k in defs.resolve_all_asset_keys()} == {
        "mocap_clips",
        "contact_intents",
        "teacher_policy",
        "refined_rollouts",
        "refined_dataset",
        "hoi_dataset_export",
        "student_policy",
        "student_evaluation",
    }
    assert defs.resolve_job_def("hoi_pipeline")


def test_main_job_on_synthetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "src"
    write_synthetic_dataset(src, subjects=("m1", "m2"), clips_per_subject=2)
    monkeypatch.setenv("INTERMIMIC_SOURCES", f"{src}:synthetic:interact-pt")
    monkeypatch.setenv("INTERMIMIC_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("INTERMIMIC_OBJECTS", str(write_synthetic_objects(tmp_path / "objects")))
    from pipeline.main import run_main_job

    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        assert run_main_job(instance)
        assert sorted(instance.get_dynamic_partitions(subjects.name)) == ["m1", "m2"]
        for asset in ("mocap_clips", "contact_intents"):
            mats = instance.fetch_materializations(dg.AssetKey(asset), limit=10).records
            assert len(mats) == 2, asset
        # a second run is a no-op on data and still succeeds
        assert run_main_job(instance)
