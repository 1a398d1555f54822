"""Publishing every subject's refined motion as one immutable, versioned dataset.

Where versions live and how they are read: :mod:`data_catalog.versions`.

The version id is a content hash of the inputs: for every clip the raw dataset, subject,
clip id, the raw clip's hash and the hash of the teacher checkpoint that refined it,
plus the settings that decide what goes in (``only_successful``, ``datasets``) and the
code version. The same inputs give the same id, so publishing twice writes nothing.
(A refined clip's identity is its teacher and raw clip, as in the store itself:
:func:`data_catalog.refined_layout.refined_sha256`.)

:func:`publish_refined` makes a new version current only when its blocking checks pass
(:func:`quality_checks`: every array finite, success ratio at least
``min_success_ratio``, physical figures not worse than the raw clip's), unless told
``force_current``; so ``current`` always names a version that passed them.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import zarr
from pydantic import BaseModel, Field

import intermimic
from data_catalog.catalog import Catalog
from data_catalog.hoi_zarr import (
    HOI_LAYOUT_VERSION,
    jsonable,
    write_hoi_group,
)
from data_catalog.refined_layout import ARTIFACTS, REFINED_SUFFIX, ROLLOUT, refined_sha256
from data_catalog.store import Store
from data_catalog.versions import (
    CURRENT,
    DATA,
    DATASET,
    MANIFEST,
    PUBLISH_LAYOUT_VERSION,
    clean_staging,
    current_version,
    publish_lock_path,
    record_version,
    version_manifest_at,
    versions_dir,
    versions_table,
)
from intermimic.atomic import lock, staged_dir, write_text_atomic
from intermimic.contact.artifacts import PHYSICAL_FIGURES
from intermimic.errors import StoreError
from intermimic.export.clips import VELOCITY_FIELDS, ExportClip

#: Seconds to pause after the arrays are written, before the version is renamed into
#: place: lets the crash test kill a publish at a known point. Never set in production.
STALL_ENV = "INTERMIMIC_PUBLISH_STALL_S"

CHECK_FINITE = "all_arrays_finite"
CHECK_SUCCESS = "success_ratio"
CHECK_PHYSICAL = "physical_not_worse_than_raw"


class PublishError(StoreError):
    """Nothing could be published (no refined clips, all excluded)."""


class PublishSettings(BaseModel):
    """What goes into a version, and the bar its checks set."""

    only_successful: bool = Field(
        False, description="publish only clips the teacher tracked to their last frame"
    )
    datasets: list[str] | None = Field(
        None, description="raw datasets whose refinements to gather; None: every one"
    )
    min_success_ratio: float = Field(
        0.5, ge=0.0, le=1.0, description="check: least share of refined clips tracked to the end"
    )
    physical_severity: Literal["error", "warn"] = Field(
        "error",
        description="severity of the physical check's failure; 'warn' does not block",
    )
    penetration_tolerance_m: float = Field(
        0.005, ge=0.0, description="check: refined penetration may exceed raw by this (m)"
    )
    floating_tolerance: float = Field(
        0.02, ge=0.0, description="check: refined floating-contact fraction may exceed raw by this"
    )
    foot_skate_tolerance_mps: float = Field(
        0.05, ge=0.0, description="check: refined foot skating may exceed raw by this (m/s)"
    )
    compression: Literal["none", "lz4", "zstd"] = Field(
        "none",
        description="chunk compression of the version's arrays (lz4, zstd: about 15 % "
        "smaller on refined float data, several times slower to write)",
    )
    chunk_frames: int = Field(8192, ge=1, description="frames per chunk")
    force_current: bool = Field(
        False, description="make the version current even when a blocking check fails"
    )

    def tolerance(self, figure: str) -> float:
        if figure.startswith("penetration"):
            return self.penetration_tolerance_m
        if figure.startswith("floating"):
            return self.floating_tolerance
        return self.foot_skate_tolerance_mps


@dataclass(frozen=True)
class CheckOutcome:
    """One quality check of a version."""

    name: str
    passed: bool
    severity: Literal["error", "warn"]
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def blocking_failure(self) -> bool:
        return not self.passed and self.severity == "error"


@dataclass
class PublishReport:
    """What :func:`publish_refined` did."""

    version: str
    path: Path
    created: bool
    """False when the version already existed (publishing the same inputs again)."""
    current: str | None
    """The current version afterwards."""
    manifest: dict[str, Any]
    checks: list[CheckOutcome]
    excluded: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    bytes_written: int = 0

    @property
    def made_current(self) -> bool:
        return self.current == self.version

    @property
    def n_clips(self) -> int:
        return len(self.manifest["clips"])


# ---- paths and listing ---------------------------------------------------------------------


# ---- gathering the refined clips -----------------------------------------------------------


def series_figures(series: Mapping[str, np.ndarray]) -> dict[str, float]:
    """The :data:`PHYSICAL_FIGURES` of one clip's artifact series (the artifact report's
    per-frame output). Foot skating is the mean speed over frames where a foot slides."""
    out: dict[str, float] = {}
    for name in ("penetration_object", "penetration_ground"):
        if name in series:
            s = np.asarray(series[name], np.float64)
            out[f"{name}_max"] = float(np.nanmax(s)) if s.size else 0.0
    if "floating" in series:
        s = np.asarray(series["floating"], np.float64)
        out["floating_fraction"] = float(np.nanmean(s)) if s.size else 0.0
    if "foot_skate_speed" in series:
        s = np.asarray(series["foot_skate_speed"], np.float64)
        moving = s[s > 0]
        out["foot_skate_speed_mean"] = float(moving.mean()) if moving.size else 0.0
    return out


def _rows(series: Mapping[str, np.ndarray], start: int, length: int) -> dict[str, np.ndarray]:
    return {k: v[start : start + length] for k, v in series.items()}


@dataclass
class Gathered:
    """Every refined clip found, with its record; ``excluded``: clips that cannot be
    published (key ``dataset/subject/clip``) and why."""

    clips: list[ExportClip] = field(default_factory=list)
    excluded: dict[str, str] = field(default_factory=dict)


def gather_refined(store: Store, datasets: Iterable[str] | None = None) -> Gathered:
    """Every subject's refined clips with lineage, tracking and physical figures."""
    wanted = set(datasets) if datasets is not None else None
    out = Gathered()
    raw_figures = Catalog(store.root).figures_wide("raw")
    for ds in store.datasets():
        if not ds.endswith(REFINED_SUFFIX):
            continue
        raw_ds = ds[: -len(REFINED_SUFFIX)]
        if wanted is not None and raw_ds not in wanted:
            continue
        for _, subject in store.subjects(ds):
            _gather_subject(store, raw_ds, ds, subject, raw_figures, out)
    return out


