"""Stages 3 and 4, ``teacher_policy`` and ``refined_rollouts``, per subject.

``teacher_policy`` trains (or resumes) the subject's PPO teacher on all its ok clips
(:func:`stages.teacher.train_subject_teacher`); runs share the Dagster concurrency
pool :data:`TEACHER_POOL`, so an instance limits how many train at once (set the pool's
limit in ``dagster.yaml`` or the UI, e.g. 1 on a small machine). ``refined_rollouts``
replays the teacher on every clip and stores the refined motion
(:func:`stages.refine.refine_subject`) and judges every clip against its raw MoCap
and InterMimic's own refinement of it (:mod:`stages.refine_quality`; run config
``reference``, ``reference_dir``): per-clip figures raw / refined / InterMimic and the
verdict (full, worse, partial, unmeasured) in the metadata. Both are partitioned by
subject: a run touches only its own subject's teacher folder, refined clips and
catalog rows.
"""

# No "from __future__ import annotations": Dagster resolves the config annotation at runtime.

import math
from pathlib import Path
from typing import Literal

import dagster as dg
import pydantic

from assets_defs.config import config_from_settings
from assets_defs.contact import contact_intents
from assets_defs.figures import figure_metadata
from assets_defs.partitions import subjects
from assets_defs.resources import ObjectsResource, StoreResource
from assets_defs.versions import data_version
from data_catalog.store import Store
from intermimic.errors import InterMimicError
from intermimic.plan.progress import progress_lines
from intermimic.plan.settings import PlannerSettings
from intermimic.rl.checkpoint import checkpoint_sha256
from intermimic.rl.teacher_settings import TeacherSettings
from intermimic.viz.plots import grouped_bars
from stages.refine import refine_subject
from stages.refine_quality import ReferenceSettings
from stages.refine_quality_display import CELL, clip_quality_table, markdown_table
from stages.refine_report import RefineReport, tries_table
from stages.subjects import resolve_subject
from stages.teacher import train_subject_teacher

TeacherConfig = config_from_settings(TeacherSettings, "TeacherConfig")
#: ``refined_rollouts``' run config: the teacher's settings and where InterMimic's
#: refinement of the clips is.
PlannerConfig = config_from_settings(PlannerSettings, "PlannerConfig")


class RefineMethodConfig(TeacherConfig):  # type: ignore[misc,valid-type]
    """How ``refined_rollouts`` refines: the method, the clips, the planner's settings."""

    method: Literal["teacher", "planner"] = pydantic.Field(
        "teacher",
        description="'teacher': replay the subject's teacher; 'planner': track each clip "
        "with the sampling planner (intermimic.plan), no teacher needed",
    )
    clips: list[str] = pydantic.Field(
        default_factory=list, description="refine only these clip ids (empty: every ok clip)"
    )
    max_clips: int = pydantic.Field(
        0, ge=0, description="refine at most the first this many clips by id (0: no limit)"
    )
    planner: PlannerConfig = pydantic.Field(  # type: ignore[valid-type]
        default_factory=PlannerConfig, description="the planner's settings (method planner)"
    )


RefineConfig = config_from_settings(ReferenceSettings, "RefineConfig", base=RefineMethodConfig)


class TeacherPolicyConfig(TeacherConfig):  # type: ignore[misc,valid-type]
    """``teacher_policy``'s run config: the teacher's settings and, for the planner
    recipes (``recipe: planner_...``), the planner's."""

    planner: PlannerConfig = pydantic.Field(  # type: ignore[valid-type]
        default_factory=PlannerConfig,
        description="the planner's settings (recipes planner_psi, planner_bc, planner_ff, "
        "planner_fb)",
    )


#: Dagster concurrency pool of teacher training runs.
TEACHER_POOL = "teacher_training"


def _subject(store: Store, subject: str) -> tuple[str, str]:
    try:
        return resolve_subject(store, subject)
    except InterMimicError as exc:
        raise dg.Failure(str(exc)) from None


