"""Object points of the reward's interaction graph: cost and fidelity. One JSON line.

InterMimic's released interaction-graph reward and termination (docs/fidelity.md, rows
48 and 56) use the edges from the 21 key bodies to all 1024 object surface points. Our
environment takes a farthest-point subset of ``EmbodimentAgnosticRewards.ig_points``
points; this script measures what a subset costs and how far it moves the reward and
the termination ratio from the 1024-point ones.

* ``cost_ms_P<p>_<n>t``: milliseconds per environment step of everything the graph adds
  to a step (the environment's code path: reference gathers, simulated object points
  when the graph's are not a prefix of the error points, :func:`graph_sq_errors`,
  :func:`graph_sq_lengths`, :func:`~intermimic.env.rewards.ig_reward`,
  :func:`~intermimic.env.termination.ig_ratio`), ``--worlds`` worlds, float32 torch,
  on ``n`` = 1 and 2 threads, best of ``--repeat`` timed runs; and the reference table's
  size per frame (``table_kb_per_frame_P<p>``, float32).

* fidelity, for P = 16, 64, 256 against all 1024 points of the largetable (the object
  library's 1024 seeded surface points) on the sample clip ``sub2_largetable_000``, in
  float64 numpy straight from the released formulas (independent of the environment's
  code): the reference frames against states perturbed at five levels (``pert<s>``:
  whole body offset N(0, s) per axis plus N(0, s/2) per key body and axis, object moved
  N(0, s) per axis and turned about a random axis by an angle N(0, s) read in rad; s =
  0.02, 0.05, 0.1 m (1.1, 2.9, 5.7 degrees), tracking-sized errors, and 0.3, 0.6 m,
  errors near the termination bound), and the states a rollout of the environment
  visits (``rollout``: ``--rollout-worlds`` worlds, ``--rollout-steps`` steps, actions
  targeting the reference's next pose). Per set: the mean 1024-point reward
  (``r1024``), the mean and 95th-percentile absolute difference of the P-point reward
  (``dr_mean_P<p>``, ``dr_p95_P<p>``), the share of states the 1024-point rule
  terminates (``term1024``), the share where the P-point termination ratio is on the
  other side of 2 (``term_flip_P<p>``), and how much lower the P-point ratio is,
  relative, on average (``ratio_low_mean_P<p>``; a subset's largest edge ratio cannot
  exceed the full one).

Usage: ``python bench/ig_points.py [--worlds 64] [--repeat 5]``. Measure on a quiet
machine (the cost part is short; the rollout takes a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import torch
from env_step import _env_clip, bench_surface, best_ms, compared_states

from intermimic.env import geometry as G
from intermimic.env.reference import farthest_points
from intermimic.env.rewards import ig_reward
from intermimic.env.termination import ig_ratio

POINTS = (16, 64, 256, 1024)
K = 21
RELEASED_FLOOR, RELEASED_K = 0.01, 5.0
#: Perturbation scales (m): tracking-sized errors, then errors near the termination bound.
LEVELS = (0.02, 0.05, 0.1, 0.3, 0.6)


def measure_cost(n_worlds: int, repeat: int, surface: np.ndarray, frames: int) -> dict[str, Any]:
    """Graph cost per step for each point count (module docstring), on random states."""
    out: dict[str, Any] = {}
    g = torch.Generator().manual_seed(0)
    error_points = farthest_points(surface, 64)  # EnvSettings.n_object_points
    for p in POINTS:
        local = farthest_points(surface, p)
        prefix = p <= len(error_points) and np.array_equal(error_points[:p], local)
        graph_pts = torch.as_tensor(local, dtype=torch.float32)
        err_pts = torch.as_tensor(error_points, dtype=torch.float32)
        q = torch.randn(n_worlds, 4, generator=g)
        rot = G.quat_to_matrix(q / q.norm(dim=-1, keepdim=True))
        obj = torch.randn(n_worlds, 3, generator=g)
        key_sim = obj[:, None] + torch.randn(n_worlds, K, 3, generator=g)
        key_ref = key_sim + 0.05 * torch.randn(n_worlds, K, 3, generator=g)
        table_sq = torch.rand(frames, K, p, generator=g)
        table_pts = torch.randn(frames, p, 3, generator=g)
        table_err_pts = torch.randn(frames, 64, 3, generator=g)
        idx = torch.randint(0, frames, (n_worlds,), generator=g)
        pts = G.object_points(obj, rot, err_pts)  # the step computes these anyway

        def step(
            local_t: torch.Tensor = graph_pts,
            prefix: bool = prefix,
            p: int = p,
            table_sq: torch.Tensor = table_sq,
            table_pts: torch.Tensor = table_pts,
            pts: torch.Tensor = pts,
            key_sim: torch.Tensor = key_sim,
            key_ref: torch.Tensor = key_ref,
            obj: torch.Tensor = obj,
            rot: torch.Tensor = rot,
            idx: torch.Tensor = idx,
            table_err_pts: torch.Tensor = table_err_pts,
        ) -> None:
            if prefix:
                sim, ref = pts[:, :p], table_err_pts[idx][:, :p]
            else:
                sim, ref = G.object_points(obj, rot, local_t), table_pts[idx]
            c = types.SimpleNamespace(
                ig_err_sq=G.graph_sq_errors(key_sim, sim, key_ref, ref),
                ig_sim_sq=G.graph_sq_lengths(key_sim, obj, rot, local_t),
                ig_ref_sq=table_sq[idx],
            )
            ig_reward(c.ig_err_sq, c.ig_sim_sq, c.ig_ref_sq, RELEASED_K, RELEASED_FLOOR)
            ig_ratio(c, 0.5)  # type: ignore[arg-type]

        for n in (1, 2):
            torch.set_num_threads(n)
            reps = max(3, 2000 // p)
            out[f"cost_ms_P{p}_{n}t"] = round(best_ms(step, reps, repeat), 3)
        out[f"table_kb_per_frame_P{p}"] = round(K * p * 4 / 1024, 1)
    return out


# ---- fidelity (float64 numpy, the released formulas) -------------------------------------


def _released(
    key_sim: np.ndarray, pts_sim: np.ndarray, key_ref: np.ndarray, pts_ref: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(reward [S], termination ratio [S])`` of InterMimic's released graph terms."""
    g_sim = pts_sim[:, None] - key_sim[:, :, None]
    g_ref = pts_ref[:, None] - key_ref[:, :, None]
    s_sim, s_ref = (g_sim**2).sum(-1), (g_ref**2).sum(-1)
    e = ((g_sim - g_ref) ** 2).sum(-1)
    w1 = 1 / np.maximum(s_sim, RELEASED_FLOOR)
    w2 = 1 / np.maximum(s_ref, RELEASED_FLOOR)
    w1 /= w1.sum(axis=(1, 2), keepdims=True)
    w2 /= w2.sum(axis=(1, 2), keepdims=True)
    reward = np.exp(-RELEASED_K * 0.5 * (e * (w1 + w2)).sum(axis=(1, 2)))
    d = np.sqrt(e)
    ratio = np.maximum(
        (d / np.maximum(np.sqrt(s_ref), 0.5)).max(axis=(1, 2)),
        (d / np.maximum(np.sqrt(s_sim), 0.5)).max(axis=(1, 2)),
    )
    return reward, ratio


