"""``intermimic evaluate --embodiment g1``: the G1 teachers (there is no G1 student) on
the raw MoCap, beside the raw MoCap's own figures (skipped without the robot's URDF)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import cli.student  # noqa: F401  (registers the commands)
from cli import app
from data_catalog import Store
from data_catalog.runs import teachers_root
from intermimic.motion.synthetic import write_synthetic_objects
from intermimic.objects import ObjectLibrary
from intermimic.rl.teacher_settings import TeacherSettings
from stages.teacher import train_subject_teacher

from .conftest import make_store

runner = CliRunner()


def _store(root: Path, subjects: tuple[str, ...]) -> Store:
    return make_store(root, subjects, refined=False)


def test_evaluate_g1_without_teachers_exits_1(tmp_path: Path) -> None:
    from intermimic.motion.synthetic import write_synthetic_objects

    store = _store(tmp_path / "store", ("s1",))
    # objects given, so that the missing teacher is the error with or without a sample
    objects = ["--objects", str(write_synthetic_objects(tmp_path / "objects"))]
    r = runner.invoke(app, ["evaluate", "--store", str(store.root), "--embodiment", "g1", *objects])
    assert r.exit_code == 1, r.output
    text = " ".join(r.output.split())
    assert "no g1 teacher to evaluate" in text and "lab/s1" in text
    assert "teachers-g1" in text and "train-teacher --embodiment g1" in text
    r = runner.invoke(
        app,
        ["evaluate", "--store", str(store.root), "--embodiment", "g1", "--baselines", "x",
         *objects],
    )  # fmt: skip
    assert r.exit_code == 2 and "no student" in " ".join(r.output.split())


@pytest.mark.slow
def test_evaluate_g1_teachers(tmp_path: Path) -> None:
    from intermimic.humanoid.g1 import default_urdf

    if not default_urdf().is_file():
        pytest.skip(f"G1 URDF not present ({default_urdf()})")
    store = _store(tmp_path / "store", ("s1", "s2"))
    objects_dir = write_synthetic_objects(tmp_path / "objects")
    s = TeacherSettings(
        recipe="ppo",  # trains without plans (the cpu default plans first)
        env_steps=4 * 8, worlds=4, horizon=8, hidden_dims=[32], checkpoint_interval=1,
        sim_threads=1, tensorboard=False, embodiment="g1",
    )  # fmt: skip
    trained = train_subject_teacher(store, "lab", "s1", s, ObjectLibrary(objects_dir))
    assert trained.result.iterations == 1

    r = runner.invoke(
        app, ["evaluate", "--store", str(store.root), "--objects", str(objects_dir),
              "--embodiment", "g1", "--set", "sim_threads=1"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    out = " ".join(r.output.split())
    assert "left out subject s2" in out and "| teachers (g1) |" in r.output
    folder = teachers_root(store, "g1") / "evaluation"
    assert (folder / "metrics.png").is_file()
    text = (folder / "report.md").read_text()
    assert "| raw MoCap |" in text and "| teachers (g1) |" in text
    mocap, teacher = json.loads((folder / "evaluation.json").read_text())
    assert mocap["kind"] == "mocap" and mocap["summary"]["clips"] == 2  # s1's clips only
    assert teacher["kind"] == "teacher" and teacher["summary"]["clips"] == 2
    # the same figures as the teacher's own evaluation after training (same env, same starts)
    for key in ("success_rate", "mean_duration", "e_h_cm", "e_o_cm"):
        assert teacher["summary"][key] == pytest.approx(trained.evaluation[key], rel=1e-6), key
