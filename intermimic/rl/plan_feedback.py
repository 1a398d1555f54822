"""Feedback around a plan: the observations a replayed plan passes through, per frame.

A ``planner_ff`` teacher acts as ``plan action + residual_scale * f(obs)``. Its
untrained noiseless attempt replays the plan, but the plan is open loop and chaotic: a
residual of 10^-4 action units makes the replay fall within seconds (docs/refinement_log.md, "How
little the plan tolerates"), and PPO's first updates move ``f`` by more than that on the
plan's own states. Recipe ``planner_fb`` gives the actor the shape of a trajectory
stabiliser instead, ``u = u*(t) + K(x) - K(x*(t))``: its mean is ``f(obs) - f(obs*)``,
where ``obs*`` is the observation the plan itself passes through at the world's clip
frame. On the plan the two are the same and the mean is exactly 0, so the trained
teacher's noiseless attempt from the MoCap start still replays the plan, while off it
the learnt ``f`` corrects the deviation (``intermimic.rl.models.PrecisionMLPModel``
computes the difference; the critic is unchanged).

:func:`record_plan_observations` runs each planned clip's replay in a tracking env
(zero residual from the clip's MoCap start: the very steps a noiseless attempt takes)
and keeps the raw observation at every frame it passes (:class:`PlanObservations`);
:func:`plan_group` gives the actor's extra observation group ``"plan"`` for the worlds'
current frames: ``[obs* normalised as the world's own observation, covered, on_plan]``.
``covered`` is 0 where no plan reaches the frame (the actor's mean is then ``f(obs)``
around the reference base, as with ``planner_ff``), ``on_plan`` 1 where the world's
observation equals ``obs*`` to :data:`ON_PLAN_TOL` (the mean is then exactly 0; the
tolerance absorbs nothing but rounding, since a replay in the same env is bit-exact).

Tables are recorded again whenever an env gets its plans (training, resume,
evaluation), never saved: a subject's table is 2.9 k floats per frame, and a
recording costs one replay (seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from intermimic.env import TrackingEnv
from intermimic.env.feedforward import FeedForward

#: The actor's observation group holding the plan's observation (see the module docstring).
PLAN_GROUP = "plan"

#: Largest difference (normalised observation units) between a world's observation and
#: the plan's at its frame that still counts as on the plan. Float32 rounding of the
#: same raw numbers is 1e-7; a world pushed off the plan differs by more than this within
#: a step or two, where ``f(obs) - f(obs*)`` is still of the order of the deviation.
ON_PLAN_TOL = 1e-5


@dataclass(frozen=True)
class PlanObservations:
    """Raw observations ``raw [F, D]`` (float64, the env's dtype) at each global frame a
    plan's replay passed (``covered [F]``), for one tracking env."""

    raw: torch.Tensor
    covered: torch.Tensor

    @property
    def frames(self) -> int:
        return int(self.covered.sum())


def record_plan_observations(
    env: TrackingEnv, plan: FeedForward | None = None
) -> PlanObservations | None:
    """Replay each clip with a plan (``plan``, default ``env.feedforward``: a teacher's
    plans in a student's env need not be that env's base) from its MoCap start with the
    plan's actions alone, recording the raw observation at every frame the plan covers
    until the replay ends (the plan's last action, clip end or early termination); None
    when the env has no plan.

    The env's PSI buffer, observation normaliser and episode settings are restored after;
    its worlds are left mid-replay, so the caller resets the env before using it.
    """
    ff = env.feedforward if plan is None else plan
    if ff is None:
        return None
    actions = torch.as_tensor(ff.table, device=env.device)
    ref = env.ref
    planned = [c for c in range(len(ref.clip_ids)) if ff.mask[int(ref.clip_start[c])]]
    raw = torch.zeros((int(ref.n_frames), env.obs_dim), dtype=env.dtype, device=env.device)
    covered = torch.zeros(int(ref.n_frames), dtype=torch.bool, device=env.device)
    in_plan = torch.as_tensor(ff.mask, device=env.device)
    saved = _snapshot(env)
    # a replay runs its clip to the end, whatever the training episode cap
    cap = int(ref.clip_len.max()) + 1
    env.settings = env.settings.model_copy(update={"rollout_length": cap})
    try:
        n = env.n_worlds
        for b in range(0, len(planned), n):
            part = planned[b : b + n]
            clips = np.asarray([part[w % len(part)] for w in range(n)], np.int64)
            frames = ref.clip_start[clips].astype(np.int64)
            env.reset_to(frames, ref.states()[frames])
            alive = torch.ones(n, dtype=torch.bool, device=env.device)
            for _ in range(cap):
                # the plan's frames only: beyond a partial plan the base is the
                # reference's, and the actor acts as planner_ff's there
                g = env.rt.global_index(env.clip, env.frame)
                alive &= in_plan[g]
                if not bool(alive.any()):
                    break
                rows = alive.nonzero().flatten()
                raw[g[rows]] = env.observe_raw()[rows]
                covered[g[rows]] = True
                # the plan's action, as the base an env with this feed-forward applies
                # to a zero residual (bit for bit: FeedForward.apply copies the row)
                _, _, terminated, truncated, _ = env.step(actions[g])
                alive &= ~(terminated | truncated)
    finally:
        _restore(env, saved)
    return PlanObservations(raw, covered)


def _snapshot(env: TrackingEnv) -> dict[str, Any]:
    return {
        "settings": env.settings,
        "normalizer": env.normalizer.state_dict(),
        "psi": env.psi.state_dict(),
    }


def _restore(env: TrackingEnv, saved: dict[str, Any]) -> None:
    env.settings = saved["settings"]
    env.normalizer.load_state_dict(saved["normalizer"])
    env.psi.load_state_dict(saved["psi"])


def plan_group(env: TrackingEnv, table: PlanObservations | None, obs: torch.Tensor) -> torch.Tensor:
    """The ``"plan"`` group ``[N, D + 2]`` (float32) of ``env``'s worlds at their current
    frames, beside their normalised observations ``obs [N, D]``: the plan's observation
    normalised the same way (0 where not covered), ``covered`` and ``on_plan`` (see the
    module docstring)."""
    n, d = obs.shape
    out = torch.zeros((n, d + 2), dtype=torch.float32, device=obs.device)
    if table is None:
        return out
    g = env.rt.global_index(env.clip, env.frame)
    cov = table.covered[g]
    star = torch.where(cov[:, None], env.normalise(table.raw[g]), 0.0)
    near = (obs - star).abs().amax(dim=1) <= ON_PLAN_TOL
    out[:, :d] = star
    out[:, d] = cov.to(torch.float32)
    out[:, d + 1] = (cov & near).to(torch.float32)
    return out
