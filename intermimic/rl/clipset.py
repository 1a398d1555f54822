"""The clips a teacher trains on: a subject's clips sorted into a :class:`ClipSet`.

A subject's clips may show several objects (sub2: largetable and woodchair) while a
tracking env holds one, so :func:`prepare_clips` groups them by object, builds each
object's training scene (:func:`teacher_scene`) and keeps the clips a tracking env
accepts, with the reason for each it rejects (too short, another frame rate, non-finite
poses, an object that cannot be built); :class:`~intermimic.rl.teacher_settings.
NoClipsError` if none is left. :func:`~intermimic.rl.teacher_env.build_teacher_env`
builds the environment over a :class:`ClipSet`.
"""

from __future__ import annotations

import logging
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from intermimic.errors import InputError
from intermimic.humanoid import fit_skeleton
from intermimic.humanoid.embodiment import SmplxEmbodiment, make_embodiment
from intermimic.motion.clip import HOIClip
from intermimic.rl.teacher_settings import NoClipsError, TeacherSettings
from intermimic.sim.scene import Scene, SceneSettings, embodiment_scene

log = logging.getLogger(__name__)


def group_by_object(clips: Sequence[HOIClip]) -> dict[str, list[HOIClip]]:
    """Clips by object name, names sorted, clips in their given order."""
    groups: dict[str, list[HOIClip]] = defaultdict(list)
    for c in clips:
        groups[c.meta.object_name].append(c)
    return {k: groups[k] for k in sorted(groups)}


def teacher_scene(
    obj_name: str,
    objects: Any,
    humanoid: Any | None = None,
    embodiment: Any | None = None,
    physics: SceneSettings | None = None,
) -> Scene:
    """The training scene: humanoid with PD position actuators + the object + ground.

    ``objects`` is an :class:`~intermimic.objects.ObjectLibrary`; ``humanoid`` a
    :class:`~intermimic.humanoid.SkeletonModel` (None: the mean adult); ``embodiment``
    an :class:`~intermimic.humanoid.embodiment.Embodiment` (None: that SMPL-X humanoid);
    ``physics`` the scene's settings (None: the defaults; a run's are
    :meth:`TeacherSettings.scene_settings`).
    """
    emb = embodiment if embodiment is not None else SmplxEmbodiment(humanoid)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # meshes that are not watertight: noted elsewhere
        obj = objects.get(obj_name)
    return embodiment_scene(emb, obj, physics)


@dataclass
class ClipSet:
    """A subject's trainable clips grouped by object, their scenes, and the rejects."""

    groups: dict[str, list[HOIClip]]
    scenes: dict[str, Scene]
    rejected: dict[str, str] = field(default_factory=dict)
    """clip id -> why it cannot be tracked."""

    @property
    def clips(self) -> list[HOIClip]:
        return [c for g in self.groups.values() for c in g]


def prepare_clips(
    clips: Sequence[HOIClip],
    objects: Any,
    settings: TeacherSettings,
    *,
    where: str = "subject",
) -> ClipSet:
    """Scenes per object and the clips a tracking env accepts; :class:`NoClipsError` if
    none (``where`` names the subject in the message)."""
    humanoid = None
    embodiment = None
    if settings.embodiment != "smplx":
        embodiment = make_embodiment(settings.embodiment)
    else:
        if settings.fit_skeleton and clips:
            try:
                humanoid = fit_skeleton(list(clips)).skeleton
            except (InputError, ValueError) as exc:
                log.warning("%s: skeleton fit failed (%s); using the mean adult", where, exc)
        embodiment = SmplxEmbodiment(humanoid, hands=settings.hands)
    env_s = settings.env_settings()
    need = max(env_s.observation.future_offsets)
    groups: dict[str, list[HOIClip]] = {}
    scenes: dict[str, Scene] = {}
    rejected: dict[str, str] = {}
    for name, group in group_by_object(clips).items():
        try:
            scene = teacher_scene(name, objects, humanoid, embodiment, settings.scene_settings())
        except Exception as exc:  # missing mesh, bad mesh: the group's clips are rejected
            for c in group:
                rejected[c.meta.clip_id] = f"object {name!r}: {exc}"
            continue
        ok = []
        for c in group:
            if c.n_frames <= need:
                rejected[c.meta.clip_id] = f"{c.n_frames} frames; at least {need + 1} needed"
            elif abs(c.meta.fps - env_s.action.policy_hz) > 1e-6:
                rejected[c.meta.clip_id] = f"{c.meta.fps:g} fps, not {env_s.action.policy_hz:g}"
            elif not np.isfinite(c.joint_rotvec).all() or not np.isfinite(c.obj_pos).all():
                rejected[c.meta.clip_id] = "non-finite poses"
            else:
                ok.append(c)
        if ok:
            groups[name], scenes[name] = ok, scene
    if not groups:
        detail = "; ".join(f"{k}: {v}" for k, v in sorted(rejected.items())) or "no clips"
        raise NoClipsError(f"{where} has no ok clips a teacher can track ({detail})")
    return ClipSet(groups, scenes, rejected)
