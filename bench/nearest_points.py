"""Object points of the released observation's nearest-point vectors: fidelity and cost.
One JSON line.

InterMimic's released observation (docs/fidelity.md row 34) gives every body the vector
to its nearest of the object's 1024 surface points, encoded ``e(d) = d/|d| exp(-5
|d|)``. Our released layout (``ObservationSettings.layout = "released"``) searches a
farthest-point subset of ``ObservationSettings.nearest_points`` points; this script
measures what a subset of M points changes and what it costs.

* fidelity, for M = 32, 64, 128, 256 against all 1024 points of the largetable (the
  object library's seeded surface points) on the sample clip ``sub2_largetable_000``,
  float64, every body (52): ``ref``, the reference frames (reference bodies, reference
  object); ``roll``, the states a rollout of the environment visits (``--worlds``
  worlds, ``--rollout-steps`` steps, actions targeting the reference's next pose plus
  N(0, ``--noise``) per action, so the states drift as a learning policy's do). Per set
  and M: ``<set>_de_mean_M<m>``, ``<set>_de_p95_M<m>``, the norm of the encoding's
  change ``|e_M - e_1024|`` over all body vectors; ``<set>_de_near_mean_M<m>``,
  ``<set>_de_near_p95_M<m>`` over the body vectors within ``NEAR`` m of the object
  (1024-point distance), where the encoding is large (at least exp(-5 NEAR)) and the
  policy reads contacts; ``<set>_dd_near_mean_mm_M<m>`` how much farther the nearest of
  M points is there, mean (mm); ``<set>_enc_near_mean`` the mean encoding norm there
  (the scale of the errors), ``<set>_near_share`` the share of body vectors there. And
  the sampling error of the point sets themselves: ``<set>_de_near_mean_surf_M<m>``
  (M = 1024 too), the mean change there against the nearest of ``DENSE`` surface points
  (a stand-in for the true surface).

* ``cost_ms_M<m>_<n>t``: milliseconds per environment step of the simulated
  nearest-point search (:func:`~intermimic.env.nearest.nearest_vectors`, 52 bodies,
  ``--worlds`` worlds, float32 torch, as the environment calls it), on ``n`` = 1 and 2
  threads, best of ``--repeat`` timed runs, M = 32 ... 1024.

Usage: ``python bench/nearest_points.py [--worlds 64] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import torch
import trimesh
from env_step import _env_clip, bench_surface, best_ms, compared_states

from intermimic.env.geometry import quat_to_matrix
from intermimic.env.nearest import nearest_vectors
from intermimic.env.reference import farthest_points

SUBSETS = (32, 64, 128, 256)
ALL = 1024
DECAY = 5.0  # released exp(-5 |d|)
NEAR = 0.2  # m: encoding >= exp(-1) = 0.37
DENSE = 200_000  # surface points standing in for the surface (spacing about 2 mm)


def measure_cost(n_worlds: int, repeat: int, surface: np.ndarray) -> dict[str, Any]:
    """Nearest-point search cost per step for each point count, on random states near
    the object (the cost does not depend on where the bodies are)."""
    out: dict[str, Any] = {}
    g = torch.Generator().manual_seed(0)
    q = torch.randn(n_worlds, 4, generator=g)
    rot = quat_to_matrix(q / q.norm(dim=-1, keepdim=True))
    obj = torch.randn(n_worlds, 3, generator=g)
    bodies = obj[:, None] + 0.5 * torch.randn(n_worlds, 52, 3, generator=g)
    for m in (*SUBSETS, ALL):
        local = torch.as_tensor(farthest_points(surface, m), dtype=torch.float32)
        for n in (1, 2):
            torch.set_num_threads(n)
            reps = max(5, 4000 // m)
            out[f"cost_ms_M{m}_{n}t"] = round(
                best_ms(lambda local=local: nearest_vectors(bodies, obj, rot, local), reps, repeat),
                3,
            )
    return out


def _encode(d: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(d, axis=-1, keepdims=True)
    return d / np.maximum(n, 1e-9) * np.exp(-DECAY * n)


def compare(
    states: dict[str, np.ndarray], surface: np.ndarray, dense: np.ndarray, name: str
) -> dict[str, Any]:
    """Encodings with M farthest points against all points (and against the ``dense``
    surface points), every body of every state."""
    from scipy.spatial import cKDTree

    rot = quat_to_matrix(torch.from_numpy(states["obj_quat"]))
    pos, obj = torch.from_numpy(states["body_pos"]), torch.from_numpy(states["obj_pos"])
    vec: dict[int, np.ndarray] = {}
    for m in (*SUBSETS, ALL):
        local = torch.from_numpy(farthest_points(surface, m))
        parts = [
            nearest_vectors(pos[a : a + 256], obj[a : a + 256], rot[a : a + 256], local).numpy()
            for a in range(0, len(pos), 256)
        ]
        vec[m] = np.concatenate(parts).reshape(-1, 3)
    # The dense surface's nearest point, by a k-d tree in the object frame.
    r = rot.numpy()
    b = np.einsum("sji,sbj->sbi", r, states["body_pos"] - states["obj_pos"][:, None])
    _, idx = cKDTree(dense).query(b.reshape(-1, 3))
    true = np.einsum("sij,sbj->sbi", r, dense[idx].reshape(b.shape) - b).reshape(-1, 3)
    enc_true = _encode(true)
    full = vec[ALL]
    dist = np.linalg.norm(full, axis=-1)
    near = dist < NEAR
    enc_full = _encode(full)
    out: dict[str, Any] = {
        f"{name}_vectors": len(full),
        f"{name}_near_share": round(float(near.mean()), 4),
        f"{name}_enc_near_mean": round(float(np.linalg.norm(enc_full[near], axis=-1).mean()), 4),
    }
    for m in SUBSETS:
        de = np.linalg.norm(_encode(vec[m]) - enc_full, axis=-1)
        out[f"{name}_de_mean_M{m}"] = round(float(de.mean()), 5)
        out[f"{name}_de_p95_M{m}"] = round(float(np.percentile(de, 95)), 5)
        if near.any():
            out[f"{name}_de_near_mean_M{m}"] = round(float(de[near].mean()), 4)
            out[f"{name}_de_near_p95_M{m}"] = round(float(np.percentile(de[near], 95)), 4)
            dd = np.linalg.norm(vec[m][near], axis=-1) - dist[near]
            out[f"{name}_dd_near_mean_mm_M{m}"] = round(1e3 * float(dd.mean()), 2)
    if near.any():
        for m in (*SUBSETS, ALL):
            de = np.linalg.norm(_encode(vec[m][near]) - enc_true[near], axis=-1)
            out[f"{name}_de_near_mean_surf_M{m}"] = round(float(de.mean()), 4)
    return out


def rollout_states(env: Any, steps: int, noise: float, seed: int) -> dict[str, np.ndarray]:
    """The simulated states the environment compares over ``steps`` steps (before any
    reset), actions targeting the next pose plus N(0, ``noise``)."""
    rng = np.random.default_rng(seed)

    def run() -> None:
        env.reset()
        for _ in range(steps):
            a = env.reference_actions()
            env.step(np.clip(a + noise * rng.standard_normal(a.shape), -1.0, 1.0))

    rec = compared_states(env, run)
    return {
        "body_pos": np.concatenate([bs.pos.double().numpy() for bs, _ in rec]),
        "obj_pos": np.concatenate([bs.obj_pos.double().numpy() for bs, _ in rec]),
        "obj_quat": np.concatenate([bs.obj_quat.double().numpy() for bs, _ in rec]),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--worlds", type=int, default=64)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--rollout-steps", type=int, default=90)
    p.add_argument("--noise", type=float, default=0.2, help="action noise std of the rollout")
    p.add_argument("--only", choices=("cost", "fidelity"), default=None)
    args = p.parse_args(argv)

    from intermimic.env import EnvSettings, TrackingEnv
    from intermimic.sim.factory import make_backend

    scene, surface = bench_surface()
    assert scene.object is not None
    dense = trimesh.sample.sample_surface(scene.object.mesh.to_trimesh(), DENSE, seed=1)[0]
    clip, source = _env_clip()
    out: dict[str, Any] = {"clip": source, "surface_points": len(surface), "near_m": NEAR}
    if args.only in (None, "fidelity"):
        torch.set_num_threads(2)
        backend = make_backend("mujoco", scene, args.worlds, n_threads=2)
        env = TrackingEnv(scene, [clip], backend, settings=EnvSettings(seed=0))
        ref = env.ref
        out.update(
            compare(
                {"body_pos": ref.body_pos, "obj_pos": ref.obj_pos, "obj_quat": ref.obj_quat},
                surface,
                dense,
                "ref",
            )
        )
        roll = rollout_states(env, args.rollout_steps, args.noise, 0)
        out.update(compare(roll, surface, dense, "roll"))
        env.close()
    if args.only in (None, "cost"):
        out.update(measure_cost(args.worlds, args.repeat, surface))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
