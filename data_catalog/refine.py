"""Teacher training and refinement of one subject of the store.

Layout (beside the MoCap, under the store root)::

    STORE/teachers/<dataset>/<subject>/
        checkpoints/iter_NNNNNN/        atomic checkpoints (intermimic.rl.checkpoint)
        tensorboard/                     TensorBoard event files
        curve.json, curve.png            learning curve (rows written at checkpoints)
        settings.json                    TrainSettings; teacher_settings.json: ours + clips
        teacher.json                     summary of the last training call (evaluation)
        refine.json                      summary of the last refinement

:func:`train_subject_teacher` trains (or resumes) the subject's teacher on all its ok
clips; running it again continues from the last good checkpoint. :func:`refine_subject`
replays the teacher on every clip and stores the simulated motion as the subject's clips
in the dataset ``<dataset>-refined`` (``meta.source_sha256`` = SHA-256 of the teacher
checkpoint's hash and the raw clip's hash, so a new teacher or changed MoCap replaces
exactly the clips it changes), with the per-frame rollout series (group ``rollout``) and
the refined motion's artifact series (group ``artifacts``); the per-clip figures
(tracking metrics and artifacts after refinement) go into the catalog under the stage
``refined``, keyed by the raw dataset and clip id, next to the ``raw`` stage of
``annotate``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from filelock import Timeout

from data_catalog.atomic import lock, write_text_atomic
from data_catalog.catalog import Catalog
from data_catalog.layout import safe
from data_catalog.refined_layout import (
    ARTIFACTS,
    REFINED_SUFFIX,
    ROLLOUT,
    refined_dataset,
    refined_sha256,
)
from data_catalog.store import Store
from intermimic.errors import InputError, StoreError
from intermimic.rl.teacher import (
    SUMMARY_FILE,
    ClipSet,
    NoClipsError,
    TeacherResult,
    TeacherSettings,
    checkpoint_sha256,
    load_curve,
    plot_curve,
    prepare_clips,
    train_teacher,
)

TEACHERS = "teachers"
REFINED_STAGE = "refined"
REFINE_FILE = "refine.json"
#: Held while a teacher trains (in its run folder).
TRAIN_LOCK = ".train.lock"
#: Settings a refinement takes from the teacher's run, whatever it is given: they decide
#: the networks, the action parameterisation and the humanoid the policy was trained on.
POLICY_FIELDS = (
    "profile",
    "hidden_dims",
    "init_log_std",
    "residual_actions",
    "residual_scale",
    "fit_skeleton",
    "embodiment",
)
#: Artifact figures compared before / after refinement in reports.
COMPARED_FIGURES = (
    "penetration_object_max",
    "penetration_ground_max",
    "floating_fraction",
    "foot_skate_speed_mean",
    "jitter_body",
    "jitter_object",
)


def teachers_root(store: Store, embodiment: str = "smplx") -> Path:
    """``STORE/teachers`` (another embodiment: ``STORE/teachers-<embodiment>``)."""
    root = TEACHERS if embodiment == "smplx" else f"{TEACHERS}-{safe(embodiment, 'embodiment')}"
    return store.root / root


def teacher_dir(store: Store, dataset: str, subject: str, embodiment: str = "smplx") -> Path:
    """``STORE/teachers/<dataset>/<subject>`` (another embodiment than the SMPL-X
    humanoid: ``STORE/teachers-<embodiment>/<dataset>/<subject>``)."""
    root = teachers_root(store, embodiment)
    return root / safe(dataset, "dataset") / safe(subject, "subject")


def refined_dataset_for(dataset: str, embodiment: str = "smplx") -> str:
    """``<dataset>-refined`` (``<dataset>-refined-<embodiment>`` for a robot)."""
    out = refined_dataset(dataset)
    return out if embodiment == "smplx" else f"{out}-{embodiment}"


def resolve_subject(store: Store, subject: str, dataset: str | None = None) -> tuple[str, str]:
    """The ``(dataset, subject)`` of a MoCap subject (refined datasets are skipped);
    :class:`NoClipsError` when it has no clips, :class:`StoreError` when ambiguous."""
    pairs = [
        (d, s)
        for d, s in store.subjects(dataset)
        if s == subject and not d.endswith(REFINED_SUFFIX)
    ]
    if not pairs:
        raise NoClipsError(
            f"subject {subject!r} has no ok clips in {store.root}"
            + (f" (dataset {dataset!r})" if dataset else "")
            + "; ingest its MoCap first"
        )
    if len(pairs) > 1:
        raise StoreError(
            f"subject {subject!r} is in several datasets ({', '.join(d for d, _ in pairs)}); "
            "name one with --dataset"
        )
    return pairs[0]


def subject_clipset(
    store: Store, dataset: str, subject: str, settings: TeacherSettings, objects: Any = None
) -> ClipSet:
    """The subject's trackable clips (:class:`NoClipsError` if none)."""
    from intermimic.objects import ObjectLibrary

    try:
        clips = store.read_subject(dataset, subject)
    except StoreError as exc:
        raise NoClipsError(f"subject {dataset}/{subject} has no ok clips: {exc}") from None
    if not clips:
        raise NoClipsError(f"subject {dataset}/{subject} has no ok clips in {store.root}")
    return prepare_clips(
        clips, objects or ObjectLibrary(), settings, where=f"subject {dataset}/{subject}"
    )


