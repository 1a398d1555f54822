"""A saved plan's committed actions replayed under other physics: object jitter, one JSON line.

Whether a change of the simulated system (a stiffer grip, another friction) would shake a
carried object less can be asked of one plan without planning again: from the plan's
committed states at ``--starts``, its committed actions are replayed open loop for
``--frames`` frames each, once with the physics the plan was made in (``--set``: it must
reproduce the plan exactly, ``baseline_max_dev_mm`` 0) and once with ``--vary`` on top.
The baseline replays the actions in one run from the plan's first frame (a plan is its
actions replayed from the MoCap start, the solver's warm start carried); the varied replay
starts at each start from the plan's state and the baseline's warm start there, so both
begin from the same solver state. Per start it prints the object jitter
(the artifact report's third-difference amplitude, mm, over the two saved frames before
the start and the replayed ones) of the plan, of the baseline replay and of the varied
replay, and how far the varied replay's object strays from the plan (``max_dev_mm``:
open loop, so the further it strays the less the comparison says); ``lower`` counts the
starts where the varied replay shakes less than the plan.

The plan file is ``bench/planner.py --save``'s ``.npz`` (or a plan cache's); ``--clip``
names the sample clip it was planned on.

Usage: ``python bench/replay_physics.py --plan-file plan_s1.npz --set physics_hz=240
--set ground_timeconst=0.0085 --vary object_timeconst=0.01``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import CLIP, add_settings_options, sample_clipset, teacher_settings


def replay(
    settings: Any,
    clip_id: str,
    arrays: dict[str, Any],
    starts: list[int],
    frames: int,
    warm: list[Any] | None = None,
) -> tuple[list[Any], list[Any]]:
    """The object's position ``[n + 3, 3]`` at the two saved frames before each start, at
    the start and at each replayed frame, and the solver's warm start ``[nv]`` at each
    start. ``warm`` None: one run from the plan's frame 0 (its own physics reproduces it
    bit for bit); else each start is replayed from the plan's state there with
    ``warm[i]`` as the warm start."""
    import numpy as np

    from intermimic.rl.teacher_env import build_teacher_env_exact

    (clip,), clipset = sample_clipset([clip_id], settings, where=clip_id)
    scene = next(iter(clipset.scenes.values()))
    name = clip.meta.object_name
    tenv = build_teacher_env_exact(clipset, settings, {name: 1}, psi=False)
    one = np.array([0])
    try:
        env = tenv.envs[0]
        be, adr = env.backend, scene.object_qpos_adr[:3]
        qpos, qvel, act = arrays["qpos"], arrays["qvel"], arrays["actions"]

        def run(first: int, last: int) -> dict[int, Any]:
            """Step frames ``first..last - 1`` from the current state: {frame: qpos, warm}."""
            seen = {first: (be.qpos()[0].copy(), be.warmstart()[0].copy())}
            for f in range(first, last):
                be.set_targets(env.action_map.targets(act[f][None]))
                be.step(env.substeps)
                seen[f + 1] = (be.qpos()[0].copy(), be.warmstart()[0].copy())
            return seen

        ends = [min(s + frames, len(act) - 1) for s in starts]
        if warm is None:
            be.reset(one, qpos[0][None], qvel[0][None])
            runs = [run(0, max(ends))] * len(starts)
        else:
            runs = []
            for s, e, w in zip(starts, ends, warm, strict=True):
                be.reset(one, qpos[s][None], qvel[s][None])
                be.set_warmstart(one, w[None])
                runs.append(run(s, e))
        pos, warm_at = [], []
        for s, e, seen in zip(starts, ends, runs, strict=True):
            saved = [arrays["obj_pos"][s - 2], arrays["obj_pos"][s - 1]]
            pos.append(np.asarray(saved + [seen[f][0][adr] for f in range(s, e + 1)]))
            warm_at.append(seen[s][1])
        return pos, warm_at
    finally:
        tenv.close()


def main(argv: list[str] | None = None) -> int:
    import numpy as np

    from cli.settings_options import parse_overrides
    from intermimic.contact.artifacts import jitter_amplitude
    from intermimic.rl.teacher_settings import TeacherSettings

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plan-file", type=Path, required=True, help="a saved plan (.npz)")
    ap.add_argument("--clip", default=CLIP, help="the sample clip it was planned on")
    ap.add_argument("--starts", default="50,75,100,125", help="frames to replay from")
    ap.add_argument("--frames", type=int, default=25, help="frames replayed from each start")
    ap.add_argument("--vary", action="append", default=[], metavar="KEY=VALUE",
                    help="a TeacherSettings field changed for the varied replay")  # fmt: skip
    add_settings_options(ap, "a TeacherSettings field of the physics the plan was made in")
    args = ap.parse_args(argv)
    if not args.plan_file.is_file():
        raise SystemExit(f"{args.plan_file}: no such plan file")
    with np.load(args.plan_file) as z:
        arrays = {k: np.asarray(z[k]) for k in ("qpos", "qvel", "actions", "obj_pos")}
    starts = [int(x) for x in args.starts.split(",")]
    n = len(arrays["actions"])
    if any(not 2 <= s < n - 1 for s in starts):
        raise SystemExit(f"--starts must lie in 2..{n - 2} (the plan has {n} frames)")
    base = teacher_settings(args, sim_threads=1)
    varied = parse_overrides(TeacherSettings, args.vary, **base.model_dump())
    saved = arrays["obj_pos"]
    rows = []
    same, warm = replay(base, args.clip, arrays, starts, args.frames)
    other, _ = replay(varied, args.clip, arrays, starts, args.frames, warm)
    for s, b, v in zip(starts, same, other, strict=True):
        plan = saved[s - 2 : s - 2 + len(b)]
        rows.append({
            "start": s,
            "jitter_plan_mm": round(1000 * jitter_amplitude(plan), 3),
            "jitter_baseline_mm": round(1000 * jitter_amplitude(b), 3),
            "jitter_varied_mm": round(1000 * jitter_amplitude(v), 3),
            # unrounded: 0.0 only when the replay is the plan to the bit
            "baseline_max_dev_mm": 1000 * float(np.abs(b - plan).max()),
            "max_dev_mm": round(1000 * float(np.abs(v - plan).max()), 2),
        })  # fmt: skip
    print(json.dumps({
        "bench": "replay_physics",
        "plan_file": str(args.plan_file),
        "clip": args.clip,
        "frames": args.frames,
        "physics": args.set_,
        "vary": args.vary,
        "lower": sum(r["jitter_varied_mm"] < r["jitter_plan_mm"] for r in rows),
        "starts": rows,
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
