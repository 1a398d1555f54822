"""Record a refinement made elsewhere as a subject's refined clips.

:func:`stages.refine.refine_subject` refines with our own teachers. Clips refined
by other means (InterMimic's own Isaac Gym teachers, whose refined OMOMO files come with
the sample; a colleague's run on a GPU cluster) can be recorded the same way, so that
publishing and exporting treat them alike: the clips go to ``<dataset>-refined`` with
``source_sha256`` = :func:`~data_catalog.refined_layout.refined_sha256` of the teacher's hash and
the raw clip's, the per-frame ``rollout`` group holds the velocities given and the
tracking record in its attributes, and the ``artifacts`` group the artifact series given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from data_catalog.refined_layout import ARTIFACTS, REFINED_SUFFIX, ROLLOUT, refined_sha256
from data_catalog.store import Store
from intermimic.errors import StoreError
from intermimic.export.clips import VELOCITY_FIELDS, finite_difference_velocities
from intermimic.motion.clip import HOIClip


def record_refinement(
    store: Store,
    dataset: str,
    subject: str,
    clips: Sequence[HOIClip],
    *,
    teacher_sha256: str,
    tracking: Mapping[str, Mapping[str, float]],
    teacher_checkpoint: str = "",
    velocities: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    artifacts: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    quality: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """Store ``clips`` (refined motion of raw clips of ``dataset/subject``, same clip ids)
    as the subject's refinement; returns the refined dataset's name.

    ``tracking[clip_id]`` holds at least ``success`` (0/1); ``velocities[clip_id]`` the
    :data:`~intermimic.export.clips.VELOCITY_FIELDS` (finite differences when absent);
    ``artifacts[clip_id]`` per-frame artifact series of the refined clip, if measured;
    ``quality[clip_id]`` its quality judgement, if judged (JSON-able, as
    :func:`stages.refine_quality.quality_record` makes it; publishing reads it).
    """
    raw = {e.clip_id: e for e in store.index(dataset, subject)}
    out_ds = f"{dataset}{REFINED_SUFFIX}"
    refined: list[HOIClip] = []
    rollout: dict[str, dict[str, np.ndarray]] = {}
    for c in clips:
        cid = c.meta.clip_id
        if cid not in raw:
            raise StoreError(f"{store.root}: no raw clip {dataset}/{subject}/{cid} to refine")
        if cid not in tracking or "success" not in tracking[cid]:
            raise StoreError(f"clip {cid}: the tracking record needs at least 'success'")
        refined.append(
            c.with_meta(
                dataset=out_ds,
                subject=subject,
                source_sha256=refined_sha256(teacher_sha256, raw[cid].sha256),
                source_path=teacher_checkpoint,
                source_format="recorded-refinement",
            )
        )
        given = (velocities or {}).get(cid) or finite_difference_velocities(c)
        rollout[cid] = {k: np.asarray(given[k], np.float32) for k in VELOCITY_FIELDS}
    attrs: dict[str, Any] = {
        "teacher_checkpoint": teacher_checkpoint,
        "teacher_sha256": teacher_sha256,
        "tracking": {k: {n: float(v) for n, v in t.items()} for k, t in tracking.items()},
    }
    if quality:
        attrs["quality"] = {k: dict(q) for k, q in quality.items()}
    store.upsert_clips(out_ds, subject, refined)
    store.write_series(out_ds, subject, ROLLOUT, rollout, attrs=attrs)
    if artifacts:
        store.write_series(
            out_ds,
            subject,
            ARTIFACTS,
            {k: {n: np.asarray(v, np.float32) for n, v in s.items()} for k, s in artifacts.items()},
        )
    return out_ds
