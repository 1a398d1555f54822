"""Teacher learning curve on one sample clip for a fixed wall-clock budget: one JSON line.

Trains a teacher (CPU profile, :class:`intermimic.rl.teacher_settings.TeacherSettings`) on
``sub2_largetable_000`` (from ``--store`` if given, else the sample file under
``../shared/data/omomo/raw``) for ``--budget-minutes`` of wall clock (default 20), and
prints:

* ``env_steps``, ``iterations``, ``train_seconds``; with ``--set recipe=planner_psi``
  (recipe b; also ``planner_bc``, ``planner_ff``, ``planner_fb``) also ``seed_seconds``
  (the planner's, taken from the budget) and ``seeded_frames`` (frames the planner
  tracked per clip);
* ``curve``: ``[env_steps, seconds, mean_episode_length, success_rate]`` rows over time
  (training episodes, which PSI starts anywhere in the clip);
* ``tracked_curve``: ``[env_steps, wall seconds (planner included), frames tracked,
  e_h_cm, e_o_cm]`` of ``--curve-points`` checkpoints kept over the budget, each
  evaluated after training by its noiseless attempt from the MoCap start (the figure
  the issue's goal is stated in); with ``planner_ff``/``planner_fb`` the first row, at 0
  env steps, is the plan's own figure, which the zero-mean starting policy's replay
  matches to the bit (the planner carries MuJoCo's solver warm start from frame to
  frame, as a replay does: docs/refinement_log.md, "Plans replay to the bit");
* ``untrained`` / ``trained``: deterministic rollouts from the clip's MoCap start
  (``--eval-attempts`` attempts, the first noiseless, the best kept; and
  ``*_deterministic``: the noiseless attempt alone): success rate,
  ``mean_duration`` (policy steps tracked), its fraction of the clip, ``e_h_cm`` (mean
  key-body error) and ``e_o_cm`` (mean object-point error) over the tracked frames;
* ``untrained_attempts`` / ``trained_attempts``: every attempt, not only the best:
  ``durations``, their ``mean_duration`` (the mean tracked duration of the goal) and
  ``ended_by`` (why each ended: ``clip_end`` or the early-termination reasons joined
  by ``+``, e.g. ``hand_contact``);
* ``trained_quality``: the quality rule (:func:`stages.refine_quality.clip_quality`) on
  the trained teacher's noiseless attempt, its refined clip: the verdict and every
  artifact figure raw / refined / InterMimic's refinement of the clip;
* ``planner``: the PlannerSettings of a planner recipe (``--plan KEY=VALUE``); with
  ``--plan tries=N`` the clip is planned with N seeds and the plan the quality rule
  judges best is kept, as the refine and teacher stages do (``planner_tries``: each try's
  frames, E_h, E_o, verdict; ``seed_seconds`` counts every try's planning);
* ``duration_ratio`` = trained / untrained mean duration over all attempts, and
  ``goal_3x`` on it; ``duration_ratio_best`` (best attempt) and
  ``duration_ratio_deterministic`` (the noiseless attempt) for comparison.

The untrained policy is the initial network of ``--seed`` on identity-normalised
observations. With residual actions its offsets are small, so it tracks about as far as
the reference's own PD targets (zero residual) do. It has no plan, whatever the recipe:
with ``planner_ff`` the run's own starting point (zero mean on the plan's actions)
replays the plan instead.

Usage: ``python bench/teacher_curve.py --budget-minutes 3``. The issue's command with the
settings that pass on ``sub2_largetable_000`` (docs/refinement_log.md, "Holding offsets
without jumps"):
``python bench/teacher_curve.py --budget-minutes 120 --clip sub2_largetable_000 --preset
tuned --plan seed=1 --set sim_threads=1 --set torch_threads=1``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (
    CLIP,
    add_settings_options,
    clip_set,
    load_clip,
    planner_settings,
    teacher_settings,
)


def _curve(rows: list[dict[str, Any]], points: int = 40) -> list[list[float]]:
    step = max(1, -(-len(rows) // points))
    keep = rows[::step] + ([rows[-1]] if rows and (len(rows) - 1) % step else [])
    return [
        [r["env_steps"], r["seconds"], round(r["mean_length"], 2), round(r["success_rate"], 3)]
        for r in keep
    ]


def all_attempts(clipset: Any, settings: Any, run_dir: Path | None) -> dict[str, Any]:
    """Every attempt of every clip from its MoCap start (the first noiseless, the others
    with the settings' attempt noise): ``durations``, their ``mean_duration`` and what
    ended each (``ended_by``: the early-termination reasons, or ``clip_end``)."""
    import numpy as np

    from intermimic.rl.rollout import iter_attempts

    rollouts = [r for batch in iter_attempts(clipset, settings, run_dir) for r in batch]
    durations = [r.duration for r in rollouts]
    return {
        "durations": durations,
        "mean_duration": round(float(np.mean(durations)), 3),
        "ended_by": ["+".join(r.ended_by) for r in rollouts],
    }


def _quality(clip: Any, clipset: Any, rollout: Any) -> dict[str, Any] | None:
    """The quality rule on the trained teacher's noiseless attempt (its refined clip):
    the verdict and every artifact figure raw / refined / InterMimic's refinement."""
    from intermimic.paths import sample_refined_dir
    from intermimic.rl.rollout import refined_clip
    from stages.refine_quality import clip_quality

    if rollout.duration < 2:
        return None
    scene = clipset.scenes[clip.meta.object_name]
    refined = refined_clip(rollout, clip, scene, dataset="bench-refined", source_sha256="0" * 64)
    q = clip_quality(
        clip, refined, scene, None, rollout.success, reference_dir=sample_refined_dir()
    )
    return {
        "verdict": q.verdict.to_json(),
        "raw": {k: round(v, 5) for k, v in q.before.items()},
        "refined": {k: round(v, 5) for k, v in q.after.items()},
        "intermimic": {k: round(v, 5) for k, v in (q.intermimic or {}).items()},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget-minutes", type=float, default=20.0, help="training wall clock")
    p.add_argument("--clip", default=CLIP)
    p.add_argument("--store", default=None, help="read the clip from this store")
    p.add_argument("--worlds", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-attempts", type=int, default=8)
    p.add_argument("--run-dir", default=None, help="keep the run here (default: a temp dir)")
    p.add_argument(
        "--plan-cache", default=None,
        help="planner recipes: folder of cached planned clips (shared between runs; their "
        "planning time still counts in the wall clock)",
    )  # fmt: skip
    p.add_argument(
        "--curve-points", type=int, default=8,
        help="checkpoints kept over the budget and evaluated from the MoCap start after "
        "training (tracked_curve); 0: none",
    )  # fmt: skip
    add_settings_options(
        p, "any TeacherSettings field, e.g. --set horizon=16", plan=True
    )  # --plan: the planner recipes' PlannerSettings
    args = p.parse_args(argv)

    from intermimic.paths import sample_refined_dir
    from intermimic.plan.progress import progress_lines
    from intermimic.plan.recipes import recipe_inputs
    from intermimic.rl import checkpoint as ckpt
    from intermimic.rl.rollout import evaluate, summarize
    from intermimic.rl.teacher_training import train_teacher
    from stages.refine_choice import QualityChoice

    settings = teacher_settings(
        args,
        worlds=args.worlds,
        seed=args.seed,
        env_steps=10**12,  # the budget stops it
        checkpoint_interval=5,
        tensorboard=False,
        attempts=args.eval_attempts,
    )
    planner = planner_settings(args)
    t0 = time.perf_counter()
    clip = load_clip(args.clip, args.store)
    clipset = clip_set([clip], settings, where=args.clip)
    setup_s = time.perf_counter() - t0
    untrained = summarize(evaluate(clipset, settings, None))
    untrained_det = summarize(evaluate(clipset, settings, None, attempts=1, noise=0.0))
    untrained_all = all_attempts(clipset, settings, None)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(args.run_dir) if args.run_dir else Path(tmp) / "run"
        # planner recipes: the planner's time counts against the budget, also when its
        # plans come from the cache
        cache = Path(args.plan_cache) if args.plan_cache else run_dir / "psi_seed"
        # of several tries (--plan tries=N), the plan the refine stage would keep
        choice = QualityChoice(reference_dir=sample_refined_dir())
        # a tenth of each clip's planning per line on stderr (stdout is the JSON line)
        lines = progress_lines(lambda line: print(line, file=sys.stderr, flush=True))
        recipe = recipe_inputs(
            clipset, settings, cache, planner, choose=choice, judge_for=choice.judge,
            on_frame=lines,
        )  # fmt: skip
        seed_s = recipe.planner_seconds
        seeded = {k: v.frames for k, v in recipe.plans.items()}
        budget_s = max(60 * args.budget_minutes - seed_s, 1.0)
        snaps: list[tuple[float, Path]] = []
        t_train = time.perf_counter()

        def snapshot(iteration: int, total: int) -> None:
            """Keep a copy of the newest checkpoint every budget / curve-points seconds:
            evaluated after training, so the evaluations cost the budget nothing."""
            now = time.perf_counter() - t_train
            # evenly over the budget: of env steps when that ends the run first, else
            # of wall clock
            points = max(args.curve_points, 1)
            if settings.env_steps < 10**12:  # --set env_steps=N: it ends the run
                if snaps and iteration < len(snaps) * total / points:
                    return
            elif snaps and now - snaps[-1][0] < budget_s / points:
                return
            newest = ckpt.list_checkpoints(run_dir / "checkpoints")
            if newest:
                dst = run_dir / "curve" / newest[-1].name
                shutil.copytree(newest[-1], dst / "checkpoints" / newest[-1].name)
                for f in ("teacher_settings.json", "settings.json"):
                    if (run_dir / f).exists():
                        shutil.copy(run_dir / f, dst / f)
                snaps.append((now, dst))

        result = train_teacher(
            clipset, settings, run_dir, max_seconds=budget_s,
            psi_seeds=recipe.psi_seeds, init_actor=recipe.init_actor,
            feedforward=recipe.feedforward,
            on_progress=snapshot if args.curve_points else None,
        )  # fmt: skip
        tracked_curve = []
        if recipe.feedforward:
            # planner_ff's starting point: the zero-mean policy on the plan's actions
            # replays the plan to the bit (tests/rl/test_teacher_feedforward.py), so the
            # plan's own figures are the curve's first point, at 0 env steps
            for planned in recipe.plans.values():
                r0 = planned.rollout
                tracked_curve.append(
                    [0, round(seed_s, 1), r0.duration, round(100 * r0.e_h, 2),
                     round(100 * r0.e_o, 2)]
                )  # fmt: skip
        per_iter = settings.worlds * settings.train_settings().ppo.horizon
        for secs, snap_dir in snaps:
            it = int(snap_dir.name.split("_")[-1])
            r = summarize(evaluate(clipset, settings, snap_dir, attempts=1, noise=0.0))
            tracked_curve.append(
                [it * per_iter, round(seed_s + secs, 1), round(r["mean_duration"], 1),
                 round(r["e_h_cm"], 2), round(r["e_o_cm"], 2)]
            )  # fmt: skip
        trained = summarize(evaluate(clipset, settings, run_dir))
        det = evaluate(clipset, settings, run_dir, attempts=1, noise=0.0)
        trained_det = summarize(det)
        quality = _quality(clip, clipset, det[clip.meta.clip_id])
        trained_all = all_attempts(clipset, settings, run_dir)
    ratio = trained_all["mean_duration"] / max(untrained_all["mean_duration"], 1e-9)
    ratio_best = trained["mean_duration"] / max(untrained["mean_duration"], 1e-9)
    ratio_det = trained_det["mean_duration"] / max(untrained_det["mean_duration"], 1e-9)
    first = result.curve[: max(1, len(result.curve) // 10)]
    last = result.curve[-max(1, len(result.curve) // 10) :]
    out = {
        "bench": "teacher_curve",
        "clip": args.clip,
        "clip_frames": clip.n_frames,
        "budget_minutes": args.budget_minutes,
        "worlds": settings.worlds,
        "preset": args.preset,
        "settings": {k: v for k, v in settings.model_dump().items() if v is not None},
        "planner": None if settings.recipe == "ppo" else planner.model_dump(),
        "planner_tries": choice.to_json(),
        "setup_seconds": round(setup_s, 1),
        "seed_seconds": round(seed_s, 1),
        "seeded_frames": seeded,
        "train_seconds": round(result.seconds, 1),
        "iterations": result.iterations,
        "env_steps": result.env_steps,
        "env_steps_per_s": round(result.env_steps / max(result.seconds, 1e-9), 1),
        "train_episode_length_first_10pct": round(
            sum(r["mean_length"] for r in first) / max(len(first), 1), 2
        ),
        "train_episode_length_last_10pct": round(
            sum(r["mean_length"] for r in last) / max(len(last), 1), 2
        ),
        "curve": _curve(result.curve),
        "tracked_curve": tracked_curve,
        "untrained": {k: round(v, 3) for k, v in untrained.items()},
        "trained": {k: round(v, 3) for k, v in trained.items()},
        "untrained_deterministic": {k: round(v, 3) for k, v in untrained_det.items()},
        "trained_deterministic": {k: round(v, 3) for k, v in trained_det.items()},
        "trained_quality": quality,
        "untrained_attempts": untrained_all,
        "trained_attempts": trained_all,
        "duration_ratio": round(ratio, 3),
        "duration_ratio_best": round(ratio_best, 3),
        "duration_ratio_deterministic": round(ratio_det, 3),
        "goal_3x": bool(ratio >= 3.0),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
