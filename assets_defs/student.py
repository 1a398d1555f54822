"""Stages 6 and 7, ``student_policy`` and ``student_evaluation`` (unpartitioned).

``student_policy`` distils one student from every subject's teacher and the refined
clips (:func:`stages.student.distill_student`; it resumes from its checkpoints
like the teachers), optionally with the baselines trained for the same budget.
``student_evaluation`` measures the student, its baselines and the teachers on the raw
MoCap and writes the report; its metadata holds the comparison table and the plots.
"""

# No "from __future__ import annotations": Dagster resolves the config annotation at runtime.

import math

import dagster as dg
from pydantic import Field

from assets_defs.config import config_from_settings
from assets_defs.figures import figure_metadata
from assets_defs.resources import ObjectsResource, StoreResource
from assets_defs.teacher import teacher_policy
from data_catalog.runs import baseline_name
from intermimic.errors import InterMimicError
from intermimic.eval.evaluate import EvalSettings
from intermimic.rl.student_settings import StudentSettings
from stages.evaluate import evaluate_students
from stages.student import BASELINES, distill_student

#: Dagster concurrency pool of student training runs.
STUDENT_POOL = "student_training"
#: Titles of the evaluation report's plots (:mod:`intermimic.eval.report`) in the metadata.
PLOT_TITLES = {
    "metrics": "success, duration, E_h, E_o per policy",
    "artifacts": "artifacts per policy, raw MoCap included",
}


class StudentRun(StudentSettings):
    """A student run as the asset sees it: the settings plus where and how long."""

    name: str = Field("student", description="STORE/students/<name>")
    baselines: bool = Field(False, description="also train ppo_only, dagger_only, refdist_only")
    max_minutes: float | None = Field(None, description="wall-clock budget per run")


class EvaluationRun(EvalSettings):
    name: str = Field("student", description="student to evaluate (its baselines too)")
    references: str = Field("raw", description="raw MoCap or refined clips")
    teachers: bool = Field(True, description="also evaluate each subject's teacher")


StudentConfig = config_from_settings(StudentRun, "StudentConfig")
EvaluationConfig = config_from_settings(EvaluationRun, "EvaluationConfig")


def _num(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


@dg.asset(
    deps=[dg.AssetKey("refined_dataset"), teacher_policy],
    code_version="1",
    pool=STUDENT_POOL,
    group_name="student",
    kinds={"python", "pytorch", "mujoco"},
    description="The student (Transformer, DAgger + PPO) distilled from every subject's "
    "teacher on the refined clips (resumes); baselines optional.",
)
def student_policy(
    context: dg.AssetExecutionContext,
    config: StudentConfig,  # type: ignore[valid-type]
    store: StoreResource,
    objects: ObjectsResource,
) -> dg.MaterializeResult:
    run = StudentRun(**config.model_dump())  # type: ignore[attr-defined]
    settings = StudentSettings(**run.model_dump(exclude={"name", "baselines", "max_minutes"}))
    st = store.store()
    runs = [(run.name, settings)]
    if run.baselines:
        runs += [
            (baseline_name(run.name, m), settings.model_copy(update={"mode": m})) for m in BASELINES
        ]
    metadata: dict[str, object] = {}
    figure: dict[str, dg.MetadataValue] = {}
    rows = ["| student | mode | iterations | env steps | PPO from update |", "| --- " * 5 + "|"]
    for name, s in runs:

        def on_progress(it: int, total: int, n: str = name) -> None:
            context.log.info(f"{n}: {it}/{total}")

        try:
            rep = distill_student(
                st, s, objects.library(), name=name,
                max_seconds=None if run.max_minutes is None else 60 * run.max_minutes,
                on_progress=on_progress,
            )  # fmt: skip
        except InterMimicError as exc:
            raise dg.Failure(f"student {name}: {exc}") from None
        for subj, why in sorted(rep.skipped.items()):
            context.log.warning(f"student {name}: subject {subj} left out: {why}")
        r = rep.result
        rows.append(
            f"| {name} | {s.mode} | {r.iterations} | {r.env_steps} | "
            f"{'-' if r.gate_opened_at is None else r.gate_opened_at} |"
        )
        if name == run.name:
            last = r.curve[-1] if r.curve else {}
            metadata.update(
                {
                    "name": name,
                    "mode": s.mode,
                    "run_dir": dg.MetadataValue.path(str(rep.run_dir)),
                    "checkpoint": dg.MetadataValue.path(str(r.checkpoint))
                    if r.checkpoint
                    else "none",
                    "iterations": r.iterations,
                    "env_steps": r.env_steps,
                    "resumed_from": r.resumed_from if r.resumed_from is not None else -1,
                    "train_seconds": round(r.seconds, 1),
                    "groups": len(r.groups),
                    "clips": len(r.clip_ids),
                    "teachers": dg.MetadataValue.json(r.teachers),
                    "subjects_skipped": len(rep.skipped),
                    "ppo_joined_at_update": r.gate_opened_at
                    if r.gate_opened_at is not None
                    else -1,
                    "train_success_rate": _num(last.get("success_rate")),
                    "train_episode_length": _num(last.get("mean_length")),
                }
            )
            figure = figure_metadata(
                "learning_curve", rep.curve_png, st.root, f"learning curve, student {name}"
            )
    metadata["students"] = dg.MetadataValue.md("\n".join(rows))
    # the figure first: the asset page lists the entries in this order
    ordered: dict[str, object] = {**figure, **metadata}
    return dg.MaterializeResult(metadata=ordered)  # type: ignore[arg-type]


@dg.asset(
    deps=[student_policy],
    code_version="1",
    group_name="student",
    kinds={"python", "mujoco"},
    description="The student against its baselines, the teachers and the raw MoCap: "
    "success, duration, E_h, E_o, artifacts; report and plots.",
)
def student_evaluation(
    context: dg.AssetExecutionContext,
    config: EvaluationConfig,  # type: ignore[valid-type]
    store: StoreResource,
    objects: ObjectsResource,
) -> dg.MaterializeResult:
    run = EvaluationRun(**config.model_dump())  # type: ignore[attr-defined]
    settings = EvalSettings(**run.model_dump(exclude={"name", "references", "teachers"}))
    st = store.store()
    try:
        rep = evaluate_students(
            st, run.name, settings, objects.library(), teachers=run.teachers,
            references=run.references,
            on_policy=lambda n: context.log.info(f"evaluating {n}"),
        )  # fmt: skip
    except (InterMimicError, ValueError) as exc:
        raise dg.Failure(f"evaluation of {run.name}: {exc}") from None
    # the table, then the figures: the asset page lists the entries in this order
    metadata: dict[str, object] = {"comparison": dg.MetadataValue.md(rep.files.table)}
    for key, path in rep.files.plots.items():
        metadata.update(figure_metadata(key, path, st.root, PLOT_TITLES.get(key)))
    metadata["report"] = dg.MetadataValue.path(str(rep.files.markdown))
    metadata["evaluation_json"] = dg.MetadataValue.path(str(rep.files.json))
    student = next((e for e in rep.evaluations if e.kind == "student"), None)
    if student is not None:
        s = student.summary
        for key, label in (
            ("success_rate", "success_rate"),
            ("mean_duration", "mean_duration"),
            ("mean_duration_fraction", "mean_duration_fraction"),
            ("e_h_cm", "E_h_cm"),
            ("e_o_cm", "E_o_cm"),
        ):
            metadata[label] = _num(s.get(key))
    return dg.MaterializeResult(metadata=metadata)  # type: ignore[arg-type]
