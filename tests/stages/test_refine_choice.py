"""The refine stage's choice among planner tries (``PlannerSettings.tries``): the quality
rule's ranking by hand, then ``refine_subject`` and ``intermimic refine`` with two tries
on synthetic clips (real plans, real quality reports)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import cli.teacher  # noqa: F401  (registers the commands)
from cli import app
from data_catalog import Store
from data_catalog.refined_layout import ROLLOUT
from data_catalog.runs import REFINE_FILE, planner_dir
from intermimic.motion.synthetic import write_synthetic_objects
from intermimic.objects import ObjectLibrary
from intermimic.plan import PlannerSettings
from intermimic.rl.rollout import refined_clip
from intermimic.rl.teacher_settings import TeacherSettings
from stages.refine import refine_subject
from stages.refine_choice import TryRecord, shortfall
from stages.refine_quality import Failure, Verdict, clip_quality

SETTINGS = TeacherSettings(worlds=4, sim_threads=1)
TWO = PlannerSettings(samples=4, horizon=3, knots=2, iterations=1, seed=7, tries=2)


def test_shortfall_and_rank_by_hand() -> None:
    jitter = Failure("jitter_object", "intermimic", 0.000683, 0.000578, 0.0001)
    skate = Failure("foot_skate_speed_mean", "intermimic", 0.170, 0.080, 0.05)
    # (0.683 - 0.678) / 0.678 and (0.170 - 0.130) / 0.130
    assert shortfall([jitter]) == pytest.approx(0.005 / 0.678, rel=1e-6)
    assert shortfall([jitter, skate]) == pytest.approx(0.005 / 0.678 + 0.04 / 0.13, rel=1e-6)
    assert shortfall([Failure("x", "raw", 0.3, 0.0, 0.0)]) == pytest.approx(0.3)
    assert shortfall([]) == 0.0

    def rec(seed: int, ok: bool, frames: int, e_h: float, *failing: Failure) -> TryRecord:
        name = "partial" if not ok else ("worse" if failing else "full")
        return TryRecord(seed, frames, ok, e_h, 1.0, Verdict(name, failing))  # type: ignore[arg-type]

    near = rec(0, True, 152, 8.8, jitter)  # misses one bar by a hair
    far = rec(1, True, 152, 7.9, skate)  # misses one bar by 30 %
    two = rec(2, True, 152, 5.0, jitter, skate)
    clean = rec(3, True, 152, 14.8)
    fell = rec(4, False, 151, 3.0)
    fell_early = rec(5, False, 90, 2.0)
    order = sorted([fell_early, two, far, fell, near, clean], key=TryRecord.rank)
    assert [r.seed for r in order] == [3, 0, 1, 2, 4, 5]
    # equals: the lower E_h, then the lower seed
    assert rec(6, True, 152, 8.0).rank() < rec(7, True, 152, 9.0).rank()
    assert rec(6, True, 152, 8.0).rank() < rec(8, True, 152, 8.0).rank()
    j = near.to_json(kept=True)
    assert j["failing"] == ["jitter_object > InterMimic"] and j["kept"] and j["seed"] == 0
    assert j["verdict"] == "worse" and j["shortfall"] == pytest.approx(0.00737, abs=1e-5)


def test_refine_keeps_the_try_the_quality_rule_ranks_best(tmp_path: Path, store: Store) -> None:
    from intermimic.plan.seeds import plan_clips, plans_sha256
    from intermimic.rl.clipset import prepare_clips

    lib = ObjectLibrary(write_synthetic_objects(tmp_path / "objects"))
    rep = refine_subject(store, "lab", "s1", SETTINGS, lib, method="planner", planner=TWO)
    # the lineage: the settings of every try (not the first try's), in this physics
    first_try = plans_sha256(TWO.try_settings()[0], SETTINGS)
    assert rep.teacher_sha256 == plans_sha256(TWO, SETTINGS) != first_try
    assert set(rep.tries) == {"s1_box_000", "s1_box_001"}
    run = planner_dir(store, "lab", "s1")
    assert len(list((run / "rollouts").glob("*.npz"))) == 4  # two seeds x two clips
    for cid, tries in rep.tries.items():
        assert [t["seed"] for t in tries] == [7, 8]
        (kept,) = [t for t in tries if t["kept"]]
        raw = store.read_clip("lab", "s1", cid)
        clipset = prepare_clips([raw], lib, SETTINGS)
        scene = next(iter(clipset.scenes.values()))
        # every try judged as the rule judges a refinement, independently of the choice
        records = []
        for t in tries:
            one = TWO.model_copy(update={"seed": t["seed"], "tries": 1})
            r = plan_clips(clipset, SETTINGS, one, cache_dir=run / "rollouts")[cid].rollout
            assert t["frames"] == r.duration and t["e_h_cm"] == pytest.approx(100 * r.e_h, abs=1e-3)
            q = clip_quality(raw, refined_clip(r, raw, scene, dataset="x", source_sha256="0" * 64),
                             scene, None, bool(r.success), reference_dir=None)  # fmt: skip
            assert t["verdict"] == q.verdict.name
            assert t["failing"] == [f.label for f in q.verdict.failing]
            records.append(TryRecord(t["seed"], r.duration, bool(r.success), 100 * r.e_h,
                                     100 * r.e_o, q.verdict))  # fmt: skip
            if t["kept"]:
                # the stored refinement is the kept try's motion
                assert rep.tracking[cid]["duration"] == r.duration
                assert rep.tracking[cid]["e_h_cm"] == pytest.approx(100 * r.e_h)
                series = store.read_series("lab-refined", "s1", ROLLOUT, cid)
                np.testing.assert_allclose(series["actions"], r.arrays["actions"], atol=1e-6)
        assert kept["seed"] == min(records, key=TryRecord.rank).seed
    doc = json.loads((run / REFINE_FILE).read_text())
    assert doc["tries"] == rep.tries
    assert store.series_attrs("lab-refined", "s1", ROLLOUT)["tries"] == rep.tries
    header, rows = rep.tries_table()
    assert header[:3] == ["clip", "seed", "frames"] and len(rows) == 4
    assert sum(r[-1] == "yes" for r in rows) == 2
    # one try: no tries recorded, the plain record as before
    one = refine_subject(
        store, "lab", "s1", SETTINGS, lib, method="planner", planner=TWO.try_settings()[1]
    )
    assert one.tries == {} and one.teacher_sha256 == plans_sha256(
        PlannerSettings(samples=4, horizon=3, knots=2, iterations=1, seed=8), SETTINGS
    )
    assert "tries" not in store.series_attrs("lab-refined", "s1", ROLLOUT)


def test_cli_refine_with_planner_tries(tmp_path: Path, store: Store) -> None:
    objects = write_synthetic_objects(tmp_path / "objects")
    common = ["refine", "--store", str(store.root), "--subject", "s1", "--objects", str(objects)]
    plan = ["--plan", "samples=4", "--plan", "horizon=3", "--plan", "knots=2",
            "--plan", "iterations=1", "--set", "worlds=4", "--set", "sim_threads=1"]  # fmt: skip
    runner = CliRunner()
    r = runner.invoke(
        app, [*common, "--method", "planner", "--clip", "s1_box_000", *plan, "--plan", "tries=2"]
    )
    assert r.exit_code == 0, r.output
    assert "planner tries" in r.output and "kept" in r.output
    r = runner.invoke(app, [*common, "--method", "planner", *plan, "--plan", "tries=0"])
    assert r.exit_code == 2 and "tries" in r.output


def test_windows_are_judged_by_the_quality_rule(tmp_path: Path, store: Store) -> None:
    """The stage's judge of a window is the rule over the frames planned so far:
    ``(failed comparisons, shortfall)`` as :func:`clip_quality` gives them for that
    prefix; by tracking where nothing is measured. ``refine_subject`` plans windows with
    it (the stored refinement is the plan the quality judge makes)."""
    from intermimic.plan import plan_clip, tracking_judge
    from intermimic.rl.clipset import prepare_clips
    from stages.refine_choice import QualityChoice

    lib = ObjectLibrary(write_synthetic_objects(tmp_path / "objects"))
    raw = store.read_clip("lab", "s1", "s1_box_000")
    clipset = prepare_clips([raw], lib, SETTINGS)
    clip, scene = clipset.clips[0], next(iter(clipset.scenes.values()))
    single = TWO.try_settings()[0]
    r = plan_clip(clip, scene, SETTINGS, single, max_frames=4).rollout
    judge = QualityChoice().judge(raw, scene)
    q = clip_quality(raw, refined_clip(r, raw, scene, dataset="x", source_sha256="0" * 64),
                     scene, None, bool(r.success), reference_dir=None)  # fmt: skip
    assert q.verdict.failing  # the tiny plan breaks some rule: the score is not trivially 0
    assert judge(r) == (float(len(q.verdict.failing)), shortfall(q.verdict.failing))
    # a robot's (not measured) and a prefix too short to measure: by tracking
    assert QualityChoice(measure=False).judge(raw, scene)(r) == tracking_judge(r)
    short = plan_clip(clip, scene, SETTINGS, single, max_frames=1).rollout
    assert judge(short) == tracking_judge(short)
    # the stage plans windows with that judge
    windows = single.model_copy(update={"window": 2, "window_tries": 2})
    rep = refine_subject(
        store, "lab", "s1", SETTINGS, lib, method="planner", planner=windows,
        clips=["s1_box_000"],
    )  # fmt: skip
    want = plan_clip(clip, scene, SETTINGS, windows, judge=QualityChoice().judge(raw, scene))
    assert want.window_attempts and rep.tracking["s1_box_000"]["duration"] == want.rollout.duration
    series = store.read_series("lab-refined", "s1", ROLLOUT, "s1_box_000")
    np.testing.assert_allclose(series["actions"], want.rollout.arrays["actions"], atol=1e-6)
