"""``bench/teacher_curve.py`` with recipe ``planner_fb`` and ``bench/plan_tolerance.py
--teacher`` on the sample clip, with a tiny planner (its plan falls within 50 frames) and
a few seconds of training: the lines' fields, and the trained teacher's noiseless attempt
is its plan's replay in both."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TINY_PLAN = ["--plan", "samples=4", "--plan", "horizon=2", "--plan", "knots=1"]
TINY_PLAN += ["--plan", "iterations=1"]
SETS = ["--set", "sim_threads=1", "--set", "torch_threads=1"]


def _run(script: str, *args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *TINY_PLAN, *SETS, *args],
        capture_output=True, text=True, timeout=900, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (line,) = proc.stdout.strip().splitlines()
    return json.loads(line)


def test_feedback_teacher_keeps_its_plan_in_both_benches(sample_raw: Path, tmp_path: Path) -> None:
    cache, run = tmp_path / "plans", tmp_path / "run"
    curve = _run(
        # a few iterations, ended by env steps: a wall-clock budget of seconds leaves a
        # loaded machine no checkpoint to evaluate
        "teacher_curve.py", "--budget-minutes", "10", "--worlds", "4", "--eval-attempts", "2",
        "--curve-points", "1", "--plan-cache", str(cache), "--run-dir", str(run),
        "--set", "recipe=planner_fb", "--set", "horizon=16", "--set", "env_steps=384",
    )  # fmt: skip
    assert curve["planner"]["samples"] == 4 and curve["settings"]["recipe"] == "planner_fb"
    planned = curve["seeded_frames"]["sub2_largetable_000"]
    assert 2 <= planned < 152  # the tiny planner falls
    plan_row, trained_row = curve["tracked_curve"][0], curve["tracked_curve"][-1]
    assert plan_row[0] == 0 and plan_row[2] == planned and trained_row[0] > 0
    # trained, and still the plan to its last action (then the reference base)
    assert curve["trained_deterministic"]["mean_duration"] >= planned
    q = curve["trained_quality"]
    assert q["verdict"]["verdict"] == "partial"  # not to the clip's end
    assert set(q["raw"]) == set(q["refined"]) and q["intermimic"]
    tol = _run(
        "plan_tolerance.py", "--plan-cache", str(cache), "--teacher", str(run),
        "--worlds", "2", "--noise", "0,0.01",
    )  # fmt: skip
    assert tol["plan_frames"] == planned
    assert tol["teacher_levels"]["0"] == tol["levels"]["0"]  # the plan, to the bit
    assert tol["levels"]["0"]["root_drift_cm"][0] == 0.0
    assert tol["levels"]["0"]["qpos_max_diff"] == 0.0  # the open-loop replay is the plan
    assert set(tol["teacher_levels"]) == {"0", "0.01"}
