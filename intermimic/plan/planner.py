"""A sampling-based tracker: MPPI over PD-target residual knots, one committed frame at a time.

Per committed frame ``t`` (from the clip's MoCap start):

* every one of ``samples`` worlds of the teacher's tracking environment starts from the
  committed state (:meth:`~intermimic.env.TrackingEnv.reset_to`, with the committed
  episode's hand-contact counters and length, so every early-termination condition of the
  environment applies as in a teacher's episode);
* a plan is ``knots`` residual knots spanning ``horizon`` policy steps, linearly
  interpolated, added to the actions whose PD targets are the next reference pose;
  sample 0 is the nominal plan, the others the nominal plus Gaussian noise (``sigma`` on
  body hinges, times ``foot_noise`` on ankle and toe hinges, ``finger_sigma`` on finger
  hinges, times ``anneal`` per iteration);
* a sample's cost is the sum over its steps of ``-log(reward)`` (the environment's
  product reward) plus :class:`~intermimic.plan.costs.PlanCost`'s terms, the terms that
  reach across steps (``action_rate_weight`` on the PD targets' change from the last
  committed action, ``object_jerk_weight`` on the object's third difference of position
  from the last three committed frames on), plus ``termination_cost`` per remaining step
  when it terminates; near the clip's end the horizon is cut there, or with
  ``end_hold`` runs on against the clip's last frame held
  (:func:`~intermimic.motion.clip.hold_last_frame`);
* after each of ``iterations`` rollouts the nominal becomes the MPPI average of the
  samples (weights ``exp(-(c - c_min) / (temperature * spread))``);
* the committed sample (``commit="mean"``: the last iteration's sample 0, i.e. the MPPI
  average of the iterations before, unless it terminates sooner than the lowest-cost
  sample; ``"best"``: the lowest-cost sample of all iterations) has its first step
  committed (its state as simulated, its contact forces and errors recorded); its plan,
  shifted by one step, warm-starts the next frame. Committing the average keeps the
  motion smooth from frame to frame, where the best sample switches between noise draws
  (body jitter).

It stops at the clip's last frame (success) or when every sample of the best iteration
terminates on its first step (the committed motion so far is the partial result, as a
teacher's early termination). With ``backtrack`` it first goes back that many frames
and plans them again with fresh noise (``retries`` times per clip, further back each
time it fails again without getting past the furthest failure): which noise draws
commit decides whether the motion survives (a run's outcome moves by tens of frames with
the seed alone), so a few frames planned again usually get past where one draw fell.
``max_key_body_error`` / ``max_object_error`` tighten the environment's early
termination while planning: the motion is kept within them, by the samples' costs and,
where no sample stays within, by rewinding. The committed frames form a
:class:`~intermimic.rl.rollout.Rollout`, so :func:`~intermimic.rl.rollout.refined_clip`
and :func:`~intermimic.rl.rollout.rollout_series` turn it into refined data as they do
a teacher's. Each committed frame is one physics step from the previous committed state,
the solver's warm start included (the samples of each frame start from the committed
step's), so the committed motion is the one its actions replay to from the MoCap start,
bit for bit, rewinds and windows included: what a ``planner_fb`` teacher and a consumer of
the refined clip replay.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from intermimic.env import ReferenceMotion, TrackingEnv
from intermimic.motion.clip import HOIClip, hold_last_frame
from intermimic.motion.footlift import lift_swing_feet
from intermimic.motion.skeleton import SMPLX_BODY_NAMES
from intermimic.plan.mppi import MppiStep, snapshot_rows
from intermimic.plan.settings import PlannerSettings
from intermimic.plan.windows import History, Judge, Planned, Windows, tracking_judge
from intermimic.rl.clipset import ClipSet
from intermimic.rl.rollout import (
    RecordingBackend,
    Rollout,
    end_reasons,
    frame_record,
    key_body_error,
)
from intermimic.rl.teacher_env import build_teacher_env_exact
from intermimic.rl.teacher_settings import TeacherSettings
from intermimic.rl.train import torch_threads
from intermimic.sim.scene import Scene

F64 = NDArray[np.float64]


@dataclass
class PlanResult:
    """A planned clip: the committed motion as a rollout, and what it cost."""

    rollout: Rollout
    seconds: float
    env_steps: int
    """World-steps simulated (samples x steps x iterations, all frames)."""
    costs: F64
    """``[duration]`` the committed sample's cost at each committed frame."""
    rewinds: int = 0
    """Times the planner went back to plan frames again (``PlannerSettings.backtrack``)."""
    plan_frames: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    """The committed frames each kept planning call started from (every frame with
    ``commit_steps`` 1): a segment of frames from one call is one continuous simulation."""
    window_attempts: tuple[int, ...] = ()
    """Plans of each window, in order (``PlannerSettings.window``; empty without)."""
    hinge_error: F64 = field(default_factory=lambda: np.zeros(0))
    """``[duration + 1]`` RMS over the body hinges of the committed state's angle less the
    reference's at each frame (rad, wrapped): how far the pose has drifted in joint
    space, which the position errors miss for twists about a limb's own axis."""
    hand_object_error: F64 = field(default_factory=lambda: np.zeros(0))
    """``[duration + 1]`` at each frame the mean over the hands the labels put in contact
    of each one's distance (m) from where the reference's is on the object, in the
    object's frame (:meth:`~intermimic.plan.costs.PlanCost.held_hand_errors`); NaN where
    no hand is labelled: whether the object is held where the capture holds it."""

    @property
    def success(self) -> bool:
        return self.rollout.success


