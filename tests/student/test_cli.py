"""``intermimic distill``, ``evaluate``, ``track``, ``export-policy``; SIGKILL + resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli.student  # noqa: F401  (registers the commands)
from cli import app
from data_catalog import Store
from data_catalog.runs import student_dir
from intermimic.motion.formats.npz import write_npz
from intermimic.motion.load import read_clip
from intermimic.rl import checkpoint as ckpt

runner = CliRunner()
TINY = [
    "--set", "worlds=4", "--set", "horizon=8", "--set", "width=32", "--set", "layers=1",
    "--set", "heads=2", "--set", "head_hidden_dims=[32]", "--set", "critic_hidden_dims=[32]",
    "--set", "checkpoint_interval=2", "--set", "sim_threads=1", "--set", "tensorboard=false",
]  # fmt: skip


def test_distill_evaluate_track_export(store: Store, objects_dir: Path, tmp_path: Path) -> None:
    common = ["--store", str(store.root), "--objects", str(objects_dir)]
    r = runner.invoke(app, ["distill", *common, "--env-steps", "64", *TINY])
    assert r.exit_code == 1 and "'s2'" in r.output  # s2 has no teacher
    r = runner.invoke(
        app, ["distill", *common, "--env-steps", "64", "--subject", "s1", "--baselines", *TINY]
    )
    assert r.exit_code == 0, r.output
    for name in ("student", "student-ppo_only", "student-dagger_only", "student-refdist_only"):
        assert (student_dir(store, name) / "student.json").is_file(), name
    r = runner.invoke(
        app, ["evaluate", *common, "--subject", "s1", "--set", "sim_threads=1",
              "--set", "object_mass_scale=10"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    report = student_dir(store, "student") / "evaluation" / "report.md"
    text = report.read_text()
    for row in ("raw MoCap", "student (full)", "student-ppo_only (ppo_only)", "teachers"):
        assert f"| {row} |" in text
    assert "object_mass_scale = 10.0" in text

    motion = tmp_path / "generated.npz"
    write_npz(store.read_subject("lab", "s1")[0], motion)
    out = tmp_path / "tracked" / "result.npz"
    r = runner.invoke(
        app, ["track", "--policy", str(student_dir(store, "student")), "--motion", str(motion),
              "--out", str(out), "--objects", str(objects_dir), "--set", "sim_threads=1"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    sim = read_clip(out)
    metrics = json.loads(out.with_suffix(".json").read_text())
    assert sim.n_frames == metrics["duration"] + 1 and {"e_h_cm", "e_o_cm"} <= set(metrics)
    r = runner.invoke(
        app, ["track", "--policy", str(tmp_path), "--motion", str(motion), "--out", str(out),
              "--objects", str(objects_dir)],
    )  # fmt: skip
    assert r.exit_code == 1 and "neither a student nor a teacher" in " ".join(r.output.split())

    onnx = tmp_path / "student.onnx"
    r = runner.invoke(app, ["export-policy", "--store", str(store.root), "--onnx", str(onnx)])
    assert r.exit_code == 0 and onnx.is_file() and "matches torch" in r.output


_CHILD = "import cli.student; from cli import app; app()"


@pytest.mark.slow
def test_sigkill_during_distillation_then_resume(store: Store, objects_dir: Path) -> None:
    args = [
        sys.executable, "-c", _CHILD, "distill", "--store", str(store.root), "--subject", "s1",
        "--objects", str(objects_dir), "--env-steps", str(4 * 8 * 400), *TINY,
    ]  # fmt: skip
    run = student_dir(store, "student")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            done = ckpt.list_checkpoints(run / "checkpoints")
            if done and done[-1].name >= "iter_000004":
                break
            assert proc.poll() is None, "distillation ended before it could be killed"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    killed_at = ckpt.load_latest(run / "checkpoints")
    assert killed_at is not None and killed_at.iteration >= 4
    args[args.index("--env-steps") + 1] = str(4 * 8 * (killed_at.iteration + 2))
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads((run / "student.json").read_text())
    assert summary["resumed_from"] == killed_at.iteration
    assert summary["iterations"] == killed_at.iteration + 2
