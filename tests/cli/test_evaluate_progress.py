"""``intermimic evaluate`` shows a progress bar, clip by clip, for each policy it measures
(rich, like the other long commands), as a user in a terminal sees it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from data_catalog.runs import student_dir
from intermimic.motion.synthetic import write_synthetic_objects
from intermimic.objects import ObjectLibrary
from intermimic.rl.student_settings import StudentSettings
from intermimic.rl.teacher_settings import TeacherSettings
from stages.student import distill_student
from stages.teacher import train_subject_teacher
from tests.synthetic_store import two_clip_store

EXE = Path(sys.executable).parent / "intermimic"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_evaluate_shows_a_bar_per_policy(tmp_path: Path) -> None:
    store, clips = two_clip_store(tmp_path / "store", frames=30)
    store.upsert_clips("lab-refined", "s1", [c.with_meta(dataset="lab-refined") for c in clips])
    objects_dir = write_synthetic_objects(tmp_path / "objects")
    lib = ObjectLibrary(objects_dir)
    tiny = {"worlds": 4, "horizon": 8, "checkpoint_interval": 2, "sim_threads": 1}
    teacher = TeacherSettings(
        env_steps=64, hidden_dims=[32], tensorboard=False, recipe="ppo", **tiny
    )
    train_subject_teacher(store, "lab", "s1", teacher, lib, evaluate=False)
    student = StudentSettings(
        env_steps=64, width=32, layers=1, heads=2, head_hidden_dims=[32],
        critic_hidden_dims=[32], tensorboard=False, beta_anneal_iterations=2, **tiny,
    )  # fmt: skip
    distill_student(store, student, lib)

    env = {**os.environ, "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "150"}
    out = subprocess.run(
        [str(EXE), "evaluate", "--store", str(store.root), "--objects", str(objects_dir),
         "--set", "sim_threads=1"],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    err = ANSI.sub("", out.stderr)
    for policy in ("raw MoCap", "student (full)", "teachers"):
        assert f"evaluating {policy}" in err, err
        # each policy's bar, drawn at every count
        for done in (0, 1, 2):
            bar = rf"evaluate {re.escape(policy)} [━╺╸]+ {done}/2 clips"
            assert re.search(bar, err), (bar, err)
    assert (student_dir(store, "student") / "evaluation" / "report.md").is_file()
