"""The sampling planner as a refiner on one sample clip: tracking and quality, one JSON line.

Plans ``--clip`` (default ``sub2_largetable_000``) with
:func:`intermimic.plan.plan_clip` (``PlannerSettings`` defaults, ``--plan KEY=VALUE`` to
change one) from its MoCap start and prints: ``frames`` tracked of ``clip_frames - 1``,
``success``, ``seconds``, ``env_steps`` (world-steps simulated) and their rate, ``e_h_cm``
(mean key-body error) and ``e_o_cm`` (mean object-point error) over the committed frames,
``e_h_cm_max``, and the refinement quality (:func:`stages.refine_quality.clip_quality`):
the artifact figures of the raw MoCap, of the planned motion and of InterMimic's own
refinement of the clip over the same frames, and the verdict of the issue's rule
(``full`` / ``worse`` with the failing figures / ``partial``). ``--save`` keeps the
rollout's arrays (``.npz``).

For comparison, InterMimic's refinement itself differs from the raw MoCap by 9.5 cm of
mean key-body position on ``sub2_largetable_000`` and 8.8 cm on ``sub2_woodchair_003``
(mostly root drift: 9.4 and 8.7 cm), its object by 4.4 and 4.0 cm.

Usage: ``python bench/planner.py --clip sub2_woodchair_003 --plan samples=32``.
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clip", default="sub2_largetable_000")
    p.add_argument("--frames", type=int, default=0, help="stop after this many (0: the clip)")
    p.add_argument(
        "--plan", action="append", default=[], metavar="KEY=VALUE", help="a PlannerSettings field"
    )
    p.add_argument(
        "--set", dest="set_", action="append", default=[], metavar="KEY=VALUE",
        help="a TeacherSettings field (the environment the planner drives)",
    )  # fmt: skip
    p.add_argument("--save", default=None, help="write the rollout's arrays to this .npz")
    args = p.parse_args(argv)

    import numpy as np
    import torch

    from cli.settings_options import parse_overrides
    from intermimic.motion.load import read_clip
    from intermimic.objects import ObjectLibrary
    from intermimic.paths import sample_raw_dir, sample_refined_dir
    from intermimic.plan import PlannerSettings, plan_clip
    from intermimic.rl.rollout import refined_clip
    from intermimic.rl.teacher_env import prepare_clips
    from intermimic.rl.teacher_settings import TeacherSettings
    from stages.refine_quality import clip_quality

    torch.set_num_threads(1)
    planner = parse_overrides(PlannerSettings, args.plan)
    settings = parse_overrides(TeacherSettings, args.set_)
    raw_dir = sample_raw_dir()
    if raw_dir is None:
        raise SystemExit("sample data (../shared/data/omomo/raw) not found")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clip = read_clip(raw_dir / f"{args.clip}.pt")
        clipset = prepare_clips([clip], ObjectLibrary(), settings, where=args.clip)
    scene = next(iter(clipset.scenes.values()))
    t0 = time.perf_counter()
    res = plan_clip(clip, scene, settings, planner, max_frames=args.frames or None)
    r = res.rollout
    seconds = time.perf_counter() - t0
    out = {
        "bench": "planner",
        "clip": args.clip,
        "frames": r.duration,
        "clip_frames": r.clip_frames,
        "success": r.success,
        "seconds": round(seconds, 1),
        "env_steps": res.env_steps,
        "env_steps_per_s": round(res.env_steps / max(res.seconds, 1e-9), 1),
        "e_h_cm": round(100 * r.e_h, 2),
        "e_h_cm_max": round(100 * float(np.max(r.arrays["key_body_error"])), 2),
        "e_o_cm": round(100 * r.e_o, 2),
        "planner": planner.model_dump(),
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
