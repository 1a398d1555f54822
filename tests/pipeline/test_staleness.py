"""Re-running one subject's teacher marks that subject's refined rollouts stale, nothing else.

Real assets on a real (ephemeral) Dagster instance; staleness as the UI computes it
(Dagster's ``CachingStaleStatusResolver`` over the code location's asset graph).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.loader import LoadingContextForTest

from assets_defs.dataset import refined_dataset
from assets_defs.partitions import SUBJECTS
from assets_defs.resources import ObjectsResource, StoreResource
from assets_defs.teacher import refined_rollouts, teacher_policy
from data_catalog import Store
from intermimic.motion.synthetic import synthetic_clip, write_synthetic_objects
from pipeline.definitions import defs

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
TEACHER = dg.AssetKey("teacher_policy")
REFINED = dg.AssetKey("refined_rollouts")
DATASET = dg.AssetKey("refined_dataset")


def _config(*assets: dg.AssetsDefinition, **teacher: object) -> dg.RunConfig:
    cfg = {"teacher_policy": {"config": {**TINY, **teacher}}, "refined_rollouts": {"config": TINY}}
    return dg.RunConfig(ops={a.key.to_user_string(): cfg[a.key.to_user_string()] for a in assets})


def _status(instance: dg.DagsterInstance, key: dg.AssetKey, subject: str | None) -> StaleStatus:
    resolver = CachingStaleStatusResolver(
        instance, defs.resolve_asset_graph(), LoadingContextForTest(instance)
    )
    return resolver.get_status(key, subject)


def _causes(instance: dg.DagsterInstance, key: dg.AssetKey, subject: str) -> list[str]:
    resolver = CachingStaleStatusResolver(
        instance, defs.resolve_asset_graph(), LoadingContextForTest(instance)
    )
    return [
        f"{c.key.asset_key.to_user_string()}: {c.reason}"
        for c in resolver.get_stale_causes(key, subject)
    ]


def _versions(instance: dg.DagsterInstance, key: dg.AssetKey, subject: str) -> list[str]:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[subject]), limit=10
    ).records
    return [r.asset_materialization.tags["dagster/data_version"] for r in records]  # type: ignore[union-attr]


@pytest.fixture
def env(tmp_path: Path) -> tuple[dg.DagsterInstance, dict[str, object]]:
    store = Store(tmp_path / "store")
    for subject in ("s1", "s2"):
        clip = synthetic_clip(subject, "box", 0, 30, seed=1, dataset="lab")
        store.upsert_clips("lab", subject, [clip.with_meta(source_sha256=f"{30:064x}")])
    resources = {
        "store": StoreResource(root=str(store.root)),
        "objects": ObjectsResource(root=str(write_synthetic_objects(tmp_path / "objects"))),
    }
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(SUBJECTS, ["s1", "s2"])
    return instance, resources


def test_new_teacher_marks_only_its_subjects_rollouts_stale(
    env: tuple[dg.DagsterInstance, dict[str, object]],
) -> None:
    instance, resources = env
    for asset in (teacher_policy, refined_rollouts):
        assert asset.code_versions_by_key[asset.key]  # every stage states a code version
        assert asset.automation_conditions_by_key.get(asset.key) is None  # runs only when asked
    for subject in ("s1", "s2"):
        result = dg.materialize(
            [teacher_policy, refined_rollouts], partition_key=subject, instance=instance,
            resources=resources, run_config=_config(teacher_policy, refined_rollouts),
        )  # fmt: skip
        assert result.success
    for subject in ("s1", "s2"):
        assert _status(instance, REFINED, subject) == StaleStatus.FRESH
    # one dataset version of both subjects' refined clips
    publish = {
        "refined_dataset": {"config": {"min_success_ratio": 0.0, "physical_severity": "warn"}}
    }
    result = dg.materialize(
        [refined_dataset], instance=instance, resources=resources,
        run_config=dg.RunConfig(ops=publish), selection=[refined_dataset],
    )  # fmt: skip
    assert result.success
    assert _status(instance, DATASET, None) == StaleStatus.FRESH

    # s2's teacher again with the same budget: nothing more to train, the same checkpoint,
    # the same data version; its rollouts stay fresh
    result = dg.materialize(
        [teacher_policy], partition_key="s2", instance=instance, resources=resources,
        run_config=_config(teacher_policy),
    )  # fmt: skip
    assert result.success
    v2 = _versions(instance, TEACHER, "s2")
    assert len(v2) == 2 and v2[0] == v2[1]
    assert _status(instance, REFINED, "s2") == StaleStatus.FRESH

    # s1's teacher trained further: new weights, new data version
    result = dg.materialize(
        [teacher_policy], partition_key="s1", instance=instance, resources=resources,
        run_config=_config(teacher_policy, env_steps=4 * 4 * 8),
    )  # fmt: skip
    assert result.success
    v1 = _versions(instance, TEACHER, "s1")
    assert len(v1) == 2 and v1[0] != v1[1]
    assert _status(instance, REFINED, "s1") == StaleStatus.STALE
    assert _causes(instance, REFINED, "s1") == [
        "refined_rollouts: has a new dependency data version"
    ]
    assert _status(instance, REFINED, "s2") == StaleStatus.FRESH
    # the published version no longer matches its inputs: the UI shows it needs refreshing
    assert _status(instance, DATASET, None) == StaleStatus.STALE
    # ... and was not refined again by itself
    assert len(_versions(instance, REFINED, "s1")) == 1

    # refining s1 when asked makes it fresh again
    result = dg.materialize(
        [refined_rollouts], partition_key="s1", instance=instance, resources=resources,
        run_config=_config(refined_rollouts),
    )  # fmt: skip
    assert result.success
    assert _status(instance, REFINED, "s1") == StaleStatus.FRESH
