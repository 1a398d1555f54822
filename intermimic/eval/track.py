"""Track any motion with a trained policy: ``intermimic track``.

:func:`load_policy` opens a student run (``student_settings.json``) or a teacher run
(``teacher_settings.json``) directory; :func:`prepare_reference` turns whatever a
reader gave (say a kinematic HOI generator's output without body positions or contact
labels) into a reference the tracking environment accepts; :func:`track_clip` runs the
policy on it and returns the physically simulated motion as an
:class:`~intermimic.motion.clip.HOIClip` with its metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from intermimic.contact.derive import complete_reference
from intermimic.errors import InputError
from intermimic.eval.evaluate import EvalSettings, Evaluation, evaluate_policy, perturbed_scene
from intermimic.motion.clip import HOIClip
from intermimic.rl.rollout import refined_clip
from intermimic.rl.student_policy import load_student
from intermimic.rl.student_settings import SETTINGS_FILE
from intermimic.rl.teacher_actor import load_teacher_actor


def prepare_reference(clip: HOIClip, objects: Any = None) -> HOIClip:
    """The hook where a read clip becomes a trackable reference.

    Derives what the clip lacks (body poses by forward kinematics, contact labels from
    geometry) with :func:`intermimic.contact.derive.complete_reference`; a clip lacking
    nothing is returned as is. Extend here for new sources.
    """
    return complete_reference(clip, objects)


def load_policy(path: Path) -> Any:
    """A :class:`~intermimic.rl.student_policy.StudentPolicy` or
    :class:`~intermimic.rl.teacher_actor.TeacherActor` from a run directory."""
    p = Path(path)
    if (p / SETTINGS_FILE).exists():
        return load_student(p)
    if (p / "teacher_settings.json").exists() or (p / "checkpoints").is_dir():
        return load_teacher_actor(p, p.name)
    raise InputError(f"{p}: neither a student nor a teacher run directory")


@dataclass
class TrackResult:
    """The simulated motion of one tracked reference and its evaluation."""

    clip: HOIClip
    evaluation: Evaluation

    @property
    def metrics(self) -> dict[str, Any]:
        r = self.evaluation.results[0]
        return r.row()


def track_clip(
    policy: Any, clip: HOIClip, objects: Any, settings: EvalSettings | None = None
) -> TrackResult:
    """Run ``policy`` on ``clip`` (already prepared) and return the simulated motion
    (dataset ``<dataset>-tracked``) and its metrics; :class:`InputError` when the clip
    cannot be tracked."""
    s = (settings or EvalSettings()).model_copy(update={"attempts": 1})
    ev = evaluate_policy(policy, [clip], objects, s, keep_rollouts=True)
    if not ev.rollouts:
        why = "; ".join(f"{k}: {v}" for k, v in ev.rejected.items()) or "no rollout"
        where = clip.meta.source_path or None
        raise InputError(f"clip {clip.meta.clip_id!r} cannot be tracked: {why}", where)
    scene = perturbed_scene(clip.meta.object_name, objects, s)
    sim = refined_clip(
        ev.rollouts[0],
        clip,
        scene,
        dataset=f"{clip.meta.dataset}-tracked",
        source_sha256=clip.meta.source_sha256,
        source_path=clip.meta.source_path,
    )
    return TrackResult(sim, ev)
