"""Annotating a subject in the store: contact intents and the MoCap artifact report.

For every clip of a subject: contact intents (per-frame, per-body labels, the object
flag, hand intents, distances) and the artifact report (per-frame series and per-clip
figures). Series go into the subject's Zarr generation as the groups
``contact_intents`` and ``artifacts``; per-clip figures into the catalog under the
stage ``raw``. A clip that cannot be annotated (say its object mesh is missing) is
reported with its reason; the subject's other clips are annotated all the same.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from data_catalog.catalog import Catalog
from data_catalog.store import Store
from intermimic.contact.agreement import confusion, scores_from_confusion
from intermimic.contact.artifacts import artifact_report
from intermimic.contact.intents import annotate
from intermimic.contact.scene import scene_for_clip
from intermimic.contact.settings import ContactSettings
from intermimic.errors import InputError
from intermimic.humanoid import build_spec, fit_skeleton
from intermimic.motion.clip import HOIClip
from intermimic.objects import ObjectLibrary
from intermimic.sim.scene import Scene

INTENTS = "contact_intents"
ARTIFACTS = "artifacts"
RAW_STAGE = "raw"


@dataclass(frozen=True)
class ClipFailure:
    clip: str
    reason: str


@dataclass
class AnnotateReport:
    """What :func:`annotate_subject` did for one subject."""

    dataset: str
    subject: str
    annotated: list[str] = field(default_factory=list)
    failed: list[ClipFailure] = field(default_factory=list)
    figures: dict[str, dict[str, float]] = field(default_factory=dict)
    agreement: dict[str, dict[str, float]] = field(default_factory=dict)
    frames: int = 0
    seconds: float = 0.0
    skeleton: str = "default"

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("nan")


def subject_humanoid(clips: list[HOIClip], fit: bool) -> tuple[Any, str]:
    """The subject's own humanoid (bone lengths measured from its clips), or the default."""
    if fit:
        try:
            fitted = fit_skeleton(clips)
            return build_spec(fitted.skeleton), "fitted"
        except (InputError, ValueError):
            pass  # a skeleton the fit cannot trust: the mean adult still annotates
    return build_spec(), "default"


def annotate_subject(
    store: Store,
    dataset: str,
    subject: str,
    settings: ContactSettings | None = None,
    objects: ObjectLibrary | None = None,
    *,
    fit: bool = True,
    clip_ids: list[str] | None = None,
    on_clip: Callable[[str], None] | None = None,
) -> AnnotateReport:
    """Annotate every clip (or ``clip_ids``) of ``dataset/subject`` and store the results."""
    s = settings or ContactSettings()
    library = objects or ObjectLibrary()
    clips = store.read_subject(dataset, subject)
    if clip_ids is not None:
        unknown = sorted(set(clip_ids) - {c.meta.clip_id for c in clips})
        if unknown:
            raise InputError(f"no clip(s) {', '.join(unknown)} in {dataset}/{subject}")
        clips = [c for c in clips if c.meta.clip_id in clip_ids]
    report = AnnotateReport(dataset, subject)
    humanoid, report.skeleton = subject_humanoid(clips, fit)
    scenes: dict[str, Scene] = {}
    intents: dict[str, dict[str, np.ndarray]] = {}
    artifacts: dict[str, dict[str, np.ndarray]] = {}
    counts: dict[str, tuple[int, int, int]] = {}
    t0 = time.perf_counter()
    for clip in clips:
        cid = clip.meta.clip_id
        if on_clip:
            on_clip(cid)
        try:
            name = clip.meta.object_name
            if name not in scenes:
                scenes[name] = scene_for_clip(clip, library, humanoid)
            ann = annotate(clip, scenes[name], s)
            art = artifact_report(clip, scenes[name], s)
        except InputError as exc:
            report.failed.append(ClipFailure(cid, str(exc)))
            continue
        intents[cid] = {
            "labels": ann.labels.astype(np.int8),
            "obj_contact": ann.obj_contact.astype(np.int8),
            "hand_intent": ann.hand_intent.astype(np.int8),
            "distances": ann.distances.astype(np.float32),
            "obj_ground": ann.obj_ground.astype(np.float32),
        }
        artifacts[cid] = {k: np.asarray(v, np.float32) for k, v in art.series.items()}
        report.figures[cid] = dict(art.figures)
        report.annotated.append(cid)
        report.frames += clip.n_frames
        for group, (tp, fp, fn) in confusion(ann.labels, clip.contact).items():
            a, b, c = counts.get(group, (0, 0, 0))
            counts[group] = (a + tp, b + fp, c + fn)
    report.seconds = time.perf_counter() - t0
    report.agreement = scores_from_confusion(counts) if counts else {}
    if intents:
        meta = {"settings": s.model_dump(), "skeleton": report.skeleton}
        store.write_series(dataset, subject, INTENTS, intents, attrs=meta)
        store.write_series(dataset, subject, ARTIFACTS, artifacts, attrs=meta)
        Catalog(store.root).upsert_figures(dataset, subject, RAW_STAGE, report.figures)
    return report
