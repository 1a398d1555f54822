"""The sampling planner as a refiner on one sample clip: tracking and quality, one JSON line.

Plans ``--clip`` (default ``sub2_largetable_000``) with
:func:`intermimic.plan.plan_clip` (``PlannerSettings`` defaults, ``--plan KEY=VALUE`` to
change one) from its MoCap start and prints: ``frames`` tracked of ``clip_frames - 1``,
``success``, ``rewinds`` (times it planned frames again, ``--plan backtrack=N``),
``seconds``, ``env_steps`` (world-steps simulated) and their rate, ``e_h_cm``
(mean key-body error) and ``e_o_cm`` (mean object-point error) over the committed frames,
``e_h_cm_max``, and the refinement quality (:func:`stages.refine_quality.clip_quality`):
the artifact figures of the raw MoCap, of the planned motion and of InterMimic's own
refinement of the clip over the same frames, and the verdict of the issue's rule
(``full`` / ``worse`` with the failing figures / ``partial``). ``--save`` keeps the
rollout's arrays (``.npz``); ``--base`` plans around an earlier plan's actions (such a
file, or one of the plan cache's) instead of the reference's PD targets. Progress goes
to stderr every 10 frames.

For comparison, InterMimic's refinement itself differs from the raw MoCap by 9.5 cm of
mean key-body position on ``sub2_largetable_000`` and 8.8 cm on ``sub2_woodchair_003``
(mostly root drift: 9.4 and 8.7 cm), its object by 4.4 and 4.0 cm. Most of that is the
height the environment grounds the reference by (8.0 and 7.5 cm,
:mod:`intermimic.env.grounding`): against the environment's own reference, the one
``e_h_cm`` is measured against, InterMimic's refinement is 6.1 cm off on
``sub2_largetable_000`` (4.7-8.9 per 30 frames) and 4.8 cm on ``sub2_woodchair_003``.

Usage: ``python bench/planner.py --clip sub2_woodchair_003 --plan samples=32``.
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clip", default=CLIP)
    p.add_argument("--frames", type=int, default=0, help="stop after this many (0: the clip)")
    add_settings_options(
        p, "a TeacherSettings field (the environment the planner drives)", plan=True
    )
    p.add_argument("--save", default=None, help="write the rollout's arrays to this .npz")
    p.add_argument(
        "--base", default=None,
        help="an earlier plan's .npz (--save, or a plan cache file): plan around its actions "
        "instead of the reference's PD targets",
    )  # fmt: skip
    args = p.parse_args(argv)

    import numpy as np
    import torch

    from intermimic.paths import sample_refined_dir
    from intermimic.plan import plan_clip
    from intermimic.rl.rollout import refined_clip
    from stages.refine_quality import clip_quality

    torch.set_num_threads(1)
    planner = planner_settings(args)
    settings = teacher_settings(args)
    (clip,), clipset = sample_clipset([args.clip], settings, where=args.clip)
    scene = next(iter(clipset.scenes.values()))
    t0 = time.perf_counter()
    base = None
    if args.base:
        with np.load(args.base) as z:
            base = np.asarray(z["actions"], np.float64)[:-1]  # its last row is 0 (no step)

    def progress(frame: int, total: int) -> None:
        # stderr, every 10 frames: a run takes 10-120 minutes on 2 cores
        if frame % 10 == 0:
            print(f"frame {frame}/{total - 1}  {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    res = plan_clip(
        clip,
        scene,
        settings,
        planner,
        max_frames=args.frames or None,
        base=base,
        on_frame=progress,
    )
    r = res.rollout
    seconds = time.perf_counter() - t0
    out = {
        "bench": "planner",
        "clip": args.clip,
        "frames": r.duration,
        "clip_frames": r.clip_frames,
        "success": r.success,
        "rewinds": res.rewinds,
        "seconds": round(seconds, 1),
        "env_steps": res.env_steps,
        "env_steps_per_s": round(res.env_steps / max(res.seconds, 1e-9), 1),
        "e_h_cm": round(100 * r.e_h, 2),
        "e_h_cm_max": round(100 * float(np.max(r.arrays["key_body_error"])), 2),
        "e_o_cm": round(100 * r.e_o, 2),
        "planner": planner.model_dump(),
        "base": args.base,
    }
    if r.duration >= 2:
        refined = refined_clip(r, clip, scene, dataset="bench-refined", source_sha256="0" * 64)
        q = clip_quality(clip, refined, scene, None, r.success, reference_dir=sample_refined_dir())
        out["quality"] = {
            "verdict": q.verdict.to_json(),
            "raw": {k: round(v, 5) for k, v in q.before.items()},
            "planned": {k: round(v, 5) for k, v in q.after.items()},
            "intermimic": {k: round(v, 5) for k, v in (q.intermimic or {}).items()},
        }
    if args.save:
        arrays: dict[str, Any] = dict(r.arrays)
        np.savez(args.save, **arrays)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
