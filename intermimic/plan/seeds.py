"""Planner states as PSI seeds: physically valid starts along whole clips for a teacher.

:func:`planner_seeds` plans every clip of a :class:`~intermimic.rl.teacher_env.ClipSet`
(:func:`~intermimic.plan.planner.plan_clip`) and returns the committed states, which
:func:`~intermimic.rl.teacher_training.train_teacher` puts into the PSI buffers
(``psi_seeds``). Planned states are cached per clip in ``cache_dir`` under the hash of
the planner's settings and the clip's source, so a resumed or repeated run does not plan
again.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from intermimic.atomic import write_bytes_atomic
from intermimic.plan.planner import plan_clip
from intermimic.plan.settings import PlannerSettings
from intermimic.rl.teacher_env import ClipSet
from intermimic.rl.teacher_settings import TeacherSettings

log = logging.getLogger(__name__)


def _key(planner: PlannerSettings, settings: TeacherSettings, source: str) -> str:
    env = settings.env_settings(psi=False).model_dump_json()
    h = hashlib.sha256(f"{planner.sha256()}|{env}|{settings.hands}|{source}".encode())
    return h.hexdigest()[:16]


def planner_seeds(
    clipset: ClipSet,
    settings: TeacherSettings,
    planner: PlannerSettings | None = None,
    *,
    cache_dir: Path | None = None,
    on_clip: Callable[[str, int, int], None] | None = None,
) -> dict[str, NDArray[np.float64]]:
    """Clip id -> ``[n, nq + nv]`` the planner's committed states of that clip, frames
    ``0..n-1`` (``n - 1`` frames tracked). ``on_clip(clip_id, frames, clip_frames)`` is
    called after each clip."""
    p = planner or PlannerSettings()
    out: dict[str, NDArray[np.float64]] = {}
    for name, clips in clipset.groups.items():
        for clip in clips:
            cid = clip.meta.clip_id
            path = None
            if cache_dir is not None:
                key = _key(p, settings, clip.meta.source_sha256 or cid)
                path = Path(cache_dir) / f"{cid}.{key}.npz"
                if path.exists():
                    with np.load(path) as z:
                        out[cid] = np.asarray(z["states"], np.float64)
                    continue
            res = plan_clip(clip, clipset.scenes[name], settings, p)
            a = res.rollout.arrays
            out[cid] = np.concatenate([a["qpos"], a["qvel"]], axis=1)
            log.info(
                "planned %s: %d of %d frames in %.0f s",
                cid, res.rollout.duration, res.rollout.clip_frames - 1, res.seconds,
            )  # fmt: skip
            if path is not None:
                buf = io.BytesIO()
                np.savez(buf, states=out[cid], seconds=res.seconds)
                write_bytes_atomic(path, buf.getvalue())
            if on_clip is not None:
                on_clip(cid, res.rollout.duration, res.rollout.clip_frames)
    return out
