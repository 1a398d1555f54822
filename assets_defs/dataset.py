"""Stage 5, ``refined_dataset``, and its export ``hoi_dataset_export`` (unpartitioned).

``refined_dataset`` gathers every subject's refined rollouts into one immutable,
content-addressed version (:func:`stages.publish.publish_refined`) and reports its
three blocking checks: every array finite, the success ratio at least
``min_success_ratio``, no clip physically worse than its raw MoCap (offenders listed in
the check's metadata), and a warning that lists which clips are full, worse than the
refinement-quality rule, partial or unmeasured (:mod:`stages.refine_quality`). A
version becomes ``current`` only when the blocking ones pass, and a failed one stops
``hoi_dataset_export`` in the same run. ``hoi_dataset_export`` exports the
current version in each configured format (:func:`stages.export.export_version`)
under ``STORE/exports/<version>/<format>/`` or a folder of your choice: only clips
refined to their end unless ``include_partial``, with the humanoid per subject and the
object meshes (from the ``objects`` resource); what was left out, and why, is in the
card and the asset's metadata.
"""

# No "from __future__ import annotations": Dagster resolves the config annotation at runtime.

from pathlib import Path

import dagster as dg
from pydantic import Field

from assets_defs.config import config_from_settings
from assets_defs.resources import ObjectsResource, StoreResource
from assets_defs.teacher import refined_rollouts, teacher_policy
from data_catalog.versions import resolve_version
from intermimic.errors import InterMimicError
from intermimic.export import FORMATS, NothingToExportError
from stages.export import ExportSettings, export_version
from stages.publish import (
    CHECK_FINITE,
    CHECK_PHYSICAL,
    CHECK_QUALITY,
    CHECK_SUCCESS,
    CheckOutcome,
    PublishSettings,
    publish_refined,
)

PublishConfig = config_from_settings(PublishSettings, "PublishConfig")

_CHECK_DESCRIPTIONS = {
    CHECK_FINITE: "every array of the published version is finite",
    CHECK_SUCCESS: "the share of clips tracked to their end is at least min_success_ratio",
    CHECK_PHYSICAL: "penetration, floating contact and foot skating not worse than raw, per clip",
    # severity warn: reported, never blocking
    CHECK_QUALITY: "per clip: full (tracked to the end, no figure worse than InterMimic's "
    "refinement, object penetration and foot skating no worse than raw), worse, partial",
}


class ExportConfig(dg.Config):
    """Run config of ``hoi_dataset_export``: the formats and the clips to export."""

    formats: list[str] = Field(default_factory=lambda: list(FORMATS), description="formats")
    out_root: str | None = Field(
        None, description="exports go to OUT_ROOT/<version>/<format>; None: STORE/exports"
    )
    subjects: list[str] | None = Field(None, description="only these subjects; None: all")
    include_partial: bool = Field(
        False, description=ExportSettings.model_fields["include_partial"].description
    )
    only_successful: bool = Field(
        False, description=ExportSettings.model_fields["only_successful"].description
    )
    intermimic_compatible: bool = Field(
        True, description=ExportSettings.model_fields["intermimic_compatible"].description
    )
    copy_meshes: bool = Field(
        True, description=ExportSettings.model_fields["copy_meshes"].description
    )
    compression: str = Field("none", description="Zarr chunk compression: none, lz4 or zstd")


def _check_result(c: CheckOutcome) -> dg.AssetCheckResult:
    md: dict[str, object] = {}
    for k, v in c.metadata.items():
        md[k] = dg.MetadataValue.json(v) if isinstance(v, dict | list) else v
    if c.name == CHECK_PHYSICAL and c.metadata.get("offenders"):
        rows = ["| clip | figure | raw | refined |", "| --- | --- | --- | --- |"]
        rows += [
            f"| {o['clip']} | {o['figure']} | {o['raw']:.4g} | {o['refined']:.4g} |"
            for o in c.metadata["offenders"]
        ]
        md["offenders_table"] = dg.MetadataValue.md("\n".join(rows))
    if c.name == CHECK_QUALITY and c.metadata.get("worse"):
        rows = ["| clip | failed | refined | reference |", "| --- | --- | --- | --- |"]
        rows += [
            f"| {w['clip']} | {f['figure']} > {f['against']} | {f['refined']:.4g} "
            f"| {f['reference']:.4g} |"
            for w in c.metadata["worse"]
            for f in w["failing"]
        ]
        md["worse_table"] = dg.MetadataValue.md("\n".join(rows))
    return dg.AssetCheckResult(
        check_name=c.name,
        passed=c.passed,
        severity=dg.AssetCheckSeverity.ERROR
        if c.severity == "error"
        else dg.AssetCheckSeverity.WARN,
        description=c.description,
        metadata=md,  # type: ignore[arg-type]
    )


