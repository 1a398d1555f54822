"""The training loop: rsl-rl PPO over our vec-env, with checkpoints, resume and logging.

rsl-rl's ``OnPolicyRunner`` saves with pickle and without atomic writes and knows
nothing of our own state, so :class:`Trainer` runs the same collect / compute-returns /
update loop itself (a dozen lines) and adds:

* checkpoints every ``save_interval`` iterations and after the last
  (:mod:`intermimic.rl.checkpoint`), holding everything the next iteration depends on:
  weights, optimiser, env and adapter state, registered objects (PSI buffer, normalisers),
  RNG states, counters;
* resume: constructing a :class:`Trainer` on a ``run_dir`` that holds checkpoints and
  calling :meth:`Trainer.train` continues from the newest good one. With the env's
  ``state_dict`` and fixed ``torch_threads`` the result equals an uninterrupted run;
* episode hooks called with every step's batch of finished episodes, all of an
  iteration's at its end (after the rollout, before the update; see
  :data:`~intermimic.rl.vecenv.EpisodeHook`), so a rollout step reads nothing back to
  the host;
* a check for NaN in observations, rewards and dones, flagged on the device each step
  and raised once per iteration, after its rollout;
* the non-finite-loss guard of :class:`~intermimic.rl.ppo.InterMimicPPO`;
* TensorBoard scalars under ``run_dir/tensorboard``: ``Episode/return``,
  ``Episode/length``, ``Episode/success``, ``Reward/<term>``, ``Loss/*``, ``Perf/*``.

Typical use (the HOI env plugs its PSI in the same way)::

    env = MyNumpyEnv(num_envs=64, seed=0)
    trainer = Trainer(env, TrainSettings.cpu(seed=0), run_dir=Path("runs/a"),
                      episode_hooks=[psi_hook], stateful={"psi": psi_buffer})
    result = trainer.train()
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import statistics
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from numpy.typing import NDArray
from tensordict import TensorDict

from intermimic.atomic import write_text_atomic
from intermimic.rl import checkpoint as ckpt
from intermimic.rl.ppo import InterMimicPPO, build_ppo
from intermimic.rl.settings import TrainSettings
from intermimic.rl.vecenv import Array, ArrayVecEnv, EpisodeHook, RslVecEnv

log = logging.getLogger(__name__)


class Stateful(Protocol):
    """An object whose state is saved in checkpoints (PSI buffer, a normaliser, ...)."""

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass
class IterationStats:
    """What one iteration reports (also written to TensorBoard)."""

    iteration: int
    env_steps: int
    mean_return: float | None
    """Mean return of the episodes that finished during this iteration (None: none did)."""
    mean_length: float | None
    losses: dict[str, float]
    seconds: float


@dataclass
class TrainResult:
    iterations: int
    env_steps: int
    resumed_from: int | None
    """Iteration of the checkpoint this call resumed from (None: started fresh)."""
    history: list[IterationStats] = field(default_factory=list)
    recent_mean_return: float | None = None
    """Mean return over the last 100 finished episodes."""


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """``torch.set_num_threads(n)`` inside the block (``None``: leave it).

    The environment's torch work is many small ops; with more than one thread each op
    ends at an OpenMP barrier, and when anything else holds a core the barrier waits a
    scheduler slice: on 2 cores with one other busy process, ``rel_rot6d`` of 512 worlds
    x 3 frames x 52 bodies took 467 ms on 2 threads against 9 ms on 1 (2026-12-02)."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class NanWatch:
    """NaN in a rollout's observation groups, rewards or dones: flagged on the device
    each step (:meth:`step`), raised once at the rollout's end (:meth:`check`).

    rsl-rl's ``check_nan`` asks ``if torch.isnan(t).any()`` of each, three or four times a
    step, and every such ``if`` is a host read that waits for all the device's queued
    work; here a step only records, on the device, the first step each one held NaN."""

    def __init__(self) -> None:
        self._names: list[str] = []
        self._first: torch.Tensor | None = None

    def step(self, step: int, obs: TensorDict, rewards: torch.Tensor, dones: torch.Tensor) -> None:
        """Note which of them hold NaN at rollout step ``step``."""
        groups = list(obs.keys())
        parts = [torch.isnan(obs[k]).any() for k in groups]
        parts += [torch.isnan(rewards).any(), torch.isnan(dones).any()]
        now = torch.stack(parts)
        if self._first is None or len(self._names) != len(parts):
            self._names = [f"observation group {k!r}" for k in groups] + ["rewards", "dones"]
            self._first = torch.full_like(now, -1, dtype=torch.long)
        self._first = torch.where((self._first < 0) & now, step, self._first)

    def check(self, iteration: int) -> None:
        """Raise ``ValueError`` naming the first culprit if any step held NaN (one host
        read); then start over for the next rollout."""
        first, self._first = self._first, None
        if first is None:
            return
        for name, at in zip(self._names, first.tolist(), strict=True):
            if at >= 0:
                what = "contains" if name.startswith("observation") else "contain"
                raise ValueError(
                    f"The {name} returned by the environment {what} NaN values (first at "
                    f"rollout step {at} of iteration {iteration}). This usually indicates a "
                    "bug in the environment's step(), reset(), reward or termination code."
                )


