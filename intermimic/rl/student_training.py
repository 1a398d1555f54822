"""Student distillation: teacher-refined references, DAgger, then PPO fine-tuning.

:func:`train_student` builds the :class:`~intermimic.rl.student_env.StudentEnv` of some
:class:`~intermimic.rl.student_env.StudentGroup` s with their subjects' teachers
(:mod:`~intermimic.rl.teacher_actor`) and runs
:func:`~intermimic.rl.training_run.train_run` with a
:class:`~intermimic.rl.student_ppo.StudentTrainer` on ``run_dir`` for a budget (running
it again resumes). The trained student is read back with
:func:`~intermimic.rl.student_policy.load_student`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from intermimic.rl.student_env import StudentEnv, StudentGroup, build_student_env
from intermimic.rl.student_ppo import StudentPPO, StudentTrainer
from intermimic.rl.student_settings import SETTINGS_FILE, StudentSettings
from intermimic.rl.teacher_actor import MissingTeacherError, TeacherActor
from intermimic.rl.train import TrainResult
from intermimic.rl.training_run import train_run

#: The summary a stage writes beside a student run.
SUMMARY_FILE = "student.json"


@dataclass
class StudentResult:
    """What :func:`train_student` did."""

    run_dir: Path | None
    iterations: int
    env_steps: int
    resumed_from: int | None
    seconds: float
    checkpoint: Path | None
    curve: list[dict[str, Any]]
    clip_ids: list[str]
    groups: list[str]
    teachers: dict[str, str] = field(default_factory=dict)
    """subject -> teacher checkpoint SHA-256."""
    stopped_by_budget: bool = False
    gate_opened_at: int | None = None
    last_losses: dict[str, float] = field(default_factory=dict)
    train_result: TrainResult | None = None


def student_meta(settings: StudentSettings, env: StudentEnv) -> dict[str, Any]:
    """What a run directory's ``student_settings.json`` holds besides the settings."""
    return {
        "settings": settings.model_dump(mode="json"),
        "layout": env.layout.to_dict(),
        "obs_dim": env.obs_dim,
        "action_dim": env.num_actions,
        "groups": env.names,
        "clips": env.clip_ids,
        "teachers": {t.subject: t.sha256 for t in env.teachers if t is not None},
    }


def train_student(
    groups: Sequence[StudentGroup],
    teachers: Mapping[str, TeacherActor],
    settings: StudentSettings,
    run_dir: Path | None,
    *,
    max_seconds: float | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> StudentResult:
    """Train (or resume) a student on ``groups`` in ``run_dir``; running it again
    continues from the newest good checkpoint. Stops at ``settings.env_steps`` or after
    ``max_seconds`` of wall clock (checked every ``checkpoint_interval`` iterations)."""
    t0 = time.perf_counter()
    if settings.uses_teacher:
        missing = sorted({g.subject for g in groups} - set(teachers))
        if missing:
            raise MissingTeacherError(
                f"no teacher for subject(s) {', '.join(missing)}: mode {settings.mode!r} needs one"
            )
    env = build_student_env(groups, teachers if settings.uses_teacher else {}, settings)
    run = train_run(
        env,
        partial(StudentTrainer, env, settings, run_dir),
        settings.train_settings(),
        run_dir,
        psi=settings.psi,
        meta_file=SETTINGS_FILE,
        meta=student_meta(settings, env),
        started=t0,
        max_seconds=max_seconds,
        on_progress=on_progress,
    )
    alg = run.trainer.alg
    assert isinstance(alg, StudentPPO)
    result = run.result
    return StudentResult(
        run_dir=run_dir,
        iterations=run.trainer.iteration,
        env_steps=run.trainer.env_steps,
        resumed_from=run.resumed_from,
        seconds=run.seconds,
        checkpoint=run.checkpoint,
        curve=run.curve,
        clip_ids=env.clip_ids,
        groups=env.names,
        teachers={t.subject: t.sha256 for t in env.teachers if t is not None},
        stopped_by_budget=run.stopped_by_budget,
        gate_opened_at=alg.gate.opened_at if settings.uses_ppo else None,
        last_losses=dict(result.history[-1].losses) if result and result.history else {},
        train_result=result,
    )
