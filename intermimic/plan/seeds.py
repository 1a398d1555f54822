"""Planned clips for a teacher: PSI seeds (recipe b) and actions to clone (recipe c).

:func:`plan_clips` plans every clip of a :class:`~intermimic.rl.teacher_env.ClipSet`
(:func:`~intermimic.plan.planner.plan_clip`) and returns each clip's committed states and
actions. :func:`~intermimic.rl.teacher_training.train_teacher` puts the states into the
PSI buffers (``psi_seeds``, see :func:`psi_seeds`) and
:func:`~intermimic.plan.clone.clone_planner` fits a fresh actor to the actions. Plans are
cached per clip in ``cache_dir`` under the hash of the planner's settings, the
environment's and the clip's source, so a resumed or repeated run does not plan again.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from intermimic.atomic import write_bytes_atomic
from intermimic.plan.planner import plan_clip
from intermimic.plan.settings import PlannerSettings
from intermimic.rl.teacher_env import ClipSet
from intermimic.rl.teacher_settings import TeacherSettings

log = logging.getLogger(__name__)
F64 = NDArray[np.float64]


@dataclass(frozen=True)
class PlannedClip:
    """A clip's planned motion: ``states [n, nq + nv]`` at frames ``0..n-1`` and the
    ``actions [n, A]`` applied at each (the tracking env's action units; the last row 0),
    and the planner's ``seconds``."""

    states: F64
    actions: F64
    seconds: float

    @property
    def frames(self) -> int:
        """Frames tracked (policy steps)."""
        return len(self.states) - 1


def _key(planner: PlannerSettings, settings: TeacherSettings, source: str) -> str:
    env = settings.env_settings(psi=False).model_dump_json()
    h = hashlib.sha256(f"{planner.sha256()}|{env}|{settings.hands}|{source}".encode())
    return h.hexdigest()[:16]


def plan_clips(
    clipset: ClipSet,
    settings: TeacherSettings,
    planner: PlannerSettings | None = None,
    *,
    cache_dir: Path | None = None,
    on_clip: Callable[[str, int, int], None] | None = None,
) -> dict[str, PlannedClip]:
    """Clip id -> its :class:`PlannedClip`. ``on_clip(clip_id, frames, clip_frames)`` is
    called after each clip (cached ones included)."""
    p = planner or PlannerSettings()
    out: dict[str, PlannedClip] = {}
    for name, clips in clipset.groups.items():
        for clip in clips:
            cid = clip.meta.clip_id
            path = None
            if cache_dir is not None:
                key = _key(p, settings, clip.meta.source_sha256 or cid)
                path = Path(cache_dir) / f"{cid}.{key}.npz"
            if path is not None and path.exists():
                with np.load(path) as z:
                    out[cid] = PlannedClip(
                        np.asarray(z["states"], np.float64),
                        np.asarray(z["actions"], np.float64),
                        float(z["seconds"]),
                    )
            else:
                res = plan_clip(clip, clipset.scenes[name], settings, p)
                a = res.rollout.arrays
                out[cid] = PlannedClip(
                    np.concatenate([a["qpos"], a["qvel"]], axis=1),
                    np.asarray(a["actions"], np.float64),
                    res.seconds,
                )
                log.info(
                    "planned %s: %d of %d frames in %.0f s",
                    cid, res.rollout.duration, res.rollout.clip_frames - 1, res.seconds,
                )  # fmt: skip
                if path is not None:
                    buf = io.BytesIO()
                    pc = out[cid]
                    np.savez(buf, states=pc.states, actions=pc.actions, seconds=pc.seconds)
                    write_bytes_atomic(path, buf.getvalue())
            if on_clip is not None:
                on_clip(cid, out[cid].frames, clip.n_frames)
    return out


def psi_seeds(plans: Mapping[str, PlannedClip]) -> dict[str, F64]:
    """The states of ``plans`` as ``train_teacher``'s ``psi_seeds``."""
    return {cid: p.states for cid, p in plans.items()}
