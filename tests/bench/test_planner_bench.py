"""``bench/planner.py``: one run's JSON line, and ``--seeds`` over several planner seeds
(in worker processes) with their summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import planner as bench_planner  # noqa: E402

TINY = ["--plan", "samples=4", "--plan", "horizon=2", "--plan", "knots=1"]
TINY += ["--plan", "iterations=1", "--frames", "3", "--set", "sim_threads=1"]


def _run(*args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "planner.py"), *TINY, *args],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (line,) = proc.stdout.strip().splitlines()
    return json.loads(line)


def test_seeds_run_in_workers_and_are_summarised(sample_raw: Path, tmp_path: Path) -> None:
    """Each seed's run is the single run's line with that seed (the same figures as a
    single run of it), saved under its own name; the summary is their mean, min, max."""
    save = tmp_path / "plan.npz"
    many = _run("--seeds", "0,1", "--workers", "2", "--save", str(save))
    assert many["bench"] == "planner_seeds" and many["seeds"] == [0, 1]
    runs = many["runs"]
    assert [r["planner"]["seed"] for r in runs] == [0, 1]
    assert all(r["frames"] == 3 and r["bench"] == "planner" for r in runs)
    assert all(r["ended_by"] == ["episode_cap"] for r in runs)  # --frames stopped them
    one = _run("--plan", "seed=1")
    assert one["planner"]["seed"] == 1 and one["e_h_cm"] == runs[1]["e_h_cm"]
    # the simulated system is in the line: the method's 120 Hz, MuJoCo's 20 ms ground and
    # its friction (pyramidal cone, impratio 1)
    assert one["physics"] == {
        "physics_hz": 120, "ground_solref": [0.02, 1.0], "friction_cone": "pyramidal",
        "impratio": 1.0, "embodiment": "smplx", "ground_window": 0.0,
        "gravity_compensation": 0.0, "object_rest": False,
    }  # fmt: skip
    # 4 frames (the start and 3 committed): one segment of each per-30 series
    assert one["e_h_cm_per_30"] == [pytest.approx(one["e_h_cm"], abs=0.01)]
    (drift,) = one["hinge_error_rad_per_30"]
    assert 0 < drift < 1
    (held,) = one["hand_object_cm_per_30"]  # None where no hand is labelled
    assert held is None or held >= 0
    with np.load(tmp_path / "plan_s1.npz") as z:
        assert len(z["qpos"]) == 4
    assert (tmp_path / "plan_s0.npz").is_file() and not save.exists()
    e_h = [r["e_h_cm"] for r in runs]
    summary = many["summary"]
    assert summary["e_h_cm"]["min"] == min(e_h) and summary["e_h_cm"]["max"] == max(e_h)
    assert summary["e_h_cm"]["mean"] == pytest.approx(np.mean(e_h), abs=1e-5)
    assert summary["frames"] == {"mean": 3.0, "min": 3.0, "max": 3.0}
    assert "jitter_body" in summary and summary["success"] == 0
    assert summary["verdicts"] == {"partial": 2}


def test_a_preset_under_the_options(sample_raw: Path) -> None:
    """``--preset tuned``: its physics and planner terms, the options beside it on top."""
    one = _run("--preset", "tuned", "--plan", "backtrack=0")
    assert one["preset"] == "tuned" and one["frames"] == 3
    assert one["physics"]["physics_hz"] == 240 and one["physics"]["gravity_compensation"] == 1
    assert one["physics"]["ground_solref"] == [0.0085, 1.0]
    planner = one["planner"]
    assert planner["object_points_weight"] == 20 and planner["swing_clearance"] == 0.04
    assert planner["samples"] == 4 and planner["backtrack"] == 0  # the options win


def test_summary_of_hand_made_runs() -> None:
    def run(frames: int, e_h: float, verdict: str | None, seed: int = 0, failing: int = 0) -> dict:
        r = {"frames": frames, "e_h_cm": e_h, "e_o_cm": 1.0, "seconds": 2.0, "success": False,
             "planner": {"seed": seed}}  # fmt: skip
        if verdict is not None:
            bad = {"figure": "jitter_body", "against": "intermimic", "refined": 2.0,
                   "reference": 1.0, "tolerance": 0.0}  # fmt: skip
            r["quality"] = {
                "verdict": {"verdict": verdict, "failing": [bad] * failing},
                "planned": {"jitter_body": e_h},
            }
            r["success"] = verdict != "partial"
        return r

    s = bench_planner.summarise([run(10, 4.0, "worse"), run(20, 8.0, "worse", seed=3)])
    assert s["frames"] == {"mean": 15.0, "min": 10.0, "max": 20.0}
    assert s["jitter_body"] == {"mean": 6.0, "min": 4.0, "max": 8.0}
    assert s["verdicts"] == {"worse": 2} and s["success"] == 2
    # what tries=2 would keep: the run further along (seed 3)
    assert s["kept"]["seed"] == 3 and s["kept"]["kept"]
    # of two runs to the end, the one with fewer failing comparisons, whatever its E_h
    s = bench_planner.summarise(
        [run(20, 4.0, "worse", seed=1, failing=2), run(20, 9.0, "worse", seed=2, failing=1)]
    )
    assert s["kept"]["seed"] == 2 and s["kept"]["failing"] == ["jitter_body > InterMimic"]
    # a run too short to judge has no artifact figures: they are left out, not guessed
    s = bench_planner.summarise([run(10, 4.0, "worse"), run(1, 8.0, None, seed=4)])
    assert "jitter_body" not in s and s["verdicts"] == {"none": 1, "worse": 1}
    assert s["kept"]["seed"] == 0


@pytest.mark.parametrize("seeds", ["0,x", "1,1", ","])
def test_bad_seeds_are_refused(seeds: str) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "planner.py"), "--seeds", seeds],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 2 and "--seeds" in proc.stderr


def test_replay_physics_reproduces_the_plan_then_varies_it(
    sample_raw: Path, tmp_path: Path
) -> None:
    """``bench/replay_physics.py``: a saved plan replayed in its own physics is the plan
    (0 mm apart, the same jitter); on a softer ground it is another motion."""
    save = tmp_path / "plan.npz"
    run = _run("--frames", "8", "--save", str(save))
    assert run["frames"] == 8 and save.is_file()
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "replay_physics.py"), "--plan-file", str(save),
         "--starts", "2,4", "--frames", "3", "--vary", "ground_timeconst=0.05"],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["bench"] == "replay_physics" and [r["start"] for r in out["starts"]] == [2, 4]
    for r in out["starts"]:
        assert r["baseline_max_dev_mm"] == 0.0
        assert r["jitter_baseline_mm"] == r["jitter_plan_mm"]
    assert any(r["max_dev_mm"] > 0 for r in out["starts"])
    bad = subprocess.run(
        [sys.executable, str(REPO / "bench" / "replay_physics.py"), "--plan-file", str(save),
         "--starts", "1"],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )  # fmt: skip
    assert bad.returncode != 0 and "--starts must lie in 2..7" in bad.stderr


def test_per_30_leaves_out_frames_without_a_figure() -> None:
    """Segment means over 30 frames; NaN frames (no hand labelled) are left out, and a
    segment without any figure is None (``null`` in the JSON line)."""
    series = np.r_[np.full(30, np.nan), np.arange(30.0), [np.nan, 4.0, 6.0]]
    series[35] = np.nan
    rest = [x for i, x in enumerate(np.arange(30.0)) if i != 5]
    assert bench_planner._per_30(series) == [None, round(float(np.mean(rest)), 3), 5.0]