# ---- training ------------------------------------------------------------------------------


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
) -> TrainReport:
    """Train (or resume) the teacher of ``dataset/subject`` on all its ok clips."""
    from intermimic.rl.refine import evaluate as run_eval
    from intermimic.rl.refine import summarize

    s = settings or TeacherSettings()
    clipset = subject_clipset(store, dataset, subject, s, objects)
    run_dir = teacher_dir(store, dataset, subject, s.embodiment)
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
        result = train_teacher(
            clipset, s, run_dir, max_seconds=max_seconds, on_progress=on_progress
        )
    finally:
        busy.release()
    report = TrainReport(dataset, subject, run_dir, result)
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
    }
    write_text_atomic(run_dir / SUMMARY_FILE, json.dumps(summary, indent=1))
    return report


# ---- refinement ----------------------------------------------------------------------------


@dataclass
class RefineReport:
    """What :func:`refine_subject` did for one subject."""

    dataset: str
    subject: str
    refined_dataset: str
    checkpoint: str
    teacher_sha256: str
    tracking: dict[str, dict[str, float]] = field(default_factory=dict)
    """clip -> success (0/1), duration (steps), duration_fraction, e_h_cm, e_o_cm, attempt."""
    before: dict[str, dict[str, float]] = field(default_factory=dict)
    """clip -> artifact figures of the raw clip over the frames the refined clip covers."""
    after: dict[str, dict[str, float]] = field(default_factory=dict)
    """clip -> artifact figures of the refined clip."""
    failed: dict[str, str] = field(default_factory=dict)
    summary: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def comparison(
        self, figures: tuple[str, ...] = COMPARED_FIGURES
    ) -> dict[str, dict[str, float]]:
        """figure -> {before, after}: means over the clips refined and measured both ways."""
        clips = sorted(set(self.before) & set(self.after))
        out: dict[str, dict[str, float]] = {}
        for f in figures:
            b = [self.before[c][f] for c in clips if f in self.before[c]]
            a = [self.after[c][f] for c in clips if f in self.after[c]]
            if b and a:
                out[f] = {"before": float(np.mean(b)), "after": float(np.mean(a))}
        return out


