"""The refine stage: track a subject's clips in physics (teacher or planner), store the motion.

:func:`refine_subject` replays the teacher on every clip (``method="teacher"``) or
tracks each clip with the sampling planner (``method="planner"``,
:mod:`intermimic.plan`: no teacher needed, the same rollout record; the lineage hash is
the planner's and the physics' settings' instead of the checkpoint's,
:func:`~intermimic.plan.seeds.plans_sha256`) and stores the simulated motion
as the subject's clips in the dataset ``<dataset>-refined`` (``meta.source_sha256`` =
SHA-256 of the teacher checkpoint's hash and the raw clip's hash, so a new teacher or
changed MoCap replaces exactly the clips it changes), with the per-frame rollout series
(group ``rollout``) and the refined motion's artifact series (group ``artifacts``); the
per-clip figures (tracking metrics and artifacts after refinement) go into the catalog
under the stage ``refined``, keyed by the raw dataset and clip id, next to the ``raw``
stage of ``annotate``. A body-mode teacher (``hands="body"``, welded fingers) is found
in ``STORE/teachers-smplx-body`` and refines into ``<dataset>-refined-smplx-body`` (its
clips hold the fingers at the weld pose), so it never replaces the full-hands data.

Every refined clip is judged (:mod:`stages.refine_quality`): its artifact figures beside
the raw clip's over the same frames and, where the user has InterMimic's own refinement
of the clip (``ReferenceSettings``; by default the sample's ``refined_by_intermimic``),
InterMimic's figures over the same frames, and a verdict ``full`` / ``worse`` /
``partial`` / ``unmeasured``. InterMimic's figures go to the catalog under the stage
``refined-intermimic``, the verdict (as 0/1 figures ``verdict_<name>``) beside the refined
figures; the records (verdict, failed comparisons, the three figure sets) go into
``refine.json`` and the ``rollout`` group's attributes (``quality``), where publishing
finds them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from data_catalog.catalog import Catalog
from data_catalog.refined_layout import (
    ARTIFACTS,
    ROLLOUT,
    refined_sha256,
)
from data_catalog.runs import REFINE_FILE, planner_dir, refined_dataset_for, teacher_dir
from data_catalog.store import Store
from intermimic.atomic import write_text_atomic
from intermimic.errors import InputError
from intermimic.plan.seeds import OnFrame, plans_sha256
from intermimic.plan.settings import PlannerSettings
from intermimic.rl.checkpoint import checkpoint_sha256
from intermimic.rl.teacher_env import saved_feedforward
from intermimic.rl.teacher_settings import TeacherSettings
from stages.refine_choice import QualityChoice
from stages.refine_quality import (
    INTERMIMIC_STAGE_SUFFIX,
    ReferenceSettings,
    clip_quality,
    quality_verdict,
)
from stages.refine_report import RefineReport
from stages.subjects import subject_clipset

REFINED_STAGE = "refined"
#: Settings a refinement takes from the teacher's run, whatever it is given: they decide
#: the networks, the action parameterisation and the humanoid the policy was trained on
#: (``recipe``: a planner_fb actor's mean is taken against its plan's observations;
#: ``gravity_compensation``: the base its residuals are added to; ``ground_window`` and
#: ``object_rest``: the grounded reference its observations are taken against).
POLICY_FIELDS = (
    "profile",
    "recipe",
    "gravity_compensation",
    "ground_window",
    "object_rest",
    "hidden_dims",
    "init_log_std",
    "residual_actions",
    "residual_scale",
    "fit_skeleton",
    "embodiment",
    "hands",
)


# ---- refinement ----------------------------------------------------------------------------


RefineMethod = Literal["teacher", "planner"]


@dataclass
class _Produced:
    """Rollouts of a subject's clips and where they came from."""

    settings: TeacherSettings
    clipset: Any
    best: dict[str, Any]
    run_dir: Path
    source_path: str
    source_sha256: str
    plan_frames: dict[str, int] = field(default_factory=dict)
    """clip -> frames the plan under a ``planner_ff`` teacher tracked (its feed-forward)."""
    tries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """clip -> the planner's tries, judged (``PlannerSettings.tries`` > 1 only)."""