def plan_clip(
    clip: HOIClip,
    scene: Scene,
    settings: TeacherSettings,
    planner: PlannerSettings | None = None,
    *,
    max_frames: int | None = None,
    on_frame: Callable[[int, int], None] | None = None,
    base: F64 | None = None,
    judge: Judge | None = None,
) -> PlanResult:
    """Track ``clip`` (with its ``scene``) from its MoCap start; see the module doc.

    ``settings`` build the tracking environment (the teacher's: rewards, termination,
    PD gains, backend); ``max_frames`` stops after that many committed frames (tests,
    probes); ``on_frame(frame, clip_frames)`` is called after each committed frame.
    ``base`` (``[n, A]``, e.g. an earlier plan's actions at frames ``0..n-1``) replaces
    the reference's PD targets as the base of the residual knots there, so the nominal
    residual 0 replays it: MPC around a plan (its frames beyond the clip are cut).
    ``judge`` scores the committed motion at each window's end
    (``PlannerSettings.window``; default :func:`tracking_judge`).

    The environment's torch work runs on one thread (as a teacher's rollouts do, see
    :func:`~intermimic.rl.train.torch_threads`): MuJoCo's rollout threads take the cores
    (2 threads: 122 world-steps/s against 153 on 1, with another process busy)."""
    with torch_threads(1):
        return _plan_clip(clip, scene, settings, planner, max_frames, on_frame, base, judge)


