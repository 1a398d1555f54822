"""``intermimic train-teacher`` / ``intermimic refine``, and SIGKILL during training."""

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

import cli.teacher  # noqa: F401  (registers the commands until the CLI imports it)
from cli import app
from data_catalog import Store
from data_catalog.runs import teacher_dir
from intermimic.motion.synthetic import synthetic_clip, write_synthetic_objects
from intermimic.rl import checkpoint as ckpt

runner = CliRunner()
TINY = [
    "--set", "worlds=4", "--set", "horizon=8", "--set", "hidden_dims=[32]",
    "--set", "checkpoint_interval=2", "--set", "sim_threads=1", "--set", "tensorboard=false",
    "--set", "recipe=ppo",
]  # fmt: skip


def _setup(tmp: Path, frames: int = 30) -> tuple[Path, Path]:
    store = Store(tmp / "store")
    clips = [
        synthetic_clip("s1", "box", i, frames + 4 * i, seed=i, dataset="lab").with_meta(
            source_sha256=f"{i:064x}"
        )
        for i in range(2)
    ]
    store.upsert_clips("lab", "s1", clips)
    return store.root, write_synthetic_objects(tmp / "objects")


def test_train_then_refine(tmp_path: Path) -> None:
    store, objects = _setup(tmp_path)
    common = ["--store", str(store), "--subject", "s1", "--objects", str(objects)]
    r = runner.invoke(app, ["train-teacher", *common, "--env-steps", "64", *TINY])
    assert r.exit_code == 0, r.output
    assert "evaluation from each clip's start" in r.output
    r = runner.invoke(app, ["refine", *common, "--set", "attempts=1"])
    assert r.exit_code == 0, r.output
    assert "s1_box_001" in r.output and "penetration_object_max" in r.output
    assert "InterMimic" in r.output and "verdicts: full" in r.output
    missing = str(tmp_path / "missing")
    r = runner.invoke(app, ["refine", *common, "--reference-dir", missing])
    assert r.exit_code == 2 and "InterMimic" in r.output
    assert ("lab-refined", "s1") in Store(store).subjects()


def test_errors_and_exit_codes(tmp_path: Path) -> None:
    store, objects = _setup(tmp_path, frames=10)
    common = ["--store", str(store), "--objects", str(objects)]
    r = runner.invoke(app, ["train-teacher", *common, "--subject", "s1", *TINY])
    assert r.exit_code == 1 and "no ok clips" in r.output
    r = runner.invoke(app, ["train-teacher", *common, "--subject", "ghost"])
    assert r.exit_code == 1 and "no ok clips" in r.output
    r = runner.invoke(app, ["train-teacher", *common, "--subject", "s1", "--set", "nope=1"])
    assert r.exit_code == 2 and "KEY one of" in r.output
    r = runner.invoke(app, ["refine", *common, "--subject", "s1"])
    assert r.exit_code == 1


_CHILD = "import sys; import cli.teacher; from cli import app; app()"


@pytest.mark.slow
def test_sigkill_during_training_then_resume(tmp_path: Path) -> None:
    store, objects = _setup(tmp_path, frames=40)
    args = [
        sys.executable, "-c", _CHILD, "train-teacher", "--store", str(store), "--subject", "s1",
        "--objects", str(objects), "--env-steps", str(4 * 8 * 400), "--no-evaluate", *TINY,
    ]  # fmt: skip
    run = teacher_dir(Store(store), "lab", "s1")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = ckpt.list_checkpoints(run / "checkpoints")
            if done and done[-1].name >= "iter_000004":
                break
            assert proc.poll() is None, "training ended before it could be killed"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    killed_at = ckpt.load_latest(run / "checkpoints")
    assert killed_at is not None and killed_at.iteration >= 4
    # the same command continues from the last good checkpoint
    args[args.index("--env-steps") + 1] = str(4 * 8 * (killed_at.iteration + 2))
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads((run / "teacher.json").read_text())
    assert summary["resumed_from"] == killed_at.iteration
    assert summary["iterations"] == killed_at.iteration + 2