def _select(
    clipset: Any, clips: Sequence[str] | None, where: str, max_clips: int | None = None
) -> Any:
    """``clipset`` cut to ``clips`` (all when None), then to the first ``max_clips`` of
    them by id; unknown ids are an error naming them."""
    from intermimic.rl.clipset import ClipSet

    have = {c.meta.clip_id for c in clipset.clips}
    if max_clips is not None:
        keep = sorted(set(clips) & have if clips is not None else have)[:max_clips]
        clips = keep + sorted(set(clips or ()) - have)
    if clips is None:
        return clipset
    unknown = sorted(set(clips) - have)
    if unknown:
        raise InputError(
            f"{where}: no trackable clip(s) {', '.join(unknown)} "
            f"(have: {', '.join(sorted(have)) or 'none'})"
        )
    groups = {
        name: [c for c in g if c.meta.clip_id in set(clips)] for name, g in clipset.groups.items()
    }
    groups = {k: v for k, v in groups.items() if v}
    return ClipSet(groups, {k: clipset.scenes[k] for k in groups}, dict(clipset.rejected))


def _by_teacher(
    store: Store, dataset: str, subject: str, settings: TeacherSettings | None,
    objects: Any, clips: Sequence[str] | None, max_clips: int | None,
) -> _Produced:  # fmt: skip
    from intermimic.rl import checkpoint as ckpt
    from intermimic.rl.rollout import evaluate

    run_dir = teacher_dir(store, dataset, subject, settings.embodiment_key if settings else "smplx")
    saved_path = run_dir / "teacher_settings.json"
    saved = json.loads(saved_path.read_text())["settings"] if saved_path.exists() else None
    s = settings or (TeacherSettings(**saved) if saved else TeacherSettings())
    if saved:
        # what shapes the policy and its humanoid comes from the run itself
        s = s.model_copy(update={k: saved[k] for k in POLICY_FIELDS if k in saved})
    clipset = subject_clipset(store, dataset, subject, s, objects)
    clipset = _select(clipset, clips, subject, max_clips)
    best = evaluate(clipset, s, run_dir)
    latest = ckpt.load_latest(run_dir / "checkpoints")
    assert latest is not None  # evaluate() raised otherwise
    sha = checkpoint_sha256(latest.path)
    # a planner_ff teacher carries its plans: how far each tracked, beside the teacher
    ff = saved_feedforward(latest.state)
    plan_frames = {cid: len(a) for cid, a in ff.items() if cid in best}
    return _Produced(s, clipset, best, run_dir, str(latest.path), sha, plan_frames)