def iteration_means(
    logs: Mapping[str, Sequence[torch.Tensor]],
) -> tuple[dict[str, float], list[float]]:
    """The mean of each log key over an iteration's per-step tensors, ignoring NaN, and
    the finished episodes' returns (``Episode/return``) in step order.

    :class:`~intermimic.rl.vecenv.RslVecEnv` logs episode values as ``[N]`` tensors that
    are NaN in the rows of worlds that did not finish that step: dropping the NaN leaves
    the finished episodes' values in step order, so each mean is the one over the
    finished episodes' values (bit for bit what a mean over per-step lists of finished
    episodes gave). A key no step filled is left out.
    """
    means: dict[str, float] = {}
    returns: list[float] = []
    for key, values in logs.items():
        if not values:
            continue
        flat = torch.cat([v.reshape(-1) for v in values]).cpu()  # a host read per key
        flat = flat[~torch.isnan(flat)]
        if flat.numel():
            means[key] = float(flat.mean())
            if key == "Episode/return":
                returns = flat.tolist()
    return means, returns


def seed_everything(seed: int) -> None:
    """Seed python, numpy's legacy global RNG and torch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class Trainer:
    """PPO training of one policy on one :class:`~intermimic.rl.vecenv.ArrayVecEnv`.

    Args:
        env: the environment, numpy or torch (already seeded by the caller).
        settings: :class:`TrainSettings`; ``settings.seed`` seeds network init and sampling.
        run_dir: where checkpoints (``checkpoints/``), TensorBoard logs (``tensorboard/``)
            and ``settings.json`` go; ``None`` trains in memory only.
        episode_hooks: called with each :class:`~intermimic.rl.vecenv.FinishedEpisodes`,
            an iteration's batches at the end of its rollout, in step order.
        stateful: named objects saved in and restored from checkpoints.
        on_checkpoint: called with (iteration, path) after each checkpoint is written.
    """

    def __init__(
        self,
        env: ArrayVecEnv,
        settings: TrainSettings,
        run_dir: Path | None = None,
        *,
        episode_hooks: Sequence[EpisodeHook] = (),
        stateful: Mapping[str, Stateful] | None = None,
        on_checkpoint: Callable[[int, Path], None] | None = None,
    ) -> None:
        self.settings = settings
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.stateful = dict(stateful or {})
        self.on_checkpoint = on_checkpoint
        seed_everything(settings.seed)
        self.vecenv = RslVecEnv(env, settings.device, list(episode_hooks), defer_episodes=True)
        self.alg: InterMimicPPO = self._build_algorithm()
        self.iteration = 0
        self.env_steps = 0
        self._returns: deque[float] = deque(maxlen=100)
        self._writer: Any = None

    def _build_algorithm(self) -> InterMimicPPO:
        """The algorithm (a subclass may build another, e.g. the student's)."""
        return build_ppo(self.vecenv, self.settings)

    # -- paths ------------------------------------------------------------------------------
    @property
    def checkpoint_dir(self) -> Path | None:
        return self.run_dir / "checkpoints" if self.run_dir is not None else None

    def latest_checkpoint(self) -> Path | None:
        """The newest checkpoint folder on disk (None: none, or training in memory)."""
        root = self.checkpoint_dir
        found = ckpt.list_checkpoints(root) if root is not None else []
        return found[-1] if found else None

    # -- training ---------------------------------------------------------------------------
    def train(self, num_iterations: int | None = None) -> TrainResult:
        """Train up to ``num_iterations`` total iterations (default: from ``total_env_steps``).

        Resumes from the newest usable checkpoint in ``run_dir`` first, so running the
        same command after a crash continues where the last checkpoint left off.
        """
        target = num_iterations or self.settings.num_iterations(self.vecenv.num_envs)
        threads = torch.get_num_threads()
        if self.settings.torch_threads is not None:
            # set only while training: the thread count is process-global
            torch.set_num_threads(self.settings.torch_threads)
        try:
            return self._train(target)
        finally:
            torch.set_num_threads(threads)

    def _train(self, target: int) -> TrainResult:
        resumed = self.resume()
        self._open_writer()
        history: list[IterationStats] = []
        horizon = self.settings.ppo.horizon
        obs = self.vecenv.get_observations()
        nan = NanWatch()
        self.alg.train_mode()
        try:
            while self.iteration < target:
                t0 = time.perf_counter()
                logs: dict[str, list[torch.Tensor]] = {}
                with torch.inference_mode(), torch_threads(self.settings.rollout_torch_threads):
                    for step in range(horizon):
                        actions = self.alg.act(obs)
                        obs, rewards, dones, extras = self.vecenv.step(actions)
                        nan.step(step, obs, rewards, dones)
                        self.alg.process_env_step(obs, rewards, dones, extras)
                        for key, value in extras["log"].items():
                            logs.setdefault(key, []).append(value.reshape(-1).float())
                    nan.check(self.iteration + 1)
                    # before the iteration counter moves: hooks read it (the curve's rows)
                    self.vecenv.flush_episodes()
                    self.alg.compute_returns(obs)
                losses = self.alg.update()
                self.iteration += 1
                self.env_steps += horizon * self.vecenv.num_envs
                stats = self._record(logs, losses, time.perf_counter() - t0)
                history.append(stats)
                if self.checkpoint_dir is not None and (
                    self.iteration % self.settings.save_interval == 0 or self.iteration == target
                ):
                    path = self.save_checkpoint()
                    if self.on_checkpoint is not None:
                        self.on_checkpoint(self.iteration, path)
        finally:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        recent = statistics.fmean(self._returns) if self._returns else None
        return TrainResult(self.iteration, self.env_steps, resumed, history, recent)

    def train_budgeted(
        self,
        total: int | None,
        chunk: int,
        *,
        max_seconds: float | None = None,
        started: float | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> tuple[TrainResult | None, bool]:
        """Train to ``total`` iterations; with ``max_seconds`` (wall clock since
        ``started``, default now) in chunks of ``chunk`` iterations, each ending with a
        checkpoint, stopping once the budget is spent. ``on_progress(iteration, total)``
        after each call. Returns the last :class:`TrainResult` (None if nothing ran) and
        whether the budget stopped it. ``total=None``: the iterations of
        ``settings.total_env_steps``."""
        if total is None:
            total = self.settings.num_iterations(self.vecenv.num_envs)
        t0 = time.perf_counter() if started is None else started
        result: TrainResult | None = None
        while self.iteration < total:
            if max_seconds is not None and time.perf_counter() - t0 >= max_seconds:
                return result, True
            target = min(total, self.iteration + chunk) if max_seconds is not None else total
            result = self.train(target)
            if on_progress is not None:
                on_progress(self.iteration, total)
        return result, False

    def act_deterministic(self, obs: Mapping[str, Array]) -> NDArray[np.float32]:
        """The policy mean for numpy observations ``{group: [N, D]}`` (evaluation)."""
        td = self.vecenv.to_tensordict(dict(obs))
        with torch.inference_mode():
            actor = self.alg.get_policy()
            return actor(td).cpu().numpy().astype(np.float32)

    # -- checkpoints ------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """The state tree saved beside the weights."""
        return {
            "rl": {
                "iteration": self.iteration,
                "env_steps": self.env_steps,
                "nonfinite_updates": self.alg.nonfinite_updates,
                "learning_rate": self.alg.learning_rate,
                "recent_returns": list(self._returns),
            },
            "env": self.vecenv.state_dict(),
            "objects": {name: obj.state_dict() for name, obj in self.stateful.items()},
            "rng": ckpt.capture_rng(),
        }

    def save_checkpoint(self) -> Path:
        assert self.checkpoint_dir is not None
        saved = self.alg.save()
        model = {f"actor.{k}": v for k, v in saved["actor_state_dict"].items()}
        model.update({f"critic.{k}": v for k, v in saved["critic_state_dict"].items()})
        return ckpt.save_checkpoint(
            self.checkpoint_dir,
            self.iteration,
            model,
            saved["optimizer_state_dict"],
            self.state(),
            keep=self.settings.keep_checkpoints,
        )

    def load(self, c: ckpt.Checkpoint, *, env_state: bool = True) -> None:
        """Restore everything from a loaded checkpoint; ``env_state=False`` keeps the
        env's worlds as they are (evaluation on other worlds than training's)."""
        actor = {k[6:]: v for k, v in c.model.items() if k.startswith("actor.")}
        critic = {k[7:]: v for k, v in c.model.items() if k.startswith("critic.")}
        self.alg.load(
            {
                "actor_state_dict": actor,
                "critic_state_dict": critic,
                "optimizer_state_dict": c.optimizer,
            },
            None,
            strict=True,
        )
        rl = c.state["rl"]
        self.iteration = int(rl["iteration"])
        self.env_steps = int(rl["env_steps"])
        self.alg.nonfinite_updates = int(rl["nonfinite_updates"])
        self.alg.learning_rate = float(rl["learning_rate"])
        self._returns = deque(rl["recent_returns"], maxlen=100)
        if env_state:
            self._load_env_state(c)
        for name, obj in self.stateful.items():
            if name in c.state["objects"]:
                obj.load_state_dict(c.state["objects"][name])
            else:
                log.warning(
                    "checkpoint %s has no state for %r; keeping its fresh state", c.path, name
                )
        ckpt.restore_rng(c.state["rng"])

    def _load_env_state(self, c: ckpt.Checkpoint) -> None:
        if not self.vecenv.supports_exact_resume:
            log.warning(
                "env has no state_dict(): resuming from freshly reset worlds (not bit-exact)"
            )
            return
        if "env" not in c.state["env"]:
            log.warning("%s holds no env state: resuming from freshly reset worlds", c.path)
            return
        try:
            self.vecenv.load_state_dict(c.state["env"])
        except (ValueError, KeyError) as exc:
            # worlds, clips or backend changed since the checkpoint: the weights still
            # apply, the simulated worlds do not
            log.warning(
                "env state of %s does not fit this env (%s): resuming from freshly reset "
                "worlds (not bit-exact)",
                c.path,
                exc,
            )

    def resume(self) -> int | None:
        """Load the newest usable checkpoint in ``run_dir``; return its iteration or None."""
        root = self.checkpoint_dir
        if root is None:
            return None
        ckpt.remove_stale_staging(root)
        self._check_settings()
        c = ckpt.load_latest(root)
        if c is None:
            if ckpt.list_checkpoints(root):
                log.warning("no usable checkpoint in %s: starting from scratch", root)
            return None
        if c.iteration <= self.iteration:
            return None  # already at or past it (train() called twice on one Trainer)
        self.load(c)
        log.info("resumed from %s (iteration %d)", c.path, c.iteration)
        return c.iteration

    # -- helpers ----------------------------------------------------------------------------
    def _check_settings(self) -> None:
        assert self.run_dir is not None
        path = self.run_dir / "settings.json"
        current = self.settings.model_dump(mode="json")
        if path.exists():
            saved = json.loads(path.read_text())
            if saved != current:
                log.warning(
                    "settings differ from those %s was started with; using the new ones", path
                )
        write_text_atomic(path, json.dumps(current, indent=1))

    def _open_writer(self) -> None:
        if self.run_dir is None or not self.settings.tensorboard:
            return
        from torch.utils.tensorboard import SummaryWriter

        # purge_step drops events a killed run logged after its last checkpoint
        self._writer = SummaryWriter(
            log_dir=str(self.run_dir / "tensorboard"), purge_step=self.iteration, flush_secs=30
        )

    def _record(
        self, logs: dict[str, list[torch.Tensor]], losses: dict[str, float], seconds: float
    ) -> IterationStats:
        means, returns = iteration_means(logs)
        self._returns.extend(returns)
        stats = IterationStats(
            iteration=self.iteration,
            env_steps=self.env_steps,
            mean_return=means.get("Episode/return"),
            mean_length=means.get("Episode/length"),
            losses=losses,
            seconds=seconds,
        )
        w = self._writer
        if w is not None:
            it = self.iteration
            for key, value in means.items():
                w.add_scalar(key, value, it)
            for key, value in losses.items():
                w.add_scalar(f"Loss/{key}", value, it)
            w.add_scalar("Loss/learning_rate", self.alg.learning_rate, it)
            w.add_scalar("Policy/mean_std", float(self.alg.get_policy().output_std.mean()), it)
            w.add_scalar(
                "Perf/steps_per_second",
                self.vecenv.num_envs * self.settings.ppo.horizon / seconds,
                it,
            )
            w.add_scalar("Perf/env_steps", self.env_steps, it)
        return stats
