"""How consistent the planner is as an expert that labels states: one JSON line.

A DAgger-style learner would ask :class:`intermimic.plan.MppiStep` (MPC around the plan:
the plan installed as the feed-forward base, the planner's settings) for the action at
states its policy visits. Whether one call per state is a usable label depends on how
much the answer changes with the sampler's seed alone. For each frame of ``--frames`` this
bench labels two states of ``--clip`` with ``--seeds`` seeds each:

* ``on_plan``: the plan's own state at that frame;
* ``pushed``: the same state with the root's horizontal velocity changed by ``--push``
  m/s in a fixed random direction (physically valid: positions untouched), where the
  expert has to correct;

and prints, per state and per label kind, in action units (RMS over the actions):
``spread`` (the standard deviation over seeds, the sampling noise of one label) and
``from_plan`` (the labels' distance from the plan's action at that frame, the correction
plus that noise). ``best`` is the action ``MppiStep`` commits (the lowest-cost sample),
``mean`` the MPPI average's first action after the last iteration. The hand-contact
counters start at 0 for every state. ``seconds_per_label`` is one ``MppiStep`` call.

Measured on 2 cores (2026-12-03, ``sub2_largetable_000``, planner defaults, 6 seeds,
frames 20, 60, 100): on the plan the committed label is the plan's action within
0.0005-0.0045 (spread 0.0004-0.0041); pushed by 0.2 m/s its distance from the plan
(0.0045-0.019) is nearly all seed spread (0.004-0.018), and the MPPI mean is no steadier
(0.009-0.012). States 3-27 cm off the plan (from an MPC run) gave the same picture at a
larger scale: spread 0.025-0.055 against 0.028-0.063 from the plan. One call per state
is mostly sampling noise; about 5.3 s per label.

Usage: ``python bench/expert_labels.py --plan-cache /tmp/plans --seeds 6``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    CLIP,
    add_settings_options,
    planner_settings,
    sample_clipset,
    teacher_settings,
)


def _stats(labels: Any, planned: Any) -> dict[str, float]:
    import numpy as np

    return {
        "spread": round(float(np.sqrt(labels.var(axis=0).mean())), 5),
        "from_plan": round(float(np.sqrt(((labels - planned) ** 2).mean())), 5),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clip", default=CLIP)
    p.add_argument("--frames", default="20,60,100", help="comma-separated clip frames")
    p.add_argument("--seeds", type=int, default=6, help="labels per state (>= 2)")
    p.add_argument("--push", type=float, default=0.2, help="root velocity change (m/s)")
    p.add_argument(
        "--plan-cache", default=None,
        help="folder of cached plans (plan_clips); without it the clip is planned now "
        "(10-35 minutes on 2 cores)",
    )  # fmt: skip
    add_settings_options(p, "a TeacherSettings field (the environment)", plan=True)
    args = p.parse_args(argv)
    frames = [int(x) for x in args.frames.split(",") if x.strip()]
    if args.seeds < 2:
        raise SystemExit(f"--seeds {args.seeds}: give at least 2 (a spread needs two)")

    import numpy as np

    from intermimic.plan import MppiStep
    from intermimic.plan.seeds import feedforward_actions, plan_clips
    from intermimic.rl.rollout import RecordingBackend
    from intermimic.rl.teacher_env import build_teacher_env_exact
    from intermimic.rl.train import torch_threads

    planner = planner_settings(args)
    settings = teacher_settings(args)
    (clip,), clipset = sample_clipset([args.clip], settings, where=args.clip)
    cache = Path(args.plan_cache) if args.plan_cache else None
    plan = plan_clips(clipset, settings, planner, cache_dir=cache)[clip.meta.clip_id]
    bad = [f for f in frames if not 1 <= f < plan.frames]
    if bad:
        raise SystemExit(f"--frames {bad}: the plan covers frames 1..{plan.frames - 1}")
    out: dict[str, Any] = {
        "bench": "expert_labels",
        "clip": args.clip,
        "plan_frames": plan.frames,
        "seeds": args.seeds,
        "push_mps": args.push,
        "planner": planner.model_dump(),
        "frames": {},
    }
    name = clip.meta.object_name
    tenv = build_teacher_env_exact(clipset, settings, {name: planner.samples}, psi=False)
    t0 = time.perf_counter()
    calls = 0
    try:
        env = tenv.envs[0]
        env.settings = env.settings.model_copy(update={"rollout_length": clip.n_frames + 2})
        env.set_feedforward(feedforward_actions({clip.meta.clip_id: plan}))
        recorder = RecordingBackend(env.backend)
        env.backend = recorder
        nq = env.scene.model.nq
        rng = np.random.default_rng(0)
        with torch_threads(1):
            for f in frames:
                planned = plan.actions[f]
                pushed = plan.states[f].copy()
                angle = rng.uniform(0, 2 * np.pi)
                pushed[nq : nq + 2] += args.push * np.array([np.cos(angle), np.sin(angle)])
                row: dict[str, Any] = {}
                for kind, state in (("on_plan", plan.states[f]), ("pushed", pushed)):
                    best, mean = [], []
                    for seed in range(args.seeds):
                        step = MppiStep(env, recorder, planner, np.random.default_rng(seed))
                        b, _ = step(f, state, np.zeros(2, np.int64), plan.actions[f - 1])
                        calls += 1
                        best.append(b["action"])
                        mean.append(np.clip(planned + step.nominal[0], -1.0, 1.0))
                    row[kind] = {
                        "best": _stats(np.array(best), planned),
                        "mean": _stats(np.array(mean), planned),
                    }
                out["frames"][str(f)] = row
    finally:
        tenv.close()
    out["seconds_per_label"] = round((time.perf_counter() - t0) / max(calls, 1), 2)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
