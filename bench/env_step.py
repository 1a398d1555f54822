"""Environment stepping speed: one JSON line.

Measures, one function each (``main`` merges their dicts):

* ``raw`` (:func:`measure_raw`): the physics alone. The scene (SMPL-X humanoid with
  position actuators + largetable + ground) in ``--worlds`` worlds on the ``mujoco``
  backend, standing PD targets, 4 substeps (120 Hz physics, 30 Hz policy) per policy
  step, on 1 and on 2 threads. Reports batched policy steps/s (all worlds advance one
  policy step), world steps/s (``worlds x`` that), and the 2-thread / 1-thread ratio
  (goal >= 1.7).

* ``env`` (:func:`measure_env`): the full tracking environment
  (:class:`intermimic.env.TrackingEnv`: PD targets, 4 substeps, observations, rewards,
  IET, PSI bookkeeping, auto-resets) with ``--worlds`` worlds on 2 threads, tracking a
  sample largetable clip (a synthetic clip when the sample is absent) with actions that
  target the reference's next pose. Beside it, the raw physics rate of the very same
  trajectory: every reset, target and step the environment asked of the backend,
  replayed from the same start with nothing around it; and their ratio (goal >= 0.8).
  ``--layout released`` measures the environment with the released observation layout
  (``ObservationSettings.layout``; ``--nearest-points`` sets its
  ``ObservationSettings.nearest_points``); ``env_layout`` says which was measured.

* ``--embodiment g1`` (:func:`measure_embodiments`): the full environment on the Unitree
  G1 with hands and on the SMPL-X humanoid, same clip, object, worlds and threads, runs
  alternating; policy steps/s of each and their ratio (``emb_g1_over_smplx``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from intermimic.humanoid import HumanoidSettings, build_spec
from intermimic.objects import ObjectLibrary
from intermimic.sim.factory import make_backend
from intermimic.sim.mujoco_backend import standing_qpos
from intermimic.sim.scene import Scene, build_scene

SUBSTEPS = 4


def bench_scene(object_name: str = "largetable") -> Scene:
    """The benchmark scene: humanoid (position actuators) + ``object_name`` + ground."""
    spec = build_spec(settings=HumanoidSettings(actuators="position"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the mesh-not-watertight note
        obj = ObjectLibrary().get(object_name)
    return build_scene(spec, obj)


def bench_surface() -> tuple[Scene, np.ndarray]:
    """:func:`bench_scene` (built with warnings off) and its object's surface points."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scene = bench_scene()
    assert scene.object is not None
    return scene, np.asarray(scene.object.points, np.float64)


def _raw_run(backend: Any, q0: np.ndarray, targets: np.ndarray, steps: int) -> tuple[float, float]:
    """One timed run from the standing state: (policy steps/s, CPU seconds per wall second)."""
    n = backend.n_worlds
    # Every run starts standing, so each times the same physics.
    backend.reset(np.arange(n), np.tile(q0, (n, 1)), np.zeros((n, backend.nv)))
    backend.set_targets(targets)
    backend.step(SUBSTEPS)  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        backend.step(SUBSTEPS)
    wall = time.perf_counter() - t0
    return steps / wall, (time.process_time() - c0) / wall


def measure_raw(
    n_worlds: int = 64, steps: int = 30, repeat: int = 3, threads: tuple[int, ...] = (1, 2)
) -> dict[str, Any]:
    """Raw physics rate of the ``mujoco`` backend on 1 and 2 threads (see module doc).

    The thread counts alternate run by run (``repeat`` rounds), so load from other
    processes on a shared machine hits them alike; each count reports its best run (the
    least disturbed) and ``raw_cpu_util_<n>t``, the cores the process actually got during
    that run (CPU time / wall time: near ``n`` on an idle machine) and the rate per CPU
    second (the threading overhead, whatever the load).
    """
    scene = bench_scene()
    q0 = standing_qpos(scene)
    targets = np.tile(q0[scene.humanoid_qpos_adr[7:]], (n_worlds, 1))
    backends = {n: make_backend("mujoco", scene, n_worlds, n_threads=n) for n in threads}
    runs: dict[int, list[tuple[float, float]]] = {n: [] for n in threads}
    load = os.getloadavg()[0]
    for _ in range(repeat):
        for n in threads:
            runs[n].append(_raw_run(backends[n], q0, targets, steps))
    for b in backends.values():
        b.close()
    out: dict[str, Any] = {
        "raw_worlds": n_worlds,
        "raw_substeps": SUBSTEPS,
        "raw_load_avg_1min_before": round(load, 2),
    }
    for n in threads:
        rate, util = max(runs[n])
        out[f"raw_policy_steps_per_s_{n}t"] = round(rate, 2)
        out[f"raw_world_steps_per_s_{n}t"] = round(rate * n_worlds, 1)
        out[f"raw_cpu_util_{n}t"] = round(util, 2)
        # Per CPU-second: equal across thread counts when threading costs nothing, even
        # when other processes take cores away.
        out[f"raw_policy_steps_per_cpu_s_{n}t"] = round(rate / util, 2)
    if 1 in threads and 2 in threads:
        out["raw_thread_scaling_2t_over_1t"] = round(
            out["raw_policy_steps_per_s_2t"] / out["raw_policy_steps_per_s_1t"], 3
        )
    return out


