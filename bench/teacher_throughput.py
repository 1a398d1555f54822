"""Teacher training throughput against the raw physics of the same scene: one JSON line.

Trains a teacher (the CPU profile, :class:`intermimic.rl.teacher_settings.TeacherSettings`,
``--set KEY=VALUE`` for any field) on one clip (``--clip``, default
``sub2_largetable_000``; a synthetic largetable clip when the sample is absent) for
``--iterations`` PPO iterations after one warm-up iteration, and measures in the same run:

* ``train_env_steps_per_s``: environment transitions (all worlds) per wall second of
  training: rollouts, PPO updates and everything between them;
* ``raw_env_steps_per_s``: the physics alone on the very same trajectory. Every reset,
  PD target and step the training asked of the backend is recorded and replayed on the
  same backend (same scene, worlds and threads) from the same start state, with nothing
  around it; transitions per second of that replay. Training and replay alternate
  iteration by iteration, so a machine whose speed drifts affects both alike;
  ``replay_exact`` says the replay ended in the training's state;
* ``train_over_raw`` = their ratio (goal >= 0.7);
* ``share_*``: where the training's wall time went: ``physics`` (the backend's step),
  ``state_reads`` (body states, velocities, contact forces read from the backend),
  ``observations`` (building and normalising them), ``env_other`` (rewards, IET, PSI,
  resets: the rest of ``env.step``), ``inference`` (the policy's forward pass while
  acting), ``ppo_update`` (returns and the update), ``bookkeeping`` (the rest: the
  rsl-rl adapter, rollout storage, logging).

The shares are measured by wrapping those methods with timers; the wrapping costs
microseconds per call, the same in every configuration.

Usage: ``python bench/teacher_throughput.py [--worlds N] [--iterations 8]
[--set hands=body] [--set epochs=6 --set mini_batches=8]``. Measure on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench._common import CLIP, add_settings_options, clip_set, sample_clip_path, teacher_settings


def load_clip(clip_id: str) -> tuple[Any, str]:
    """The sample clip, else a synthetic largetable clip of about its length."""
    from intermimic.motion.load import read_clip
    from intermimic.motion.synthetic import synthetic_clip

    path = sample_clip_path(clip_id)
    if path is not None:
        return read_clip(path), f"sample {clip_id}"
    return synthetic_clip(n_frames=150, object_name="largetable"), "synthetic largetable"


def _raw(backend: Any, name: str) -> Callable[..., Any]:
    """The backend's own method, past the recording and timing wrappers on the instance."""
    return getattr(type(backend), name).__get__(backend)


