"""Planned clips, cached: refined motion, PSI seeds (recipe b), actions to clone (recipe c).

:func:`plan_clips` plans every clip of a :class:`~intermimic.rl.clipset.ClipSet`
(:func:`~intermimic.plan.planner.plan_clip`) and returns each clip's committed rollout
(the refine stage stores it as the clip's refinement).
:func:`~intermimic.rl.teacher_training.train_teacher` puts the states into the PSI
buffers (``psi_seeds``, see :func:`psi_seeds`) and
:func:`~intermimic.plan.clone.clone_planner` fits a fresh actor to the actions. Plans are
cached per clip in ``cache_dir`` (one ``.npz`` of the rollout's arrays) under the hash of
the planner's settings, the environment's, the simulated system's (:data:`SYSTEM_FIELDS`)
and the clip's source, so a resumed, repeated or interrupted run plans only what it has
not planned yet, and a plan is never replayed in physics it was not made in.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from intermimic.atomic import write_bytes_atomic
from intermimic.motion.clip import HOIClip
from intermimic.plan.planner import plan_clip, remeasured_against_capture
from intermimic.plan.settings import PlannerSettings
from intermimic.plan.windows import Judge
from intermimic.rl.clipset import ClipSet
from intermimic.rl.rollout import Rollout
from intermimic.rl.teacher_settings import TeacherSettings
from intermimic.sim.scene import Scene

log = logging.getLogger(__name__)
F64 = NDArray[np.float64]
#: ``on_frame(clip_id, seed, frame, last)``: the try of planner seed ``seed`` of a clip
#: has committed ``frame``; ``last`` is the clip's last frame (a plan to the end reaches
#: it: its rollout's ``duration``).
OnFrame = Callable[[str, int, int, int], None]


@dataclass(frozen=True)
class PlannedClip:
    """A clip's planned motion: the committed :class:`~intermimic.rl.rollout.Rollout`
    and the planner's ``seconds`` (of the run that planned it, also when read from the
    cache)."""

    rollout: Rollout
    seconds: float
    seed: int = 0
    """The planner seed that made it (with ``tries`` > 1, the try kept)."""
    tries_seconds: float | None = None
    """The planner's seconds over all of the clip's tries (``tries`` > 1: the plans not
    kept cost time too); None: a single try, :attr:`seconds`."""

    @property
    def planning_seconds(self) -> float:
        """What getting this plan cost: every try's seconds (cached ones included)."""
        return self.seconds if self.tries_seconds is None else self.tries_seconds

    @property
    def states(self) -> F64:
        """``[n, nq + nv]`` the committed states at frames ``0..n-1``."""
        a = self.rollout.arrays
        return np.concatenate([a["qpos"], a["qvel"]], axis=1)

    @property
    def actions(self) -> F64:
        """``[n, A]`` the actions applied at each committed frame (the last row 0)."""
        return np.asarray(self.rollout.arrays["actions"], np.float64)

    @property
    def frames(self) -> int:
        """Frames tracked (policy steps)."""
        return self.rollout.duration


def _save(path: Path, planned: PlannedClip) -> None:
    r = planned.rollout
    meta = {
        "clip_id": r.clip_id, "object_name": r.object_name, "success": r.success,
        "duration": r.duration, "clip_frames": r.clip_frames, "seconds": planned.seconds,
        "ended_by": list(r.ended_by),
        # key-body errors against the captured clip (before 2026-12-06: against the
        # lifted feet the plan tracked, with swing_clearance)
        "errors": "captured",
    }  # fmt: skip
    buf = io.BytesIO()
    arrays: dict[str, Any] = {"__meta__": np.array(json.dumps(meta)), **r.arrays}
    np.savez(buf, **arrays)
    write_bytes_atomic(path, buf.getvalue())


def _load(path: Path, seed: int) -> tuple[PlannedClip, dict[str, Any]]:
    """The plan cached at ``path``, and its meta."""
    with np.load(path) as z:
        meta = json.loads(str(z["__meta__"]))
        arrays = {k: np.asarray(z[k]) for k in z.files if k != "__meta__"}
    rollout = Rollout(
        clip_id=meta["clip_id"], object_name=meta["object_name"], attempt=0,
        success=bool(meta["success"]), duration=int(meta["duration"]),
        clip_frames=int(meta["clip_frames"]), arrays=arrays,
        ended_by=tuple(meta.get("ended_by", ())),  # not in plans cached before it was kept
    )  # fmt: skip
    return PlannedClip(rollout, float(meta["seconds"]), seed), meta