def _plan_clip(
    clip: HOIClip,
    scene: Scene,
    settings: TeacherSettings,
    planner: PlannerSettings | None,
    max_frames: int | None,
    on_frame: Callable[[int, int], None] | None,
    base: F64 | None,
    judge: Judge | None,
) -> PlanResult:
    p = planner or PlannerSettings()
    rng = np.random.default_rng(p.seed)
    captured = clip  # the clip as it came: its MoCap start is where consumers replay from
    if p.swing_clearance > 0:
        tree = scene.embodiment.reference_tree(scene.model, scene.humanoid_body_ids)
        clip = lift_swing_feet(
            clip, tree, SMPLX_BODY_NAMES, clearance=p.swing_clearance, lead_frames=p.swing_lead
        ).clip
    length = clip.n_frames
    if p.end_hold > 0:
        clip = hold_last_frame(clip, p.end_hold)
    name = clip.meta.object_name
    clipset = ClipSet({name: [clip]}, {name: scene})
    tenv = build_teacher_env_exact(clipset, settings, {name: p.samples}, psi=False)
    env = tenv.envs[0]
    try:
        env.settings = env.settings.model_copy(
            update={
                "rollout_length": int(env.ref.clip_len[0]) + 2,
                "termination": p.termination(env.settings.termination),
            }
        )
        if base is not None:
            env.set_feedforward({clip.meta.clip_id: base}, truncate=True)
        recorder = RecordingBackend(env.backend)
        env.backend = recorder  # type: ignore[assignment]
        mppi = MppiStep(env, recorder, p, rng)
        n_act, k_samples = env.action_dim, p.samples
        end = length - 1 if max_frames is None else min(length - 1, max_frames)

        t0 = time.perf_counter()
        frame = 0
        g0 = int(env.ref.global_index(np.zeros(1, np.int64), np.zeros(1, np.int64))[0])
        # lifted feet: the plan starts at, and its key-body error is measured against, the
        # captured clip (where and against what every consumer replays it)
        mocap = captured_reference(captured, env) if p.swing_clearance > 0 else None
        state = env.ref.states()[g0] if mocap is None else mocap.states()[0]
        missing = np.zeros(2, np.int64)
        env.reset_to(np.full(k_samples, g0), np.repeat(state[None], k_samples, 0))
        first = frame_record(
            env, snapshot_rows(recorder.snapshot(), 0), np.array([g0]), np.zeros((1, n_act))
        )
        records = [first]
        last_action: F64 | None = None
        costs: list[float] = []
        steps = 0
        ended_by: tuple[str, ...] = ("episode_cap",)  # max_frames stopped it
        # what the planner needs to plan frame f again, for each frame f it planned from
        history: History = {}
        rewind = _Rewind(p)
        start = Planned.of(0, False, ended_by, records, costs, history, state, missing,
                            last_action, mppi.nominal)  # fmt: skip
        windows = Windows(p, end, judge or tracking_judge, (clip.meta.clip_id, name, length), start)
        while True:
            # plan up to the window's end (the clip's end without windows)
            failed = False
            while frame < windows.stop:
                for f in [f for f in history if f >= frame]:
                    del history[f]
                history[frame] = (state, missing, last_action, mppi.nominal.copy())
                best, n = mppi(frame, state, missing, last_action, _object_past(records))
                steps += n
                if best["survived"] == 0:
                    back = rewind(frame)
                    if back is None:
                        # every sample terminates on its first step: the best one's reasons
                        ended_by = end_reasons(True, False, best["reasons"])
                        failed = True
                        break
                    # the last frame planned from at or before it (frame 0 always is), not
                    # before the window's start: the frames before it are chosen
                    frame = max(
                        f for f in history if windows.start <= f <= max(back, windows.start)
                    )
                    state, missing, last_action, nominal = history[frame]
                    mppi.nominal = nominal.copy()
                    del records[frame + 1 :], costs[frame:]
                    continue
                segment = best["segment"][: windows.stop - frame]
                for step in segment:
                    records[-1]["actions"] = step["action"][None]
                    frame += 1
                    records.append(
                        frame_record(
                            env, step["snap"], np.array([g0 + frame]), np.zeros((1, n_act))
                        )
                    )
                    costs.append(best["cost"])
                    if on_frame is not None:
                        on_frame(frame, length)
                snap = segment[-1]["snap"]
                last_action = segment[-1]["action"]
                # the committed physics state: qpos, qvel and the solver's warm start
                state = np.concatenate([snap["qpos"][0], snap["qvel"][0], snap["warmstart"][0]])
                missing = segment[-1]["missing"]
                mppi.advance(best, len(segment))
            if not windows.on:
                break
            now = Planned.of(frame, failed, ended_by, records, costs, history, state, missing,
                              last_action, mppi.nominal)  # fmt: skip
            kept = windows.attempt(now)
            # go on from the kept attempt, or plan the window again from its start (with
            # fresh noise: the generator goes on)
            go_on = windows.begin if kept is None else kept
            frame, records, costs, history = go_on.restore()
            state, missing, last_action = go_on.state, go_on.missing, go_on.last_action
            mppi.nominal, ended_by = go_on.nominal.copy(), go_on.ended_by
            if kept is None:
                continue
            if kept.failed or frame >= end:
                break
            windows.next(kept)
        seconds = time.perf_counter() - t0
    finally:
        tenv.close()
    arrays = {key: np.concatenate([r[key] for r in records]) for key in records[0]}
    if mocap is not None:
        arrays["key_body_error"] = _captured_errors(mocap, env.key_idx, arrays["body_pos"])
    ref_frames = g0 + np.arange(len(arrays["qpos"]))
    hinge = mppi.cost_fn.hinge_errors(arrays["qpos"], ref_frames)
    held = mppi.cost_fn.held_hand_errors(
        arrays["body_pos"], arrays["obj_pos"], arrays["obj_quat"], ref_frames
    )
    rollout = Rollout(
        clip_id=clip.meta.clip_id,
        object_name=name,
        attempt=0,
        success=frame >= length - 1,
        duration=frame,
        clip_frames=length,
        arrays=arrays,
        ended_by=("clip_end",) if frame >= length - 1 else ended_by,
    )
    return PlanResult(
        rollout,
        seconds,
        steps,
        np.asarray(costs, np.float64),
        rewinds=rewind.used,
        window_attempts=tuple(windows.used),
        plan_frames=np.array(sorted(f for f in history if f < frame), np.int64),
        hinge_error=np.sqrt((hinge**2).mean(axis=1)),
        hand_object_error=held,
    )


