"""Complete a reference that lacks fields: body poses by FK, contact labels by geometry.

Kinematic generators (and SMPL-X parameter files) give joint rotations and an object
pose but no contact labels, and sometimes no body positions. The readers
(``generated-npz``, ``smplx-npz``) fill those with placeholders and list them in
``clip.extra["missing"]``; :func:`complete_reference` derives them before a clip is
tracked:

* ``body_pos`` / ``body_quat``: forward kinematics of the joint rotations over the
  humanoid (the mean adult, or ``offsets`` for a subject's bones);
* ``contact`` / ``obj_contact``: contact intents from exact body-object distances
  (:func:`intermimic.contact.annotate`, InterAct's rules), in a scene with the clip's
  object.

It lives with contact annotation (not in :mod:`intermimic.motion`) because it needs
the annotation, the humanoid and the object library, all above the motion layer.

Usage::

    clip = read_clip("generated.npz")                  # no contacts, no body positions
    ref = complete_reference(clip, ObjectLibrary())    # ready for TrackingEnv / track
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from intermimic.contact.intents import annotate
from intermimic.contact.scene import scene_for_clip
from intermimic.motion.clip import HOIClip
from intermimic.motion.formats.smplx_npz import pose_bodies
from intermimic.objects.library import ObjectLibrary

BODY_FIELDS = ("body_pos", "body_quat")
CONTACT_FIELDS = ("contact", "obj_contact")


def missing_fields(clip: HOIClip) -> set[str]:
    """Fields the clip's reader had no data for (placeholders), plus body poses that are
    not finite or all zero and contact labels that are all 0 (unknown) everywhere."""
    out = set(clip.extra.get("missing", ()))
    bp = np.asarray(clip.body_pos)
    if bp.size == 0 or not np.isfinite(bp).all() or not np.any(bp):
        out |= set(BODY_FIELDS)
    if not np.any(clip.contact) and not np.any(clip.obj_contact):
        out |= set(CONTACT_FIELDS)
    return out


def complete_reference(
    clip: HOIClip,
    objects: Any = None,
    *,
    scene: Any = None,
    offsets: NDArray[np.floating] | None = None,
    contact_settings: Any = None,
    recompute: bool = False,
) -> HOIClip:
    """``clip`` with its missing fields derived (see the module docstring).

    ``objects`` is an :class:`~intermimic.objects.ObjectLibrary` (default: the
    configured one), used when ``scene`` (an annotation scene with the clip's object,
    :func:`intermimic.contact.scene_for_clip`) is not given; neither is touched when no
    contact labels are missing. ``recompute`` derives everything even if present.
    ``extra["derived"]`` lists what was derived. A clip lacking nothing is returned as is.
    """
    need = set(BODY_FIELDS) | set(CONTACT_FIELDS) if recompute else missing_fields(clip)
    if not need:
        return clip
    arrays: dict[str, np.ndarray] = {}
    work = clip
    if need & set(BODY_FIELDS):
        pos, quat = pose_bodies(clip.root_pos, clip.root_quat, clip.joint_rotvec, offsets)
        arrays["body_pos"] = pos.astype(np.float32)
        arrays["body_quat"] = quat.astype(np.float32)
        work = clip.with_arrays(**arrays)
    if need & set(CONTACT_FIELDS):
        if scene is None:
            scene = scene_for_clip(work, objects if objects is not None else ObjectLibrary())
        ann = annotate(work, scene, contact_settings)
        arrays["contact"] = np.asarray(ann.labels, np.int8)
        arrays["obj_contact"] = np.asarray(ann.obj_contact, np.int8)
    done = replace(clip.with_arrays(**arrays), extra=dict(clip.extra))
    done.extra["derived"] = tuple(sorted(set(clip.extra.get("derived", ())) | set(arrays)))
    done.extra["missing"] = ()
    return done