def _num(v: float) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def comparison_markdown(rep: RefineReport) -> str:
    """Means over the clips (SI units): figure | raw | refined | InterMimic."""
    return markdown_table(*rep.comparison_table())


def quality_markdown(rep: RefineReport) -> str:
    """Per clip: the verdict and every artifact figure raw / refined / InterMimic."""
    header, rows = clip_quality_table(rep.quality_records())
    return f"Each figure: {CELL}.\n\n" + markdown_table(header, rows)


def tracking_markdown(rep: RefineReport) -> str:
    return markdown_table(*rep.tracking_table())


def comparison_png(rep: RefineReport, path: Path) -> Path | None:
    """Bar chart of the compared artifact figures, raw versus refined (and InterMimic's
    refinement where a clip has it)."""
    cmp = rep.comparison()
    if not cmp:
        return None
    names = list(cmp)
    series = [("before", "raw MoCap"), ("after", "refined")]
    if any("intermimic" in cmp[n] for n in names):
        series.append(("intermimic", "InterMimic's refinement"))
    return grouped_bars(
        path, names, [(label, [cmp[n].get(key, 0.0) for n in names]) for key, label in series],
        title=f"artifacts {rep.dataset}/{rep.subject}, mean over clips",
    )  # fmt: skip


@dg.asset(
    partitions_def=subjects,
    deps=[contact_intents],
    pool=TEACHER_POOL,
    group_name="refine",
    kinds={"python", "pytorch", "mujoco"},
    code_version="1",
    description="PPO teacher of one subject, trained on all its ok clips (resumes).",
)
def teacher_policy(
    context: dg.AssetExecutionContext,
    config: TeacherPolicyConfig,
    store: StoreResource,
    objects: ObjectsResource,
) -> dg.MaterializeResult:
    st = store.store()
    dataset, subject = _subject(st, context.partition_key)
    values = config.model_dump()
    planner = PlannerSettings(**values.pop("planner"))
    settings = TeacherSettings(**values)
    try:
        rep = train_subject_teacher(
            st, dataset, subject, settings, objects.library(),
            on_progress=lambda it, total: context.log.info(f"iteration {it}/{total}"),
            planner=planner, on_plan=progress_lines(context.log.info),
        )  # fmt: skip
    except InterMimicError as exc:
        raise dg.Failure(f"{dataset}/{subject}: {exc}") from None
    r, e = rep.result, rep.evaluation
    for cid, why in sorted(r.rejected.items()):
        context.log.warning(f"{dataset}/{cid} left out of training: {why}")
    metadata: dict[str, object] = {
        "dataset": dataset,
        "run_dir": dg.MetadataValue.path(str(rep.run_dir)),
        "checkpoint": dg.MetadataValue.path(str(r.checkpoint)) if r.checkpoint else "none",
        "iterations": r.iterations,
        "env_steps": r.env_steps,
        "resumed_from": r.resumed_from if r.resumed_from is not None else -1,
        "train_seconds": round(r.seconds, 1),
        "clips": len(r.clip_ids),
        "clips_rejected": len(r.rejected),
        "success_rate": _num(e.get("success_rate", float("nan"))),
        "mean_duration": _num(e.get("mean_duration", float("nan"))),
        "mean_duration_fraction": _num(e.get("mean_duration_fraction", float("nan"))),
        "E_h_cm": _num(e.get("e_h_cm", float("nan"))),
        "E_o_cm": _num(e.get("e_o_cm", float("nan"))),
    }
    if rep.tries:  # planner recipes with tries > 1: which plan each clip starts from
        metadata["planner_tries"] = dg.MetadataValue.md(markdown_table(*tries_table(rep.tries)))
    # the figure first: the asset page lists the entries in this order
    metadata = {
        **figure_metadata(
            "learning_curve", rep.curve_png, st.root, f"learning curve, teacher {dataset}/{subject}"
        ),
        **metadata,
    }
    # The checkpoint's hash: a run that trains nothing more (budget reached) keeps it,
    # and the subject's refined rollouts stay fresh; new weights mark them stale.
    sha = checkpoint_sha256(r.checkpoint) if r.checkpoint else None
    metadata["checkpoint_sha256"] = sha or "none"
    return dg.MaterializeResult(
        data_version=data_version(dataset, subject, sha),
        metadata=metadata,  # type: ignore[arg-type]
    )


