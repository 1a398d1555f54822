"""Writing a version: its id from its inputs, its manifest, and :func:`publish_refined`."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import intermimic
from data_catalog.hoi_zarr import (
    HOI_LAYOUT_VERSION,
    jsonable,
    write_hoi_group,
)
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
from intermimic.export.clips import ExportClip
from stages.publish.checks import CheckOutcome, quality_checks
from stages.publish.gather import Gathered, gather_refined
from stages.publish.settings import PublishSettings

#: Seconds to pause after the arrays are written, before the version is renamed into
#: place: lets the crash test kill a publish at a known point. Never set in production.
STALL_ENV = "INTERMIMIC_PUBLISH_STALL_S"


class PublishError(StoreError):
    """Nothing could be published (no refined clips, all excluded)."""


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
