"""Teacher training: one PPO tracking policy per subject, on all of the subject's clips.

:func:`train_teacher` builds the :class:`~intermimic.rl.teacher_env.TeacherEnv` of a
:class:`~intermimic.rl.teacher_env.ClipSet` and runs
:func:`~intermimic.rl.training_run.train_run` on ``run_dir``: resume is automatic
(running it again continues from the last good checkpoint), it trains until
``env_steps`` or a wall-clock budget and writes the learning curve.

The pieces, each usable alone (tests, notebooks, :mod:`stages.refine`):
:mod:`~intermimic.rl.teacher_settings` (settings), :mod:`~intermimic.rl.teacher_env`
(clips, scenes, the env), :mod:`~intermimic.rl.training_run` (the run loop and the
learning curve) and :mod:`~intermimic.rl.teacher_policy` (a trained teacher's actions).
Nothing here knows the store; :mod:`stages.refine` puts runs under
``STORE/teachers/<dataset>/<subject>/``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from intermimic.rl.teacher_env import ClipSet, build_teacher_env
from intermimic.rl.teacher_settings import SETTINGS_FILE, TeacherSettings
from intermimic.rl.train import Trainer, TrainResult
from intermimic.rl.training_run import train_run

#: The summary a stage writes beside a teacher run.
SUMMARY_FILE = "teacher.json"


@dataclass
class TeacherResult:
    """What :func:`train_teacher` did."""

    run_dir: Path | None
    iterations: int
    env_steps: int
    resumed_from: int | None
    seconds: float
    checkpoint: Path | None
    curve: list[dict[str, Any]]
    clip_ids: list[str]
    rejected: dict[str, str]
    stopped_by_budget: bool = False
    train_result: TrainResult | None = None


def train_teacher(
    clipset: ClipSet,
    settings: TeacherSettings,
    run_dir: Path | None,
    *,
    max_seconds: float | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    trainer_out: list[Trainer] | None = None,
) -> TeacherResult:
    """Train (or resume) the teacher of ``clipset`` in ``run_dir``.

    Runs until ``settings.env_steps`` (rounded up to whole iterations) or, when
    ``max_seconds`` is given, until that wall-clock budget is spent (checked every
    ``checkpoint_interval`` iterations, each chunk ending with a checkpoint).
    ``on_progress(iteration, total)`` is called after each chunk. ``trainer_out``, if
    given, receives the :class:`Trainer` (for evaluation in the same process).
    """
    t0 = time.perf_counter()
    ts = settings.train_settings()
    env = build_teacher_env(clipset, settings)
    run = train_run(
        env,
        partial(Trainer, env, ts, run_dir),
        ts,
        run_dir,
        psi=settings.psi,
        meta_file=SETTINGS_FILE,
        meta={"settings": settings.model_dump(mode="json"), "clips": env.clip_ids},
        started=t0,
        max_seconds=max_seconds,
        on_progress=on_progress,
        trainer_out=trainer_out,
    )
    return TeacherResult(
        run_dir=run_dir,
        iterations=run.trainer.iteration,
        env_steps=run.trainer.env_steps,
        resumed_from=run.resumed_from,
        seconds=run.seconds,
        checkpoint=run.checkpoint,
        curve=run.curve,
        clip_ids=env.clip_ids,
        rejected=dict(clipset.rejected),
        stopped_by_budget=run.stopped_by_budget,
        train_result=run.result,
    )