@dg.asset(
    # the teachers too: a new teacher makes the version stale (the id hashes them) even
    # before its subject is refined again
    deps=[refined_rollouts, teacher_policy],
    code_version="1",
    check_specs=[
        dg.AssetCheckSpec(name, asset="refined_dataset", description=desc, blocking=True)
        for name, desc in _CHECK_DESCRIPTIONS.items()
    ],
    group_name="publish",
    kinds={"python", "zarr"},
    description="Every subject's refined clips as one immutable, versioned dataset.",
)
def refined_dataset(
    context: dg.AssetExecutionContext,
    config: PublishConfig,  # type: ignore[valid-type]
    store: StoreResource,
) -> dg.MaterializeResult:
    settings = PublishSettings(**config.model_dump())  # type: ignore[attr-defined]
    try:
        rep = publish_refined(store.store(), settings)
    except InterMimicError as exc:
        raise dg.Failure(str(exc)) from None
    m, man = rep.manifest["metrics"], rep.manifest
    context.log.info(
        f"version {rep.version} ({'written' if rep.created else 'already published'}), "
        f"current: {rep.current}"
    )
    for key, why in sorted(rep.excluded.items()):
        context.log.warning(f"left out {key}: {why}")
    teachers = man["lineage"]["teachers"]
    figs = ["| figure | raw | refined |", "| --- | --- | --- |"]
    for f, raw in m["figures_raw"].items():
        ref = m["figures_refined"].get(f)
        figs.append(f"| {f} | {raw:.4g} | {'-' if ref is None else format(ref, '.4g')} |")
    return dg.MaterializeResult(
        metadata={
            "version": rep.version,
            "created": rep.created,
            "current": rep.current or "none",
            "made_current": rep.made_current,
            "path": dg.MetadataValue.path(str(rep.path)),
            "clips": m["clips"],
            "subjects": len(man["subjects"]),
            "frames": man["frames"],
            "success_ratio": float(m["success_ratio"]),
            "E_h_cm": m["e_h_cm"],
            "E_o_cm": m["e_o_cm"],
            "excluded": len(rep.excluded),
            "teachers": dg.MetadataValue.md(
                "\n".join(
                    f"- {t['dataset']}/{t['subject']}: `{t['sha256'][:16]}`" for t in teachers
                )
            ),
            "figures_raw_vs_refined": dg.MetadataValue.md("\n".join(figs)),
            "seconds": round(rep.seconds, 2),
        },
        check_results=[_check_result(c) for c in rep.checks],
    )


@dg.asset(
    deps=[refined_dataset],
    code_version="1",
    group_name="publish",
    kinds={"python", "zarr", "pytorch", "numpy"},
    description="The current refined version exported for other projects (Zarr v3/v2, "
    "InterAct .pt, npz), each with a data card.",
)
def hoi_dataset_export(
    context: dg.AssetExecutionContext,
    config: ExportConfig,
    store: StoreResource,
    objects: ObjectsResource,
) -> dg.MaterializeResult:
    st = store.store()
    root = Path(config.out_root) if config.out_root else st.root / "exports"
    unknown = sorted(set(config.formats) - set(FORMATS))
    if unknown or not config.formats:
        raise dg.Failure(f"formats {config.formats}: choose from {', '.join(FORMATS)}")
    try:
        # the version refined_dataset made current (its checks passed)
        version = resolve_version(st, "current")
    except InterMimicError as exc:
        raise dg.Failure(str(exc)) from None
    md: dict[str, object] = {"version": version}
    written: list[str] = []
    nothing: dict[str, str] = {}
    for fmt in config.formats:
        try:
            settings = ExportSettings(
                version=version,
                format=fmt,  # type: ignore[arg-type]
                subjects=config.subjects,
                include_partial=config.include_partial,
                only_successful=config.only_successful,
                intermimic_compatible=config.intermimic_compatible,
                objects_dir=objects.root,
                copy_meshes=config.copy_meshes,
                compression=config.compression,  # type: ignore[arg-type]
            )
            rep = export_version(st, root / version / fmt, settings)
        except NothingToExportError as exc:
            # a format that may write no clip (every clip refused by it, or all partial):
            # reported; the run fails below only when no format wrote anything
            nothing[fmt] = str(exc)
            context.log.warning(f"{fmt}: nothing exported: {exc}")
            continue
        except (InterMimicError, ValueError) as exc:
            raise dg.Failure(f"export {fmt}: {exc}") from None
        written.append(fmt)
        context.log.info(f"{fmt}: {rep.clips} clips -> {rep.out} ({rep.seconds:.2f} s)")
        md[f"{fmt}_path"] = dg.MetadataValue.path(str(rep.out))
        md[f"{fmt}_MB_per_s"] = round(rep.mb_per_s, 1)
        if rep.skipped:
            md[f"{fmt}_skipped"] = dg.MetadataValue.json(rep.skipped)
            context.log.warning(f"{fmt}: {len(rep.skipped)} clip(s) refused or not writable")
        md["clips"] = rep.clips
        if rep.left_out:
            md["left_out"] = dg.MetadataValue.json(rep.left_out)
            context.log.warning(
                f"left out {len(rep.left_out)} partial clip(s) (the teacher did not reach "
                "the clip's end; include_partial exports them)"
            )
        md["left_out_count"] = len(rep.left_out)
    if not written:
        raise dg.Failure(
            "nothing exported: " + "; ".join(f"{f}: {why}" for f, why in nothing.items())
        )
    if nothing:
        md["nothing_exported"] = dg.MetadataValue.json(nothing)
    md["export_root"] = dg.MetadataValue.path(str(root / version))
    md["data_card"] = dg.MetadataValue.path(str(root / version / written[0] / "README.md"))
    return dg.MaterializeResult(metadata=md)  # type: ignore[arg-type]
