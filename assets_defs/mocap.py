"""Stage 1, ``mocap_clips``: one subject's MoCap files ingested into the store."""

# No "from __future__ import annotations": Dagster resolves the config annotation at runtime.

from collections import defaultdict
from pathlib import Path

import dagster as dg

from assets_defs.config import config_from_settings
from assets_defs.partitions import subjects
from assets_defs.resources import MocapSourcesResource, StoreResource
from assets_defs.versions import data_version
from intermimic.errors import StoreDamagedError
from intermimic.motion.settings import IngestSettings
from stages.ingest import IngestReport, ingest

#: Run config of ``mocap_clips``: every ingest setting except those a source decides.
IngestConfig = config_from_settings(IngestSettings, "IngestConfig", exclude=("dataset", "format"))

FINITE_CHECK = "all_arrays_finite"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rejects_markdown(report: IngestReport) -> str:
    if not report.rejected:
        return "No rejects."
    rows = [
        f"| {_md_escape(Path(r.path).name)} | {_md_escape(r.reason)} |" for r in report.rejected
    ]
    return "\n".join(["| file | reason |", "| --- | --- |", *rows])


@dg.asset(
    partitions_def=subjects,
    check_specs=[
        dg.AssetCheckSpec(
            FINITE_CHECK, asset="mocap_clips", description="every ingested array is finite"
        )
    ],
    group_name="ingest",
    kinds={"python", "zarr"},
    code_version="1",
    description="One subject's MoCap clips, validated, in the store; rejects in the catalog.",
)
def mocap_clips(
    context: dg.AssetExecutionContext,
    config: IngestConfig,  # type: ignore[valid-type]
    store: StoreResource,
    mocap_sources: MocapSourcesResource,
) -> dg.MaterializeResult:
    subject = context.partition_key
    files = mocap_sources.files_by_subject().get(subject, [])
    if not files:
        raise dg.Failure(
            f"no clip files for subject {subject!r} under "
            + ", ".join(s.path for s in mocap_sources.sources)
        )
    groups: dict[tuple[str, str | None], list[Path]] = defaultdict(list)
    for path, src in files:
        groups[(src.dataset, src.format)].append(path)

    total = IngestReport()
    st = store.store()
    for (dataset, fmt), paths in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        settings = IngestSettings(dataset=dataset, format=fmt, **config.model_dump())  # type: ignore[attr-defined]
        context.log.info(f"ingesting {len(paths)} file(s) of {subject} into dataset {dataset}")
        report = ingest(paths, st, settings)
        total.ingested += report.ingested
        total.unchanged += report.unchanged
        total.rejected += report.rejected
        total.writes += report.writes
        for r in report.rejected:
            context.log.warning(f"rejected {r.path}: {r.reason}")

    datasets = sorted({d for d, _ in groups})
    entries = [
        e
        for d in datasets
        for e in (st.index(d, subject) if st.generation_path(d, subject) else [])
    ]
    if not entries:
        raise dg.Failure(
            f"nothing of subject {subject!r} could be ingested",
            metadata={"rejects": dg.MetadataValue.md(rejects_markdown(total))},
        )
    # read through the verified path: a missing or changed chunk fails the check (it is
    # not "finite zeros"), and store_verified says what to do
    damaged: list[str] = []
    bad: dict[str, int] = {}
    for d in datasets:
        if not st.generation_path(d, subject):
            continue
        try:
            bad.update({f"{d}/{k}": v for k, v in st.nonfinite_counts(d, subject).items()})
        except StoreDamagedError as exc:
            damaged.append(str(exc))
    # the subject's generations are content-addressed: unchanged files, same version
    generations = [
        f"{d}/{p.name}" for d in datasets if (p := st.generation_path(d, subject)) is not None
    ]
    return dg.MaterializeResult(
        data_version=data_version(generations),
        metadata={
            "clips": len(entries),
            "frames": sum(e.length for e in entries),
            "ingested": len(total.ingested),
            "unchanged": len(total.unchanged),
            "rejected": len(total.rejected),
            "rejects": dg.MetadataValue.md(rejects_markdown(total)),
            "datasets": ", ".join(datasets),
            "store": dg.MetadataValue.path(str(st.root)),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=FINITE_CHECK,
                passed=not bad and not damaged,
                metadata={
                    "non_finite_values": dg.MetadataValue.json(bad),
                    **({"damaged": dg.MetadataValue.json(damaged)} if damaged else {}),
                },
                description="; ".join(
                    [*(["non-finite values found: " + ", ".join(bad)] if bad else []), *damaged]
                )
                or None,
            )
        ],
    )
