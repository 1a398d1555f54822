"""Kinematics speed: one JSON line.

Measures, one function each:

* ``builder``: building and compiling the SMPL-X humanoid from its typed skeleton;
* ``fk``: batched numpy FK (:func:`intermimic.motion.kinematics.fk`) over every frame of
  the sample at once, single core, median of ``--repeat`` runs, plus MuJoCo's per-frame
  ``mj_kinematics`` on the same frames for comparison (goal: >= 50,000 frames/s);
* ``scene``: humanoid + object + ground compiled with a cold convex-decomposition cache
  (CoACD runs) and with a warm one (goal: cached build < 0.5 s).

Uses the 27 sample clips when present, else random poses of the same frame count.
"""

from __future__ import annotations

import os

# One core: keep any BLAS from spreading out before numpy loads.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from intermimic.humanoid import build_model, build_spec  # noqa: E402
from intermimic.motion.kinematics import (  # noqa: E402
    KinematicTree,
    clip_to_qpos,
    fk,
    fk_mujoco,
)
from intermimic.paths import sample_raw_dir  # noqa: E402


def sample_qpos(source: Path | None, frames_if_synthetic: int = 5834) -> tuple[np.ndarray, str]:
    """``[T, 160]`` qpos of every sample frame (or random poses) and where they came from."""
    if source is not None and any(source.glob("*.pt")):
        from intermimic.motion.load import read_clip

        clips = [read_clip(p) for p in sorted(source.glob("*.pt"))]
        return np.concatenate([clip_to_qpos(c) for c in clips]), f"sample ({len(clips)} clips)"
    rng = np.random.default_rng(0)
    q = np.zeros((frames_if_synthetic, 160))
    q[:, 2], q[:, 3] = 0.9, 1.0
    q[:, 7:] = rng.uniform(-1.0, 1.0, size=(frames_if_synthetic, 153))
    return q, "synthetic"


def measure_builder(repeat: int) -> dict[str, float]:
    """Seconds to build the MjSpec and to compile it (medians)."""
    spec_s, compile_s = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        spec = build_spec()
        t1 = time.perf_counter()
        spec.compile()
        t2 = time.perf_counter()
        spec_s.append(t1 - t0)
        compile_s.append(t2 - t1)
    return {
        "build_spec_s": round(statistics.median(spec_s), 5),
        "compile_s": round(statistics.median(compile_s), 5),
    }


def measure_fk(qpos: np.ndarray, repeat: int, mujoco_frames: int = 2000) -> dict[str, float]:
    """Frames/s of numpy FK over all frames at once, and of per-frame mj_kinematics."""
    model = build_model()
    tree = KinematicTree.from_model(model)
    fk(tree, qpos[:10])  # warm-up: first-touch page faults are not FK's
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fk(tree, qpos)
        times.append(time.perf_counter() - t0)
    sub = qpos[:mujoco_frames]
    t0 = time.perf_counter()
    fk_mujoco(model, sub)
    mj_s = time.perf_counter() - t0
    n = qpos.shape[0]
    return {
        "fk_frames": n,
        "fk_s": round(statistics.median(times), 5),
        "fk_frames_per_s": round(n / statistics.median(times)),
        "fk_best_frames_per_s": round(n / min(times)),
        "mj_kinematics_frames_per_s": round(len(sub) / mj_s),
    }


def _scene_seconds(obj_name: str, cache: str) -> tuple[float, int]:
    """Seconds for object (mesh, decomposition, mass, points) + scene compile; geom count."""
    from intermimic.objects import ObjectLibrary
    from intermimic.sim import build_scene

    t0 = time.perf_counter()
    obj = ObjectLibrary(cache_dir=cache).get(obj_name)
    scene = build_scene(build_spec(), obj)
    return time.perf_counter() - t0, len(scene.object_geom_ids)


def measure_scene(obj_name: str, cold: bool) -> dict[str, object]:
    """Scene build time without (cold) and with (cached) the decomposition cache."""
    from intermimic.objects import NonWatertightMeshWarning, default_objects_dir

    if default_objects_dir() is None:
        return {"scene": "skipped: no objects folder"}
    warnings.simplefilter("ignore", NonWatertightMeshWarning)
    out: dict[str, object] = {"scene_object": obj_name}
    with tempfile.TemporaryDirectory() as cache:
        if cold:
            out["scene_cold_s"], out["scene_object_geoms"] = _scene_seconds(obj_name, cache)
        else:  # fill the cache untimed
            _scene_seconds(obj_name, cache)
        out["scene_cached_s"] = min(_scene_seconds(obj_name, cache)[0] for _ in range(3))
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--source", type=Path, default=sample_raw_dir())
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--object", default="largetable")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold (CoACD) scene build")
    args = ap.parse_args()
    qpos, origin = sample_qpos(args.source)
    out: dict[str, object] = {"bench": "kinematics", "data": origin}
    out |= measure_builder(args.repeat)
    out |= measure_fk(qpos, args.repeat)
    out |= measure_scene(args.object, cold=not args.no_cold)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
