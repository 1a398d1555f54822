"""Host share of one environment step: one JSON line.

Issue #20: the environment's own work (observations, rewards, IET, PSI, resets and the
state hand-over from the backend) must not dominate a step at the method's scale. This
script times :meth:`intermimic.env.TrackingEnv.step` with ``--worlds`` worlds (default
4096) on ``--backend`` (``warp`` or ``mujoco``) with the physics skipped: the backend's
``step`` is replaced by a no-op, so what is left is everything the environment asks of
the host (and, for ``warp``, of the device outside the physics: state reads, resets and
the kinematics pass a reset needs). The environment is built as ``bench/gpu.py`` builds
it (the sample's ``sub2_largetable_000``, else a synthetic clip and box), with actions
that target the reference's next pose. ``--reset-mode`` chooses the environment's
``reset_mode`` (``auto``: masked on a GPU, where nothing is read back per step; index on
the CPU).

Reports ``host_ms_per_step`` (median of ``--repeat`` runs of ``--steps`` steps each),
``resets_per_step`` (worlds reset per step: with the physics frozen the tracking error
grows until IET ends the episodes), ``kinematics_ms_per_step`` (the warp backend's
kinematics pass after resets, physics on the device that a GPU does in microseconds;
included in ``host_ms_per_step``) and, with ``--with-physics``, ``physics_ms_per_step``
(the backend's real ``step``, timed alone) and ``host_share`` (host / (host + physics)).
The machine's 1-minute load average before the run is in ``load_avg_1min``. Torch runs
the environment's work on ``--torch-threads`` (default 1, as a teacher's rollouts do):
on 2 cores with anything else running, 2 threads made a step 4x slower (4,384 against
1,072 ms at 4096 worlds on ``warp --device cpu``, 2026-12-02), each small op waiting at
an OpenMP barrier for a core. Usage::

    python bench/env_host.py --backend warp --device cpu            # 4096 worlds
    python bench/env_host.py --backend mujoco --worlds 256 --with-physics
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import CLIP, sample_clip_path


def load_clip_and_objects(clip_id: str) -> tuple[Any, Any, str]:
    """The sample clip and its objects, else a synthetic clip and the synthetic box (as
    ``bench/gpu.py``)."""
    from intermimic.objects import ObjectLibrary
    from intermimic.paths import shared_data_dir

    path, shared = sample_clip_path(clip_id), shared_data_dir()
    if path is not None and shared is not None:
        from intermimic.motion.load import read_clip

        return read_clip(path), ObjectLibrary(shared / "objects"), clip_id
    from intermimic.motion.synthetic import synthetic_clip, write_synthetic_objects

    root = write_synthetic_objects(Path(tempfile.gettempdir()) / "intermimic-bench-objects")
    return synthetic_clip("bench", "box", 0, 90, seed=0), ObjectLibrary(root), "synthetic"


def build_env(
    backend_name: str, device: str, worlds: int, threads: int | None, reset_mode: str = "auto"
) -> Any:
    """The tracking environment of ``bench/gpu.py`` on ``backend_name``."""
    from intermimic.env import EnvSettings, TrackingEnv
    from intermimic.humanoid import HumanoidSettings, build_spec
    from intermimic.sim.factory import make_backend
    from intermimic.sim.scene import build_scene

    clip, objects, name = load_clip_and_objects(CLIP)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the mesh-not-watertight note
        scene = build_scene(
            build_spec(settings=HumanoidSettings(actuators="position")),
            objects.get(clip.meta.object_name),
        )
    opts: dict[str, Any] = {"device": device} if backend_name == "warp" else {}
    if backend_name == "mujoco" and threads is not None:
        opts["n_threads"] = threads
    backend = make_backend(backend_name, scene, worlds, **opts)
    env = TrackingEnv(scene, [clip], backend, settings=EnvSettings(seed=0), reset_mode=reset_mode)
    return env, name


def measure(
    backend_name: str,
    device: str,
    worlds: int,
    steps: int,
    repeat: int,
    with_physics: bool,
    threads: int | None,
    reset_mode: str = "auto",
) -> dict[str, Any]:
    """Time ``env.step`` with the physics skipped (see the module docstring)."""
    import torch

    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    env, clip_name = build_env(backend_name, device, worlds, threads, reset_mode)
    backend = env.backend
    env.reset()
    setup = time.perf_counter() - t0
    physics = backend.step
    kin_s = [0.0]
    kinematics = getattr(backend, "_kinematics", None)
    if kinematics is not None:

        def timed_kinematics(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            out = kinematics(*a, **k)
            kin_s[0] += time.perf_counter() - t
            return out

        backend._kinematics = timed_kinematics

    def sync() -> None:
        if env.device.type == "cuda":
            torch.cuda.synchronize(env.device)

    def no_physics(substeps: int) -> None:
        return None

    backend.step = no_physics
    act = torch.as_tensor(env.reference_actions(), dtype=torch.float32, device=env.device)
    env.step(act)  # warm-up: kernels, caches
    sync()
    per_step, kin = [], []
    # counted on the device: reading it per step would add a wait the env does not have
    resets = torch.zeros((), dtype=torch.long, device=env.device)
    for _ in range(repeat):
        kin_s[0] = 0.0
        t0 = time.perf_counter()
        for _ in range(steps):
            _, _, term, trunc, _ = env.step(act)
            resets += (term | trunc).sum()
        sync()
        per_step.append((time.perf_counter() - t0) / steps)
        kin.append(kin_s[0] / steps)
    out: dict[str, Any] = {
        "bench": "env_host",
        "backend": backend_name,
        "device": str(env.device),
        "worlds": worlds,
        "reset_mode": "masked" if env.masked_resets else "index",
        "clip": clip_name,
        "steps": steps,
        "repeat": repeat,
        "torch_threads": torch.get_num_threads(),
        "load_avg_1min": round(load, 2),
        "setup_seconds": round(setup, 1),
        "host_ms_per_step": round(1e3 * statistics.median(per_step), 2),
        "host_ms_per_step_best": round(1e3 * min(per_step), 2),
        "resets_per_step": round(int(resets) / (steps * repeat), 2),
    }
    if kinematics is not None:
        out["kinematics_ms_per_step"] = round(1e3 * statistics.median(kin), 2)
    if with_physics:
        backend.step = physics
        physics(env.substeps)
        sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            physics(env.substeps)
        sync()
        phys = (time.perf_counter() - t0) / steps
        out["physics_ms_per_step"] = round(1e3 * phys, 2)
        host = statistics.median(per_step)
        out["host_share"] = round(host / (host + phys), 3)
    stats = getattr(backend, "stats", None)
    if stats is not None:
        out["backend_stats"] = {k: v for k, v in vars(stats()).items()}
    env.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=("warp", "mujoco"), default="warp")
    p.add_argument("--device", default="cpu", help="warp device: cpu, cuda, cuda:N")
    p.add_argument("--worlds", type=int, default=4096)
    p.add_argument("--steps", type=int, default=5, help="env steps per timed run")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="mujoco backend threads")
    p.add_argument(
        "--torch-threads", type=int, default=1,
        help="torch threads for the environment's work: 1, as a teacher's rollouts use "
        "(TrainSettings.rollout_torch_threads); 2 on a busy 2-core machine was 4x slower",
    )  # fmt: skip
    p.add_argument(
        "--reset-mode", choices=("auto", "index", "masked"), default="auto",
        help="TrackingEnv reset_mode: auto is masked on a GPU, index on the CPU",
    )  # fmt: skip
    p.add_argument(
        "--with-physics", action="store_true",
        help="also time the backend's real step and report the host share",
    )  # fmt: skip
    args = p.parse_args(argv)
    if args.backend == "warp":
        import warp as wp

        wp.config.log_level = wp.LOG_WARNING
    import torch

    torch.set_num_threads(args.torch_threads)
    result = measure(
        args.backend, args.device, args.worlds, args.steps, args.repeat,
        args.with_physics, args.threads, args.reset_mode,
    )  # fmt: skip
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
