"""``teacher_policy`` and ``refined_rollouts`` materialised per subject on a temporary
instance: metadata, isolation between subjects, a subject without ok clips."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from assets_defs.partitions import SUBJECTS
from assets_defs.resources import ObjectsResource, StoreResource
from assets_defs.teacher import TEACHER_POOL, refined_rollouts, teacher_policy
from data_catalog import Catalog, Store
from data_catalog.runs import teacher_dir
from intermimic.env.termination import REASONS
from intermimic.motion.synthetic import synthetic_clip, write_synthetic_objects
from intermimic.rl import checkpoint as ckpt

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
BOTH = dg.RunConfig(ops={"teacher_policy": {"config": TINY}, "refined_rollouts": {"config": TINY}})
CONFIG = dg.RunConfig(ops={"teacher_policy": {"config": TINY}})


@pytest.fixture
def env(tmp_path: Path) -> tuple[dg.DagsterInstance, dict[str, object], Store]:
    store = Store(tmp_path / "store")
    for subject, frames in (("s1", 30), ("s2", 30), ("s3", 8)):  # s3: too short to track
        clip = synthetic_clip(subject, "box", 0, frames, seed=1, dataset="lab")
        store.upsert_clips("lab", subject, [clip.with_meta(source_sha256=f"{frames:064x}")])
    resources = {
        "store": StoreResource(root=str(store.root)),
        "objects": ObjectsResource(root=str(write_synthetic_objects(tmp_path / "objects"))),
    }
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(SUBJECTS, ["s1", "s2", "s3"])
    return instance, resources, store


def test_train_and_refine_one_subject(env: tuple[dg.DagsterInstance, dict, Store]) -> None:
    instance, resources, store = env
    assert teacher_policy.op.pool == TEACHER_POOL
    result = dg.materialize(
        [teacher_policy, refined_rollouts], partition_key="s1", instance=instance,
        resources=resources, run_config=BOTH,
    )  # fmt: skip
    assert result.success
    md = result.asset_materializations_for_node("teacher_policy")[0].metadata
    assert md["iterations"].value == 2 and md["clips"].value == 1
    # figures: the store-relative path, and the figure itself embedded for the UI
    assert (store.root / str(md["learning_curve_png"].value)).is_file()
    assert "data:image/png;base64," in str(md["learning_curve_figure"].value)
    for key in ("success_rate", "mean_duration", "E_h_cm", "E_o_cm"):
        assert key in md
    md = result.asset_materializations_for_node("refined_rollouts")[0].metadata
    assert md["clips_refined"].value == 1 and md["refined_dataset"].value == "lab-refined"
    # the tracking table says what ended each clip's rollout
    (row,) = [r for r in md["tracking"].value.splitlines() if r.startswith("| s1_box_000")]
    ended = row.rstrip(" |").rsplit("|", 1)[1].strip()
    assert "ended by |" in md["tracking"].value and ended
    assert set(ended.split(", ")) <= {*REASONS, "non_finite", "clip_end", "episode_cap"}
    assert "penetration_object_max" in md["artifacts_before_after"].value
    # judged per clip: figures raw / refined / InterMimic and a verdict (the synthetic
    # clip has no InterMimic refinement: its column stays empty)
    assert "| figure | raw | refined | InterMimic (0 of 1 clips) |" in (
        md["artifacts_before_after"].value
    )
    assert "s1_box_000" in md["quality"].value and "raw / refined / InterMimic" in (
        md["quality"].value
    )
    verdicts = ("full", "worse", "partial", "unmeasured")
    assert sum(md[f"clips_{v}"].value for v in verdicts) == 1
    assert md["clips_with_intermimic"].value == 0
    assert (store.root / str(md["artifacts_png"].value)).is_file()
    assert "data:image/png;base64," in str(md["artifacts_figure"].value)
    # only s1 was touched
    assert not teacher_dir(store, "lab", "s2").exists()
    assert store.subjects("lab-refined") == [("lab-refined", "s1")]
    assert set(Catalog(store.root).figures("refined")["subject"]) == {"s1"}

    # re-materialising s2 leaves s1's teacher and refined clips as they were
    s1_ckpt = ckpt.list_checkpoints(teacher_dir(store, "lab", "s1") / "checkpoints")
    s1_gen = store.generation_path("lab-refined", "s1")
    result = dg.materialize(
        [teacher_policy], partition_key="s2", instance=instance, resources=resources,
        run_config=CONFIG,
    )  # fmt: skip
    assert result.success
    assert ckpt.list_checkpoints(teacher_dir(store, "lab", "s1") / "checkpoints") == s1_ckpt
    assert store.generation_path("lab-refined", "s1") == s1_gen


def test_subject_without_ok_clips_fails_alone(env: tuple[dg.DagsterInstance, dict, Store]) -> None:
    instance, resources, store = env
    result = dg.materialize(
        [teacher_policy], partition_key="s3", instance=instance, resources=resources,
        run_config=CONFIG, raise_on_error=False,
    )  # fmt: skip
    assert not result.success
    failure = result.failure_data_for_node("teacher_policy")
    assert failure is not None and "no ok clips" in str(failure.user_failure_data.description)
    assert not teacher_dir(store, "lab", "s3").exists()
    result = dg.materialize(
        [teacher_policy], partition_key="s1", instance=instance, resources=resources,
        run_config=CONFIG,
    )  # fmt: skip
    assert result.success


def test_refine_by_the_planner_with_tries(env: tuple[dg.DagsterInstance, dict, Store]) -> None:
    """``method: planner`` with ``tries`` 2: no teacher, each try in the metadata."""
    instance, resources, store = env
    plan = {"samples": 4, "horizon": 3, "knots": 2, "iterations": 1, "tries": 2}
    config = {"worlds": 4, "sim_threads": 1, "method": "planner", "planner": plan}
    result = dg.materialize(
        [refined_rollouts], partition_key="s1", instance=instance, resources=resources,
        run_config=dg.RunConfig(ops={"refined_rollouts": {"config": config}}),
    )  # fmt: skip
    assert result.success
    md = result.asset_materializations_for_node("refined_rollouts")[0].metadata
    assert md["method"].value == "planner" and md["clips_refined"].value == 1
    rows = [r for r in md["tries"].value.splitlines() if r.startswith("| s1_box_000")]
    assert [r.split("|")[2].strip() for r in rows] == ["0", "1"]  # the seeds tried
    assert sum(r.rstrip(" |").endswith("yes") for r in rows) == 1  # one kept
    assert not teacher_dir(store, "lab", "s1").exists()
    # the planning's progress is in the run's log, per try
    logs = [e.user_message for e in instance.all_logs(result.run_id)]
    for seed in (0, 1):
        assert any(m.startswith(f"planning s1_box_000 (seed {seed}): frame ") for m in logs)
