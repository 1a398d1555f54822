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
a teacher's. Each committed frame is one physics step from the previous committed state
(with the solver's warm start cleared), so the result is physically consistent frame to
frame.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from intermimic.motion.clip import HOIClip, hold_last_frame
from intermimic.motion.footlift import lift_swing_feet
from intermimic.motion.skeleton import SMPLX_BODY_NAMES
from intermimic.plan.costs import PlanCost, arm_actuators, finger_actuators, foot_actuators
from intermimic.plan.settings import PlannerSettings
from intermimic.rl.rollout import RecordingBackend, Rollout, end_reasons, frame_record
from intermimic.rl.teacher_env import ClipSet, build_teacher_env_exact
from intermimic.rl.teacher_settings import TeacherSettings
from intermimic.rl.train import torch_threads
from intermimic.sim.backend import BodyStates
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
    hinge_error: F64 = field(default_factory=lambda: np.zeros(0))
    """``[duration + 1]`` RMS over the body hinges of the committed state's angle less the
    reference's at each frame (rad, wrapped): how far the pose has drifted in joint
    space, which the position errors miss for twists about a limb's own axis."""

    @property
    def success(self) -> bool:
        return self.rollout.success


def _rows(snap: dict[str, Any], k: int) -> dict[str, Any]:
    bs: BodyStates = snap["bs"]
    one = BodyStates(**{f.name: getattr(bs, f.name)[k : k + 1] for f in fields(bs)})
    return {
        "qpos": snap["qpos"][k : k + 1],
        "qvel": snap["qvel"][k : k + 1],
        "bs": one,
        "forces": snap["forces"][k : k + 1],
    }


def _pick(out: dict[str, Any], plans: F64, k: int) -> dict[str, Any]:
    """Sample ``k`` of a rollout: its cost, plan, steps survived, its first step
    (``snap``, ``action``, ``missing``, ``reasons``) and ``segment``, the first step and
    those after it that can be committed with it (up to ``commit_steps``, alive after
    each), each a dict of ``snap``, ``action`` and ``missing``."""
    survived = int(out["survived"][k])
    segment = [
        {
            "snap": _rows(rec["snap"], k),
            "action": rec["actions"][k].copy(),
            "missing": rec["missing"][k].copy(),
        }
        for rec in out["record"][: max(survived, 1)]
    ]
    return {
        "cost": float(out["cost"][k]),
        "plan": plans[k].copy(),
        "survived": survived,
        **segment[0],
        "segment": segment if survived else [],
        "reasons": {name: bool(v[k]) for name, v in out["reasons"].items()},
    }


def _motion_basis(env: Any, body: NDArray[np.int64], d: int) -> F64 | None:
    """``[d, len(body)]`` the ``d`` principal directions of the frame-to-frame changes of
    the environment's reference PD targets on the ``body`` actuators (``None`` for 0)."""
    if d == 0:
        return None
    if d > len(body):
        raise ValueError(f"noise_basis={d}: only {len(body)} body hinges")
    captured = ~np.asarray(env.ref.held)  # a held tail is no motion
    moves = np.diff(np.asarray(env.reference_base)[captured][:, body], axis=0)
    if len(moves) < d:
        raise ValueError(f"noise_basis={d}: the reference has only {len(moves) + 1} frames")
    _, _, vt = np.linalg.svd(moves - moves.mean(axis=0), full_matrices=False)
    return np.ascontiguousarray(vt[:d])


def _interpolation(horizon: int, knots: int) -> tuple[F64, NDArray[np.int64]]:
    """``[H, P]`` weights that interpolate ``P`` knots to ``H`` steps, and the knots'
    steps."""
    t_knots = np.linspace(0, horizon - 1, knots) if knots > 1 else np.zeros(1)
    eye = np.eye(knots)
    interp = np.stack([np.interp(np.arange(horizon), t_knots, eye[j]) for j in range(knots)], 1)
    return interp, np.round(t_knots).astype(np.int64)


class MppiStep:
    """One committed frame of the planner (the module doc's loop body), reusable from any
    committed state: :meth:`__call__` runs the ``iterations`` MPPI rollouts from
    ``state`` at ``frame`` and returns the committed sample (:func:`_pick`'s fields), and
    :meth:`advance` warm-starts the next frame from it. ``plan_clip`` drives it along a
    clip; a learner can call it on states of its own (an expert's label).

    ``env`` is a tracking environment of ``planner.samples`` worlds whose backend is
    ``recorder``; its :meth:`~intermimic.env.TrackingEnv.reference_actions` are the base
    the residual knots are added to (a plan installed with ``set_feedforward`` makes
    the nominal residual 0 replay that plan)."""

    def __init__(
        self,
        env: Any,
        recorder: RecordingBackend,
        planner: PlannerSettings,
        rng: np.random.Generator,
    ) -> None:
        self.env, self.recorder, self.p, self.rng = env, recorder, planner, rng
        self.cost_fn = PlanCost(env, planner)
        model = env.scene.model
        finger = finger_actuators(model)
        # sigma's factor per body hinge: foot_noise on the feet, arm_noise on the arms
        self.factor = np.ones(env.action_dim)
        self.factor[foot_actuators(model) & ~finger] = planner.foot_noise
        self.factor[arm_actuators(model) & ~finger] = planner.arm_noise
        self.scale = np.where(finger, planner.finger_sigma, planner.sigma * self.factor)
        self.body = np.flatnonzero(~finger)
        self.basis = _motion_basis(env, self.body, planner.noise_basis)
        """``[d, body hinges]`` orthonormal directions of the body noise (None: all)."""
        self.interp, self.t_knots = _interpolation(planner.horizon, planner.knots)
        self.nominal = np.zeros((planner.knots, env.action_dim))
        """``[P, A]`` the warm-started residual knots of the next call."""

    def __call__(
        self,
        frame: int,
        state: F64,
        missing: NDArray[np.int64],
        last_action: F64 | None,
        obj_past: F64 | None = None,
    ) -> tuple[dict[str, Any], int]:
        """The committed sample from ``state`` (``[nq + nv]``) at clip ``frame`` with hand
        counters ``missing [2]``, and the world-steps it took. ``obj_past [3, 3]``: the
        object's positions at frames ``frame - 2 .. frame`` (oldest first), for
        ``object_jerk_weight``; without them the term starts at a sample's third step."""
        p, k_samples = self.p, self.p.samples
        sigma, steps = 1.0, 0
        nominal = self.nominal
        best: dict[str, Any] | None = None
        for it in range(p.iterations):
            shape = (k_samples, p.knots, nominal.shape[1])
            noise = self.rng.standard_normal(shape) * self.scale * sigma
            if self.basis is not None:
                d, n_body = self.basis.shape
                z = self.rng.standard_normal((*shape[:2], d))
                noise[..., self.body] = (z @ self.basis) * (p.sigma * np.sqrt(n_body / d) * sigma)
                noise[..., self.body] *= self.factor[self.body]
            noise[:, 0] *= p.first_knot_noise
            noise[0] = 0.0
            plans = nominal[None] + noise
            out = _rollout(
                self.env, self.recorder, self.cost_fn, p, plans, self.interp,
                frame, state, missing, last_action, obj_past,
            )  # fmt: skip
            steps += out["steps"]
            cost = out["cost"]
            k = int(np.argmin(cost))
            if best is None or cost[k] < best["cost"]:
                best = _pick(out, plans, k)
            if p.commit == "mean" and it == p.iterations - 1:
                # sample 0 is the nominal: the MPPI average so far. It is committed
                # unless it dies sooner than the best sample does.
                mean = _pick(out, plans, 0)
                if mean["survived"] >= best["survived"]:
                    best = mean
            spread = max(float(cost.max() - cost.min()), 1e-9)
            w = np.exp(-(cost - cost.min()) / (p.temperature * spread))
            nominal = np.einsum("k,kpa->pa", w / w.sum(), plans)
            sigma *= p.anneal
        assert best is not None
        self.nominal = nominal
        return best, steps

    def advance(self, committed: dict[str, Any], steps: int = 1) -> None:
        """Warm-start the next call, ``steps`` frames on: the committed sample's plan,
        shifted by that many steps (its last step held)."""
        seq = self.interp @ committed["plan"]
        held = np.repeat(seq[-1:], steps, axis=0)
        self.nominal = np.concatenate([seq[steps:], held])[self.t_knots]


def plan_clip(
    clip: HOIClip,
    scene: Scene,
    settings: TeacherSettings,
    planner: PlannerSettings | None = None,
    *,
    max_frames: int | None = None,
    on_frame: Callable[[int, int], None] | None = None,
    base: F64 | None = None,
) -> PlanResult:
    """Track ``clip`` (with its ``scene``) from its MoCap start; see the module doc.

    ``settings`` build the tracking environment (the teacher's: rewards, termination,
    PD gains, backend); ``max_frames`` stops after that many committed frames (tests,
    probes); ``on_frame(frame, clip_frames)`` is called after each committed frame.
    ``base`` (``[n, A]``, e.g. an earlier plan's actions at frames ``0..n-1``) replaces
    the reference's PD targets as the base of the residual knots there, so the nominal
    residual 0 replays it: MPC around a plan (its frames beyond the clip are cut).

    The environment's torch work runs on one thread (as a teacher's rollouts do, see
    :func:`~intermimic.rl.train.torch_threads`): MuJoCo's rollout threads take the cores
    (2 threads: 122 world-steps/s against 153 on 1, with another process busy)."""
    with torch_threads(1):
        return _plan_clip(clip, scene, settings, planner, max_frames, on_frame, base)


def _plan_clip(
    clip: HOIClip,
    scene: Scene,
    settings: TeacherSettings,
    planner: PlannerSettings | None,
    max_frames: int | None,
    on_frame: Callable[[int, int], None] | None,
    base: F64 | None,
) -> PlanResult:
    p = planner or PlannerSettings()
    rng = np.random.default_rng(p.seed)
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
        state = env.ref.states()[g0]
        missing = np.zeros(2, np.int64)
        env.reset_to(np.full(k_samples, g0), np.repeat(state[None], k_samples, 0))
        first = frame_record(
            env, _rows(recorder.snapshot(), 0), np.array([g0]), np.zeros((1, n_act))
        )
        records = [first]
        last_action: F64 | None = None
        costs: list[float] = []
        steps = 0
        ended_by: tuple[str, ...] = ("episode_cap",)  # max_frames stopped it
        # what the planner needs to plan frame f again, for each frame f it planned from
        history: dict[int, tuple[F64, NDArray[np.int64], F64 | None, F64]] = {}
        rewind = _Rewind(p)
        while frame < end:
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
                    break
                # the last frame planned from at or before it (frame 0 always is)
                frame = max(f for f in history if f <= back)
                state, missing, last_action, nominal = history[frame]
                mppi.nominal = nominal.copy()
                del records[frame + 1 :], costs[frame:]
                continue
            segment = best["segment"][: end - frame]
            for step in segment:
                records[-1]["actions"] = step["action"][None]
                frame += 1
                records.append(
                    frame_record(env, step["snap"], np.array([g0 + frame]), np.zeros((1, n_act)))
                )
                costs.append(best["cost"])
                if on_frame is not None:
                    on_frame(frame, length)
            snap = segment[-1]["snap"]
            last_action = segment[-1]["action"]
            state = np.concatenate([snap["qpos"][0], snap["qvel"][0]])
            missing = segment[-1]["missing"]
            mppi.advance(best, len(segment))
        seconds = time.perf_counter() - t0
    finally:
        tenv.close()
    arrays = {key: np.concatenate([r[key] for r in records]) for key in records[0]}
    hinge = mppi.cost_fn.hinge_errors(arrays["qpos"], g0 + np.arange(len(arrays["qpos"])))
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
        plan_frames=np.array(sorted(f for f in history if f < frame), np.int64),
        hinge_error=np.sqrt((hinge**2).mean(axis=1)),
    )


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


