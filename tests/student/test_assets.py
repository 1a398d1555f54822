"""``student_policy`` and ``student_evaluation`` materialised on a temporary instance."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from assets_defs.resources import ObjectsResource, StoreResource
from assets_defs.student import STUDENT_POOL, student_evaluation, student_policy
from data_catalog import Store

TINY = {
    "env_steps": 2 * 4 * 8, "worlds": 4, "horizon": 8, "width": 32, "layers": 1, "heads": 2,
    "head_hidden_dims": [32], "critic_hidden_dims": [32], "checkpoint_interval": 2,
    "sim_threads": 1, "tensorboard": False, "missing_teacher": "skip",
}  # fmt: skip


def test_student_policy_then_evaluation(store: Store, objects_dir: Path) -> None:
    assert student_policy.op.pool == STUDENT_POOL
    deps = {k.to_user_string() for k in student_policy.asset_deps[student_policy.key]}
    assert deps == {"refined_dataset", "teacher_policy"}
    resources = {
        "store": StoreResource(root=str(store.root)),
        "objects": ObjectsResource(root=str(objects_dir)),
    }
    config = dg.RunConfig(
        ops={
            "student_policy": {"config": TINY},
            "student_evaluation": {"config": {"sim_threads": 1, "init_noise": 0.05}},
        }
    )
    result = dg.materialize(
        [student_policy, student_evaluation], instance=dg.DagsterInstance.ephemeral(),
        resources=resources, run_config=config,
    )  # fmt: skip
    assert result.success
    md = result.asset_materializations_for_node("student_policy")[0].metadata
    assert md["iterations"].value == 2 and md["subjects_skipped"].value == 1
    assert md["groups"].value == 1 and (store.root / str(md["learning_curve_png"].value)).is_file()
    md = result.asset_materializations_for_node("student_evaluation")[0].metadata
    assert (
        "| raw MoCap |" in md["comparison"].value and "| student (full) |" in md["comparison"].value
    )
    assert (store.root / str(md["metrics_png"].value)).is_file()
    assert Path(str(md["report"].value)).is_file()
    assert "data:image/png;base64," in str(md["metrics_figure"].value)
    for key in ("success_rate", "mean_duration", "E_h_cm", "E_o_cm"):
        assert key in md
