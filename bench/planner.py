"""The sampling planner as a refiner on one sample clip: tracking and quality, one JSON line.

Plans ``--clip`` (default ``sub2_largetable_000``) with
:func:`intermimic.plan.plan_clip` (``PlannerSettings`` defaults, ``--plan KEY=VALUE`` to
change one) from its MoCap start and prints: ``frames`` tracked of ``clip_frames - 1``,
``success``, ``ended_by`` (what stopped it: ``clip_end``, the environment's
termination reasons, or ``episode_cap`` for ``--frames``), ``rewinds`` (times it
planned frames again, ``--plan backtrack=N``), ``window_attempts`` (plans of each
window with ``--plan window=N --plan window_tries=K``, judged by the refine stage's
quality rule), ``plan_calls`` (planning calls kept:
the frames, or fewer with ``--plan commit_steps=N``), ``seconds``, ``env_steps`` (world-steps
simulated) and their rate, ``e_h_cm``
(mean key-body error) and ``e_o_cm`` (mean object-point error) over the committed frames,
``e_h_cm_max``, ``e_h_cm_per_30`` (E_h per 30 frames from the start),
``hinge_error_rad_per_30`` (the RMS of the body hinges' angle error against the
reference's, :attr:`~intermimic.plan.planner.PlanResult.hinge_error`, per 30 frames: the
drift in joint space), ``hand_object_cm_per_30`` (how far the hands the labels put in
contact are from where the capture's hold the object, in the object's frame,
:attr:`~intermimic.plan.planner.PlanResult.hand_object_error`, per 30 frames; ``null``
for 30 frames without a labelled hand), ``physics`` (the physics rate, the ground's
``solref``, the embodiment, the reference's ``ground_window`` and the base targets'
``gravity_compensation`` the plan was simulated with: ``--set physics_hz=240 --set
ground_timeconst=0.0085`` and the like), and the refinement quality
(:func:`stages.refine_quality.clip_quality`):
the artifact figures of the raw MoCap, of the planned motion and of InterMimic's own
refinement of the clip over the same frames, and the verdict of the issue's rule
(``full`` / ``worse`` with the failing figures / ``partial``). ``--save`` keeps the
rollout's arrays (``.npz``); ``--base`` plans around an earlier plan's actions (such a
file, or one of the plan cache's) instead of the reference's PD targets. Progress goes
to stderr every 10 frames, and with windows one line per judged attempt.

``--seeds 0,1,2,3`` plans the clip once per planner seed and prints one JSON line
(``bench: planner_seeds``) with each run's line under ``runs`` and their ``summary``
(mean, min and max of frames, E_h, E_o and the artifact figures, the verdicts
counted, and ``kept``: the run the refine stage would keep of them as
``--plan tries=N``, by the quality rule): single runs of the same settings differ by
about 5 cm of E_h, more than any setting tried, so settings are compared over seeds.
``--workers W`` runs W seeds at once in separate processes (each with ``sim_threads`` =
cores / W unless ``--set`` gives it); ``--save`` then names one file per seed
(``plan.npz`` -> ``plan_s3.npz``).

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
import logging
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
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
    p.add_argument(
        "--seeds", default=None,
        help="comma-separated planner seeds: one run each, summarised (overrides --plan seed)",
    )  # fmt: skip
    p.add_argument("--workers", type=int, default=1, help="seeds planned at once (processes)")
    args = p.parse_args(argv)
    # each judged window attempt (intermimic.plan.windows), beside the frame counter
    logging.basicConfig(format="%(message)s", stream=sys.stderr)
    logging.getLogger("intermimic.plan.windows").setLevel(logging.INFO)
    if args.workers < 1:
        p.error("--workers must be at least 1")
    seeds = _seeds(p, args.seeds)
    if seeds is None:
        print(json.dumps(run_one(args, None)))
        return 0
    if args.workers > 1 and not any(o.split("=")[0] == "sim_threads" for o in args.set_):
        cores = os.cpu_count() or 1
        args.set_ = [*args.set_, f"sim_threads={max(1, cores // args.workers)}"]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        runs = list(pool.map(run_one, [args] * len(seeds), seeds))
    out = {
        "bench": "planner_seeds",
        "clip": args.clip,
        "seeds": seeds,
        "workers": args.workers,
        "seconds": round(time.perf_counter() - t0, 1),
        "summary": summarise(runs),
        "runs": runs,
    }
    print(json.dumps(out))
    return 0


def _seeds(p: argparse.ArgumentParser, text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        seeds = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        p.error(f"--seeds {text!r}: not comma-separated integers")
    if not seeds or len(set(seeds)) != len(seeds):
        p.error(f"--seeds {text!r}: give distinct seeds")
    return seeds


#: Figures :func:`summarise` takes the mean, min and max of, by where they are in a run.
SUMMARY_FIGURES = ("frames", "e_h_cm", "e_o_cm", "seconds")


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, min and max over ``runs`` (each :func:`run_one`'s line) of frames, E_h, E_o,
    seconds and every artifact figure of the planned motion, and the verdicts counted."""
    import numpy as np

    columns: dict[str, list[float]] = {k: [float(r[k]) for r in runs] for k in SUMMARY_FIGURES}
    planned = [r["quality"]["planned"] for r in runs if "quality" in r]
    if len(planned) == len(runs):
        for k in planned[0]:
            columns[k] = [float(q[k]) for q in planned]
    out: dict[str, Any] = {
        k: {
            "mean": round(float(np.mean(v)), 5),
            "min": round(float(np.min(v)), 5),
            "max": round(float(np.max(v)), 5),
        }
        for k, v in columns.items()
    }
    verdicts = [r["quality"]["verdict"]["verdict"] if "quality" in r else "none" for r in runs]
    out["verdicts"] = {v: verdicts.count(v) for v in sorted(set(verdicts))}
    out["success"] = sum(bool(r["success"]) for r in runs)
    out["kept"] = kept(runs)
    return out