class Timers:
    """Seconds spent inside wrapped methods, by category. Categories nest (physics inside
    ``env_step``); a category re-entered from inside itself is counted once."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._depth: dict[str, int] = defaultdict(int)

    def wrap(self, obj: Any, name: str, category: str) -> None:
        inner: Callable[..., Any] = getattr(obj, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._depth[category]:
                return inner(*args, **kwargs)
            self._depth[category] += 1
            t = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds[category] += time.perf_counter() - t
                self._depth[category] -= 1

        setattr(obj, name, timed)

    def reset(self) -> None:
        self.seconds.clear()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clip", default=CLIP)
    p.add_argument("--worlds", type=int, default=None, help="default: the settings' worlds")
    p.add_argument("--iterations", type=int, default=8, help="timed PPO iterations")
    p.add_argument("--seed", type=int, default=0)
    add_settings_options(p, "any TeacherSettings field, e.g. --set torch_threads=2")
    args = p.parse_args(argv)

    from intermimic.rl.teacher_env import build_teacher_env
    from intermimic.rl.train import Trainer

    fixed: dict[str, Any] = {"seed": args.seed, "tensorboard": False}
    if args.worlds is not None:
        fixed["worlds"] = args.worlds
    settings = teacher_settings(args, **fixed)
    clip, source = load_clip(args.clip)
    clipset = clip_set([clip], settings, where=args.clip)
    env = build_teacher_env(clipset, settings)
    trainer = Trainer(env, settings.train_settings(), None)

    timers = Timers()
    calls: list[tuple[Any, str, tuple[Any, ...]]] = []
    for tenv in env.envs:
        b = tenv.backend
        step, set_targets, reset = b.step, b.set_targets, b.reset

        def rec_step(substeps: int, b: Any = b, step: Any = step) -> None:
            calls.append((b, "step", (substeps,)))
            step(substeps)

        def rec_targets(t: np.ndarray, b: Any = b, set_targets: Any = set_targets) -> None:
            calls.append((b, "set_targets", (np.array(t),)))
            set_targets(t)

        def rec_reset(ids: Any, q: Any, v: Any, b: Any = b, reset: Any = reset) -> None:
            calls.append((b, "reset", (np.array(ids), np.array(q), np.array(v))))
            reset(ids, q, v)

        b.step, b.set_targets, b.reset = rec_step, rec_targets, rec_reset
        timers.wrap(b, "step", "physics")
        for read in ("read", "body_states", "qvel", "qpos", "contact_forces"):
            timers.wrap(b, read, "state_reads")
        timers.wrap(tenv, "_observe", "observations")
        timers.wrap(tenv, "_normalise", "observations")
        timers.wrap(tenv, "step", "env_step")
    alg = trainer.alg
    timers.wrap(alg, "act", "inference")
    timers.wrap(alg, "compute_returns", "ppo_update")
    timers.wrap(alg, "update", "ppo_update")

    horizon = settings.train_settings().ppo.horizon
    trainer.train(1)  # warm-up: first reset, allocations, normaliser start
    timers.reset()
    load = os.getloadavg()[0]
    train_s = raw_s = 0.0
    exact = True
    # Interleaved: each training iteration is followed by the raw replay of its own
    # physics calls, so both see the same minute of this shared machine (its speed
    # drifts by tens of percent over minutes). The replay starts from the iteration's
    # full physics state (MuJoCo's state rows, warm start included), so it reproduces
    # the training's trajectory bit for bit (checked: ``replay_exact``) and leaves the
    # worlds where training left them.
    for it in range(args.iterations):
        start = [(e.backend, e.backend.state_dict()) for e in env.envs]
        calls.clear()
        t0 = time.perf_counter()
        trainer.train(2 + it)
        train_s += time.perf_counter() - t0
        end = [b.qpos() for b, _ in start]
        replay = list(calls)
        for b, state in start:
            _raw(b, "load_state_dict")(state)
        t0 = time.perf_counter()
        for b, kind, a in replay:
            _raw(b, kind)(*a)
        raw_s += time.perf_counter() - t0
        exact &= all(np.array_equal(b.qpos(), q) for (b, _), q in zip(start, end, strict=True))
    steps = args.iterations * horizon * env.num_envs
    sec = dict(timers.seconds)
    env.close()

    env_step = sec.pop("env_step", 0.0)
    physics = sec.get("physics", 0.0)
    reads = sec.get("state_reads", 0.0)
    obs = sec.get("observations", 0.0)
    shares = {
        "physics": physics,
        "state_reads": reads,
        "observations": obs,
        "env_other": max(env_step - physics - reads - obs, 0.0),
        "inference": sec.get("inference", 0.0),
        "ppo_update": sec.get("ppo_update", 0.0),
    }
    shares["bookkeeping"] = max(train_s - sum(shares.values()), 0.0)
    ts = settings.train_settings()
    out = {
        "clip": source,
        "worlds": env.num_envs,
        "sim_threads": settings.sim_threads,
        "torch_threads": ts.torch_threads,
        "horizon": horizon,
        "epochs": ts.ppo.num_learning_epochs,
        "mini_batches": ts.ppo.num_mini_batches,
        "hidden_dims": ts.policy.actor_hidden_dims,
        "obs_dim": env.obs_dim,
        "iterations": args.iterations,
        "env_steps": steps,
        "load_avg_1min_before": round(load, 2),
        "train_env_steps_per_s": round(steps / train_s, 1),
        "raw_env_steps_per_s": round(steps / raw_s, 1),
        "train_over_raw": round(raw_s / train_s, 3),
        "replay_exact": bool(exact),
        **{f"share_{k}": round(v / train_s, 3) for k, v in shares.items()},
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
