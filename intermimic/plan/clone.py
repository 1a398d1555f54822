"""Behaviour cloning of planned clips into a fresh teacher actor (issue 18 recipe c).

:func:`clone_planner` puts the teacher env's worlds at every planned state
(:meth:`~intermimic.env.TrackingEnv.reset_to`), fits the observation normaliser to those
states, and regresses the actor's mean on the planner's actions there, in the policy's
own units (with residual actions: ``(planned - reference) / residual_scale``, clipped to
the action bounds). PPO then starts from a policy that already follows the plan, instead
of from one that follows the reference's PD targets.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import torch
from tensordict import TensorDict

from intermimic.plan.seeds import PlannedClip
from intermimic.rl.teacher_env import TeacherEnv
from intermimic.rl.train import Trainer


def _chunks(
    env: TeacherEnv, plans: Mapping[str, PlannedClip]
) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """``(tracking env index, global frames [n], states [n, S], actions [n, A])`` in
    chunks of at most that env's worlds, over every planned frame with an action."""
    for k, e in enumerate(env.envs):
        for c, cid in enumerate(e.ref.clip_ids):
            if cid not in plans:
                continue
            p = plans[cid]
            n = p.frames  # the last state has no action
            frames = int(e.ref.clip_start[c]) + np.arange(n)
            for a in range(0, n, e.n_worlds):
                b = min(a + e.n_worlds, n)
                yield k, frames[a:b], p.states[a:b], p.actions[a:b]


def _observe(
    env: TeacherEnv, k: int, frames: np.ndarray, states: np.ndarray, update: bool
) -> tuple[torch.Tensor, np.ndarray]:
    """Observations and reference actions of ``frames`` (padded to the env's worlds)."""
    e = env.envs[k]
    n, w = len(frames), e.n_worlds
    pad = np.concatenate([np.arange(n), np.full(w - n, n - 1)]).astype(np.int64)
    obs = e.reset_to(frames[pad], states[pad], update_normaliser=update)
    return obs[:n], e.reference_actions()[:n]


def clone_planner(
    trainer: Trainer,
    env: TeacherEnv,
    plans: Mapping[str, PlannedClip],
    *,
    epochs: int = 300,
    lr: float = 1e-3,
) -> dict[str, float]:
    """Fit ``trainer``'s actor mean to the planned actions (see the module doc); returns
    ``samples``, ``loss_first`` and ``loss_last`` (mean squared error, policy units).
    The worlds are left at planned states: reset the env before training on."""
    chunks = list(_chunks(env, plans))
    if not chunks:
        return {"samples": 0.0, "loss_first": float("nan"), "loss_last": float("nan")}
    for k, frames, states, _ in chunks:  # the normaliser sees every state first
        _observe(env, k, frames, states, update=True)
    xs, ys = [], []
    for k, frames, states, actions in chunks:
        obs, ref = _observe(env, k, frames, states, update=False)
        target = actions
        if env.residual_scale is not None:
            target = (actions - ref) / env.residual_scale
        xs.append(obs.to(torch.float32))
        ys.append(torch.from_numpy(np.clip(target, -1.0, 1.0)).to(torch.float32))
    x, y = torch.cat(xs).to(trainer.alg.device), torch.cat(ys).to(trainer.alg.device)
    actor = trainer.alg.actor
    opt = torch.optim.Adam(actor.parameters(), lr=lr)
    td = TensorDict({"policy": x}, batch_size=[len(x)], device=x.device)
    losses = []
    for _ in range(epochs):
        loss = torch.nn.functional.mse_loss(actor(td).to(torch.float32), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return {"samples": float(len(x)), "loss_first": losses[0], "loss_last": losses[-1]}