#: TeacherSettings fields that change the simulated system beyond its EnvSettings (the
#: physics rate and ground, the body, the backend): a plan is open-loop actions, and under
#: any other of these it replays into other motion.
SYSTEM_FIELDS = (
    "physics_hz",
    "ground_timeconst",
    "ground_stiffness",
    "object_timeconst",
    "friction_cone",
    "impratio",
    "embodiment",
    "fit_skeleton",
    "backend",
)


def _key(planner: PlannerSettings, settings: TeacherSettings, source: str, judge: str = "") -> str:
    return hashlib.sha256(_key_text(planner, settings, source, judge).encode()).hexdigest()[:16]


#: Environment fields added after plans were cached, with their defaults.
ENV_ADDED: dict[str, object] = {"object_rest": False, "object_rest_blend": 0.5}


def plans_sha256(planner: PlannerSettings, settings: TeacherSettings) -> str:
    """The hash of what a plan depends on besides its clip: the planner's settings, the
    environment's and the simulated system's (the cache key's, without the clip). The
    lineage of planner-refined clips: the same planner in other physics (240 Hz, another
    grip) is another refinement."""
    return hashlib.sha256(_key_text(planner, settings, "", "").encode()).hexdigest()


def _key_text(planner: PlannerSettings, settings: TeacherSettings, source: str, judge: str) -> str:
    env_settings = settings.env_settings(psi=False)
    # Environment fields added since plans were first cached stay out of the text at
    # their defaults, so those plans keep their names.
    added = {f for f, v in ENV_ADDED.items() if getattr(env_settings, f) == v}
    env = env_settings.model_dump_json(exclude=added)
    text = f"{planner.sha256()}|{env}|{settings.hands}|{source}"
    if judge:  # windows judged by another than the library's tracking_judge
        text += f"|judge={judge}"
    # since 2026-12-05 each frame's samples start with the committed step's solver warm
    # start (before: cleared, and 3 of 6 plans of sub2_largetable_000 did not replay)
    text += "|warm=carried"
    if planner.swing_clearance > 0:
        # plans against lifted feet start at the MoCap start since 2026-12-05 (before: at
        # the lifted clip's first state); their earlier caches are not these plans
        text += "|start=mocap"
    # At their defaults the system fields stay out of the text: plans cached before they
    # counted keep their names.
    default = TeacherSettings()
    system = {
        f: getattr(settings, f)
        for f in SYSTEM_FIELDS
        if getattr(settings, f) != getattr(default, f)
    }
    if system:
        text += "|" + json.dumps(system, sort_keys=True)
    return text


#: ``judge_for(clip, scene)`` -> the :data:`~intermimic.plan.windows.Judge` of that clip's
#: windows (:attr:`~intermimic.plan.settings.PlannerSettings.window`).
JudgeFor = Callable[[HOIClip, Scene], Judge]

#: ``choose(clip, scene, candidates)`` -> the index of the plan to keep among a clip's
#: tries (:attr:`~intermimic.plan.settings.PlannerSettings.tries`), in seed order.
Choose = Callable[[HOIClip, Scene, Sequence[PlannedClip]], int]


def furthest_tracked(clip: HOIClip, scene: Scene, candidates: Sequence[PlannedClip]) -> int:
    """The default :data:`Choose`: the plan that reached the clip's end, else tracked the
    most frames; among equals the lowest E_h, then the first."""

    def key(i: int) -> tuple[bool, int, float, int]:
        r = candidates[i].rollout
        return (not r.success, -r.duration, r.e_h, i)

    return min(range(len(candidates)), key=key)


