"""Stage 2, ``contact_intents``: contact labels and the MoCap artifact report, per subject."""

# No "from __future__ import annotations": Dagster resolves the config annotation at runtime.

import math
from pathlib import Path

import dagster as dg
import numpy as np

from assets_defs.config import config_from_settings
from assets_defs.figures import figure_metadata
from assets_defs.mocap import mocap_clips
from assets_defs.partitions import subjects
from assets_defs.resources import MocapSourcesResource, ObjectsResource, StoreResource
from assets_defs.versions import data_version
from intermimic.contact.settings import ContactSettings
from intermimic.viz.plots import contact_timeline
from stages.annotate import INTENTS, AnnotateReport, annotate_subject

ContactConfig = config_from_settings(ContactSettings, "ContactConfig")
COVERAGE_CHECK = "labels_cover_every_frame"
#: Figures shown in the asset's artifact table (the report has more; the catalog keeps all).
SUMMARY_FIGURES = (
    "floating_fraction", "penetration_object_max", "penetration_ground_max",
    "foot_skate_speed_mean", "jitter_body", "object_ground_max",
)  # fmt: skip


def _fmt(v: float) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4g}"


def agreement_markdown(rep: AnnotateReport) -> str:
    rows = ["| group | precision | recall | F1 | support |", "| --- | --- | --- | --- | --- |"]
    for group, m in rep.agreement.items():
        rows.append(
            f"| {group} | {_fmt(m['precision'])} | {_fmt(m['recall'])} | {_fmt(m['f1'])} "
            f"| {int(m['support'])} |"
        )
    return "\n".join(rows)


def artifacts_markdown(rep: AnnotateReport) -> str:
    rows = [
        "| clip | " + " | ".join(SUMMARY_FIGURES) + " |",
        "|---" * (len(SUMMARY_FIGURES) + 1) + "|",
    ]
    for clip, figs in sorted(rep.figures.items()):
        rows.append(
            f"| {clip} | "
            + " | ".join(_fmt(figs.get(k, float("nan"))) for k in SUMMARY_FIGURES)
            + " |"
        )
    return "\n".join(rows)


@dg.asset(
    partitions_def=subjects,
    deps=[mocap_clips],
    check_specs=[
        dg.AssetCheckSpec(
            COVERAGE_CHECK,
            asset="contact_intents",
            description="labels exist for every frame of every ok clip",
        )
    ],
    group_name="annotate",
    kinds={"python", "mujoco", "zarr"},
    code_version="1",
    description="Per-frame contact intents and the MoCap artifact report of one subject.",
)
def contact_intents(
    context: dg.AssetExecutionContext,
    config: ContactConfig,  # type: ignore[valid-type]
    store: StoreResource,
    objects: ObjectsResource,
    mocap_sources: MocapSourcesResource,
) -> dg.MaterializeResult:
    subject = context.partition_key
    st = store.store()
    # The MoCap datasets only: derived datasets (refined rollouts) have stages of their own.
    mocap = {src.dataset for src in mocap_sources.sources}
    pairs = [(d, s) for d, s in st.subjects() if s == subject and d in mocap]
    if not pairs:
        raise dg.Failure(
            f"subject {subject!r} has no clips in the store; materialise mocap_clips first"
        )
    settings = ContactSettings(**config.model_dump())  # type: ignore[attr-defined]
    library = objects.library()
    reports = []
    for dataset, subj in pairs:
        rep = annotate_subject(st, dataset, subj, settings, library)
        for f in rep.failed:
            context.log.warning(f"{dataset}/{subj}/{f.clip} not annotated: {f.reason}")
        reports.append(rep)

    # coverage: every ok clip of the subject has labels for every frame
    uncovered: list[str] = []
    plot_path: Path | None = None
    for dataset, subj in pairs:
        labeled = (
            set(st.series_attrs(dataset, subj, INTENTS)["clips"])
            if INTENTS in st.series_groups(dataset, subj)
            else set()
        )
        for entry in st.index(dataset, subj):
            if entry.clip_id not in labeled:
                uncovered.append(f"{dataset}/{entry.clip_id}")
                continue
            labels = st.read_series(dataset, subj, INTENTS, entry.clip_id)["labels"]
            if labels.shape != (entry.length, 52) or not np.isin(labels, (-1, 0, 1)).all():
                uncovered.append(f"{dataset}/{entry.clip_id}")
        if plot_path is None and labeled:
            first = sorted(labeled)[0]
            series = st.read_series(dataset, subj, INTENTS, first)
            clip = st.read_clip(dataset, subj, first)
            plot_path = contact_timeline(
                st.root / "reports" / "contact_intents" / dataset / f"{first}.png",
                series["labels"], series["obj_contact"], reference=clip.contact,
                fps=clip.meta.fps, title=f"{dataset}/{first}: ours (top) vs the file's labels",
            )  # fmt: skip
    rep = reports[0]
    metadata: dict[str, object] = {
        "clips_annotated": sum(len(r.annotated) for r in reports),
        "clips_failed": sum(len(r.failed) for r in reports),
        "frames": sum(r.frames for r in reports),
        "frames_per_s": round(
            sum(r.frames for r in reports) / max(sum(r.seconds for r in reports), 1e-9)
        ),
        "skeleton": rep.skeleton,
        "label_agreement": dg.MetadataValue.md(agreement_markdown(rep)),
        "hands_f1": float(rep.agreement.get("hands", {}).get("f1", float("nan"))),
        "artifacts": dg.MetadataValue.md(artifacts_markdown(rep)),
    }
    metadata = {  # the figure first: the asset page lists the entries in this order
        **figure_metadata("contact_timeline", plot_path, st.root, "contact timeline"),
        **metadata,
    }
    if any(r.failed for r in reports):
        metadata["failures"] = dg.MetadataValue.md(
            "\n".join(f"- {r.dataset}/{f.clip}: {f.reason}" for r in reports for f in r.failed)
        )
    # the labels live in the subject's generation, whose name hashes its content
    generations = [f"{d}/{p.name}" for d, s in pairs if (p := st.generation_path(d, s)) is not None]
    return dg.MaterializeResult(
        data_version=data_version(generations),
        metadata=metadata,  # type: ignore[arg-type]
        check_results=[
            dg.AssetCheckResult(
                check_name=COVERAGE_CHECK,
                passed=not uncovered,
                metadata={"clips_without_labels": dg.MetadataValue.json(uncovered)},
            )
        ],
    )
