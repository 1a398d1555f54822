"""Student distillation and evaluation over the store.

Layout (beside the teachers, under the store root)::

    STORE/students/<name>/
        checkpoints/iter_NNNNNN/     atomic checkpoints (intermimic.rl.checkpoint)
        tensorboard/                 TensorBoard event files
        curve.json, curve.png        learning curve
        settings.json                TrainSettings; student_settings.json: ours, the
                                     observation layout, groups, clips, teacher hashes
        student.json                 summary of the last distillation call
        evaluation/                  report.md, evaluation.json, metrics.png, artifacts.png

:func:`distill_student` trains (or resumes) the student ``name`` on every MoCap subject
of the store (or those named): references are the teacher-refined clips (dataset
``<ds>-refined``) in the modes that use them, the raw MoCap for ``ppo_only``; teachers
come from ``STORE/teachers/<ds>/<subject>/``. A subject without a teacher checkpoint (or
without refined clips) is a :class:`~intermimic.rl.distill.MissingTeacherError` naming
it, or, with ``missing_teacher="skip"``, left out with a warning. Baselines are
students like any other, named ``<name>-<mode>`` by :func:`baseline_name`.

:func:`evaluate_students` measures a student, its baselines and the subjects' teachers
on the raw MoCap (or the refined clips) and writes the report with the raw MoCap's own
artifact figures as the first row. :func:`evaluate_teachers` measures the subjects'
teachers of an embodiment (the G1: ``STORE/teachers-g1/``, which has no student) on
the raw MoCap the same way, report in ``STORE/teachers-<embodiment>/evaluation``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_catalog.atomic import write_text_atomic
from data_catalog.layout import safe
from data_catalog.refine import REFINED_SUFFIX, refined_dataset, teacher_dir, teachers_root
from data_catalog.store import Store
from intermimic.errors import StoreError
from intermimic.rl import checkpoint as ckpt
from intermimic.rl.checkpoint import CheckpointError
from intermimic.rl.distill import (
    SUMMARY_FILE,
    MissingTeacherError,
    StudentGroup,
    StudentResult,
    TeacherActor,
    load_student,
    load_teacher_actor,
    train_student,
)
from intermimic.rl.student_settings import MODES, StudentSettings
from intermimic.rl.teacher import NoClipsError, group_by_object, load_curve, plot_curve

log = logging.getLogger(__name__)

STUDENTS = "students"
EVALUATION = "evaluation"
BASELINES = ("ppo_only", "dagger_only", "refdist_only")


def student_dir(store: Store, name: str) -> Path:
    """``STORE/students/<name>``."""
    return store.root / STUDENTS / safe(name, "student name")


def baseline_name(name: str, mode: str) -> str:
    return name if mode == "full" else f"{name}-{mode}"


def student_names(store: Store) -> list[str]:
    """Students with at least one checkpoint."""
    root = store.root / STUDENTS
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "checkpoints").is_dir())


def mocap_subjects(
    store: Store, datasets: Sequence[str] | None = None, subjects: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """``(dataset, subject)`` of every MoCap subject (refined datasets excluded)."""
    pairs = [
        (d, s)
        for d, s in store.subjects()
        if not d.endswith(REFINED_SUFFIX)
        and (not datasets or d in datasets)
        and (not subjects or s in subjects)
    ]
    if not pairs:
        raise NoClipsError(f"no MoCap subjects in {store.root}; ingest some first")
    return pairs


def _missing(what: str, policy: str, skipped: dict[str, str], subject: str) -> None:
    if policy == "skip":
        log.warning("student: leaving subject %s out: %s", subject, what)
        skipped[subject] = what
        return
    raise MissingTeacherError(what)


def load_subject_teachers(
    store: Store, pairs: Sequence[tuple[str, str]], *, missing: str = "error"
) -> tuple[dict[str, TeacherActor], dict[str, str]]:
    """Teachers by subject and the subjects skipped (``missing="skip"``) with why."""
    teachers: dict[str, TeacherActor] = {}
    skipped: dict[str, str] = {}
    for ds, subj in pairs:
        try:
            teachers[subj] = load_teacher_actor(teacher_dir(store, ds, subj), subj)
        except CheckpointError as exc:
            _missing(str(exc), missing, skipped, subj)
    return teachers, skipped


def reference_groups(
    store: Store,
    pairs: Sequence[tuple[str, str]],
    references: str,
    objects: Any,
    *,
    missing: str = "error",
    raw_fallback: bool = False,
) -> tuple[list[StudentGroup], dict[str, str], dict[str, str]]:
    """``(groups, rejected clips, skipped subjects)``: each subject's trackable clips
    (``references`` ``"refined"`` or ``"raw"``), grouped by object, with their scenes.

    ``raw_fallback``: a refined clip that cannot serve as a reference (too short: its
    teacher fell early) is replaced by its raw MoCap clip; the substitution is listed
    among the rejects as ``"... replaced by the raw MoCap"``."""
    from intermimic.eval.evaluate import perturbed_scene, trackable

    groups: list[StudentGroup] = []
    rejected: dict[str, str] = {}
    skipped: dict[str, str] = {}
    scenes: dict[str, Any] = {}
    for ds, subj in pairs:
        src = refined_dataset(ds) if references == "refined" else ds
        try:
            clips = store.read_subject(src, subj)
        except StoreError:
            clips = []
        if not clips:
            _missing(
                f"subject {subj!r} has no clips in dataset {src!r}"
                + ("; run `intermimic refine` for it" if references == "refined" else ""),
                missing, skipped, subj,
            )  # fmt: skip
            continue
        ok, bad = trackable(clips)
        if raw_fallback and bad and src != ds:
            raw = {c.meta.clip_id: c for c in store.read_subject(ds, subj) if c.meta.clip_id in bad}
            raw_ok, _ = trackable(list(raw.values()))
            ok.extend(raw_ok)
            for c in raw_ok:
                bad[c.meta.clip_id] += "; replaced by the raw MoCap"
        rejected.update({f"{src}/{k}": v for k, v in bad.items()})
        for obj, group in group_by_object(ok).items():
            if obj not in scenes:
                try:
                    scenes[obj] = perturbed_scene(obj, objects)
                except Exception as exc:
                    scenes[obj] = exc
            if isinstance(scenes[obj], Exception):
                for c in group:
                    rejected[f"{src}/{c.meta.clip_id}"] = f"object {obj!r}: {scenes[obj]}"
                continue
            groups.append(StudentGroup(subj, obj, group, scenes[obj]))
    if not groups:
        detail = "; ".join(f"{k}: {v}" for k, v in sorted({**skipped, **rejected}.items()))
        raise NoClipsError(f"no clips a student can track ({detail or 'none found'})")
    return groups, rejected, skipped


@dataclass
class DistillReport:
    """What :func:`distill_student` did."""

    name: str
    run_dir: Path
    settings: StudentSettings
    result: StudentResult
    skipped: dict[str, str] = field(default_factory=dict)
    rejected: dict[str, str] = field(default_factory=dict)
    curve_png: Path | None = None


def distill_student(
    store: Store,
    settings: StudentSettings | None = None,
    objects: Any = None,
    *,
    name: str = "student",
    datasets: Sequence[str] | None = None,
    subjects: Sequence[str] | None = None,
    max_seconds: float | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> DistillReport:
    """Train (or resume) the student ``name`` (see the module docstring)."""
    from intermimic.objects import ObjectLibrary

    s = settings or StudentSettings()
    lib = objects or ObjectLibrary()
    pairs = mocap_subjects(store, datasets, subjects)
    teachers: dict[str, TeacherActor] = {}
    skipped: dict[str, str] = {}
    if s.uses_teacher:
        teachers, skipped = load_subject_teachers(store, pairs, missing=s.missing_teacher)
        pairs = [(d, sj) for d, sj in pairs if sj in teachers]
        if not pairs:
            raise MissingTeacherError(
                "no subject has a teacher: " + "; ".join(f"{k}: {v}" for k, v in skipped.items())
            )
    groups, rejected, skipped_refs = reference_groups(
        store, pairs, s.references, lib, missing=s.missing_teacher, raw_fallback=s.raw_fallback
    )
    skipped.update(skipped_refs)
    run_dir = student_dir(store, name)
    run_dir.mkdir(parents=True, exist_ok=True)
    result = train_student(
        groups, teachers, s, run_dir, max_seconds=max_seconds, on_progress=on_progress
    )
    png = plot_curve(load_curve(run_dir), run_dir / "curve.png", title=f"student {name} ({s.mode})")
    summary = {
        "name": name,
        "mode": s.mode,
        "iterations": result.iterations,
        "env_steps": result.env_steps,
        "resumed_from": result.resumed_from,
        "seconds": round(result.seconds, 2),
        "checkpoint": str(result.checkpoint) if result.checkpoint else None,
        "groups": result.groups,
        "clips": result.clip_ids,
        "teachers": result.teachers,
        "ppo_joined_at_update": result.gate_opened_at,
        "last_losses": result.last_losses,
        "skipped_subjects": skipped,
        "rejected_clips": rejected,
    }
    write_text_atomic(run_dir / SUMMARY_FILE, json.dumps(summary, indent=1, default=float))
    return DistillReport(name, run_dir, s, result, skipped, rejected, png)


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
) -> EvaluationReport:
    """Evaluate student ``name``, its baselines (``<name>-<mode>``; default: those that
    exist) and, with ``teachers``, each subject's teacher, on the subjects' ``raw``
    MoCap (or ``refined`` clips); write the report to ``out`` (default
    ``STORE/students/<name>/evaluation``). :class:`CheckpointError` when the student has
    no checkpoint."""
    from intermimic.eval import EvalSettings, evaluate_policy, raw_mocap, write_report
    from intermimic.objects import ObjectLibrary

    es = settings or EvalSettings()
    lib = objects or ObjectLibrary()
    pairs = mocap_subjects(store, datasets, subjects)
    clips = _evaluation_clips(store, pairs, references)
    evals = [raw_mocap(clips, lib, name="raw MoCap")]
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
        evals.append(evaluate_policy(policy, clips, lib, es, name=f"{n} ({policy.settings.mode})"))
    if teachers:
        found, _ = load_subject_teachers(store, pairs, missing="skip")
        if found:
            if on_policy is not None:
                on_policy("teachers")
            evals.append(evaluate_policy(found, clips, lib, es, name="teachers"))
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
) -> EvaluationReport:
    """Evaluate each subject's teacher of ``embodiment`` (``STORE/teachers-<embodiment>/
    <ds>/<subject>``; ``smplx``: ``STORE/teachers``) on the subject's raw MoCap, in the
    teacher's own scene (:func:`intermimic.eval.evaluate_teacher_runs`), beside the raw
    MoCap's artifact figures; write the report to ``out`` (default
    ``STORE/teachers-<embodiment>/evaluation``). A subject without a usable teacher
    checkpoint is left out with a warning (listed in ``skipped``); none at all is a
    :class:`MissingTeacherError` naming where it looked."""
    from intermimic.eval import EvalSettings, evaluate_teacher_runs, raw_mocap, write_report
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
    evals = [raw_mocap(clips, lib, name="raw MoCap")]
    if on_policy is not None:
        on_policy(name)
    evals.append(evaluate_teacher_runs(runs, clips, lib, es, name=name))
    folder = out or root / EVALUATION
    title = f"{embodiment} teachers: evaluation on raw clips"
    files = write_report(evals, folder, title=title)
    return EvaluationReport(evals, folder, files, skipped)