def _gather_subject(
    store: Store, raw_ds: str, ds: str, subject: str, raw_figures: pd.DataFrame, out: Gathered
) -> None:
    index = store.index(ds, subject)
    groups = set(store.series_groups(ds, subject))
    if ROLLOUT not in groups:
        for e in index:
            out.excluded[f"{ds}/{subject}/{e.clip_id}"] = "no rollout record of its refinement"
        return
    rattrs = store.series_attrs(ds, subject, ROLLOUT)
    teacher_sha = str(rattrs.get("teacher_sha256", ""))
    tracking: dict[str, dict[str, Any]] = dict(rattrs.get("tracking") or {})
    # only the velocities: the rollout group also holds qpos, actions, contact forces
    roll_group = store.open_subject(ds, subject)[ROLLOUT]
    assert isinstance(roll_group, zarr.Group)
    rollout: dict[str, np.ndarray] = {}
    for k in VELOCITY_FIELDS:
        if k in roll_group:
            arr = roll_group[k]
            assert isinstance(arr, zarr.Array)
            rollout[k] = np.asarray(arr[...])
    rollout_clips = set(rattrs.get("clips") or [])
    art_ref, art_ref_clips = {}, set()
    if ARTIFACTS in groups:
        art_ref = store.read_series(ds, subject, ARTIFACTS)
        art_ref_clips = set(store.series_attrs(ds, subject, ARTIFACTS).get("clips") or [])
    raw_index = (
        {e.clip_id: e for e in store.index(raw_ds, subject)}
        if (store.generation_path(raw_ds, subject))
        else {}
    )
    art_raw, art_raw_clips = {}, set()
    if raw_index and ARTIFACTS in store.series_groups(raw_ds, subject):
        art_raw = store.read_series(raw_ds, subject, ARTIFACTS)
        art_raw_clips = set(store.series_attrs(raw_ds, subject, ARTIFACTS).get("clips") or [])
    fig_rows = (
        raw_figures[(raw_figures["dataset"] == raw_ds) & (raw_figures["subject"] == subject)]
        if not raw_figures.empty
        else raw_figures
    )
    clips = store.read_subject(ds, subject)
    for e, clip in zip(index, clips, strict=True):
        cid = e.clip_id
        key = f"{ds}/{subject}/{cid}"
        raw = raw_index.get(cid)
        if raw is None:
            out.excluded[key] = f"its raw clip {raw_ds}/{subject}/{cid} is no longer in the store"
            continue
        if cid not in tracking or cid not in rollout_clips:
            out.excluded[key] = "no tracking record of its refinement"
            continue
        expect = refined_sha256(teacher_sha, raw.sha256)
        if clip.meta.source_sha256 != expect:
            out.excluded[key] = (
                "stale: the raw clip or the teacher changed since it was refined; refine again"
            )
            continue
        rows = _rows(rollout, e.start, e.length)
        velocities = {k: rows[k] for k in VELOCITY_FIELDS if k in rows}
        refined_figs = (
            series_figures(_rows(art_ref, e.start, e.length)) if (cid in art_ref_clips) else {}
        )
        if cid in art_raw_clips:
            # like for like: the raw clip over the frames the refined clip covers
            raw_figs = series_figures(_rows(art_raw, raw.start, min(raw.length, e.length)))
            raw_source = "artifact series, same frames"
        else:
            row = fig_rows[fig_rows["clip"] == cid] if not fig_rows.empty else fig_rows
            raw_figs = {
                f: float(row[f].iloc[0])
                for f in PHYSICAL_FIGURES
                if not row.empty and f in row and pd.notna(row[f].iloc[0])
            }
            raw_source = "catalog, whole clip" if raw_figs else "none"
        t = tracking[cid]
        info = {
            "success": bool(t.get("success", 0.0) >= 0.5),
            "duration": t.get("duration"),
            "duration_fraction": t.get("duration_fraction"),
            "e_h_cm": t.get("e_h_cm"),
            "e_o_cm": t.get("e_o_cm"),
            "raw_dataset": raw_ds,
            "raw_sha256": raw.sha256,
            "raw_frames": raw.length,
            "teacher_sha256": teacher_sha,
            "teacher_checkpoint": rattrs.get("teacher_checkpoint"),
            "refined_sha256": clip.meta.source_sha256,
            "figures_raw": raw_figs,
            "figures_raw_source": raw_source,
            "figures_refined": refined_figs,
        }
        out.clips.append(ExportClip.build(clip, velocities, jsonable(info)))