def _by_planner(
    store: Store, dataset: str, subject: str, settings: TeacherSettings | None,
    objects: Any, clips: Sequence[str] | None, max_clips: int | None,
    planner: PlannerSettings | None, on_clip: Callable[[str], None] | None,
    contact_settings: Any, reference_dir: Path | None,
    on_plan: OnFrame | None = None,
) -> _Produced:  # fmt: skip
    from intermimic.plan.seeds import plan_clips

    s = settings or TeacherSettings()
    p = planner or PlannerSettings()
    run_dir = planner_dir(store, dataset, subject, s.embodiment_key)
    clipset = subject_clipset(store, dataset, subject, s, objects)
    clipset = _select(clipset, clips, subject, max_clips)
    if on_clip is not None and clipset.clips:
        on_clip(clipset.clips[0].meta.clip_id)
    order = [c.meta.clip_id for c in clipset.clips]

    def next_clip(cid: str, frames: int, clip_frames: int) -> None:
        i = order.index(cid) + 1
        if on_clip is not None and i < len(order):
            on_clip(order[i])

    # of several tries, the one the quality rule judges best (a robot's by tracking alone)
    choice = QualityChoice(contact_settings, reference_dir, measure=s.embodiment == "smplx")
    plans = plan_clips(
        clipset,
        s,
        p,
        cache_dir=run_dir / "rollouts",
        on_clip=next_clip,
        choose=choice,
        judge_for=choice.judge,
        on_frame=on_plan,
    )
    best = {cid: pc.rollout for cid, pc in plans.items()}
    # the planner's settings and the physics it plans in: the same planner at 240 Hz is
    # another motion, and the store keeps a clip whose hash did not change
    sha = plans_sha256(p, s)
    # the environment's settings too: the physics a plan was made in (240 Hz or 120, the
    # grip, the holding offsets) is part of what it is
    write_text_atomic(
        run_dir / "planner_settings.json",
        json.dumps({"settings": p.model_dump(), "teacher": s.model_dump(mode="json")}, indent=1),
    )
    made = _Produced(s, clipset, best, run_dir, f"planner:{sha[:16]}", sha)
    made.tries = choice.to_json()
    return made