def plan_clips(
    clipset: ClipSet,
    settings: TeacherSettings,
    planner: PlannerSettings | None = None,
    *,
    cache_dir: Path | None = None,
    on_clip: Callable[[str, int, int], None] | None = None,
    choose: Choose | None = None,
    judge_for: JudgeFor | None = None,
    on_frame: OnFrame | None = None,
) -> dict[str, PlannedClip]:
    """Clip id -> its :class:`PlannedClip`. With ``planner.tries`` > 1 each clip is planned
    once per seed (:meth:`~intermimic.plan.settings.PlannerSettings.try_settings`, each
    cached on its own) and ``choose`` (default :func:`furthest_tracked`) picks the one
    kept. ``on_clip(clip_id, frames, clip_frames)`` is called after each clip (cached
    ones included); ``on_frame(clip_id, seed, frame, last)`` after each frame a try
    commits (planning a clip takes minutes: progress for a display; a rewind goes back, a
    cached try calls nothing). ``judge_for(clip, scene)`` gives the judge of a clip's
    windows (``planner.window``; default :func:`~intermimic.plan.windows.tracking_judge`);
    with windows its qualified name is part of the cache key."""
    p = planner or PlannerSettings()
    pick = choose or furthest_tracked
    out: dict[str, PlannedClip] = {}
    for name, clips in clipset.groups.items():
        scene = clipset.scenes[name]
        for clip in clips:
            cid = clip.meta.clip_id
            candidates = [
                _plan_or_load(clip, scene, settings, one, cache_dir, judge_for, on_frame)
                for one in p.try_settings()
            ]
            i = pick(clip, scene, candidates) if len(candidates) > 1 else 0
            if not 0 <= i < len(candidates):
                raise ValueError(f"{cid}: choose returned {i} of {len(candidates)} tries")
            kept = candidates[i]
            if len(candidates) > 1:
                spent = sum(c.seconds for c in candidates)
                kept = dataclasses.replace(kept, tries_seconds=spent)
            out[cid] = kept
            if on_clip is not None:
                on_clip(cid, out[cid].frames, clip.n_frames)
    return out


def _plan_or_load(
    clip: HOIClip,
    scene: Scene,
    settings: TeacherSettings,
    planner: PlannerSettings,
    cache_dir: Path | None,
    judge_for: JudgeFor | None = None,
    on_frame: OnFrame | None = None,
) -> PlannedClip:
    """``clip`` planned once by ``planner`` (a single try), from ``cache_dir`` when there."""
    cid = clip.meta.clip_id
    path = None
    if planner.window == 0:
        judge_for = None  # nothing to judge
    if cache_dir is not None:
        judge_name = (
            ""
            if judge_for is None
            else getattr(judge_for, "__qualname__", type(judge_for).__name__)
        )
        key = _key(planner, settings, clip.meta.source_sha256 or cid, judge_name)
        path = Path(cache_dir) / f"{cid}.{key}.npz"
    if path is not None and path.exists():
        cached, meta = _load(path, planner.seed)
        # plans saved before 2026-12-06 measured lifted feet against the lift
        if planner.swing_clearance > 0 and meta.get("errors") != "captured":
            r = remeasured_against_capture(cached.rollout, clip, scene, settings)
            cached = dataclasses.replace(cached, rollout=r)
            _save(path, cached)  # once: the motion is the same, its errors the capture's
        return cached
    judge = None if judge_for is None else judge_for(clip, scene)
    step = None
    if on_frame is not None:
        report = on_frame

        def step(frame: int, clip_frames: int) -> None:
            report(cid, planner.seed, frame, clip_frames - 1)  # the last frame's index

    res = plan_clip(clip, scene, settings, planner, judge=judge, on_frame=step)
    planned = PlannedClip(res.rollout, res.seconds, planner.seed)
    log.info(
        "planned %s (seed %d): %d of %d frames in %.0f s (%d rewinds%s)",
        cid, planner.seed, res.rollout.duration, res.rollout.clip_frames - 1, res.seconds,
        res.rewinds,
        f"; plans per window {list(res.window_attempts)}" if res.window_attempts else "",
    )  # fmt: skip
    if path is not None:
        _save(path, planned)
    return planned


def psi_seeds(plans: Mapping[str, PlannedClip]) -> dict[str, F64]:
    """The states of ``plans`` as ``train_teacher``'s ``psi_seeds``."""
    return {cid: p.states for cid, p in plans.items()}


def feedforward_actions(plans: Mapping[str, PlannedClip]) -> dict[str, F64]:
    """The committed actions of ``plans`` as ``train_teacher``'s ``feedforward``: row
    ``f`` moved the plan from frame ``f`` to ``f + 1``, for ``f < frames`` (the
    rollout's last row, of the final state, has no action and is left out)."""
    return {cid: p.actions[: p.frames].copy() for cid, p in plans.items()}