# ---- version id ------------------------------------------------------------------------------


def code_version() -> str:
    """What of the code decides a version's content: package and layout versions."""
    return (
        f"intermimic {intermimic.__version__}/publish {PUBLISH_LAYOUT_VERSION}"
        f"/hoi {HOI_LAYOUT_VERSION}"
    )


def version_inputs(
    clips: Iterable[ExportClip], settings: PublishSettings, code: str
) -> dict[str, Any]:
    """Everything the version id is a hash of."""
    return {
        "code_version": code,
        "settings": {
            "only_successful": settings.only_successful,
            "datasets": sorted(settings.datasets) if settings.datasets is not None else None,
        },
        "clips": sorted(
            [
                ec.info["raw_dataset"],
                ec.clip.meta.subject,
                ec.clip.meta.clip_id,
                ec.info["raw_sha256"],
                ec.info["teacher_sha256"],
            ]
            for ec in clips
        ),
    }


def version_id(inputs: Mapping[str, Any]) -> str:
    blob = json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode()
    return "v-" + hashlib.sha256(blob).hexdigest()[:16]


# ---- checks ------------------------------------------------------------------------------


def quality_checks(manifest: Mapping[str, Any], settings: PublishSettings) -> list[CheckOutcome]:
    """The blocking checks of a version, from its manifest (the finite counts were taken
    when its arrays were written; the data never changes after)."""
    bad = dict(manifest.get("nonfinite") or {})
    finite = CheckOutcome(
        CHECK_FINITE,
        not bad,
        "error",
        "every array is finite" if not bad else "non-finite values in " + ", ".join(sorted(bad)),
        {"non_finite_values": bad},
    )
    cand = manifest.get("candidates") or []
    ok = sum(1 for c in cand if c["success"])
    ratio = ok / len(cand) if cand else 0.0
    success = CheckOutcome(
        CHECK_SUCCESS,
        ratio >= settings.min_success_ratio,
        "error",
        f"{ok} of {len(cand)} refined clips tracked to the end ({ratio:.0%}); "
        f"at least {settings.min_success_ratio:.0%} required",
        {"success_ratio": ratio, "successful": ok, "refined": len(cand),
         "min_success_ratio": settings.min_success_ratio},
    )  # fmt: skip
    offenders: list[dict[str, Any]] = []
    unmeasured: list[str] = []
    for c in manifest["clips"]:
        raw, ref = c.get("figures_raw") or {}, c.get("figures_refined") or {}
        name = f"{c['subject']}/{c['clip']}"
        if not raw or not ref:
            unmeasured.append(name)
            continue
        for f in PHYSICAL_FIGURES:
            r, a = raw.get(f), ref.get(f)
            if r is not None and a is not None and a > r + settings.tolerance(f):
                offenders.append(
                    {"clip": name, "figure": f, "raw": r, "refined": a,
                     "tolerance": settings.tolerance(f)}
                )  # fmt: skip
    phys_ok = not offenders
    desc = (
        "no clip is physically worse than its raw MoCap"
        if phys_ok
        else f"{len({o['clip'] for o in offenders})} clip(s) worse than raw: "
        + ", ".join(sorted({o["clip"] for o in offenders})[:10])
    )
    if unmeasured:
        desc += f"; {len(unmeasured)} clip(s) without figures to compare"
    physical = CheckOutcome(
        CHECK_PHYSICAL,
        phys_ok,
        settings.physical_severity,
        desc,
        {"offenders": offenders, "unmeasured": unmeasured},
    )
    return [finite, success, physical]