def refine_subject(
    store: Store,
    dataset: str,
    subject: str,
    settings: TeacherSettings | None = None,
    objects: Any = None,
    contact_settings: Any = None,
    *,
    on_clip: Callable[[str], None] | None = None,
    reference: ReferenceSettings | None = None,
    method: RefineMethod = "teacher",
    planner: PlannerSettings | None = None,
    clips: Sequence[str] | None = None,
    max_clips: int | None = None,
    on_plan: OnFrame | None = None,
) -> RefineReport:
    """Refine the subject's clips (all, or the ids in ``clips``; at most the first
    ``max_clips`` of them by id) by ``method``: replay
    its teacher (``"teacher"``) or track each clip with the sampling planner
    (``"planner"``, :mod:`intermimic.plan`, settings ``planner``; no teacher needed;
    planned clips are cached in ``STORE/planner/<dataset>/<subject>/rollouts``, so an
    interrupted run continues where it stopped). Stores the refined motion and judges it
    (see the module docstring); the refinement replaces the subject's earlier one.
    ``reference``: where InterMimic's refinement of the clips is (default: the sample's,
    if present). ``on_clip(clip_id)`` is called as each clip starts, ``on_plan(clip_id,
    seed, frame, last)`` as the planner commits each frame (``"planner"``). Raises
    :class:`~intermimic.rl.checkpoint.CheckpointError` when the method is the teacher
    and the subject has none, :class:`NoClipsError` when it has no ok clips,
    :class:`InputError` when a clip in ``clips`` is not one of them or a reference
    folder named explicitly does not exist."""
    from intermimic.contact.settings import ContactSettings
    from intermimic.rl.rollout import refined_clip, rollout_series, summarize

    t0 = time.perf_counter()
    cs = contact_settings or ContactSettings()
    ref_dir = (reference or ReferenceSettings()).resolved_dir()
    if method == "planner":
        made = _by_planner(
            store, dataset, subject, settings, objects, clips, max_clips, planner, on_clip,
            cs, ref_dir, on_plan,
        )  # fmt: skip
    elif method == "teacher":
        made = _by_teacher(store, dataset, subject, settings, objects, clips, max_clips)
    else:
        raise InputError(f"refine method {method!r}: use 'teacher' or 'planner'")
    s, clipset, best, run_dir = made.settings, made.clipset, made.best, made.run_dir
    source_sha, source_path = made.source_sha256, made.source_path
    out_ds = refined_dataset_for(dataset, s.embodiment_key)
    robot = s.embodiment != "smplx"
    report = RefineReport(dataset, subject, out_ds, source_path, source_sha, method=method)
    report.plan_frames = made.plan_frames
    report.tries = made.tries
    report.reference_dir = str(ref_dir) if ref_dir is not None else None
    report.failed.update(clipset.rejected)
    raw_by_id = {c.meta.clip_id: c for c in clipset.clips}
    scene_of = {c.meta.clip_id: clipset.scenes[c.meta.object_name] for c in clipset.clips}
    refined, series, artifacts, figures, im_figures = [], {}, {}, {}, {}
    for cid, r in sorted(best.items()):
        if on_clip is not None and method == "teacher":
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
                source_path=source_path,
                source_sha256=refined_sha256(source_sha, raw.meta.source_sha256),
                source_format=f"{method}-rollout-{s.embodiment}",
            )
        else:
            clip = refined_clip(
                r,
                raw,
                scene_of[cid],
                dataset=out_ds,
                source_sha256=refined_sha256(source_sha, raw.meta.source_sha256),
                source_path=source_path,
            )
            if method != "teacher":
                clip = clip.with_meta(source_format=f"{method}-rollout")
        track = {
            "success": float(r.success),
            "duration": float(r.duration),
            "duration_fraction": r.duration_fraction,
            "e_h_cm": 100 * r.e_h,
            "e_o_cm": 100 * r.e_o,
            "attempt": float(r.attempt),
        }
        report.tracking[cid] = track
        report.ended_by[cid] = list(r.ended_by)
        try:
            if robot:
                raise ValueError(f"measures the SMPL-X humanoid, not {s.embodiment}")
            q = clip_quality(raw, clip, scene_of[cid], cs, bool(r.success), reference_dir=ref_dir)
            report.before[cid], report.after[cid] = q.before, q.after
            artifacts[cid] = {k: np.asarray(v, np.float32) for k, v in q.series.items()}
            if q.intermimic is not None:
                report.intermimic[cid] = im_figures[cid] = q.intermimic
            if q.reference_note:
                report.reference_notes[cid] = q.reference_note
            report.verdicts[cid] = q.verdict
        except (InputError, ValueError, IndexError) as exc:  # a clip too short to measure
            report.failed[cid] = f"artifact report: {exc}"
            report.verdicts[cid] = quality_verdict(bool(r.success), None, None)
        refined.append(clip)
        series[cid] = rollout_series(r)
        figures[cid] = {
            **track,
            **report.after.get(cid, {}),
            **report.verdicts[cid].catalog_figures(),
        }
    report.summary = summarize(best)
    if refined:
        scene0 = next(iter(clipset.scenes.values()))
        attrs = {
            # the lineage keys keep their names whatever made the rollouts
            "teacher_checkpoint": source_path,
            "teacher_sha256": source_sha,
            "method": method,
            "tracking": report.tracking,
            "ended_by": report.ended_by,
            **({"tries": report.tries} if report.tries else {}),
            # the judgement travels with the clips it judges (publishing reads it here)
            "quality": report.quality_records(),
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
        catalog = Catalog(store.root)
        catalog.upsert_figures(dataset, subject, stage, figures)
        # every refined clip: one InterMimic no longer covers loses its old figures
        catalog.upsert_figures(
            dataset, subject, stage + INTERMIMIC_STAGE_SUFFIX,
            {cid: im_figures.get(cid, {}) for cid in figures},
        )  # fmt: skip
    report.seconds = time.perf_counter() - t0
    write_text_atomic(
        run_dir / REFINE_FILE,
        json.dumps(
            {
                "refined_dataset": out_ds,
                "method": method,
                "source": source_path,
                "teacher_sha256": source_sha,
                "summary": report.summary,
                "comparison": report.comparison(),
                "intermimic_reference": report.reference_dir,
                "intermimic_clips": report.intermimic_coverage()[0],
                "verdicts": report.verdict_counts(),
                "clips": report.quality_records(),
                "reference_notes": report.reference_notes,
                "plan_frames": report.plan_frames,
                "tries": report.tries,
                "failed": report.failed,
                "seconds": round(report.seconds, 2),
            },
            indent=1,
        ),
    )
    return report
