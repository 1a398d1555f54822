"""The GPU path: the environment and a teacher on the ``warp`` backend; one JSON line.

MuJoCo Warp (``pip install '.[gpu]'``) steps every world at once on the device. This
script measures, on one clip (the sample's ``sub2_largetable_000``, else a synthetic
clip and box):

* ``env``: the full tracking environment (:class:`intermimic.env.TrackingEnv`: PD
  targets, 4 physics substeps, observations, rewards, IET, resets) with ``--worlds``
  worlds: policy steps/s (all worlds advance one step) and world steps/s (``worlds x``);
  beside it the physics alone (``backend.step``), same worlds and substeps.
* ``teacher``: PPO (:func:`intermimic.rl.teacher_training.train_teacher`) with ``backend=warp``
  for ``--teacher-iterations`` iterations (or ``--teacher-minutes``), the policy on the
  same device: env steps/s of training and the learning figures of deterministic
  rollouts from the clip's start before and after (success rate, duration, E_h, E_o).

``--device cuda`` (default when a GPU is present) uses the method's scale (4096 worlds);
``--device cpu`` runs a tiny configuration slowly, which is how it is checked on a
machine without a GPU. Usage::

    python bench/gpu.py                      # on a GPU machine
    python bench/gpu.py --device cpu         # tiny, to see that it works
    python bench/gpu.py --worlds 8192 --teacher-minutes 10 --set horizon=32
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

CLIP = "sub2_largetable_000"
SUBSTEPS = 4
#: (worlds, env steps timed, teacher iterations, horizon, hidden dims) per device kind.
SCALE = {"cuda": (4096, 200, 50, 32, None), "cpu": (4, 3, 2, 4, [32])}


def _device(requested: str | None) -> str:
    import torch
    import warp as wp

    wp.config.log_level = wp.LOG_WARNING
    wp.init()
    if requested:
        if requested.startswith("cuda") and not (
            torch.cuda.is_available() and wp.is_cuda_available()
        ):
            raise SystemExit("--device cuda: no CUDA device visible to torch and warp")
        return requested
    return "cuda" if torch.cuda.is_available() and wp.is_cuda_available() else "cpu"


def load_clip_and_objects(clip_id: str) -> tuple[Any, Any, str]:
    """The sample clip and its objects, else a synthetic clip and the synthetic box."""
    from intermimic.objects import ObjectLibrary
    from intermimic.paths import sample_raw_dir, shared_data_dir

    raw = sample_raw_dir()
    shared = shared_data_dir()
    if raw is not None and (raw / f"{clip_id}.pt").is_file() and shared is not None:
        from intermimic.motion.load import read_clip

        return read_clip(raw / f"{clip_id}.pt"), ObjectLibrary(shared / "objects"), clip_id
    from intermimic.motion.synthetic import synthetic_clip, write_synthetic_objects

    root = write_synthetic_objects(Path(tempfile.gettempdir()) / "intermimic-bench-objects")
    return synthetic_clip("bench", "box", 0, 90, seed=0), ObjectLibrary(root), "synthetic"


def measure_env(clip: Any, objects: Any, device: str, worlds: int, steps: int) -> dict[str, Any]:
    """Tracking environment and raw physics rates on the warp backend."""
    from intermimic.env import TrackingEnv
    from intermimic.humanoid import HumanoidSettings, build_spec
    from intermimic.sim.factory import make_backend
    from intermimic.sim.scene import build_scene

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the mesh-not-watertight note
        scene = build_scene(
            build_spec(settings=HumanoidSettings(actuators="position")),
            objects.get(clip.meta.object_name),
        )
    t0 = time.perf_counter()
    backend = make_backend("warp", scene, worlds, device=device)
    env = TrackingEnv(scene, [clip], backend)
    rng = np.random.default_rng(0)
    env.reset()
    actions = rng.uniform(-0.1, 0.1, (worlds, env.action_dim)).astype(np.float32)
    env.step(actions)  # compiles kernels, captures the CUDA graph
    setup = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        env.step(actions)
    env_rate = steps / (time.perf_counter() - t0)
    backend.step(SUBSTEPS)
    t0 = time.perf_counter()
    for _ in range(steps):
        backend.step(SUBSTEPS)
    raw_rate = steps / (time.perf_counter() - t0)
    if hasattr(env, "close"):
        env.close()
    return {
        "env_setup_seconds": round(setup, 1),
        "env_policy_steps_per_s": round(env_rate, 2),
        "env_world_steps_per_s": round(env_rate * worlds, 1),
        "raw_policy_steps_per_s": round(raw_rate, 2),
        "raw_world_steps_per_s": round(raw_rate * worlds, 1),
        "env_over_raw": round(env_rate / raw_rate, 3),
    }


def measure_teacher(
    clip: Any, objects: Any, device: str, settings: Any, max_seconds: float | None
) -> dict[str, Any]:
    """A short PPO run on the warp backend and the figures before and after."""
    from intermimic.rl.rollout import evaluate, summarize
    from intermimic.rl.teacher_env import prepare_clips
    from intermimic.rl.teacher_training import train_teacher

    clipset = prepare_clips([clip], objects, settings, where="bench")
    before = summarize(evaluate(clipset, settings, None, attempts=1, noise=0.0))
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        result = train_teacher(clipset, settings, run_dir, max_seconds=max_seconds)
        after = summarize(evaluate(clipset, settings, run_dir, attempts=1, noise=0.0))
    rows = result.curve
    return {
        "teacher_iterations": result.iterations,
        "teacher_env_steps": result.env_steps,
        "teacher_train_seconds": round(result.seconds, 1),
        "teacher_env_steps_per_s": round(result.env_steps / max(result.seconds, 1e-9), 1),
        "teacher_episode_length_first": round(rows[0]["mean_length"], 2) if rows else None,
        "teacher_episode_length_last": round(rows[-1]["mean_length"], 2) if rows else None,
        "untrained": {k: round(v, 3) for k, v in before.items()},
        "trained": {k: round(v, 3) for k, v in after.items()},
        "duration_ratio": round(after["mean_duration"] / max(before["mean_duration"], 1e-9), 3),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default=None, help="cuda, cuda:N or cpu (default: cuda if any)")
    p.add_argument("--worlds", type=int, default=None, help="default: 4096 on cuda, 4 on cpu")
    p.add_argument("--steps", type=int, default=None, help="env steps timed")
    p.add_argument("--teacher-iterations", type=int, default=None, help="PPO iterations")
    p.add_argument("--teacher-minutes", type=float, default=None, help="or a wall-clock budget")
    p.add_argument("--clip", default=CLIP)
    p.add_argument("--no-teacher", action="store_true")
    p.add_argument(
        "--set", dest="set_", action="append", default=[], metavar="KEY=VALUE",
        help="any TeacherSettings field, e.g. --set horizon=16",
    )  # fmt: skip
    args = p.parse_args(argv)

    device = _device(args.device)
    worlds, steps, iterations, horizon, hidden = SCALE["cuda" if device != "cpu" else "cpu"]
    worlds = args.worlds or worlds
    steps = args.steps or steps
    iterations = args.teacher_iterations or iterations

    import mujoco
    import torch
    import warp as wp

    from cli.settings_options import parse_overrides
    from intermimic.rl.teacher_settings import TeacherSettings

    clip, objects, clip_name = load_clip_and_objects(args.clip)
    out: dict[str, Any] = {
        "bench": "gpu",
        "backend": "warp",
        "device": device,
        "gpu": torch.cuda.get_device_name(0) if device != "cpu" else None,
        "mujoco": mujoco.__version__,
        "warp": wp.config.version,
        "clip": clip_name,
        "clip_frames": clip.n_frames,
        "worlds": worlds,
        "steps": steps,
    }
    out.update(measure_env(clip, objects, device, worlds, steps))
    if not args.no_teacher:
        extra: dict[str, Any] = {"horizon": horizon}
        if hidden is not None:
            extra["hidden_dims"] = hidden
        settings = parse_overrides(
            TeacherSettings,
            args.set_,
            backend="warp",
            device=device,
            worlds=worlds,
            env_steps=(10**12 if args.teacher_minutes else iterations * worlds * (horizon or 32)),
            checkpoint_interval=max(1, iterations // 4),
            tensorboard=False,
            attempts=1,
            **extra,
        )
        budget = 60 * args.teacher_minutes if args.teacher_minutes else None
        out["teacher_settings"] = {k: v for k, v in settings.model_dump().items() if v is not None}
        out.update(measure_teacher(clip, objects, device, settings, budget))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