def kept(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run the refine stage would keep of these as tries (``PlannerSettings.tries``,
    :class:`stages.refine_choice.TryRecord`'s rank), as its ``to_json``."""
    from stages.refine_choice import TryRecord
    from stages.refine_quality import Verdict, quality_verdict

    def verdict(r: dict[str, Any]) -> Verdict:
        if "quality" in r:
            return Verdict.from_json(r["quality"]["verdict"])
        return quality_verdict(bool(r["success"]), None, None)

    records = [
        TryRecord(
            int(r["planner"]["seed"]),
            int(r["frames"]),
            bool(r["success"]),
            float(r["e_h_cm"]),
            float(r["e_o_cm"]),
            verdict(r),
        )
        for r in runs
    ]
    return min(records, key=TryRecord.rank).to_json(kept=True)


def _per_30(series: Any) -> list[float | None]:
    """Means of ``series`` over consecutive 30-frame segments (one second; the last may
    be shorter), rounded: where along the clip a figure grows. NaN frames (a figure
    undefined there) are left out; a segment of none is ``None``."""
    import numpy as np

    out: list[float | None] = []
    for a in range(0, len(series), 30):
        seg = np.asarray(series[a : a + 30], np.float64)
        seg = seg[~np.isnan(seg)]
        out.append(round(float(seg.mean()), 3) if len(seg) else None)
    return out


def run_one(args: argparse.Namespace, seed: int | None) -> dict[str, Any]:
    """Plan ``args.clip`` once (with planner ``seed`` when given) and measure it: the
    JSON line of the module doc."""
    import numpy as np
    import torch

    from intermimic.paths import sample_refined_dir
    from intermimic.plan import plan_clip
    from intermimic.rl.rollout import refined_clip
    from stages.refine_choice import QualityChoice
    from stages.refine_quality import clip_quality

    torch.set_num_threads(1)
    planner = planner_settings(args)
    if seed is not None:
        planner = planner.model_copy(update={"seed": seed})
    settings = teacher_settings(args)
    (clip,), clipset = sample_clipset([args.clip], settings, where=args.clip)
    scene = next(iter(clipset.scenes.values()))
    t0 = time.perf_counter()
    base = None
    if args.base:
        with np.load(args.base) as z:
            base = np.asarray(z["actions"], np.float64)[:-1]  # its last row is 0 (no step)
    tag = "" if seed is None else f"seed {seed}: "

    def progress(frame: int, total: int) -> None:
        # stderr, every 10 frames: a run takes 10-120 minutes on 2 cores
        if frame % 10 == 0:
            print(
                f"{tag}frame {frame}/{total - 1}  {time.perf_counter() - t0:.0f} s", file=sys.stderr
            )

    res = plan_clip(
        clip,
        scene,
        settings,
        planner,
        max_frames=args.frames or None,
        base=base,
        on_frame=progress,
        # windows (--plan window=N) are judged as the refine stage judges them
        judge=QualityChoice(None, sample_refined_dir()).judge(clip, scene),
    )
    r = res.rollout
    seconds = time.perf_counter() - t0
    out = {
        "bench": "planner",
        "clip": args.clip,
        "preset": args.preset,
        "frames": r.duration,
        "clip_frames": r.clip_frames,
        "success": r.success,
        "ended_by": list(r.ended_by),
        "rewinds": res.rewinds,
        "window_attempts": list(res.window_attempts),
        "plan_calls": len(res.plan_frames),
        "seconds": round(seconds, 1),
        "env_steps": res.env_steps,
        "env_steps_per_s": round(res.env_steps / max(res.seconds, 1e-9), 1),
        "e_h_cm": round(100 * r.e_h, 2),
        "e_h_cm_max": round(100 * float(np.max(r.arrays["key_body_error"])), 2),
        "e_o_cm": round(100 * r.e_o, 2),
        "e_h_cm_per_30": _per_30(100 * np.asarray(r.arrays["key_body_error"])),
        "hinge_error_rad_per_30": _per_30(res.hinge_error),
        "hand_object_cm_per_30": _per_30(100 * res.hand_object_error),
        "planner": planner.model_dump(),
        # the simulated system: runs at other physics rates or grounds are not comparable
        "physics": {
            "physics_hz": settings.physics_hz,
            "ground_solref": list(settings.ground_solref),
            "friction_cone": settings.friction_cone,
            "impratio": settings.impratio,
            "embodiment": settings.embodiment,
            # the reference's grounding and the base targets: other runs, other figures
            "ground_window": settings.ground_window,
            "gravity_compensation": settings.gravity_compensation,
            "object_rest": settings.object_rest,
        },
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
        save = Path(args.save)
        if seed is not None:
            save = save.with_name(f"{save.stem}_s{seed}{save.suffix or '.npz'}")
        arrays: dict[str, Any] = dict(r.arrays)
        np.savez(save, **arrays)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
