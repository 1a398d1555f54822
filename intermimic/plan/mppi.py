"""One committed frame of the sampling planner: MPPI over PD-target residual knots.

:class:`MppiStep` is the loop body of :func:`~intermimic.plan.planner.plan_clip` (see that
module for the whole method): from a committed state it rolls out ``samples`` plans of
``knots`` residual knots over ``horizon`` steps in the tracking environment, ``iterations``
times with annealed noise, prices each sample (:func:`_rollout`: ``-log(reward)``,
:class:`~intermimic.plan.costs.PlanCost`, the action rate, the object's jerk, the
termination cost) and returns the sample to commit; ``advance`` warm-starts the next frame.
It runs from any state, so a learner can call it as an expert on states of its own.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from intermimic.plan.costs import PlanCost, arm_actuators, finger_actuators, foot_actuators
from intermimic.plan.settings import PlannerSettings
from intermimic.rl.rollout import RecordingBackend
from intermimic.sim.backend import BodyStates

F64 = NDArray[np.float64]


def snapshot_rows(snap: dict[str, Any], k: int) -> dict[str, Any]:
    bs: BodyStates = snap["bs"]
    one = BodyStates(**{f.name: getattr(bs, f.name)[k : k + 1] for f in fields(bs)})
    return {
        "qpos": snap["qpos"][k : k + 1],
        "qvel": snap["qvel"][k : k + 1],
        "bs": one,
        "forces": snap["forces"][k : k + 1],
        "warmstart": snap["warmstart"][k : k + 1],
    }


def _pick(out: dict[str, Any], plans: F64, k: int) -> dict[str, Any]:
    """Sample ``k`` of a rollout: its cost, plan, steps survived, its first step
    (``snap``, ``action``, ``missing``, ``reasons``) and ``segment``, the first step and
    those after it that can be committed with it (up to ``commit_steps``, alive after
    each), each a dict of ``snap``, ``action`` and ``missing``."""
    survived = int(out["survived"][k])
    segment = [
        {
            "snap": snapshot_rows(rec["snap"], k),
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
    """One committed frame of the planner (the loop body in
    :mod:`intermimic.plan.planner`'s doc), reusable from any committed state:
    :meth:`__call__` runs the ``iterations`` MPPI rollouts from ``state`` at ``frame`` and
    returns the committed sample (:func:`_pick`'s fields), and :meth:`advance`
    warm-starts the next frame from it. ``plan_clip`` drives it along a
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
        """The committed sample from ``state`` at clip ``frame`` with hand counters
        ``missing [2]``, and the world-steps it took. ``state`` is ``[nq + nv]`` (qpos,
        qvel: the samples start as freshly reset worlds) or ``[nq + 2 nv]``, the solver's
        warm start after them (:meth:`~intermimic.sim.backend.SimBackend.warmstart`, as
        the committed step left it: the samples step on as a replay of the committed
        motion does, bit for bit). ``obj_past [3, 3]``: the
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
    n_state = env.scene.model.nq + env.scene.model.nv
    env.reset_to(
        np.full(k_samples, g),
        np.repeat(state[None, :n_state], k_samples, 0),
        np.repeat(missing[None], k_samples, 0),
        elapsed=frame,
    )
    if state.shape[0] > n_state:
        # A reset clears the solver's warm start; a replay of the committed motion steps
        # on with it, and the solver then stops at a point that differs in the last bits,
        # which the motion's chaos grows to centimetres (sub2_largetable_000: 11 cm by
        # frame 120). With it restored, the committed step is the replay's step.
        recorder.set_warmstart(np.arange(k_samples), np.repeat(state[None, n_state:], k_samples, 0))
    seq = np.einsum("hp,kpa->kha", interp, plans)
    cost = np.zeros(k_samples)
    alive = np.ones(k_samples, bool)
    survived = np.zeros(k_samples, np.int64)
    out: dict[str, Any] = {"steps": 0, "record": []}
    prev = None if last_action is None else last_action[None]
    jerk = (
        _ObjectJerk(env.ref.obj_pos, int(env.ref.clip_start[0]), g, obj_past, k_samples)
        if p.object_jerk_weight > 0
        else None
    )
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
        if jerk is not None:
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
