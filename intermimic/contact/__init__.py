"""Contact intents and MoCap artifact diagnostics (library half of issue 4).

Usage::

    from intermimic.contact import ContactSettings, annotate, artifact_report

    scene = build_scene(build_spec(), library.get(clip.meta.object_name))
    ann = annotate(clip, scene)            # labels [T,52], obj_contact [T], hand_intent [T,2]
    report = artifact_report(clip, scene)  # series {name: [T]}, figures {name: float}
    label_agreement(ann.labels, clip.contact)  # per group precision / recall / F1

Pure functions: HOIClip + Scene in, numpy arrays and dataclasses out; no store, no I/O.
"""

from __future__ import annotations

from intermimic.contact.agreement import (
    GROUPS,
    confusion,
    label_agreement,
    scores_from_confusion,
)
from intermimic.contact.artifacts import ArtifactReport, artifact_report, jitter_amplitude
from intermimic.contact.distances import (
    HumanoidGeoms,
    PointClusters,
    body_ground_clearance,
    body_object_distances,
    body_poses,
    object_ground_distance,
)
from intermimic.contact.errors import AnnotationError
from intermimic.contact.intents import (
    ContactAnnotation,
    annotate,
    intents_from_distances,
    remove_flicker,
)
from intermimic.contact.scene import scene_for_clip
from intermimic.contact.settings import ContactSettings

__all__ = [
    "GROUPS",
    "AnnotationError",
    "ArtifactReport",
    "ContactAnnotation",
    "ContactSettings",
    "HumanoidGeoms",
    "PointClusters",
    "annotate",
    "artifact_report",
    "body_ground_clearance",
    "body_object_distances",
    "body_poses",
    "confusion",
    "intents_from_distances",
    "jitter_amplitude",
    "label_agreement",
    "object_ground_distance",
    "remove_flicker",
    "scene_for_clip",
    "scores_from_confusion",
]