def best_ms(fn: Any, reps: int, repeat: int) -> float:
    """Best mean milliseconds per call of ``fn`` over ``repeat`` runs of ``reps`` calls
    (after one warm-up call)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        best = min(best, (time.perf_counter() - t0) / reps)
    return 1e3 * best


def compared_states(env: Any, run: Any) -> list[tuple[Any, Any]]:
    """``(body states, reference frame indices)`` of every comparison the tracking env
    ``env`` makes while ``run()`` steps it (recorded in ``_compare``, so before any
    reset): the states a rollout visits, as the rewards and IET see them."""
    rec: list[tuple[Any, Any]] = []
    compare = env._compare

    def recording(bs: Any, qvel: Any, touch: Any, forces: Any, idx: Any) -> Any:
        rec.append((bs, idx.clone()))
        return compare(bs, qvel, touch, forces, idx)

    env._compare = recording
    try:
        run()
    finally:
        env._compare = compare
    return rec


def _env_clip() -> Any:
    """A largetable clip of the sample, else a synthetic one of the same length."""
    from intermimic.motion.load import read_clip
    from intermimic.motion.synthetic import synthetic_clip
    from intermimic.paths import sample_raw_dir

    raw = sample_raw_dir()
    paths = sorted(raw.glob("sub2_largetable_*.pt")) if raw is not None else []
    if paths:
        return read_clip(paths[0]), f"sample {paths[0].name}"
    return synthetic_clip(n_frames=300), "synthetic"


def measure_env(
    n_worlds: int = 64,
    steps: int = 30,
    repeat: int = 3,
    n_threads: int = 2,
    layout: str = "compact",
    nearest_points: int | None = None,
) -> dict[str, Any]:
    """Policy steps/s of the full environment and of the raw physics beside it (see the
    module docstring). Timing covers ``env.step`` / ``set_targets + step`` calls only.

    The raw runs alternate with the environment runs (one of each per repeat; each raw run
    continues from the states the environment run reached), so load on a shared machine
    and the cost of the physics states hit both alike; the ratio is the median of the
    per-repeat ratios. ``env_overhead_ms_per_step`` is the time
    ``env.step`` spends outside the backend's ``step`` (observations, rewards, IET, PSI,
    resets, state reads): the environment's own cost, whatever the physics costs, and
    ``env_physics_share`` the share of ``env.step`` spent in the backend's ``step`` (the
    env/raw ratio for exactly the states the environment visited).
    """
    from intermimic.env import EnvSettings, TrackingEnv
    from intermimic.env.settings import ObservationSettings

    scene = bench_scene()
    clip, source = _env_clip()
    backend = make_backend("mujoco", scene, n_worlds, n_threads=n_threads)
    obs: dict[str, Any] = {"layout": layout}
    if nearest_points is not None:
        obs["nearest_points"] = nearest_points
    settings = EnvSettings(seed=0, observation=ObservationSettings(**obs))
    env = TrackingEnv(scene, [clip], backend, settings=settings)
    physics_s = [0.0]
    step_physics, set_targets, reset = backend.step, backend.set_targets, backend.reset
    # Everything the environment asks of the physics, in order, so that the raw run can
    # replay exactly the same trajectory (same states, same contacts, same cost).
    calls: list[tuple[str, tuple[Any, ...]]] = []

    def timed_step(substeps: int) -> None:
        calls.append(("step", (substeps,)))
        t = time.perf_counter()
        step_physics(substeps)
        physics_s[0] += time.perf_counter() - t

    def recorded_targets(targets: np.ndarray) -> None:
        calls.append(("targets", (np.array(targets),)))
        set_targets(targets)

    def recorded_reset(ids: np.ndarray, qpos: np.ndarray, qvel: np.ndarray) -> None:
        calls.append(("reset", (np.array(ids), np.array(qpos), np.array(qvel))))
        reset(ids, qpos, qvel)

    backend.step = timed_step  # type: ignore[method-assign]
    backend.set_targets = recorded_targets  # type: ignore[method-assign]
    backend.reset = recorded_reset  # type: ignore[method-assign, assignment]

    actions = env.reference_actions

    every = np.arange(n_worlds)
    env_rates, raw_rates, overheads, shares, resets = [], [], [], [], 0
    for _ in range(repeat):
        env.reset()
        env.step(actions())  # warm-up
        start = (backend.qpos(), backend.qvel())
        elapsed, physics_s[0] = 0.0, 0.0
        calls.clear()
        for _ in range(steps):
            a = actions()
            t0 = time.perf_counter()
            _, _, term, trunc, _ = env.step(a)
            elapsed += time.perf_counter() - t0
            resets += int((term | trunc).sum())
        env_rates.append(steps / elapsed)
        overheads.append((elapsed - physics_s[0]) / steps)
        shares.append(physics_s[0] / elapsed)
        # The raw run: the very same physics calls from the very same start, nothing else
        # (no observations, rewards, termination, PSI or state reads).
        replay = list(calls)
        reset(every, *start)
        t0 = time.perf_counter()
        for kind, args in replay:
            if kind == "step":
                step_physics(*args)
            elif kind == "targets":
                set_targets(*args)
            else:
                reset(*args)
        raw_rates.append(steps / (time.perf_counter() - t0))
    env.close()
    ratios = [e / r for e, r in zip(env_rates, raw_rates, strict=True)]
    return {
        "env_worlds": n_worlds,
        "env_threads": n_threads,
        "env_clip": source,
        "env_layout": layout,
        "env_nearest_points": settings.observation.nearest_points,
        "env_obs_dim": env.obs_dim,
        "env_policy_steps_per_s": round(statistics.median(env_rates), 2),
        "env_raw_policy_steps_per_s": round(statistics.median(raw_rates), 2),
        "env_over_raw": round(statistics.median(ratios), 3),
        "env_overhead_ms_per_step": round(1e3 * statistics.median(overheads), 2),
        # backend.step time inside env.step / total.
        "env_physics_share": round(statistics.median(shares), 3),
        "env_resets_per_step": round(resets / (steps * repeat), 2),
    }


def measure_embodiments(
    other: str = "g1", n_worlds: int = 64, steps: int = 30, repeat: int = 3, n_threads: int = 2
) -> dict[str, Any]:
    """Policy steps/s of the tracking environment on ``other`` and on the SMPL-X humanoid
    (same clip, object, worlds, threads; actions target each embodiment's reference pose
    of the next frame, as the teacher's residual starts: the G1 stands on the scaled root
    path), alternating runs, best of ``repeat`` each."""
    from intermimic.env import EnvSettings, TrackingEnv
    from intermimic.humanoid.embodiment import make_embodiment
    from intermimic.sim.scene import embodiment_scene

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj = ObjectLibrary().get("largetable")
    clip, source = _env_clip()
    envs = {}
    for name in ("smplx", other):
        scene = embodiment_scene(make_embodiment(name), obj)
        backend = make_backend("mujoco", scene, n_worlds, n_threads=n_threads)
        envs[name] = TrackingEnv(scene, [clip], backend, settings=EnvSettings(seed=0))
    rates: dict[str, list[float]] = {k: [] for k in envs}
    for _ in range(repeat):
        for name, env in envs.items():
            act = env.reference_actions

            env.reset()
            env.step(act())  # warm-up
            elapsed = 0.0
            for _ in range(steps):
                a = act()
                t0 = time.perf_counter()
                env.step(a)
                elapsed += time.perf_counter() - t0
            rates[name].append(steps / elapsed)
    out: dict[str, Any] = {"emb_worlds": n_worlds, "emb_threads": n_threads, "emb_clip": source}
    for name, env in envs.items():
        out[f"emb_{name}_bodies"] = len(env.scene.humanoid_body_ids)
        out[f"emb_{name}_actions"] = env.action_dim
        out[f"emb_{name}_obs_dim"] = env.obs_dim
        out[f"emb_{name}_policy_steps_per_s"] = round(max(rates[name]), 2)
        out[f"emb_{name}_world_steps_per_s"] = round(max(rates[name]) * n_worlds, 1)
        env.close()
    out[f"emb_{other}_over_smplx"] = round(
        out[f"emb_{other}_policy_steps_per_s"] / out["emb_smplx_policy_steps_per_s"], 3
    )
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--worlds", type=int, default=64)
    p.add_argument("--steps", type=int, default=30, help="policy steps per timed run")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--only", choices=("raw", "env"), default=None, help="run one measurement only")
    p.add_argument(
        "--layout", choices=("compact", "released"), default="compact",
        help="observation layout of the env measurement",
    )  # fmt: skip
    p.add_argument(
        "--nearest-points", type=int, default=None,
        help="released layout: object points of the nearest-point search (default: the setting's)",
    )  # fmt: skip
    p.add_argument(
        "--embodiment", choices=("g1",), default=None,
        help="compare the environment on this embodiment with the SMPL-X humanoid (only that)",
    )  # fmt: skip
    args = p.parse_args(argv)
    result: dict[str, Any] = {}
    if args.embodiment is not None:
        result.update(measure_embodiments(args.embodiment, args.worlds, args.steps, args.repeat))
        print(json.dumps(result))
        return 0
    if args.only in (None, "raw"):
        result.update(measure_raw(args.worlds, args.steps, args.repeat))
    if args.only in (None, "env"):
        result.update(
            measure_env(
                args.worlds,
                args.steps,
                args.repeat,
                layout=args.layout,
                nearest_points=args.nearest_points,
            )
        )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
