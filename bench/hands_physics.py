"""Physics speed of the SMPL-X humanoid with full hands against body mode: one JSON line.

The scene of ``bench/env_step.py`` (SMPL-X humanoid with position actuators +
``largetable`` + ground) in ``--worlds`` worlds on the ``mujoco`` backend with
``--threads`` threads, built twice: ``hands="full"`` (153 hinges, 90 of them fingers)
and ``hands="body"`` (the finger bodies welded, 63 hinges; :class:`intermimic.humanoid.
HumanoidSettings`). Each starts standing with standing PD targets and steps 4 substeps
per policy step; the two alternate run by run (``--repeat`` rounds) so load on a shared
machine hits both alike, and each reports its best run. ``physics_steps_per_s_*``:
physics steps of all worlds per wall second; ``body_over_full``: their ratio.

Usage: ``python bench/hands_physics.py [--worlds 32] [--threads 2] [--steps 60]``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from intermimic.humanoid.embodiment import SmplxEmbodiment
from intermimic.objects import ObjectLibrary
from intermimic.sim.factory import make_backend
from intermimic.sim.mujoco_backend import standing_qpos
from intermimic.sim.scene import Scene, embodiment_scene

SUBSTEPS = 4
MODES = ("full", "body")


def scene_of(hands: str, object_name: str = "largetable") -> Scene:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the mesh-not-watertight note
        obj = ObjectLibrary().get(object_name)
    return embodiment_scene(SmplxEmbodiment(hands=hands), obj)  # type: ignore[arg-type]


def _run(backend: Any, q0: np.ndarray, targets: np.ndarray, steps: int) -> float:
    """Physics steps (all worlds) per wall second, from standing."""
    n = backend.n_worlds
    backend.reset(np.arange(n), np.tile(q0, (n, 1)), np.zeros((n, backend.nv)))
    backend.set_targets(targets)
    backend.step(SUBSTEPS)  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        backend.step(SUBSTEPS)
    return steps * SUBSTEPS * n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worlds", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=60, help="policy steps per timed run")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)

    runs: dict[str, tuple[Any, np.ndarray, np.ndarray]] = {}
    out: dict[str, Any] = {"worlds": args.worlds, "threads": args.threads, "substeps": SUBSTEPS}
    for hands in MODES:
        scene = scene_of(hands)
        q0 = standing_qpos(scene)
        targets = np.tile(q0[scene.humanoid_qpos_adr[7:]], (args.worlds, 1))
        backend = make_backend("mujoco", scene, args.worlds, n_threads=args.threads)
        runs[hands] = (backend, q0, targets)
        out[f"nq_{hands}"], out[f"nu_{hands}"] = int(scene.model.nq), int(scene.model.nu)
    out["load_avg_1min_before"] = round(os.getloadavg()[0], 2)
    best = {h: 0.0 for h in MODES}
    for _ in range(args.repeat):
        for hands in MODES:
            best[hands] = max(best[hands], _run(*runs[hands], args.steps))
    for hands in MODES:
        runs[hands][0].close()
        out[f"physics_steps_per_s_{hands}"] = round(best[hands], 1)
    out["body_over_full"] = round(best["body"] / best["full"], 2)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