# ---- publishing ------------------------------------------------------------------------------


def _mean_figures(clips: list[dict[str, Any]], key: str) -> dict[str, float]:
    out = {}
    for f in PHYSICAL_FIGURES:
        vals = [c[key][f] for c in clips if (c.get(key) or {}).get(f) is not None]
        if vals:
            out[f] = float(np.mean(vals))
    return out


def _manifest(
    vid: str,
    inputs: dict[str, Any],
    gathered: Gathered,
    included: list[ExportClip],
    settings: PublishSettings,
    nonfinite: dict[str, int],
) -> dict[str, Any]:
    clips = [
        {
            "dataset": ec.clip.meta.dataset,
            "subject": ec.clip.meta.subject,
            "clip": ec.clip.meta.clip_id,
            "object": ec.clip.meta.object_name,
            "frames": ec.clip.n_frames,
            **{k: v for k, v in ec.info.items() if k not in ("figures_raw_source",)},
        }
        for ec in included
    ]
    teachers = sorted(
        {(ec.info["raw_dataset"], ec.clip.meta.subject, ec.info["teacher_sha256"],
          ec.info.get("teacher_checkpoint")) for ec in included}
    )  # fmt: skip
    ok = [c for c in clips if c["success"]]
    return jsonable(
        {
            "version": vid,
            "dataset": DATASET,
            "created_at": datetime.now(UTC).isoformat(),
            "code_version": inputs["code_version"],
            "inputs": inputs,
            "settings": settings.model_dump(),
            "subjects": sorted({c["subject"] for c in clips}),
            "frames": int(sum(c["frames"] for c in clips)),
            "fps": included[0].clip.meta.fps,
            "clips": clips,
            "candidates": [
                {
                    "subject": ec.clip.meta.subject,
                    "clip": ec.clip.meta.clip_id,
                    "success": ec.success,
                }
                for ec in gathered.clips
            ],
            "excluded": gathered.excluded,
            "lineage": {
                "raw_clips": [
                    {
                        "dataset": c["raw_dataset"],
                        "subject": c["subject"],
                        "clip": c["clip"],
                        "sha256": c["raw_sha256"],
                    }
                    for c in clips
                ],
                "teachers": [
                    {"dataset": d, "subject": s, "sha256": sha, "checkpoint": ck}
                    for d, s, sha, ck in teachers
                ],
            },
            "metrics": {
                "clips": len(clips),
                "successful": len(ok),
                "success_ratio": len(ok) / len(clips) if clips else 0.0,
                "e_h_cm": _nanmean([c.get("e_h_cm") for c in clips]),
                "e_o_cm": _nanmean([c.get("e_o_cm") for c in clips]),
                "figures_raw": _mean_figures(clips, "figures_raw"),
                "figures_refined": _mean_figures(clips, "figures_refined"),
            },
            "nonfinite": nonfinite,
        }
    )


