"""``refined_dataset`` and ``hoi_dataset_export`` on real (tiny) teachers: blocking checks
stop the export; a lenient bar publishes, makes the version current and exports it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from assets_defs.dataset import hoi_dataset_export, refined_dataset
from assets_defs.partitions import SUBJECTS
from assets_defs.resources import ObjectsResource, StoreResource
from assets_defs.teacher import refined_rollouts, teacher_policy
from data_catalog import Store
from data_catalog.versions import current_version, list_versions, read_version
from intermimic.motion.synthetic import synthetic_clip, write_synthetic_objects
from pipeline.jobs import publish_export_job
from stages.export import CARD
from stages.publish import CHECK_PHYSICAL, CHECK_SUCCESS

# InterMimic's subject names: the interact-pt export refuses others by default
SUBJECT_NAMES = ("sub1", "sub2")
TINY = {
    "env_steps": 2 * 4 * 8,
    "worlds": 4,
    "horizon": 8,
    "hidden_dims": [32],
    "checkpoint_interval": 2,
    "sim_threads": 1,
    "tensorboard": False,
    "attempts": 1,
    "recipe": "ppo",  # trains without plans (the cpu default plans first)
}


@pytest.fixture(scope="module")
def refined(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, object], Store]:
    """Two subjects with trained (tiny) teachers and refined rollouts, once per module."""
    tmp = tmp_path_factory.mktemp("dataset_asset")
    store = Store(tmp / "store")
    for subject in SUBJECT_NAMES:
        clip = synthetic_clip(subject, "box", 0, 30, seed=1, dataset="lab")
        store.upsert_clips("lab", subject, [clip.with_meta(source_sha256=f"{subject:0>64}")])
    resources = {
        "store": StoreResource(root=str(store.root)),
        "objects": ObjectsResource(root=str(write_synthetic_objects(tmp / "objects"))),
    }
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(SUBJECTS, list(SUBJECT_NAMES))
    run_config = dg.RunConfig(
        ops={"teacher_policy": {"config": TINY}, "refined_rollouts": {"config": TINY}}
    )
    for subject in SUBJECT_NAMES:
        result = dg.materialize(
            [teacher_policy, refined_rollouts], partition_key=subject, instance=instance,
            resources=resources, run_config=run_config,
        )  # fmt: skip
        assert result.success
    return resources, store


def _job(resources: dict[str, object]) -> dg.JobDefinition:
    defs = dg.Definitions(
        assets=[refined_dataset, hoi_dataset_export], jobs=[publish_export_job], resources=resources
    )
    return defs.resolve_job_def(publish_export_job.name)


def test_blocking_checks_stop_the_export(refined: tuple[dict[str, object], Store]) -> None:
    resources, store = refined
    # an untrained teacher tracks nothing to the end: the default bar (50 %) is not met
    result = _job(resources).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False
    )
    checks = {
        e.check_name: e
        for e in result.get_asset_check_evaluations()  # type: ignore[attr-defined]
    }
    assert not checks[CHECK_SUCCESS].passed
    md = checks[CHECK_SUCCESS].metadata
    assert md["refined"].value == 2 and md["success_ratio"].value == 0.0
    assert CHECK_PHYSICAL in checks
    # the export did not run at all (skipped by the blocking check, not failed)
    assert result.failure_data_for_node("hoi_dataset_export") is None
    ran = {e.step_key for e in result.all_events if e.is_step_start}
    assert "hoi_dataset_export" not in ran, ran
    assert len(list_versions(store)) == 1 and current_version(store) is None


def test_lenient_bar_publishes_and_exports(
    refined: tuple[dict[str, object], Store], tmp_path: Path
) -> None:
    resources, store = refined
    config = {
        "refined_dataset": {"config": {"min_success_ratio": 0.0, "physical_severity": "warn"}},
        # untrained teachers reach no clip's end: partial clips only on request
        "hoi_dataset_export": {
            "config": {"out_root": str(tmp_path / "exports"), "include_partial": True}
        },
    }
    result = _job(resources).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), run_config={"ops": config}
    )
    assert result.success
    md = result.asset_materializations_for_node("refined_dataset")[0].metadata
    version = md["version"].value
    assert md["made_current"].value is True and md["clips"].value == 2
    assert md["subjects"].value == 2
    assert current_version(store) == version
    clips, manifest = read_version(store)
    assert {ec.clip.meta.subject for ec in clips} == set(SUBJECT_NAMES)
    assert len(manifest["lineage"]["teachers"]) == 2
    md = result.asset_materializations_for_node("hoi_dataset_export")[0].metadata
    assert md["version"].value == version
    for fmt in ("zarr3", "zarr2", "interact-pt", "npz"):
        folder = tmp_path / "exports" / version / fmt
        assert (folder / CARD).is_file(), fmt
        assert md[f"{fmt}_path"].value == str(folder)
    assert len(list((tmp_path / "exports" / version / "npz").glob("*.npz"))) == 2
    # simulated motion reads back from InterAct files as it is (no finger "repair")
    assert "interact-pt_skipped" not in md
    assert len(list((tmp_path / "exports" / version / "interact-pt").glob("*.pt"))) == 2
    assert md["left_out_count"].value == 0
    card = (tmp_path / "exports" / version / "npz" / CARD).read_text()
    assert "2 partial clip(s) included on request" in card
    # by default the partial clips are left out: nothing to export is a failure that says so
    config["hoi_dataset_export"] = {"config": {"out_root": str(tmp_path / "default")}}
    result = _job(resources).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), run_config={"ops": config}, raise_on_error=False
    )
    failure = result.failure_data_for_node("hoi_dataset_export")
    assert failure is not None and "include_partial" in failure.error.message  # type: ignore[union-attr]
