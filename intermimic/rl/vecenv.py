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
    sums them per episode and logs the sums of finished episodes as ``Reward/<name>``;
  - ``"success"``: ``[N]`` bool, read for worlds whose episode ended this step;
  - ``"final"``: ``{name: [N, ...]}`` numeric per-world payload, read for finished
    worlds and handed to episode hooks (start frame, reached state, clip id, ...);
  - ``"log"``: ``{name: float | array | tensor}`` extra scalars, logged as their mean
    over the iteration (a tensor on the device is logged without leaving it).
* optionally ``state_dict() -> dict`` / ``load_state_dict(dict)`` with the simulator
  state, counters and RNG (nested dicts of arrays and JSON scalars): with them a resumed
  run continues bit-exactly; without them resume resets the worlds.

The adapter turns that into torch tensors on its ``device`` (tensors already there pass
through without a copy; numpy arrays are copied over once, where they come in), with
``dones = terminated | truncated`` and ``extras["time_outs"] = truncated`` as rsl-rl 5
expects. Its per-episode sums (float64 returns and reward terms, long lengths) are tensors
on that device too, and a step reads nothing back to the host: on a GPU each read would
wait for every kernel queued so far, every step.

For the same reason finished episodes reach the episode hooks late: with
``defer_episodes`` each step records its finished-episode data on the device, and
:meth:`RslVecEnv.flush_episodes` (the trainer calls it once per iteration, after the
rollout) brings everything recorded over in one transfer and calls the hooks with one
:class:`FinishedEpisodes` batch per step that finished any, in step order. Without
``defer_episodes`` (the default, for code that steps the adapter itself) every step
flushes at its end, so hooks run during the step as they always did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
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
    """A numpy view or copy of ``x`` (host-side code: evaluation, the student's env)."""
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
"""Called with one :class:`FinishedEpisodes` per env step that finished at least one
episode, in step order. With ``RslVecEnv(defer_episodes=True)`` (the trainer) the calls of
a whole rollout come together from :meth:`RslVecEnv.flush_episodes` at the iteration's
end, after the steps that follow them have run: a hook must not feed back into the env
within an iteration (PSI lives inside the env and updates itself there)."""


@dataclass
class _StepEpisodes:
    """One step's finished-episode data, kept on the device until the next flush. Every
    tensor is one no later step writes to, so none needs a copy."""

    done: torch.Tensor
    truncated: torch.Tensor
    returns: torch.Tensor
    lengths: torch.Tensor
    success: torch.Tensor | None
    reward_terms: dict[str, torch.Tensor]
    final: dict[str, torch.Tensor]

    def tensors(self) -> list[torch.Tensor]:
        """The tensors in the order :meth:`finished` reads their host copies."""
        out = [self.done, self.truncated, self.returns, self.lengths]
        if self.success is not None:
            out.append(self.success)
        return out + list(self.reward_terms.values()) + list(self.final.values())

    def finished(self, host: Iterator[NDArray[Any]]) -> FinishedEpisodes | None:
        """The batch of this step from its arrays' host copies (None: nothing finished)."""
        done, truncated, returns, lengths = (next(host) for _ in range(4))
        success = None if self.success is None else next(host)
        terms = {name: next(host) for name in self.reward_terms}
        final = {name: next(host) for name in self.final}
        ids = np.flatnonzero(done)
        if not ids.size:
            return None
        return FinishedEpisodes(
            env_ids=ids.astype(np.int64),
            returns=returns[ids],
            lengths=lengths[ids],
            terminated=~truncated[ids],  # done and not truncated
            truncated=truncated[ids],
            success=None if success is None else success[ids],
            reward_terms={k: v[ids] for k, v in terms.items()},
            final={k: v[ids] for k, v in final.items()},
        )


def _numpy_dtype(dtype: torch.dtype) -> np.dtype[Any]:
    return torch.empty(0, dtype=dtype).numpy().dtype