def _nanmean(values: list[Any]) -> float | None:
    v = [float(x) for x in values if x is not None and np.isfinite(x)]
    return float(np.mean(v)) if v else None


def _nonfinite_in_memory(clips: list[ExportClip]) -> dict[str, int]:
    bad: dict[str, int] = {}
    for ec in clips:
        for name, a in ec.arrays().items():
            if a.dtype.kind == "f" and (n := int(np.count_nonzero(~np.isfinite(a)))):
                bad[name] = bad.get(name, 0) + n
    return bad


def publish_refined(
    store: Store, settings: PublishSettings | None = None, *, code: str | None = None
) -> PublishReport:
    """Gather every subject's refined clips into one version (see the module docstring)."""
    t0 = time.perf_counter()
    s = settings or PublishSettings()
    store.ensure()
    root = versions_dir(store)
    with lock(publish_lock_path(store)):
        clean_staging(root)
        gathered = gather_refined(store, s.datasets)
        included = [ec for ec in gathered.clips if ec.success or not s.only_successful]
        if not included:
            why = "; ".join(f"{k}: {v}" for k, v in sorted(gathered.excluded.items())[:5])
            raise PublishError(
                f"{store.root}: nothing to publish: "
                + (
                    f"{len(gathered.clips)} refined clip(s), none successful"
                    if gathered.clips
                    else "no refined clips (run refine first)"
                )
                + (f"; excluded: {why}" if why else "")
            )
        inputs = version_inputs(included, s, code or code_version())
        vid = version_id(inputs)
        target = root / vid
        created, written = False, 0
        if not (target / MANIFEST).is_file():
            manifest = _manifest(vid, inputs, gathered, included, s, _nonfinite_in_memory(included))
            attrs = {"version": vid, "dataset": DATASET, "lineage": manifest["lineage"],
                     "code_version": manifest["code_version"]}  # fmt: skip
            with staged_dir(target) as tmp:
                written = write_hoi_group(
                    tmp / DATA, included, zarr_format=3, attrs=attrs,
                    compression=s.compression, chunk_frames=s.chunk_frames,
                )  # fmt: skip
                if stall := float(os.environ.get(STALL_ENV, "0") or 0):
                    time.sleep(stall)
                write_text_atomic(tmp / MANIFEST, json.dumps(manifest, indent=1) + "\n")
            created = True
        manifest = version_manifest_at(target)
        if created or vid not in set(versions_table(store)["version"]):
            # also when a publisher died between the rename and this write
            record_version(store, manifest, target)
        checks = quality_checks(manifest, s)
        current = current_version(store)
        if current != vid and (s.force_current or not any(c.blocking_failure for c in checks)):
            write_text_atomic(root / CURRENT, vid + "\n")
            current = vid
    return PublishReport(
        version=vid,
        path=target,
        created=created,
        current=current,
        manifest=manifest,
        checks=checks,
        excluded=gathered.excluded,
        seconds=time.perf_counter() - t0,
        bytes_written=written,
    )


# ---- catalog ---------------------------------------------------------------------------------