def refine_subject(
    store: Store,
    dataset: str,
    subject: str,
    settings: TeacherSettings | None = None,
    objects: Any = None,
    contact_settings: Any = None,
    *,
    on_clip: Callable[[str], None] | None = None,
) -> RefineReport:
    """Replay the subject's teacher on every clip; store the refined motion (see the
    module docstring). Raises :class:`~intermimic.rl.checkpoint.CheckpointError` when
    the subject has no trained teacher, :class:`NoClipsError` when it has no ok clips."""
    from intermimic.contact.artifacts import artifact_report
    from intermimic.contact.settings import ContactSettings
    from intermimic.rl.refine import evaluate, refined_clip, rollout_series, summarize
    from intermimic.rl.teacher import TeacherSettings as _TS

    t0 = time.perf_counter()
    run_dir = teacher_dir(store, dataset, subject, settings.embodiment if settings else "smplx")
    saved_path = run_dir / "teacher_settings.json"
    saved = json.loads(saved_path.read_text())["settings"] if saved_path.exists() else None
    s = settings or (_TS(**saved) if saved else _TS())
    if saved:
        # what shapes the policy and its humanoid comes from the run itself
        s = s.model_copy(update={k: saved[k] for k in POLICY_FIELDS if k in saved})
    cs = contact_settings or ContactSettings()
    clipset = subject_clipset(store, dataset, subject, s, objects)
    best = evaluate(clipset, s, run_dir)
    from intermimic.rl import checkpoint as ckpt

    latest = ckpt.load_latest(run_dir / "checkpoints")
    assert latest is not None  # evaluate() raised otherwise
    teacher_sha = checkpoint_sha256(latest.path)
    out_ds = refined_dataset_for(dataset, s.embodiment)
    robot = s.embodiment != "smplx"
    report = RefineReport(dataset, subject, out_ds, str(latest.path), teacher_sha)
    report.failed.update(clipset.rejected)
    raw_by_id = {c.meta.clip_id: c for c in clipset.clips}
    scene_of = {c.meta.clip_id: clipset.scenes[c.meta.object_name] for c in clipset.clips}
    refined, series, artifacts, figures = [], {}, {}, {}
    for cid, r in sorted(best.items()):
        if on_clip is not None:
            on_clip(cid)
        raw = raw_by_id[cid]
        if robot:
            # A robot's motion is no SMPL-X clip: the clip keeps the reference human and
            # the simulated object; the robot's own states are the rollout series (with
            # the embodiment's name, joint and body names in its attributes).
            n = r.arrays["qpos"].shape[0]
            clip = raw.slice(0, n).with_arrays(
                obj_pos=r.arrays["obj_pos"].astype(np.float32),
                obj_quat=r.arrays["obj_quat"].astype(np.float32),
            )
            clip = clip.with_meta(
                dataset=out_ds,
                source_path=str(latest.path),
                source_sha256=refined_sha256(teacher_sha, raw.meta.source_sha256),
                source_format=f"teacher-rollout-{s.embodiment}",
            )
        else:
            clip = refined_clip(
                r,
                raw,
                scene_of[cid],
                dataset=out_ds,
                source_sha256=refined_sha256(teacher_sha, raw.meta.source_sha256),
                source_path=str(latest.path),
            )
        track = {
            "success": float(r.success),
            "duration": float(r.duration),
            "duration_fraction": r.duration_fraction,
            "e_h_cm": 100 * r.e_h,
            "e_o_cm": 100 * r.e_o,
            "attempt": float(r.attempt),
        }
        report.tracking[cid] = track
        try:
            if robot:
                raise ValueError(f"measures the SMPL-X humanoid, not {s.embodiment}")
            # the raw clip over the frames the refined one covers: like for like
            raw_part = raw.slice(0, clip.n_frames)
            report.before[cid] = dict(artifact_report(raw_part, scene_of[cid], cs).figures)
            art = artifact_report(clip, scene_of[cid], cs)
            report.after[cid] = dict(art.figures)
            artifacts[cid] = {k: np.asarray(v, np.float32) for k, v in art.series.items()}
        except (InputError, ValueError, IndexError) as exc:  # a clip too short to measure
            report.failed[cid] = f"artifact report: {exc}"
        refined.append(clip)
        series[cid] = rollout_series(r)
        figures[cid] = {**track, **report.after.get(cid, {})}
    report.summary = summarize(best)
    if refined:
        scene0 = next(iter(clipset.scenes.values()))
        attrs = {
            "teacher_checkpoint": str(latest.path),
            "teacher_sha256": teacher_sha,
            "tracking": report.tracking,
            **scene0.embodiment.describe(),
            "body_names": list(scene0.embodiment.body_names),
        }
        store.upsert_clips(out_ds, subject, refined)
        store.write_series(out_ds, subject, ROLLOUT, series, attrs=attrs)
        if artifacts:
            store.write_series(
                out_ds, subject, ARTIFACTS, artifacts, attrs={"settings": cs.model_dump()}
            )
        Catalog(store.root).upsert_figures(dataset, subject, REFINED_STAGE, figures)
    report.seconds = time.perf_counter() - t0
    write_text_atomic(
        run_dir / REFINE_FILE,
        json.dumps(
            {
                "refined_dataset": out_ds,
                "teacher_sha256": teacher_sha,
                "summary": report.summary,
                "comparison": report.comparison(),
                "failed": report.failed,
                "seconds": round(report.seconds, 2),
            },
            indent=1,
        ),
    )
    return report
