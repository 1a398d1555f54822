"""Probe: a sampling-based tracker (CEM/MPPI over PD-target residual knots) on one clip.

Exploratory (issue #18), not the refiner yet: it drives the teacher environment through
its private reset (``TrackingEnv._reset_worlds``) and replaces its PSI draw, so every
world is one sample of a plan and every plan evaluation starts all worlds from the state
committed so far. Per policy step:

* the plan is ``--knots`` residual knots (action units of the residual map, 0.25 per unit)
  spanning ``--horizon`` policy steps, linearly interpolated, added to the reference's
  own PD targets; the first sample is the nominal plan, the others nominal + noise
  (``--sigma`` on body hinges, ``--finger-sigma`` on finger hinges, annealed by
  ``--anneal`` over ``--iters`` iterations, MPPI-weighted update of the nominal);
* cost per step: minus the log of the environment's product reward, plus
  ``--term-cost`` per remaining step when a sample terminates (the environment's IET),
  plus ``--hand-w`` per metre of distance between a hand labelled in contact and the
  object's surface points beyond 2 cm, and ``--obj-w`` per metre of object position
  error;
* the best sample's first step is committed; its plan, shifted by one step, warm-starts
  the next.

Prints one JSON line: frames tracked from the MoCap start, the clip's frames, seconds,
and over the committed frames E_h (mean key-body position error, cm) and E_o (object
position error, cm). Measured 2026-12-02 on 2 cores (sub2_largetable_000, 153 frames):
``--samples 32 --horizon 10 --knots 3`` 54 frames in 69 s; ``--samples 64 --horizon 20
--knots 5 --hand-w 20`` (the defaults) the whole clip (its last frame, 152) in 549 s,
E_h 17.3 cm, E_o 14.4 cm; with ``--obj-w 8`` E_h 21.2 cm, E_o 3.6 cm (486 s), with
``--obj-w 20`` 25.7 and 7.5 cm (446 s); sub2_woodchair_003 (170 frames) with the defaults
whole too (338 s), E_h 19.9 cm, E_o 11.4 cm.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

FINGERS = ("Index", "Middle", "Ring", "Pinky", "Thumb")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clip", default="sub2_largetable_000")
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--horizon", type=int, default=20, help="policy steps")
    p.add_argument("--knots", type=int, default=5)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--sigma", type=float, default=0.4)
    p.add_argument("--finger-sigma", type=float, default=0.1)
    p.add_argument("--anneal", type=float, default=0.6)
    p.add_argument("--temp", type=float, default=0.1, help="MPPI temperature / cost spread")
    p.add_argument("--term-cost", type=float, default=50.0)
    p.add_argument("--hand-w", type=float, default=20.0)
    p.add_argument("--obj-w", type=float, default=0.0, help="cost per m of object error")
    p.add_argument("--frames", type=int, default=0, help="stop after this many (0: clip)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    import torch

    from intermimic.env.geometry import object_points, quat_to_matrix
    from intermimic.motion.load import read_clip
    from intermimic.objects import ObjectLibrary
    from intermimic.paths import sample_raw_dir
    from intermimic.rl.teacher_env import build_teacher_env_exact, prepare_clips
    from intermimic.rl.teacher_settings import TeacherSettings

    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    settings = TeacherSettings(residual_actions=True)
    raw = sample_raw_dir()
    if raw is None:
        raise SystemExit("sample data (../shared/data/omomo/raw) not found")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clip = read_clip(raw / f"{args.clip}.pt")
        clipset = prepare_clips([clip], ObjectLibrary(), settings, where=args.clip)
    k_samples, horizon = args.samples, args.horizon
    group = next(iter(clipset.groups))
    tenv = build_teacher_env_exact(clipset, settings, {group: k_samples}, psi=False)
    env = tenv.envs[0]
    env.settings = env.settings.model_copy(update={"rollout_length": 10**6})
    n_act = env.action_dim
    length = int(env.ref.clip_len[0])
    model = env.scene.model
    names = [model.actuator(i).name for i in range(model.nu)]
    finger = np.array([any(f in n for f in FINGERS) for n in names])
    scale = np.where(finger, args.finger_sigma, args.sigma)

    committed: dict[str, Any] = {
        "frame": 0,
        "state": torch.from_numpy(env.ref.states()[0]).to(env.device),
    }

    def start(n: int) -> tuple[Any, Any, Any]:
        states = committed["state"][None].expand(n, -1).clone()
        return np.full(n, committed["frame"], np.int64), states, np.ones(n, bool)

    env.psi.sample = start  # type: ignore[method-assign]
    env.reset()
    t_knots = np.linspace(0, horizon - 1, args.knots)
    interp = np.stack(
        [np.interp(np.arange(horizon), t_knots, np.eye(args.knots)[j]) for j in range(args.knots)],
        1,
    )  # [H, P]
    clip0 = torch.zeros(k_samples, dtype=torch.long)

    def rollout(plans: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Plans ``[K, P, A]`` -> cost ``[K]``, full state after step 1 ``[K, nq+nv]``,
        steps survived ``[K]``, errors after step 1 ``[K, 2]`` (E_h, E_o in m)."""
        env._reset_worlds(env._all)
        st = env.backend.read(env.dtype)
        env.prev_obj_vel = torch.cat([st.bodies.obj_linvel, st.bodies.obj_angvel], 1)
        seq = np.einsum("hp,kpa->kha", interp, plans)
        cost = np.zeros(k_samples)
        alive = np.ones(k_samples, bool)
        survived = np.zeros(k_samples, np.int64)
        first = errors = np.zeros(0)
        for h in range(horizon):
            frame = committed["frame"] + h + 1
            if frame > length - 1:
                break
            a = torch.from_numpy(env.reference_actions() + 0.25 * seq[:, h]).to(env.device)
            _, r, term, _, _ = env.step(a)
            step_cost = -np.log(np.maximum(r.cpu().numpy().astype(np.float64), 1e-6))
            if h == 0 or args.hand_w > 0 or args.obj_w > 0:
                bs = env.backend.read(env.dtype).bodies
                idx = env.rt.global_index(clip0, torch.full((k_samples,), frame))
            if args.hand_w > 0:
                pts = object_points(bs.obj_pos, quat_to_matrix(bs.obj_quat), env._points)
                labels = env.rt.contact[idx]
                for hand in env.hands:
                    d = torch.cdist(bs.pos[:, hand], pts).amin(dim=(1, 2))
                    need = (labels[:, hand] > 0).any(dim=1)
                    step_cost += args.hand_w * (need * (d - 0.02).clamp(min=0)).cpu().numpy()
            if args.obj_w > 0:
                d_obj = (bs.obj_pos - env.rt.obj_pos[idx]).norm(dim=-1)
                step_cost += args.obj_w * d_obj.cpu().numpy()
            t = term.cpu().numpy()
            cost += np.where(alive, step_cost, 0.0)
            cost += np.where(alive & t, args.term_cost * (horizon - h), 0.0)
            alive &= ~t
            survived += alive
            if h == 0:
                first = np.concatenate([env.backend.qpos(), env.backend.qvel()], 1)
                e_h = (bs.pos[:, env._key] - env.rt.body_pos[idx][:, env._key]).norm(dim=-1)
                e_o = (bs.obj_pos - env.rt.obj_pos[idx]).norm(dim=-1)
                errors = torch.stack([e_h.mean(dim=1), e_o], 1).cpu().numpy()
        return cost, first, survived, errors

    nominal = np.zeros((args.knots, n_act))
    t0 = time.perf_counter()
    end = length - 1 if not args.frames else min(length - 1, args.frames)
    errs: list[np.ndarray] = []
    while committed["frame"] < end:
        sigma = 1.0
        best: tuple[float, np.ndarray, np.ndarray, int, np.ndarray] | None = None
        for _ in range(args.iters):
            noise = rng.standard_normal((k_samples, args.knots, n_act)) * scale * sigma
            noise[0] = 0.0
            plans = nominal[None] + noise
            cost, first, survived, errors = rollout(plans)
            k = int(np.argmin(cost))
            if best is None or cost[k] < best[0]:
                state, plan = first[k].copy(), plans[k].copy()
                best = (float(cost[k]), state, plan, int(survived[k]), errors[k])
            spread = max(float(cost.max() - cost.min()), 1e-9)
            w = np.exp(-(cost - cost.min()) / (args.temp * spread))
            nominal = np.einsum("k,kpa->pa", w / w.sum(), plans)
            sigma *= args.anneal
        assert best is not None
        if best[3] == 0:
            break  # every sample terminates at the first step
        committed["state"] = torch.from_numpy(best[1]).to(env.device)
        committed["frame"] += 1
        errs.append(best[4])
        seq = interp @ best[2]
        nominal = np.concatenate([seq[1:], seq[-1:]])[np.round(t_knots).astype(int)]
    tenv.close()
    e = np.array(errs) if errs else np.zeros((0, 2))
    out = {
        "clip": args.clip,
        "frames": int(committed["frame"]),
        "clip_frames": length,
        "seconds": round(time.perf_counter() - t0, 1),
        "e_h_cm": round(float(e[:, 0].mean() * 100), 2) if len(e) else None,
        "e_o_cm": round(float(e[:, 1].mean() * 100), 2) if len(e) else None,
        "settings": {k: v for k, v in vars(args).items() if k != "clip"},
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
