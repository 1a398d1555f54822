"""The evaluate stage: students, baselines and teachers on the MoCap, with a report.

:func:`evaluate_students` measures a student, its baselines and the subjects' teachers
on the raw MoCap (or the refined clips) and writes the report with the raw MoCap's own
artifact figures as the first row. :func:`evaluate_teachers` measures the subjects'
teachers of an embodiment (the G1: ``STORE/teachers-g1/``, which has no student) on
the raw MoCap the same way, report in ``STORE/teachers-<embodiment>/evaluation``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_catalog.refined_layout import refined_dataset
from data_catalog.runs import EVALUATION, baseline_name, student_dir, teacher_dir, teachers_root
from data_catalog.store import Store
from intermimic.errors import StoreError
from intermimic.rl import checkpoint as ckpt
from intermimic.rl.student_policy import load_student
from intermimic.rl.student_settings import MODES
from intermimic.rl.teacher_actor import MissingTeacherError
from intermimic.rl.teacher_settings import NoClipsError
from stages.student import BASELINES, load_subject_teachers
from stages.subjects import mocap_subjects

log = logging.getLogger(__name__)

OnProgress = Callable[[str, int, int], None]
"""``on_progress(policy, clips done, clips)``: called with 0 done as each policy (the raw
MoCap first) starts, then after each clip it has measured."""


def _counting(on_progress: OnProgress | None, policy: str, total: int) -> Callable[[str], None]:
    """Announce ``policy`` (0 of ``total`` done) and return a per-clip callback."""
    done = 0
    if on_progress is not None:
        on_progress(policy, 0, total)

    def on_clip(_clip_id: str) -> None:
        nonlocal done
        done += 1
        if on_progress is not None:
            on_progress(policy, done, total)

    return on_clip


def _raw_mocap(clips: Sequence[Any], objects: Any, on_progress: OnProgress | None) -> Any:
    """The raw MoCap's own figures (:func:`intermimic.eval.raw_mocap`), its progress
    reported as a whole (it measures every clip in one call)."""
    from intermimic.eval import raw_mocap

    on_clip = _counting(on_progress, "raw MoCap", len(clips))
    evaluation = raw_mocap(clips, objects, name="raw MoCap")
    for c in clips:
        on_clip(c.meta.clip_id)
    return evaluation


@dataclass
class EvaluationReport:
    """What :func:`evaluate_students` measured and wrote."""

    evaluations: list[Any]
    folder: Path
    files: Any
    skipped: dict[str, str] = field(default_factory=dict)
    """Subjects left out, with why (:func:`evaluate_teachers`)."""


def _evaluation_clips(store: Store, pairs: Sequence[tuple[str, str]], references: str) -> list[Any]:
    """The ``raw`` (or ``refined``) clips of every ``(dataset, subject)``; a subject
    without any is left out with a warning, none at all is a :class:`NoClipsError`."""
    clips: list[Any] = []
    for ds, subj in pairs:
        src = refined_dataset(ds) if references == "refined" else ds
        try:
            clips += store.read_subject(src, subj)
        except StoreError as exc:
            log.warning("evaluation: no clips of %s/%s: %s", src, subj, exc)
    if not clips:
        raise NoClipsError(f"no {references} clips to evaluate on in {store.root}")
    return clips


def evaluate_students(
    store: Store,
    name: str = "student",
    settings: Any = None,
    objects: Any = None,
    *,
    baselines: Sequence[str] | None = None,
    teachers: bool = True,
    references: str = "raw",
    datasets: Sequence[str] | None = None,
    subjects: Sequence[str] | None = None,
    out: Path | None = None,
    on_policy: Callable[[str], None] | None = None,
    on_progress: OnProgress | None = None,
) -> EvaluationReport:
    """Evaluate student ``name``, its baselines (``<name>-<mode>``; default: those that
    exist) and, with ``teachers``, each subject's teacher, on the subjects' ``raw``
    MoCap (or ``refined`` clips); write the report to ``out`` (default
    ``STORE/students/<name>/evaluation``). :class:`CheckpointError` when the student has
    no checkpoint. ``on_policy(name)`` as each policy starts; ``on_progress`` (see
    :data:`OnProgress`) clip by clip as well."""
    from intermimic.eval import EvalSettings, evaluate_policy, write_report
    from intermimic.objects import ObjectLibrary

    es = settings or EvalSettings()
    lib = objects or ObjectLibrary()
    pairs = mocap_subjects(store, datasets, subjects)
    clips = _evaluation_clips(store, pairs, references)
    evals = [_raw_mocap(clips, lib, on_progress)]
    names = [name]
    modes = BASELINES if baselines is None else tuple(baselines)
    for m in modes:
        if m not in MODES:
            raise ValueError(f"unknown baseline mode {m!r}; one of {', '.join(MODES)}")
        b = baseline_name(name, m)
        if baselines is not None or (student_dir(store, b) / "checkpoints").is_dir():
            names.append(b)
    for n in names:
        if on_policy is not None:
            on_policy(n)
        policy = load_student(student_dir(store, n))
        label = f"{n} ({policy.settings.mode})"
        on_clip = _counting(on_progress, label, len(clips))
        evals.append(evaluate_policy(policy, clips, lib, es, name=label, on_clip=on_clip))
    if teachers:
        found, _ = load_subject_teachers(store, pairs, missing="skip")
        if found:
            if on_policy is not None:
                on_policy("teachers")
            on_clip = _counting(on_progress, "teachers", len(clips))
            evals.append(evaluate_policy(found, clips, lib, es, name="teachers", on_clip=on_clip))
    folder = out or student_dir(store, name) / EVALUATION
    files = write_report(evals, folder, title=f"Student {name}: evaluation on {references} clips")
    return EvaluationReport(evals, folder, files)


def evaluate_teachers(
    store: Store,
    embodiment: str = "g1",
    settings: Any = None,
    objects: Any = None,
    *,
    datasets: Sequence[str] | None = None,
    subjects: Sequence[str] | None = None,
    out: Path | None = None,
    on_policy: Callable[[str], None] | None = None,
    on_progress: OnProgress | None = None,
) -> EvaluationReport:
    """Evaluate each subject's teacher of ``embodiment`` (``STORE/teachers-<embodiment>/
    <ds>/<subject>``; ``smplx``: ``STORE/teachers``) on the subject's raw MoCap, in the
    teacher's own scene (:func:`intermimic.eval.evaluate_teacher_runs`), beside the raw
    MoCap's artifact figures; write the report to ``out`` (default
    ``STORE/teachers-<embodiment>/evaluation``). A subject without a usable teacher
    checkpoint is left out with a warning (listed in ``skipped``); none at all is a
    :class:`MissingTeacherError` naming where it looked."""
    from intermimic.eval import EvalSettings, evaluate_teacher_runs, write_report
    from intermimic.objects import ObjectLibrary

    es = settings or EvalSettings()
    lib = objects or ObjectLibrary()
    pairs = mocap_subjects(store, datasets, subjects)
    runs: dict[str, Path] = {}
    skipped: dict[str, str] = {}
    for ds, subj in pairs:
        run = teacher_dir(store, ds, subj, embodiment)
        if ckpt.load_latest(run / "checkpoints") is None:
            why = f"no usable {embodiment} teacher checkpoint in {run / 'checkpoints'}"
            log.warning("evaluation: leaving subject %s out: %s", subj, why)
            skipped[subj] = why
        else:
            runs[subj] = run
    root = teachers_root(store, embodiment)
    if not runs:
        names = ", ".join(f"{d}/{s}" for d, s in pairs)
        raise MissingTeacherError(
            f"no {embodiment} teacher to evaluate: none of {names} has a checkpoint under "
            f"{root}; train one with `intermimic train-teacher --embodiment {embodiment}`"
        )
    clips = _evaluation_clips(store, [(d, s) for d, s in pairs if s in runs], "raw")
    name = f"teachers ({embodiment})"
    evals = [_raw_mocap(clips, lib, on_progress)]
    if on_policy is not None:
        on_policy(name)
    on_clip = _counting(on_progress, name, len(clips))
    evals.append(evaluate_teacher_runs(runs, clips, lib, es, name=name, on_clip=on_clip))
    folder = out or root / EVALUATION
    title = f"{embodiment} teachers: evaluation on raw clips"
    files = write_report(evals, folder, title=title)
    return EvaluationReport(evals, folder, files, skipped)
