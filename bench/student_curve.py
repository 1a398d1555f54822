"""Student against its baselines for a fixed budget on the sample: one JSON line.

On ``--clip`` (default ``sub2_largetable_000``; from ``--store`` if given, else the
sample's InterAct file):

1. the teacher: ``--teacher-run DIR`` (a run directory, e.g. kept by
   ``bench/teacher_curve.py --run-dir DIR``), else one trained here for
   ``--teacher-minutes`` (default 1);
2. reference distillation: the teacher replays the clip (best of 4 attempts); when the
   refined motion is too short to serve as a reference (a teacher trained for minutes
   on a CPU falls early) the raw clip stands in and ``refined_fallback`` says so;
3. the student (``full``) and each baseline (``ppo_only``, ``dagger_only``,
   ``refdist_only``) trained for the same ``--budget-minutes`` each (default 0.75);
4. every policy (and the teacher) evaluated from the clip's MoCap start: success,
   ``mean_duration`` (policy steps), its fraction of the clip, ``e_h_cm``, ``e_o_cm``.

Usage: ``python bench/student_curve.py --budget-minutes 3 --set width=128`` (or
``--env-steps 20000`` for the same number of transitions per run).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import CLIP, add_settings_options, clip_set, load_clip

KEYS = ("success_rate", "mean_duration", "mean_duration_fraction", "e_h_cm", "e_o_cm")


def _round(summary: dict[str, float]) -> dict[str, float]:
    return {k: round(summary[k], 3) for k in KEYS if k in summary}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget-minutes", type=float, default=0.75, help="per student / baseline")
    p.add_argument(
        "--env-steps", type=int, default=None,
        help="budget in environment transitions instead (the same for every run, whatever "
        "the machine's load)",
    )  # fmt: skip
    p.add_argument("--teacher-minutes", type=float, default=1.0)
    p.add_argument("--teacher-run", default=None, help="use this teacher run directory")
    p.add_argument("--clip", default=CLIP)
    p.add_argument("--store", default=None, help="read the clip from this store")
    p.add_argument("--worlds", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    add_settings_options(p, "any StudentSettings field, e.g. --set architecture=mlp")
    args = p.parse_args(argv)

    from cli.settings_options import parse_overrides
    from intermimic.eval import EvalSettings, evaluate_policy
    from intermimic.eval.evaluate import trackable
    from intermimic.objects import ObjectLibrary
    from intermimic.rl.rollout import evaluate as refine_eval
    from intermimic.rl.rollout import refined_clip
    from intermimic.rl.student_env import StudentGroup
    from intermimic.rl.student_policy import load_student
    from intermimic.rl.student_settings import MODES, StudentSettings
    from intermimic.rl.student_training import train_student
    from intermimic.rl.teacher_actor import load_teacher_actor
    from intermimic.rl.teacher_settings import TeacherSettings
    from intermimic.rl.teacher_training import train_teacher

    t_start = time.perf_counter()
    clip = load_clip(args.clip, args.store)
    objects = ObjectLibrary()
    teacher_s = TeacherSettings(
        worlds=args.worlds, seed=args.seed, env_steps=10**12, checkpoint_interval=5,
        tensorboard=False, recipe="ppo",  # this bench plans nothing: PPO's teacher
    )  # fmt: skip
    clipset = clip_set([clip], teacher_s, where=args.clip, objects=objects)
    obj = clip.meta.object_name
    scene = clipset.scenes[obj]
    settings = parse_overrides(
        StudentSettings, args.set_, worlds=args.worlds, seed=args.seed,
        env_steps=args.env_steps or 10**12,
        checkpoint_interval=5, tensorboard=False, beta_anneal_iterations=10,
    )  # fmt: skip
    ev_s = EvalSettings(seed=args.seed)
    out: dict[str, Any] = {
        "bench": "student_curve",
        "clip": args.clip,
        "clip_frames": clip.n_frames,
        "budget_minutes": None if args.env_steps else args.budget_minutes,
        "budget_env_steps": args.env_steps,
        "worlds": args.worlds,
        "settings": {k: v for k, v in settings.model_dump().items() if k not in ("env_steps",)},
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.teacher_run:
            teacher_run = Path(args.teacher_run)
            out["teacher"] = {"run": str(teacher_run)}
        else:
            teacher_run = root / "teacher"
            res = train_teacher(
                clipset, teacher_s, teacher_run, max_seconds=60 * args.teacher_minutes
            )
            out["teacher"] = {"trained_minutes": args.teacher_minutes, "iterations": res.iterations}
        teacher = load_teacher_actor(teacher_run, clip.meta.subject)
        out["teacher"].update(_round(evaluate_policy(teacher, [clip], objects, ev_s).summary))
        best = refine_eval(clipset, teacher.settings, teacher_run)[clip.meta.clip_id]
        refined = refined_clip(
            best, clip, scene, dataset=f"{clip.meta.dataset}-refined",
            source_sha256=clip.meta.source_sha256,
        )  # fmt: skip
        ok, _ = trackable([refined], max(16, *settings.future_offsets))
        out["refined_frames"] = refined.n_frames
        out["refined_fallback"] = not ok
        refs = ok or [clip]
        subj = clip.meta.subject
        results: dict[str, Any] = {}
        for mode in MODES:
            s = settings.model_copy(update={"mode": mode})
            group = StudentGroup(subj, obj, [clip] if s.references == "raw" else refs, scene)
            run = root / mode
            r = train_student(
                [group], {subj: teacher} if s.uses_teacher else {}, s, run,
                max_seconds=None if args.env_steps else 60 * args.budget_minutes,
            )  # fmt: skip
            ev = evaluate_policy(load_student(run), [clip], objects, ev_s)
            results[mode] = {
                "iterations": r.iterations,
                "env_steps": r.env_steps,
                "ppo_joined_at": r.gate_opened_at,
                **_round(ev.summary),
            }
        out["students"] = results
    out["seconds"] = round(time.perf_counter() - t_start, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
