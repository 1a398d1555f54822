"""Gathering every subject's refined clips, with their raw clips' figures, for a version.

Besides the physical figures (from the stored artifact series), each clip carries the
refine stage's quality judgement where it was recorded (the ``rollout`` group's
``quality`` attribute, :func:`stages.refine_quality.quality_record`): ``verdict``,
``figures_intermimic`` (InterMimic's refinement of the clip over the same frames, ``{}``
when none) and ``quality`` (the failed comparisons and the raw and refined artifact
figures the verdict was judged on). Refinements recorded before it have none of them:
the quality check reads them as unmeasured.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import zarr

from data_catalog.catalog import Catalog
from data_catalog.hoi_zarr import (
    jsonable,
)
from data_catalog.refined_layout import ARTIFACTS, REFINED_SUFFIX, ROLLOUT, refined_sha256
from data_catalog.store import Store
from intermimic.contact.artifacts import PHYSICAL_FIGURES
from intermimic.export.clips import VELOCITY_FIELDS, ExportClip

#: Seconds to pause after the arrays are written, before the version is renamed into
#: place: lets the crash test kill a publish at a known point. Never set in production.


def series_figures(series: Mapping[str, np.ndarray]) -> dict[str, float]:
    """The :data:`PHYSICAL_FIGURES` of one clip's artifact series (the artifact report's
    per-frame output). Foot skating is the report's own figure (the feet's skate speed
    summed over the frames, over how many feet touched) where the series hold
    ``foot_skate_sum`` and ``foot_contact_count``; series stored before those existed
    give the mean of the fastest foot over frames where a foot slides, another figure."""
    out: dict[str, float] = {}
    for name in ("penetration_object", "penetration_ground"):
        if name in series:
            s = np.asarray(series[name], np.float64)
            out[f"{name}_max"] = float(np.nanmax(s)) if s.size else 0.0
    if "floating" in series:
        s = np.asarray(series["floating"], np.float64)
        out["floating_fraction"] = float(np.nanmean(s)) if s.size else 0.0
    if "foot_skate_sum" in series and "foot_contact_count" in series:
        n = float(np.nansum(np.asarray(series["foot_contact_count"], np.float64)))
        total = float(np.nansum(np.asarray(series["foot_skate_sum"], np.float64)))
        out["foot_skate_speed_mean"] = total / n if n else 0.0
    elif "foot_skate_speed" in series:
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
    quality: dict[str, dict[str, Any]] = dict(rattrs.get("quality") or {})
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
        if cid in quality:
            q = quality[cid]
            info["verdict"] = q.get("verdict")
            info["figures_intermimic"] = dict(q.get("intermimic") or {})
            keep = ("failing", "against_intermimic", "raw", "refined")
            info["quality"] = {k: q.get(k) for k in keep}
        out.clips.append(ExportClip.build(clip, velocities, jsonable(info)))