def _points(obj_pos: np.ndarray, obj_quat: np.ndarray, local: np.ndarray) -> np.ndarray:
    rot = G.quat_to_matrix(torch.from_numpy(obj_quat)).numpy()
    return np.einsum("sij,pj->spi", rot, local) + obj_pos[:, None]


def compare_points(states: dict[str, np.ndarray], surface: np.ndarray, name: str) -> dict[str, Any]:
    """Released reward and ratio with P farthest points against all points, per state."""
    results: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for p in POINTS:
        local = farthest_points(surface, p)
        rs, ts = [], []
        for a in range(0, len(states["key_sim"]), 64):  # chunks: [64, 21, 1024, 3] at most
            sl = slice(a, a + 64)
            r, t = _released(
                states["key_sim"][sl],
                _points(states["obj_pos_sim"][sl], states["obj_quat_sim"][sl], local),
                states["key_ref"][sl],
                _points(states["obj_pos_ref"][sl], states["obj_quat_ref"][sl], local),
            )
            rs.append(r)
            ts.append(t)
        results[p] = (np.concatenate(rs), np.concatenate(ts))
    full_r, full_t = results[POINTS[-1]]
    out: dict[str, Any] = {f"{name}_states": len(full_r), f"{name}_r1024": round(full_r.mean(), 4)}
    out[f"{name}_term1024"] = round(float((full_t > 2).mean()), 4)
    for p in POINTS[:-1]:
        r, t = results[p]
        dr = np.abs(r - full_r)
        out[f"{name}_dr_mean_P{p}"] = round(float(dr.mean()), 4)
        out[f"{name}_dr_p95_P{p}"] = round(float(np.percentile(dr, 95)), 4)
        out[f"{name}_term_flip_P{p}"] = round(float(((t > 2) != (full_t > 2)).mean()), 4)
        # A subset's largest edge ratio is at most the full set's: how much lower.
        out[f"{name}_ratio_low_mean_P{p}"] = round(float(((full_t - t) / full_t).mean()), 4)
    return out


