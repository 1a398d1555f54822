"""The scene a clip is annotated in: a humanoid plus the clip's object from a library."""

from __future__ import annotations

import mujoco

from intermimic.contact.distances import check_clip
from intermimic.humanoid.builder import build_spec
from intermimic.motion.clip import HOIClip
from intermimic.objects.library import ObjectLibrary
from intermimic.sim.scene import Scene, build_scene


def scene_for_clip(
    clip: HOIClip, library: ObjectLibrary, humanoid: mujoco.MjSpec | None = None
) -> Scene:
    """``build_scene(humanoid, library.get(clip.meta.object_name))``.

    ``humanoid`` defaults to the builder's mean-adult skeleton (pass
    ``build_spec(fit_skeleton(...).skeleton)`` for a fitted subject). Raises
    :class:`~intermimic.contact.errors.AnnotationError` for a clip without the 52 SMPL-X
    bodies and :class:`~intermimic.objects.errors.UnknownObjectError` (naming the object
    and the objects folder) when the library has no mesh for the clip's object.
    """
    check_clip(clip)
    obj = library.get(clip.meta.object_name)
    return build_scene(humanoid if humanoid is not None else build_spec(), obj)
