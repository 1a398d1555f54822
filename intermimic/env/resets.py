"""How the tracking environment's worlds start episodes: from PSI draws (and the states
seeded into PSI to draw), from given states, and again at the end of a step that
finished them (the auto-reset).

A start writes one world's whole episode state at once: the backend's physics, the
clip and frame, the step and hand counters, the previous velocities the next comparison
differences against, and the PSI feed's per-world state. Every way of starting goes
through :func:`start_worlds` (by index) or :func:`start_where` (by mask), so a new piece
of episode state has one place to be reset.

It is separate from :mod:`intermimic.env.tracking_env` so that the environment keeps the
step (compare, reward, terminate, feed PSI) and this module the resets that follow it,
in their two forms (``TrackingEnv``'s ``reset_mode``): :func:`reset_by_index` with the
finished worlds' indices read back, :func:`reset_by_mask` with nothing read back. The
functions take the environment and read its settings, PSI buffer and backend at each
call, as its own methods did (callers replace them on a built environment), and call
its ``_observe`` and ``_normalise`` through it (a benchmark wraps them there); they run
exactly the operations the environment's methods ran, in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch
from numpy.typing import NDArray

from intermimic.env.psi import PSIBuffer
from intermimic.env.psi_feed import PSIFeed
from intermimic.env.reference import ReferenceMotion
from intermimic.env.settings import EnvSettings
from intermimic.env.view import TrackView
from intermimic.sim.backend import BodyStates, SimBackend
from intermimic.sim.scene import Scene

Tensor = torch.Tensor


class TrackingEnv(Protocol):
    """What these functions read and write of :class:`intermimic.env.tracking_env.
    TrackingEnv` (a protocol, not an import: that module imports this one)."""

    settings: EnvSettings
    backend: SimBackend
    scene: Scene
    n_worlds: int
    device: torch.device
    dtype: torch.dtype
    view: TrackView
    ref: ReferenceMotion
    psi: PSIBuffer
    psi_feed: PSIFeed
    clip: Tensor
    frame: Tensor
    start: Tensor
    episode_len: Tensor
    missing_hand: Tensor
    prev_hinge_vel: Tensor
    prev_obj_vel: Tensor
    _all: Tensor
    _clip_of_frame: Tensor
    _frame_in_clip: Tensor

    def _touch(self, forces: Tensor) -> Tensor: ...

    def _normalise(self, raw: Tensor, update: bool = True) -> Tensor: ...

    def _observe(
        self,
        bs: BodyStates,
        touch: Tensor,
        rows: Tensor | None,
        offsets: Sequence[int] | NDArray[np.integer] | None = None,
    ) -> Tensor: ...


def draw(env: TrackingEnv) -> tuple[Tensor, Tensor]:
    """Every world's next start from PSI: ``(global frames [N] long, states [N, nq +
    nv])``. A step draws for all worlds, whichever finished, so that the index and
    masked resets (``reset_mode``) use the same draws and the size of a draw never
    depends on a count read back from the device."""
    frames, states, _ = env.psi.sample(env.n_worlds)
    # a no-op for the buffer's device tensor; stand-ins for it may return numpy
    f = torch.as_tensor(frames, dtype=torch.long, device=env.device)
    return f, torch.as_tensor(states, dtype=torch.float64, device=env.device)


def seed_starts(env: TrackingEnv, clip_id: str, states: Tensor | NDArray[np.floating]) -> int:
    """:meth:`TrackingEnv.seed_psi <intermimic.env.tracking_env.TrackingEnv.seed_psi>`:
    ``states`` along clip ``clip_id`` made starts that :func:`draw` can return."""
    if clip_id not in env.ref.clip_ids:
        return 0
    c = env.ref.clip_ids.index(clip_id)
    st = torch.as_tensor(states, dtype=torch.float64, device=env.device)
    n = min(int(st.shape[0]), int(env.ref.clip_len[c]))
    if st.ndim != 2 or st.shape[1] != env.scene.model.nq + env.scene.model.nv:
        raise ValueError(
            f"seed_psi({clip_id!r}): states need shape [n, nq + nv = "
            f"{env.scene.model.nq + env.scene.model.nv}], got {tuple(st.shape)}"
        )
    frames = int(env.ref.clip_start[c]) + torch.arange(n, device=env.device)
    ones = torch.ones(n, dtype=torch.float64, device=env.device)
    for _ in range(env.settings.psi.slots_per_frame - 1):
        if env.settings.psi.rule == "released":
            env.psi.admit(frames, st[:n], ones)
        else:
            env.psi.add(frames, st[:n])
    return n


def start_worlds(env: TrackingEnv, ids: Tensor, f: Tensor, states: Tensor) -> None:
    """Start worlds ``ids`` at global frames ``f`` (long tensor on the env's device)
    from ``states [n, nq + nv]``."""
    nq = env.scene.model.nq
    env.backend.reset_tensor(ids, states[:, :nq], states[:, nq:])
    env.clip[ids] = env._clip_of_frame[f]
    env.frame[ids] = env._frame_in_clip[f]
    env.start[ids] = f
    env.episode_len[ids] = 0
    env.missing_hand[ids] = 0
    env.prev_hinge_vel[ids] = states[:, nq + env.view.hinge].to(env.dtype)
    env.psi_feed.started(ids)


def start_where(env: TrackingEnv, mask: Tensor, f: Tensor, states: Tensor) -> None:
    """:func:`start_worlds` for the worlds ``mask [N]`` marks, from rows of ``f [N]``
    and ``states [N, nq + nv]``, without selecting them (no host read). The episode
    tensors are replaced, not written into."""
    nq = env.scene.model.nq
    env.backend.reset_where(mask, states[:, :nq], states[:, nq:])
    env.clip = torch.where(mask, env._clip_of_frame[f], env.clip)
    env.frame = torch.where(mask, env._frame_in_clip[f], env.frame)
    env.start = torch.where(mask, f, env.start)
    env.episode_len = torch.where(mask, 0, env.episode_len)
    env.missing_hand = torch.where(mask[:, None], 0, env.missing_hand)
    hinge = states[:, nq + env.view.hinge].to(env.dtype)
    env.prev_hinge_vel = torch.where(mask[:, None], hinge, env.prev_hinge_vel)
    env.psi_feed.started_where(mask)


def observe_started(env: TrackingEnv, update_normaliser: bool) -> Tensor:
    """Observations of freshly started worlds (all of them), whose previous object
    velocity is their start state's."""
    st = env.backend.read(env.dtype)
    bs = st.bodies
    env.prev_obj_vel = torch.cat([bs.obj_linvel, bs.obj_angvel], dim=1)
    raw = env._observe(bs, env._touch(st.contact), None)
    return env._normalise(raw, update=update_normaliser)


def start_from(
    env: TrackingEnv,
    frames: NDArray[np.integer],
    states: Tensor | NDArray[np.floating],
    missing_hand: Tensor | NDArray[np.integer] | None,
    elapsed: int,
    update_normaliser: bool,
) -> Tensor:
    """:meth:`TrackingEnv.reset_to <intermimic.env.tracking_env.TrackingEnv.reset_to>`:
    every world started from given states, after checking their shapes and frames."""
    n = env.n_worlds
    f = np.asarray(frames, np.int64)
    st = torch.as_tensor(states, device=env.device, dtype=torch.float64)
    if f.shape != (n,) or tuple(st.shape) != (n, env.scene.model.nq + env.scene.model.nv):
        raise ValueError(
            f"reset_to needs frames [{n}] and states [{n}, nq + nv = "
            f"{env.scene.model.nq + env.scene.model.nv}]; got {f.shape} and "
            f"{tuple(st.shape)}"
        )
    if f.min() < 0 or f.max() >= env.ref.n_frames:
        raise ValueError(f"reset_to: frames outside [0, {env.ref.n_frames})")
    start_worlds(env, env._all, torch.as_tensor(f, device=env.device), st)
    env.episode_len[:] = int(elapsed)
    if missing_hand is not None:
        env.missing_hand[:] = torch.as_tensor(missing_hand, device=env.device).to(
            env.missing_hand.dtype
        )
    return observe_started(env, update_normaliser)


def reset_by_index(
    env: TrackingEnv, ids: Tensor, bs: BodyStates, touch: Tensor, truncated: Tensor
) -> tuple[Tensor, Tensor]:
    """The step's end once PSI has seen its outcomes, for the finished worlds ``ids``
    (read back by the caller): their terminal observations, their resets, then every
    world's observation (``bs``, ``touch``: the step's states); returns ``(obs,
    terminal_obs)``."""
    # Only truncated episodes bootstrap from their last observation. The finished
    # worlds (a few more than the truncated ones) are observed before the reset, so
    # that no second selection is read back; every world is then observed once, after.
    n_done = int(ids.numel())  # known since the caller's nonzero: no read
    term_raw = env._observe(bs, touch, ids) if n_done else None
    f, states = draw(env)  # every step, as the masked reset must (same draws)
    if n_done:
        start_worlds(env, ids, f[ids], states[ids])
        st = env.backend.read(env.dtype)
        bs, touch = st.bodies, env._touch(st.contact)
    # The next step's previous object velocity: this state's (a reset world's start).
    env.prev_obj_vel = torch.cat([bs.obj_linvel, bs.obj_angvel], dim=1)
    obs = env._normalise(env._observe(bs, touch, None))
    terminal = obs
    if term_raw is not None:
        terminal = obs.clone()
        last = env._normalise(term_raw, update=False)
        terminal[ids] = torch.where(truncated[ids][:, None], last, obs[ids])
    return obs, terminal


def reset_by_mask(
    env: TrackingEnv, bs: BodyStates, touch: Tensor, done: Tensor, truncated: Tensor
) -> tuple[Tensor, Tensor]:
    """:func:`reset_by_index` without reading anything back: every world is observed
    before the resets and after, and the finished ones (``done [N]``) are reset in place
    by mask."""
    term_raw = env._observe(bs, touch, None)
    start_where(env, done, *draw(env))
    st = env.backend.read(env.dtype)
    bs, touch = st.bodies, env._touch(st.contact)
    env.prev_obj_vel = torch.cat([bs.obj_linvel, bs.obj_angvel], dim=1)
    obs = env._normalise(env._observe(bs, touch, None))
    last = env._normalise(term_raw, update=False)
    return obs, torch.where(truncated[:, None], last, obs)