def _rollout(
    env: Any,
    recorder: RecordingBackend,
    cost_fn: PlanCost,
    p: PlannerSettings,
    plans: F64,
    interp: F64,
    frame: int,
    state: F64,
    missing: NDArray[np.int64],
    last_action: F64 | None,
    obj_past: F64 | None = None,
) -> dict[str, Any]:
    """Every sample of ``plans [K, P, A]`` from the committed ``state`` at ``frame``:
    ``cost [K]``, ``survived [K]`` steps, the first step's termination ``reasons``, and
    ``record``, per step of the first ``commit_steps`` (all worlds): its ``snap``,
    ``actions [K, A]`` and hand counters ``missing [K, 2]``. ``last_action [A]`` is the
    action committed at the frame before (None at the start); ``obj_past [3, 3]`` the
    object's committed positions at frames ``frame - 2 .. frame`` (see
    :class:`MppiStep`)."""
    k_samples = plans.shape[0]
    length = int(env.ref.clip_len[0])
    g = int(env.ref.clip_start[0]) + frame
    env.reset_to(
        np.full(k_samples, g),
        np.repeat(state[None], k_samples, 0),
        np.repeat(missing[None], k_samples, 0),
        elapsed=frame,
    )
    seq = np.einsum("hp,kpa->kha", interp, plans)
    cost = np.zeros(k_samples)
    alive = np.ones(k_samples, bool)
    survived = np.zeros(k_samples, np.int64)
    out: dict[str, Any] = {"steps": 0, "record": []}
    prev = None if last_action is None else last_action[None]
    jerk = _ObjectJerk(env.ref.obj_pos, int(env.ref.clip_start[0]), g, obj_past, k_samples)
    for h in range(p.horizon):
        f = frame + h + 1
        if f > length - 1:
            break
        a = np.clip(env.reference_actions() + seq[:, h], -1.0, 1.0)
        rate = None if prev is None else np.mean((a - prev) ** 2, axis=1)
        prev = a
        _, r, term_t, _, info = env.step(torch.from_numpy(a).to(env.device))
        out["steps"] += k_samples
        snap = recorder.last
        if h < p.commit_steps:
            missing_h = env.missing_hand.cpu().numpy().copy()
            out["record"].append({"snap": snap, "actions": a, "missing": missing_h})
        if h == 0:
            out["reasons"] = {name: v.cpu().numpy() for name, v in info["terminated_by"].items()}
        term = term_t.cpu().numpy()
        idx = np.full(k_samples, g + h + 1)
        step_cost = -np.log(np.maximum(r.cpu().numpy().astype(np.float64), 1e-6))
        step_cost += cost_fn(snap["bs"], idx, snap["forces"], snap["qpos"])
        if rate is not None and p.action_rate_weight > 0:
            step_cost += p.action_rate_weight * rate
        if p.object_jerk_weight > 0:
            step_cost += p.object_jerk_weight * jerk(np.asarray(snap["bs"].obj_pos, np.float64))
        if p.residual_weight > 0:
            step_cost += p.residual_weight * np.mean(seq[:, h] ** 2, axis=1)
        cost += np.where(alive, step_cost, 0.0)
        cost += np.where(alive & term, p.termination_cost * (p.horizon - h), 0.0)
        alive &= ~term
        survived += alive
        if not alive.any():
            break
    out["cost"], out["survived"] = cost, survived
    return out


class _ObjectJerk:
    """Per step of a rollout, ``[K]`` the norm of the object's third difference of
    position (this step's, the three before it) less the reference's over the same
    frames (clamped to the clip's ``start``): ``object_jerk_weight``'s term. The samples
    share the committed past ``past [3, 3]`` (None: unknown, so the term waits until the
    rollout has made three positions of its own)."""

    def __init__(self, ref_pos: F64, start: int, g: int, past: F64 | None, k: int) -> None:
        self.ref = np.asarray(ref_pos, np.float64)
        self.start, self.g = start, g
        self.hist = [] if past is None else [np.repeat(p[None], k, 0) for p in past]

    def __call__(self, pos: F64) -> F64:
        self.hist = [*self.hist[-3:], pos]
        self.g += 1
        if len(self.hist) < 4:
            return np.zeros(len(pos))
        h0, h1, h2, h3 = self.hist
        i = np.maximum(self.g - np.arange(3, -1, -1), self.start)
        r = self.ref[i]
        want = r[3] - 3.0 * r[2] + 3.0 * r[1] - r[0]
        return np.linalg.norm(h3 - 3.0 * h2 + 3.0 * h1 - h0 - want, axis=-1)
