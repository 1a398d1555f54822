"""The teacher stage: train (or resume) one subject's teacher on all its ok clips.

:func:`train_subject_teacher` trains in ``STORE/teachers/<dataset>/<subject>/``
(:mod:`data_catalog.runs`; ``STORE/teachers-smplx-body/`` with ``hands="body"``,
``STORE/teachers-g1/`` for the G1); running it again continues from the last good
checkpoint. With ``recipe="planner_psi"``, ``"planner_bc"``, ``"planner_ff"`` or
``"planner_fb"`` the sampling planner first tracks every clip and its states seed the PSI
buffers (planned once, cached in the run's ``psi_seed/``); ``"planner_bc"`` also clones
the planned actions into the fresh actor, ``"planner_ff"`` makes them the base of the
residual actions (saved with every checkpoint) and starts the actor's mean at 0, and
``"planner_fb"`` is that with an actor whose mean is exactly 0 on the plan
(:mod:`intermimic.rl.plan_feedback`). The planner runs with ``planner`` (default: its
defaults); with ``tries`` > 1 each clip keeps the try the quality rule judges best, as
``refine --method planner`` does (:class:`stages.refine_choice.QualityChoice`; the tries
are in the run summary's ``planner_tries``).
One run per teacher at a time: a second one fails at once, naming the run folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import Timeout

from data_catalog.runs import TRAIN_LOCK, teacher_dir
from data_catalog.store import Store
from intermimic.atomic import lock, write_text_atomic
from intermimic.contact.settings import ContactSettings
from intermimic.errors import StoreError
from intermimic.plan.recipes import recipe_inputs
from intermimic.plan.seeds import OnFrame
from intermimic.plan.settings import PlannerSettings
from intermimic.rl.teacher_settings import TeacherSettings
from intermimic.rl.teacher_training import SUMMARY_FILE, TeacherResult, train_teacher
from intermimic.rl.training_run import load_curve, plot_curve
from stages.refine_choice import QualityChoice
from stages.refine_quality import ReferenceSettings
from stages.subjects import subject_clipset


@dataclass
class TrainReport:
    """What :func:`train_subject_teacher` did."""

    dataset: str
    subject: str
    run_dir: Path
    result: TeacherResult
    evaluation: dict[str, float] = field(default_factory=dict)
    """Deterministic rollouts from every clip's start: success_rate, mean_duration,
    mean_duration_fraction, e_h_cm, e_o_cm (empty when not evaluated)."""
    curve_png: Path | None = None
    tries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Planner recipes with ``tries`` > 1: clip id -> its tries as judged
    (:meth:`stages.refine_choice.QualityChoice.to_json`)."""


def train_subject_teacher(
    store: Store,
    dataset: str,
    subject: str,
    settings: TeacherSettings | None = None,
    objects: Any = None,
    *,
    max_seconds: float | None = None,
    evaluate: bool = True,
    on_progress: Callable[[int, int], None] | None = None,
    planner: PlannerSettings | None = None,
    reference: ReferenceSettings | None = None,
    on_plan: OnFrame | None = None,
) -> TrainReport:
    """Train (or resume) the teacher of ``dataset/subject`` on all its ok clips.
    ``reference``: where InterMimic's refinement is, for judging planner tries (default:
    the sample's, if present). ``on_progress(iteration, total)`` reports training,
    ``on_plan(clip_id, seed, frame, last)`` a planner recipe's planning before it."""
    from intermimic.rl.rollout import evaluate as run_eval
    from intermimic.rl.rollout import summarize

    s = settings or TeacherSettings()
    clipset = subject_clipset(store, dataset, subject, s, objects)
    run_dir = teacher_dir(store, dataset, subject, s.embodiment_key)
    run_dir.mkdir(parents=True, exist_ok=True)
    # One trainer per teacher: a second run of the same subject fails at once, clearly,
    # rather than interleaving checkpoints with the first.
    busy = lock(run_dir / TRAIN_LOCK, timeout=0)
    try:
        busy.acquire()
    except Timeout:
        raise StoreError(
            f"{run_dir}: the teacher of {dataset}/{subject} is being trained by another run; "
            "launch this one again when that run has ended (it resumes)"
        ) from None
    try:
        # planner recipes: physically valid starts along every clip (and planner_ff's
        # base actions), planned once per clip and settings (cached in the run), before
        # the first iteration
        # of several planner tries, the one the refine stage would keep
        choice = QualityChoice(
            ContactSettings(),
            (reference or ReferenceSettings()).resolved_dir(),
            measure=s.embodiment == "smplx",
        )
        recipe = recipe_inputs(
            clipset, s, run_dir / "psi_seed", planner, choose=choice, judge_for=choice.judge,
            on_frame=on_plan,
        )  # fmt: skip
        result = train_teacher(
            clipset, s, run_dir, max_seconds=max_seconds, on_progress=on_progress,
            psi_seeds=recipe.psi_seeds, init_actor=recipe.init_actor,
            feedforward=recipe.feedforward,
        )  # fmt: skip
    finally:
        busy.release()
    report = TrainReport(dataset, subject, run_dir, result, tries=choice.to_json())
    if evaluate and result.checkpoint is not None:
        best = run_eval(clipset, s, run_dir, attempts=1, noise=0.0)
        report.evaluation = summarize(best)
    report.curve_png = plot_curve(
        load_curve(run_dir), run_dir / "curve.png", title=f"teacher {dataset}/{subject}"
    )
    summary = {
        "dataset": dataset,
        "subject": subject,
        "iterations": result.iterations,
        "env_steps": result.env_steps,
        "resumed_from": result.resumed_from,
        "seconds": round(result.seconds, 2),
        "checkpoint": str(result.checkpoint) if result.checkpoint else None,
        "clips": result.clip_ids,
        "rejected": result.rejected,
        "evaluation": report.evaluation,
        "planner_tries": report.tries,
    }
    write_text_atomic(run_dir / SUMMARY_FILE, json.dumps(summary, indent=1))
    return report
