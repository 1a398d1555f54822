"""``refine_subject(method="planner")`` and ``intermimic refine --method planner``: the
sampling planner refines clips without a teacher, writes the teacher's record, caches
each planned clip and judges it like any refinement (synthetic clips, tiny planner)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import cli.teacher  # noqa: F401  (registers the commands)
from cli import app
from data_catalog import Catalog, Store
from data_catalog.refined_layout import ROLLOUT, refined_sha256
from data_catalog.runs import REFINE_FILE, planner_dir, teacher_dir
from intermimic.errors import InputError
from intermimic.motion.synthetic import write_synthetic_objects
from intermimic.objects import ObjectLibrary
from intermimic.plan import PlannerSettings
from intermimic.plan.seeds import plans_sha256
from intermimic.rl.teacher_settings import TeacherSettings
from stages.refine import REFINED_STAGE, refine_subject

SETTINGS = TeacherSettings(worlds=4, sim_threads=1)
TINY = PlannerSettings(samples=4, horizon=3, knots=2, iterations=1)


def test_planner_refines_without_a_teacher_and_resumes_from_its_cache(
    tmp_path: Path, store: Store
) -> None:
    objects = ObjectLibrary(write_synthetic_objects(tmp_path / "objects"))
    seen: list[str] = []
    planned: list[tuple[str, int, int, int]] = []
    rep = refine_subject(
        store, "lab", "s1", SETTINGS, objects, method="planner", planner=TINY,
        clips=["s1_box_001"], on_clip=seen.append, reference=None,
        on_plan=lambda *a: planned.append(a),
    )  # fmt: skip
    assert seen == ["s1_box_001"] and not teacher_dir(store, "lab", "s1").exists()
    # progress frame by frame, to where the plan ended, against the clip's last frame
    raw_frames = store.read_clip("lab", "s1", "s1_box_001").n_frames
    assert planned[0] == ("s1_box_001", TINY.seed, 1, raw_frames - 1)
    assert planned[-1][2] == rep.tracking["s1_box_001"]["duration"]
    lineage = plans_sha256(TINY, SETTINGS)  # the planner and the physics it planned in
    assert rep.method == "planner" and rep.teacher_sha256 == lineage
    assert set(rep.tracking) == {"s1_box_001"} and set(rep.verdicts) == {"s1_box_001"}
    t = rep.tracking["s1_box_001"]
    assert t["duration"] >= 1 and t["e_h_cm"] >= 0
    # the refined clip and its record, with the planner's hash as the lineage
    (clip,) = store.read_subject("lab-refined", "s1")
    raw = store.read_clip("lab", "s1", "s1_box_001")
    assert clip.meta.source_sha256 == refined_sha256(lineage, raw.meta.source_sha256)
    assert clip.meta.source_format == "planner-rollout"
    attrs = store.series_attrs("lab-refined", "s1", ROLLOUT)
    assert attrs["method"] == "planner" and attrs["teacher_sha256"] == lineage
    assert set(attrs["quality"]) == {"s1_box_001"}
    assert attrs["ended_by"] == rep.ended_by and rep.ended_by["s1_box_001"]
    figs = Catalog(store.root).figures_wide(REFINED_STAGE)
    assert list(figs["clip"]) == ["s1_box_001"]
    run = planner_dir(store, "lab", "s1")
    doc = json.loads((run / REFINE_FILE).read_text())
    assert doc["method"] == "planner" and doc["source"].startswith("planner:")
    cached = list((run / "rollouts").glob("s1_box_001.*.npz"))
    assert len(cached) == 1
    # again: read from the cache, the same motion
    before = cached[0].stat().st_mtime_ns
    planned.clear()
    again = refine_subject(
        store, "lab", "s1", SETTINGS, objects, method="planner", planner=TINY,
        clips=["s1_box_001"], on_plan=lambda *a: planned.append(a),
    )  # fmt: skip
    assert again.tracking == rep.tracking and cached[0].stat().st_mtime_ns == before
    assert planned == []  # nothing planned
    assert again.ended_by == rep.ended_by  # kept in the cache
    # other planner settings: planned anew, a new lineage hash
    other = TINY.model_copy(update={"seed": 1})
    third = refine_subject(
        store, "lab", "s1", SETTINGS, objects, method="planner", planner=other,
        clips=["s1_box_001"],
    )  # fmt: skip
    assert third.teacher_sha256 == plans_sha256(other, SETTINGS) != lineage
    assert len(list((run / "rollouts").glob("s1_box_001.*.npz"))) == 2
    # the first clip by id: what a profile without clip ids asks for
    first = refine_subject(
        store, "lab", "s1", SETTINGS, objects, method="planner", planner=TINY, max_clips=1
    )
    assert set(first.tracking) == {"s1_box_000"}


def test_planner_refine_bad_input(tmp_path: Path, store: Store) -> None:
    objects = ObjectLibrary(write_synthetic_objects(tmp_path / "objects"))
    with pytest.raises(InputError, match="no trackable clip.*s1_ghost.*have: s1_box_000"):
        refine_subject(
            store, "lab", "s1", SETTINGS, objects, method="planner", planner=TINY,
            clips=["s1_ghost"],
        )  # fmt: skip
    with pytest.raises(InputError, match="method 'oracle'"):
        refine_subject(store, "lab", "s1", SETTINGS, objects, method="oracle")  # type: ignore[arg-type]
    assert ("lab-refined", "s1") not in store.subjects()


#: ``refine``'s options for :data:`TINY` on 4 worlds, one simulation thread.
TINY_OPTIONS = [
    "--plan", "samples=4", "--plan", "horizon=3", "--plan", "knots=2",
    "--plan", "iterations=1", "--set", "worlds=4", "--set", "sim_threads=1",
]  # fmt: skip


def _refine_command(tmp_path: Path, store: Store) -> list[str]:
    """``intermimic refine`` of subject s1 of ``store`` with the synthetic objects."""
    objects = write_synthetic_objects(tmp_path / "objects")
    return ["refine", "--store", str(store.root), "--subject", "s1", "--objects", str(objects)]


def test_cli_refine_with_the_planner(tmp_path: Path, store: Store) -> None:
    runner = CliRunner()
    common, plan = _refine_command(tmp_path, store), TINY_OPTIONS
    r = runner.invoke(app, [*common, "--method", "planner", "--clip", "s1_box_000", *plan])
    assert r.exit_code == 0, r.output
    assert "by planner" in r.output and "s1_box_000" in r.output and "verdicts:" in r.output
    assert "ended by" in r.output
    r = runner.invoke(app, [*common, "--method", "planner", "--plan", "samplez=3"])
    assert r.exit_code == 2 and "KEY one of" in r.output
    r = runner.invoke(app, [*common, "--method", "oracle"])
    assert r.exit_code == 2 and "teacher or planner" in r.output
    r = runner.invoke(app, [*common, "--plan", "samples=3"])
    assert r.exit_code == 2 and "--method planner only" in r.output
    r = runner.invoke(app, [*common, "--preset", "tuned"])
    assert r.exit_code == 2 and "--preset applies to --method planner only" in r.output
    r = runner.invoke(app, [*common, "--method", "planner", "--preset", "fast"])
    assert r.exit_code == 2 and "unknown preset 'fast'; known: tuned" in r.output
    r = runner.invoke(app, [*common, "--method", "planner", "--clip", "nope", *plan])
    assert r.exit_code == 1 and "nope" in r.output


def test_cli_refine_with_a_preset(tmp_path: Path, store: Store) -> None:
    # the preset's physics (240 Hz, holding offsets) and planner terms, the tiny planner's
    # budget given beside it wins
    common = _refine_command(tmp_path, store)
    r = CliRunner().invoke(
        app,
        [*common, "--method", "planner", "--clip", "s1_box_000", "--preset", "tuned",
         *TINY_OPTIONS],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    saved = json.loads((planner_dir(store, "lab", "s1") / "planner_settings.json").read_text())
    assert saved["settings"]["samples"] == 4 and saved["settings"]["object_points_weight"] == 20
    assert saved["teacher"]["physics_hz"] == 240 and saved["teacher"]["gravity_compensation"] == 1


def test_the_same_planner_in_other_physics_is_another_refinement(
    tmp_path: Path, store: Store
) -> None:
    """The lineage of a planned clip is the planner's settings and the physics it was
    planned in: the same planner at 240 Hz replaces the 120 Hz motion in the store (with
    only the planner's hash it kept the old motion under the new figures)."""
    objects = ObjectLibrary(write_synthetic_objects(tmp_path / "objects"))
    first = refine_subject(
        store, "lab", "s1", SETTINGS, objects, method="planner", planner=TINY,
        clips=["s1_box_000"], reference=None,
    )  # fmt: skip
    (before,) = store.read_subject("lab-refined", "s1")
    faster = SETTINGS.model_copy(update={"physics_hz": 240})
    second = refine_subject(
        store, "lab", "s1", faster, objects, method="planner", planner=TINY,
        clips=["s1_box_000"], reference=None,
    )  # fmt: skip
    assert second.teacher_sha256 != first.teacher_sha256
    (after,) = store.read_subject("lab-refined", "s1")
    assert after.meta.source_sha256 != before.meta.source_sha256
    assert not np.array_equal(after.obj_pos, before.obj_pos)  # the new motion is stored
    # the same physics again: the same lineage, nothing rewritten
    again = refine_subject(
        store, "lab", "s1", faster, objects, method="planner", planner=TINY,
        clips=["s1_box_000"], reference=None,
    )  # fmt: skip
    assert again.teacher_sha256 == second.teacher_sha256