def host_arrays(tensors: Sequence[torch.Tensor]) -> list[NDArray[Any]]:
    """Host copies of ``tensors`` (all on one device) in one device-to-host transfer.

    Off the CPU the tensors' bytes are packed into one buffer on the device first: each
    transfer of its own would wait for the device again. On the CPU they are views."""
    if not tensors:
        return []
    if all(t.device.type == "cpu" for t in tensors):
        return [t.detach().numpy() for t in tensors]
    flat = [t.detach().contiguous().reshape(-1).view(torch.uint8) for t in tensors]
    packed = torch.cat(flat).cpu().numpy()
    out: list[NDArray[Any]] = []
    at = 0
    for t, b in zip(tensors, flat, strict=True):
        n = b.numel()
        # numpy views unaligned slices too; callers index them into fresh arrays
        out.append(packed[at : at + n].view(_numpy_dtype(t.dtype)).reshape(tuple(t.shape)))
        at += n
    return out


class RslVecEnv(VecEnv):
    """rsl-rl ``VecEnv`` over a :class:`ArrayVecEnv`.

    ``extras["log"]`` carries, every step, ``Episode/return``, ``Episode/length``,
    ``Episode/success`` (when the env reports success) and ``Reward/<term>`` as ``[N]``
    float32 tensors on :attr:`device`: the finished episodes' values in the rows of the
    worlds whose episode ended this step, NaN in the others (a ``nanmean`` over an
    iteration's steps is the mean over its finished episodes); plus the env's own
    ``info["log"]`` as float32 tensors on :attr:`device`.

    ``episode_hooks`` get :class:`FinishedEpisodes` batches: each step's, at the end of
    the step; with ``defer_episodes``, all since the last call from
    :meth:`flush_episodes`, which whoever steps the adapter must then call (the trainer
    does, once per iteration).
    """

    def __init__(
        self,
        env: ArrayVecEnv,
        device: str | torch.device = "cpu",
        episode_hooks: list[EpisodeHook] | None = None,
        *,
        defer_episodes: bool = False,
    ) -> None:
        self.env = env
        self.num_envs = int(env.num_envs)
        self.num_actions = int(env.num_actions)
        self.max_episode_length = int(env.max_episode_length)
        self.device = torch.device(device)
        self.cfg: dict[str, Any] = {}
        self.episode_hooks: list[EpisodeHook] = list(episode_hooks or [])
        self.defer_episodes = defer_episodes
        self.episode_length_buf = torch.zeros(self.num_envs, dtype=torch.long, device=self.device)
        # float64 so long episodes do not lose precision
        self._ep_return = self._zeros()
        self._ep_terms: dict[str, torch.Tensor] = {}
        self._pending: list[_StepEpisodes] = []
        self._obs = self.to_tensordict(env.reset())

    def reset(self) -> TensorDict:
        """Reset every world (episode sums cleared; episodes recorded for the hooks stay
        recorded); returns the new observations."""
        self._obs = self.to_tensordict(self.env.reset())
        self.episode_length_buf = torch.zeros_like(self.episode_length_buf)
        self._ep_return = self._zeros()
        self._ep_terms = {k: self._zeros() for k in self._ep_terms}
        return self._obs

    def add_episode_hook(self, hook: EpisodeHook) -> None:
        self.episode_hooks.append(hook)

    def get_observations(self) -> TensorDict:
        return self._obs

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        obs, reward_a, terminated_a, truncated_a, info = self.env.step(actions.detach())
        n = self.num_envs
        reward = self._tensor(reward_a).reshape(n)
        terminated = self._tensor(terminated_a).to(torch.bool).reshape(n)
        truncated = self._tensor(truncated_a).to(torch.bool).reshape(n) & ~terminated
        done = terminated | truncated

        # Per-episode sums, out of place: a step's record keeps the tensors it saw, and
        # neither reset() nor later steps write into them.
        returns = self._ep_return + reward.to(torch.float64)
        terms = dict(self._ep_terms)  # a term the env stopped reporting keeps its sum
        for name, value in (info.get("reward_terms") or {}).items():
            acc = terms.get(name)
            terms[name] = (acc if acc is not None else self._zeros()) + self._tensor(value).to(
                torch.float64
            ).reshape(n)
        lengths = self.episode_length_buf + 1
        success = info.get("success")
        succ = None if success is None else self._tensor(success).to(torch.bool).reshape(n)

        log: dict[str, torch.Tensor] = {}
        for name, value in (info.get("log") or {}).items():
            # a copy: the trainer keeps the iteration's values, the env may reuse its own
            log[name if "/" in name else f"Env/{name}"] = self._tensor(value).to(
                torch.float32, copy=True
            )
        log["Episode/return"] = self._finished_only(done, returns)
        log["Episode/length"] = self._finished_only(done, lengths)
        if succ is not None:
            log["Episode/success"] = self._finished_only(done, succ)
        for name, acc in terms.items():
            log[f"Reward/{name}"] = self._finished_only(done, acc)

        if self.episode_hooks:
            self._pending.append(
                _StepEpisodes(
                    done=done,
                    truncated=truncated,
                    returns=returns,
                    lengths=lengths,
                    # rows of finished worlds are all a batch reads; the `&` makes it ours
                    success=None if succ is None else succ & done,
                    reward_terms=terms,
                    final={
                        k: self._tensor(v, copy=True) for k, v in (info.get("final") or {}).items()
                    },
                )
            )
        self._ep_return = torch.where(done, 0.0, returns)
        self._ep_terms = {k: torch.where(done, 0.0, v) for k, v in terms.items()}
        self.episode_length_buf = torch.where(done, 0, lengths)

        self._obs = self.to_tensordict(obs)
        rew_t = reward.to(torch.float32)
        done_t = done.to(torch.long)
        extras = {"time_outs": truncated.to(torch.long), "log": log}
        if not self.defer_episodes:
            self.flush_episodes()
        return self._obs, rew_t, done_t, extras

    def flush_episodes(self) -> int:
        """Call the episode hooks with the episodes recorded since the last call: one
        :class:`FinishedEpisodes` per step that finished any, in step order, as numpy
        arrays brought over in one transfer. Returns the number of batches."""
        pending, self._pending = self._pending, []
        if not pending:
            return 0
        host = iter(host_arrays([t for rec in pending for t in rec.tensors()]))
        batches = [rec.finished(host) for rec in pending]
        delivered = 0
        for fin in batches:
            if fin is None:
                continue
            delivered += 1
            for hook in self.episode_hooks:
                hook(fin)
        return delivered

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
        """Adapter state (current obs, episode sums) plus the env's own, when it has one.
        Recorded episodes go to the hooks first, so objects they update that are saved
        after this (the trainer's ``stateful``) hold them."""
        self.flush_episodes()
        state: dict[str, Any] = {
            "obs": {k: v.cpu().numpy().copy() for k, v in self._obs.items()},
            "episode_length": self.episode_length_buf.cpu().numpy().copy(),
            "episode_return": self._ep_return.cpu().numpy().copy(),
            "episode_terms": {k: v.cpu().numpy().copy() for k, v in self._ep_terms.items()},
        }
        if self.supports_exact_resume:
            state["env"] = self.env.state_dict()  # type: ignore[attr-defined]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore; without env state the worlds were freshly reset, so only counters go.
        Episodes recorded before are handed to the hooks first (they happened)."""
        self.flush_episodes()
        if "env" not in state or not self.supports_exact_resume:
            return
        self.env.load_state_dict(state["env"])  # type: ignore[attr-defined]
        self._obs = self.to_tensordict(state["obs"])
        self.episode_length_buf = self._tensor(np.asarray(state["episode_length"], np.int64))
        self._ep_return = self._tensor(np.asarray(state["episode_return"], np.float64))
        self._ep_terms = {
            k: self._tensor(np.asarray(v, np.float64)) for k, v in state["episode_terms"].items()
        }

    # -- helpers --------------------------------------------------------------------------
    def _zeros(self) -> torch.Tensor:
        return torch.zeros(self.num_envs, dtype=torch.float64, device=self.device)

    def _tensor(self, x: Array | float, *, copy: bool = False) -> torch.Tensor:
        """``x`` on :attr:`device`: a tensor already there is itself (``copy``: a copy);
        numpy arrays and scalars are copied (the env may reuse its arrays)."""
        if isinstance(x, torch.Tensor):
            return x.detach().to(self.device, copy=copy)
        return torch.tensor(np.asarray(x), device=self.device)

    @staticmethod
    def _finished_only(done: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """``[N]`` float32: ``values`` where ``done``, NaN elsewhere (the log format)."""
        return torch.where(done, values.to(torch.float32), float("nan"))

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