def perturbed_states(ref: Any, key_idx: np.ndarray, s: float, copies: int, seed: int) -> dict:
    """Every reference frame ``copies`` times against a perturbed copy of itself."""
    rng = np.random.default_rng(seed)
    frames = np.repeat(np.arange(ref.n_frames), copies)
    n = len(frames)
    key_ref = ref.body_pos[frames][:, key_idx]
    key_sim = key_ref + rng.normal(0, s, (n, 1, 3)) + rng.normal(0, s / 2, key_ref.shape)
    axis = rng.standard_normal((n, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    half = 0.5 * rng.normal(0, s, n)  # s rad per m of position noise
    turn = np.concatenate([np.cos(half)[:, None], np.sin(half)[:, None] * axis], axis=1)
    oq = ref.obj_quat[frames]
    from intermimic.motion.quat import quat_mul

    return {
        "key_sim": key_sim,
        "key_ref": key_ref,
        "obj_pos_sim": ref.obj_pos[frames] + rng.normal(0, s, (n, 3)),
        "obj_quat_sim": quat_mul(turn, oq),
        "obj_pos_ref": ref.obj_pos[frames],
        "obj_quat_ref": oq,
    }


def rollout_states(env: Any, steps: int) -> dict[str, np.ndarray]:
    """The simulated and reference states the environment compares over ``steps`` steps
    (before any reset), actions targeting the next pose."""

    def run() -> None:
        env.reset()
        for _ in range(steps):
            env.step(env.reference_actions())

    rec = compared_states(env, run)
    key = env.key_idx
    idx = np.concatenate([i.numpy() for _, i in rec])
    return {
        "key_sim": np.concatenate([bs.pos[:, key].double().numpy() for bs, _ in rec]),
        "obj_pos_sim": np.concatenate([bs.obj_pos.double().numpy() for bs, _ in rec]),
        "obj_quat_sim": np.concatenate([bs.obj_quat.double().numpy() for bs, _ in rec]),
        "key_ref": env.ref.body_pos[idx][:, key],
        "obj_pos_ref": env.ref.obj_pos[idx],
        "obj_quat_ref": env.ref.obj_quat[idx],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--worlds", type=int, default=64)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--rollout-worlds", type=int, default=16)
    p.add_argument("--rollout-steps", type=int, default=90)
    p.add_argument("--only", choices=("cost", "fidelity"), default=None)
    args = p.parse_args(argv)

    from intermimic.env import EnvSettings, TrackingEnv
    from intermimic.sim.factory import make_backend

    scene, surface = bench_surface()
    clip, source = _env_clip()
    backend = make_backend("mujoco", scene, args.rollout_worlds, n_threads=2)
    env = TrackingEnv(scene, [clip], backend, settings=EnvSettings(seed=0))
    out: dict[str, Any] = {"clip": source, "surface_points": len(surface)}
    if args.only in (None, "cost"):
        out.update(measure_cost(args.worlds, args.repeat, surface, env.ref.n_frames))
    if args.only in (None, "fidelity"):
        torch.set_num_threads(2)
        for i, s in enumerate(LEVELS):
            states = perturbed_states(env.ref, env.key_idx, s, 2, seed=i)
            out.update(compare_points(states, surface, f"pert{s:g}"))
        out.update(compare_points(rollout_states(env, args.rollout_steps), surface, "rollout"))
    env.close()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
