"""Adapter from our vectorised environments to rsl-rl's ``VecEnv``.

The environment side (the teacher and student envs over ``intermimic/env``, which work
in torch on the physics backend's device; the PPO sanity task, in numpy) knows nothing of
rsl-rl. It implements :class:`ArrayVecEnv`, whose arrays may be numpy arrays or torch
tensors:

* attributes ``num_envs``, ``num_actions``, ``max_episode_length`` (policy steps);
* ``reset() -> obs`` where ``obs`` maps observation group names (``"policy"``, and
  ``"critic"`` for privileged critic inputs) to ``[N, D_group]`` float arrays;
* ``step(actions [N, A]) -> (obs, reward [N], terminated [N], truncated [N], info)``;
  ``actions`` is the policy's tensor (detached; a numpy env reads it with
  ``np.asarray``, which shares CPU memory).
  Worlds that finish (terminated or truncated) are reset **inside** ``step``; the returned
  ``obs`` rows of those worlds are the first observations of their new episodes.
  ``terminated`` is a true terminal state (fell, IET); ``truncated`` is a time limit
  (PPO bootstraps the value there). Actions are nominally in [-1, 1]; the env clips.
* ``info`` keys, all optional:

  - ``"reward_terms"``: ``{name: [N]}`` per-step value of each reward term; the adapter
    sums them per episode and logs the mean over finished episodes as ``Reward/<name>``;
  - ``"success"``: ``[N]`` bool, read for worlds whose episode ended this step;
  - ``"final"``: ``{name: [N, ...]}`` per-world payload read for finished worlds and
    handed to episode hooks (PSI: start frame, reached state, clip id, ...);
  - ``"log"``: ``{name: float | array}`` extra scalars, logged as their mean.
* optionally ``state_dict() -> dict`` / ``load_state_dict(dict)`` with the simulator
  state, counters and RNG (nested dicts of arrays and JSON scalars): with them a resumed
  run continues bit-exactly; without them resume resets the worlds.

The adapter turns that into torch tensors in a ``TensorDict`` (tensors already on the
device pass through without a copy), ``dones = terminated |
truncated`` and ``extras["time_outs"] = truncated`` as rsl-rl 5 expects, keeps per-episode
sums, and calls the registered episode hooks with a :class:`FinishedEpisodes` batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from numpy.typing import NDArray
from rsl_rl.env import VecEnv
from tensordict import TensorDict

Array = NDArray[Any] | torch.Tensor
ObsDict = Mapping[str, Array]


def to_host(x: Array) -> NDArray[Any]:
    """A numpy view or copy of ``x`` for the host-side episode bookkeeping."""
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


@runtime_checkable
class ArrayVecEnv(Protocol):
    """What an environment implements to be trained by :mod:`intermimic.rl`."""

    num_envs: int
    num_actions: int
    max_episode_length: int

    def reset(self) -> ObsDict: ...

    def step(
        self, actions: torch.Tensor
    ) -> tuple[ObsDict, Array, Array, Array, dict[str, Any]]: ...


@dataclass
class FinishedEpisodes:
    """Episodes that ended in one step, one row per finished world (``k`` rows).

    ``env_ids [k]``, ``returns [k]`` (undiscounted sum of rewards), ``lengths [k]`` (policy
    steps), ``terminated [k]`` / ``truncated [k]`` bool, ``success [k]`` bool or ``None``
    when the env reports none, ``reward_terms {name: [k]}`` per-episode sums, ``final
    {name: [k, ...]}`` the env's ``info["final"]`` rows of those worlds.
    """

    env_ids: NDArray[np.int64]
    returns: NDArray[np.float64]
    lengths: NDArray[np.int64]
    terminated: NDArray[np.bool_]
    truncated: NDArray[np.bool_]
    success: NDArray[np.bool_] | None
    reward_terms: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    final: dict[str, NDArray[Any]] = field(default_factory=dict)


EpisodeHook = Callable[[FinishedEpisodes], None]
"""Called once per env step that finished at least one episode (PSI updates plug in here)."""


class RslVecEnv(VecEnv):
    """rsl-rl ``VecEnv`` over a :class:`ArrayVecEnv`.

    ``extras["log"]`` carries, for steps where episodes ended, ``Episode/return``,
    ``Episode/length``, ``Episode/success`` and ``Reward/<term>`` as tensors over the
    finished episodes, plus the env's own ``info["log"]``.
    """

    def __init__(
        self,
        env: ArrayVecEnv,
        device: str | torch.device = "cpu",
        episode_hooks: list[EpisodeHook] | None = None,
    ) -> None:
        self.env = env
        self.num_envs = int(env.num_envs)
        self.num_actions = int(env.num_actions)
        self.max_episode_length = int(env.max_episode_length)
        self.device = torch.device(device)
        self.cfg: dict[str, Any] = {}
        self.episode_hooks: list[EpisodeHook] = list(episode_hooks or [])
        self.episode_length_buf = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)
        self._ep_return = np.zeros(self.num_envs)
        self._ep_terms: dict[str, NDArray[np.float64]] = {}
        self._obs = self.to_tensordict(env.reset())

    def reset(self) -> TensorDict:
        """Reset every world (episode sums cleared); returns the new observations."""
        self._obs = self.to_tensordict(self.env.reset())
        self.episode_length_buf.zero_()
        self._ep_return[:] = 0.0
        for acc in self._ep_terms.values():
            acc[:] = 0.0
        return self._obs

    def add_episode_hook(self, hook: EpisodeHook) -> None:
        self.episode_hooks.append(hook)

    def get_observations(self) -> TensorDict:
        return self._obs

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        obs, reward_a, terminated_a, truncated_a, info = self.env.step(actions.detach())
        reward = to_host(reward_a).astype(np.float64).reshape(self.num_envs)
        terminated = to_host(terminated_a).astype(bool).reshape(self.num_envs)
        truncated = to_host(truncated_a).astype(bool).reshape(self.num_envs) & ~terminated
        done = terminated | truncated

        # per-episode book-keeping (numpy, float64 so long episodes do not lose precision)
        self._ep_return += reward
        for name, value in (info.get("reward_terms") or {}).items():
            acc = self._ep_terms.setdefault(name, np.zeros(self.num_envs))
            acc += to_host(value).astype(np.float64).reshape(self.num_envs)
        lengths = self.episode_length_buf.cpu().numpy() + 1

        log: dict[str, Any] = {}
        for name, value in (info.get("log") or {}).items():
            log[name if "/" in name else f"Env/{name}"] = torch.as_tensor(
                to_host(value).astype(np.float32)
            )
        ids = np.flatnonzero(done)
        if ids.size:
            finished = self._finished(ids, lengths, terminated, truncated, info)
            log["Episode/return"] = torch.from_numpy(finished.returns.astype(np.float32))
            log["Episode/length"] = torch.from_numpy(finished.lengths.astype(np.float32))
            if finished.success is not None:
                log["Episode/success"] = torch.from_numpy(finished.success.astype(np.float32))
            for name, value in finished.reward_terms.items():
                log[f"Reward/{name}"] = torch.from_numpy(value.astype(np.float32))
            for hook in self.episode_hooks:
                hook(finished)
            self._ep_return[ids] = 0.0
            for acc in self._ep_terms.values():
                acc[ids] = 0.0

        lengths[ids] = 0
        self.episode_length_buf = torch.from_numpy(lengths.astype(np.int64)).to(self.device)
        self._obs = self.to_tensordict(obs)
        rew_t = torch.from_numpy(reward.astype(np.float32)).to(self.device)
        done_t = torch.from_numpy(done).to(self.device, torch.long)
        extras = {"time_outs": torch.from_numpy(truncated).to(self.device, torch.long), "log": log}
        return self._obs, rew_t, done_t, extras

    # -- checkpoint support ---------------------------------------------------------------
    @property
    def supports_exact_resume(self) -> bool:
        # an env may have the methods yet not the state (a backend that cannot save it)
        return (
            hasattr(self.env, "state_dict")
            and hasattr(self.env, "load_state_dict")
            and bool(getattr(self.env, "exact_state", True))
        )

    def state_dict(self) -> dict[str, Any]:
        """Adapter state (current obs, episode sums) plus the env's own, when it has one."""
        state: dict[str, Any] = {
            "obs": {k: v.cpu().numpy().copy() for k, v in self._obs.items()},
            "episode_length": self.episode_length_buf.cpu().numpy().copy(),
            "episode_return": self._ep_return.copy(),
            "episode_terms": {k: v.copy() for k, v in self._ep_terms.items()},
        }
        if self.supports_exact_resume:
            state["env"] = self.env.state_dict()  # type: ignore[attr-defined]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore; without env state the worlds were freshly reset, so only counters go."""
        if "env" not in state or not self.supports_exact_resume:
            return
        self.env.load_state_dict(state["env"])  # type: ignore[attr-defined]
        self._obs = self.to_tensordict(state["obs"])
        self.episode_length_buf = torch.as_tensor(
            np.asarray(state["episode_length"], np.int64), device=self.device
        )
        self._ep_return = np.asarray(state["episode_return"], np.float64).copy()
        self._ep_terms = {
            k: np.asarray(v, np.float64).copy() for k, v in state["episode_terms"].items()
        }

    # -- helpers --------------------------------------------------------------------------
    def _finished(
        self,
        ids: NDArray[np.int64],
        lengths: NDArray[np.int64],
        terminated: NDArray[np.bool_],
        truncated: NDArray[np.bool_],
        info: dict[str, Any],
    ) -> FinishedEpisodes:
        success = info.get("success")
        return FinishedEpisodes(
            env_ids=ids.astype(np.int64),
            returns=self._ep_return[ids].copy(),
            lengths=lengths[ids].astype(np.int64),
            terminated=terminated[ids],
            truncated=truncated[ids],
            success=None if success is None else to_host(success).astype(bool).reshape(-1)[ids],
            reward_terms={k: v[ids].copy() for k, v in self._ep_terms.items()},
            final={k: to_host(v)[ids] for k, v in (info.get("final") or {}).items()},
        )

    def to_tensordict(self, obs: ObsDict) -> TensorDict:
        """Observation groups ``{group: [N, D]}`` (arrays or tensors) -> float32
        ``TensorDict`` on device."""
        tensors = {}
        for name, value in obs.items():
            if isinstance(value, torch.Tensor):
                t = value.detach().to(self.device, torch.float32)
            else:
                t = torch.from_numpy(np.array(value, np.float32))
            tensors[name] = t.reshape(self.num_envs, -1).to(self.device)
        return TensorDict(tensors, batch_size=[self.num_envs], device=self.device)
