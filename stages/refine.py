"""The refine stage: replay a subject's teacher on every clip and store the motion.

:func:`refine_subject` replays the teacher on every clip and stores the simulated motion
as the subject's clips in the dataset ``<dataset>-refined`` (``meta.source_sha256`` =
SHA-256 of the teacher checkpoint's hash and the raw clip's hash, so a new teacher or
changed MoCap replaces exactly the clips it changes), with the per-frame rollout series
(group ``rollout``) and the refined motion's artifact series (group ``artifacts``); the
per-clip figures (tracking metrics and artifacts after refinement) go into the catalog
under the stage ``refined``, keyed by the raw dataset and clip id, next to the ``raw``
stage of ``annotate``. A body-mode teacher (``hands="body"``, welded fingers) is found
in ``STORE/teachers-smplx-body`` and refines into ``<dataset>-refined-smplx-body`` (its
clips hold the fingers at the weld pose), so it never replaces the full-hands data.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from data_catalog.catalog import Catalog
from data_catalog.refined_layout import (
    ARTIFACTS,
    ROLLOUT,
    refined_sha256,
)
from data_catalog.runs import REFINE_FILE, refined_dataset_for, teacher_dir
from data_catalog.store import Store
from intermimic.atomic import write_text_atomic
from intermimic.contact.artifacts import ARTIFACT_FIGURES
from intermimic.errors import InputError
from intermimic.rl.checkpoint import checkpoint_sha256
from intermimic.rl.teacher_settings import TeacherSettings
from stages.subjects import subject_clipset

REFINED_STAGE = "refined"
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
    "hands",
)


# ---- training ------------------------------------------------------------------------------


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
        self, figures: tuple[str, ...] = ARTIFACT_FIGURES
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
    from intermimic.rl.rollout import evaluate, refined_clip, rollout_series, summarize
    from intermimic.rl.teacher_settings import TeacherSettings as _TS

    t0 = time.perf_counter()
    run_dir = teacher_dir(store, dataset, subject, settings.embodiment_key if settings else "smplx")
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
    out_ds = refined_dataset_for(dataset, s.embodiment_key)
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
        # a body-mode teacher's figures sit beside the full-hands teacher's, not over them
        stage = REFINED_STAGE if s.hands == "full" else f"{REFINED_STAGE}-{s.embodiment_key}"
        Catalog(store.root).upsert_figures(dataset, subject, stage, figures)
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
