"""The student stage: distil one student from every subject's teacher.

:func:`distill_student` trains (or resumes) the student ``name`` in
``STORE/students/<name>/`` (:mod:`data_catalog.runs`) on every MoCap subject of the store
(or those named): references are the teacher-refined clips (dataset ``<ds>-refined``) in
the modes that use them, the raw MoCap for ``ppo_only``; teachers come from
``STORE/teachers/<ds>/<subject>/``. A subject without a teacher checkpoint (or without
refined clips) is a :class:`~intermimic.rl.teacher_actor.MissingTeacherError` naming it, or,
with ``missing_teacher="skip"``, left out with a warning. Baselines are students like any
other, named ``<name>-<mode>`` by :func:`data_catalog.runs.baseline_name`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_catalog.refined_layout import refined_dataset
from data_catalog.runs import student_dir, teacher_dir
from data_catalog.store import Store
from intermimic.atomic import write_text_atomic
from intermimic.errors import StoreError
from intermimic.rl.checkpoint import CheckpointError
from intermimic.rl.clipset import group_by_object
from intermimic.rl.student_env import StudentGroup
from intermimic.rl.student_settings import StudentSettings
from intermimic.rl.student_training import SUMMARY_FILE, StudentResult, train_student
from intermimic.rl.teacher_actor import MissingTeacherError, TeacherActor, load_teacher_actor
from intermimic.rl.teacher_settings import NoClipsError
from intermimic.rl.training_run import load_curve, plot_curve
from stages.subjects import mocap_subjects

log = logging.getLogger(__name__)

BASELINES = ("ppo_only", "dagger_only", "refdist_only")


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