@dg.asset(
    partitions_def=subjects,
    deps=[teacher_policy],
    group_name="refine",
    kinds={"python", "mujoco", "zarr"},
    code_version="1",
    description="Every clip of one subject tracked in physics by its teacher (or by the "
    "sampling planner, config method: planner): the refined motion, judged against the "
    "MoCap and InterMimic's refinement.",
)
def refined_rollouts(
    context: dg.AssetExecutionContext,
    config: RefineConfig,  # type: ignore[valid-type]
    store: StoreResource,
    objects: ObjectsResource,
) -> dg.MaterializeResult:
    st = store.store()
    dataset, subject = _subject(st, context.partition_key)
    values = config.model_dump()  # type: ignore[attr-defined]
    settings = TeacherSettings(**{k: values[k] for k in TeacherSettings.model_fields})
    reference = ReferenceSettings(**{k: values[k] for k in ReferenceSettings.model_fields})
    method = values["method"]
    planner = PlannerSettings(**values["planner"]) if method == "planner" else None
    try:
        rep = refine_subject(
            st, dataset, subject, settings, objects.library(), reference=reference,
            method=method, planner=planner, clips=values["clips"] or None,
            max_clips=values["max_clips"] or None,
            on_clip=lambda cid: context.log.info(f"refining {cid}"),
            on_plan=progress_lines(context.log.info),
        )  # fmt: skip
    except InterMimicError as exc:
        raise dg.Failure(f"{dataset}/{subject}: {exc}") from None
    s = rep.summary
    png = comparison_png(
        rep, st.root / "reports" / "refined_rollouts" / dataset / f"{subject}_artifacts.png"
    )
    metadata: dict[str, object] = {
        "refined_dataset": rep.refined_dataset,
        "method": rep.method,
        "source": rep.checkpoint,
        "teacher_sha256": rep.teacher_sha256,
        "clips_refined": len(rep.tracking),
        "clips_failed": len(rep.failed),
        "success_rate": _num(s.get("success_rate", float("nan"))),
        "mean_duration": _num(s.get("mean_duration", float("nan"))),
        "E_h_cm": _num(s.get("e_h_cm", float("nan"))),
        "E_o_cm": _num(s.get("e_o_cm", float("nan"))),
        "tracking": dg.MetadataValue.md(tracking_markdown(rep)),
        "artifacts_before_after": dg.MetadataValue.md(comparison_markdown(rep)),
        "quality": dg.MetadataValue.md(quality_markdown(rep)),
        **({"tries": dg.MetadataValue.md(markdown_table(*rep.tries_table()))} if rep.tries else {}),
        **{f"clips_{v}": n for v, n in rep.verdict_counts().items()},
        "intermimic_reference": rep.reference_dir or "none",
        "clips_with_intermimic": rep.intermimic_coverage()[0],
        "seconds": round(rep.seconds, 1),
    }
    metadata = {
        **figure_metadata(
            "artifacts", png, st.root, f"artifacts {dataset}/{subject}, raw vs refined"
        ),
        **metadata,
    }
    for cid, note in sorted(rep.reference_notes.items()):
        context.log.warning(f"{dataset}/{cid}: {note}")
    if rep.failed:
        metadata["failures"] = dg.MetadataValue.md(
            "\n".join(f"- {c}: {why}" for c, why in sorted(rep.failed.items()))
        )
    # the refined generation (named by teacher and clip hashes) and what the teacher did
    gen = st.generation_path(rep.refined_dataset, subject)
    return dg.MaterializeResult(
        data_version=data_version(
            gen.name if gen else None, rep.teacher_sha256, rep.tracking, sorted(rep.failed)
        ),
        metadata=metadata,  # type: ignore[arg-type]
    )
