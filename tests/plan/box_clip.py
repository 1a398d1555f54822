"""The synthetic clip the planner tests plan, and the environment they plan it in."""

from __future__ import annotations

from pathlib import Path

from intermimic.motion.synthetic import synthetic_clip, write_synthetic_objects
from intermimic.objects import ObjectLibrary
from intermimic.rl.clipset import ClipSet, prepare_clips
from intermimic.rl.teacher_settings import TeacherSettings

#: The environment the planner tests plan in (residual actions, as the planner's own).
PLAN_SETTINGS = TeacherSettings(worlds=4, sim_threads=1, residual_actions=True)


def box_clipset(objects_dir: Path) -> ClipSet:
    """One synthetic 20-frame box clip prepared under :data:`PLAN_SETTINGS`, its object
    written to ``objects_dir``."""
    objects = ObjectLibrary(write_synthetic_objects(objects_dir))
    clip = synthetic_clip("s1", "box", 0, 20, seed=0, dataset="lab")
    return prepare_clips([clip], objects, PLAN_SETTINGS)