def captured_reference(clip: HOIClip, env: TrackingEnv) -> ReferenceMotion:
    """The reference of ``clip`` as an environment over ``clip`` itself builds it (its
    own ground lowering, velocities of its own frames), with ``env``'s scene, points,
    key bodies and settings.

    The planner tracks a changed reference (lifted swing feet) but starts where every
    consumer of the plan starts, the MoCap start (a teacher's attempts, the recording of a
    ``planner_fb`` table), and its key-body error is against the capture, as theirs: from
    the lifted clip's first state (0.08 rad off in the legs on sub2_largetable_000) the
    plan's actions replayed from the MoCap start fell at frame 96 of 152, and against the
    lifted clip that clip's E_h read 10.82 cm where a teacher replaying the plan measured
    10.94 (2026-12-05)."""
    return ReferenceMotion(
        [clip], env.scene, env.points, env.graph_points, env.key_idx, env.settings
    )


def remeasured_against_capture(
    rollout: Rollout, clip: HOIClip, scene: Scene, settings: TeacherSettings
) -> Rollout:
    """``rollout`` (a plan of ``clip`` against its lifted feet, cached before its errors
    were the capture's) with its ``key_body_error`` measured against ``clip`` itself."""
    name = clip.meta.object_name
    tenv = build_teacher_env_exact(
        ClipSet({name: [clip]}, {name: scene}), settings, {name: 1}, psi=False
    )
    try:
        env = tenv.envs[0]
        ref = captured_reference(clip, env)
        errors = _captured_errors(ref, env.key_idx, rollout.arrays["body_pos"])
    finally:
        tenv.close()
    return dataclasses.replace(rollout, arrays={**rollout.arrays, "key_body_error": errors})


def _captured_errors(ref: ReferenceMotion, key_idx: NDArray[np.int64], body_pos: F64) -> F64:
    """``[n]`` the key-body error of ``body_pos [n, B, 3]`` (frames ``0..n-1`` of
    ``ref``'s first clip) against ``ref``."""
    n = len(body_pos)
    g = ref.global_index(np.zeros(n, np.int64), np.arange(n, dtype=np.int64))
    return key_body_error(body_pos, ref.body_pos[g], key_idx)


def _object_past(records: list[dict[str, Any]]) -> F64:
    """``[3, 3]`` the object's positions at the last three committed frames, oldest
    first; before the clip's first frame its first position (at rest there)."""
    past = [r["obj_pos"][0] for r in records[-3:]]
    return np.asarray([past[0]] * (3 - len(past)) + past, np.float64)


class _Rewind:
    """Where to plan again from after a failure at a frame (``None``: give up).

    The first failure rewinds ``backtrack`` frames; a failure at or before the furthest
    one so far means the rewind did not get past the trouble, so the next goes one
    ``backtrack`` further back (from the furthest failure), up to the clip's start."""

    def __init__(self, p: PlannerSettings) -> None:
        self.step, self.retries = p.backtrack, p.retries
        self.used, self.furthest, self.depth = 0, -1, 0

    def __call__(self, frame: int) -> int | None:
        if self.step == 0 or self.used == self.retries:
            return None
        if frame > self.furthest:
            self.furthest, self.depth = frame, 1
        else:
            self.depth += 1
        self.used += 1
        return max(0, self.furthest - self.step * self.depth)
