"""How much action noise a plan's open-loop replay tolerates: one JSON line.

A ``planner_ff`` teacher starts from the sampling planner's committed actions, replayed
open loop (a zero residual). Whether PPO can keep that replay while it explores depends on
how far the replay survives small changes of its actions. This bench plans ``--clip``
(or takes the plan from ``--plan-cache``, the folder ``bench/teacher_curve.py`` and
``train_teacher`` use), then replays it from the MoCap start in ``--worlds`` worlds with
i.i.d. Gaussian noise of std ``s`` (action units; ``[-1, 1]`` spans a hinge's range)
added to every action, for each ``s`` of ``--noise``, and prints per level:

* ``frames``: frames each world tracked before the environment's early termination
  (mean, min, max) and ``terminated_by`` (how many worlds each reason ended);
* ``root_drift_cm``: with early termination off (only the root-height fall stays), the
  root's mean distance from the plan's root at 1, 2, 3 and 4 s (frames 30-120 at 30 Hz;
  a fallen world counts with its distance when it fell): whether the motion itself
  diverges or only a termination rule trips;
* ``qpos_max_diff``: the largest difference of any coordinate of ``qpos`` (m, rad) from
  the plan's over the frames the worlds tracked (the last one, where the episode ends
  and the world is reset, left out): 0.0 at noise 0, the plan replayed bit for bit.

For comparison, a PPO teacher explores with std ``residual_scale * exp(init_log_std)``
(0.25 * exp(-2.9) = 0.014 action units with the CPU profile).

With ``--teacher RUN`` (a ``planner_ff`` or ``planner_fb`` teacher trained on the same
plan) every level is replayed again with the teacher's residual added before the noise
(``teacher_levels``): what its learnt feedback adds to the open-loop plan, under the same
noise and seeds.

Usage: ``python bench/plan_tolerance.py --plan-cache /tmp/plans --noise 0,1e-4,1e-3,1e-2``.
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

#: Frames at which the root's drift from the plan is reported (1-4 s at 30 Hz).
DRIFT_FRAMES = (30, 60, 90, 120)


def replay(
    env: Any,
    plan_qpos: Any,
    noise: float,
    worlds: int,
    seed: int,
    *,
    to_the_end: bool = False,
    teacher: Any = None,
) -> dict[str, Any]:
    """Replay ``env``'s feed-forward base from its first clip's MoCap start with action
    noise of std ``noise``: frames survived, reasons and the root's drift from the plan.
    It stops once every world has ended, unless ``to_the_end`` (the drift at every
    reported frame, with the early termination off). With ``teacher`` (a
    ``TeacherPolicy`` on the teacher env holding ``env``) its residual is added to the
    base before the noise: the plan with the teacher's feedback."""
    import numpy as np
    import torch

    rng = np.random.default_rng(seed)
    length = int(env.ref.clip_len[0])
    g0 = int(env.ref.global_index(np.zeros(1, np.int64), np.zeros(1, np.int64))[0])
    start = np.repeat(env.ref.states()[g0][None], worlds, 0)
    obs = env.reset_to(np.full(worlds, g0), start)
    alive = np.ones(worlds, bool)
    frames = np.zeros(worlds, np.int64)
    reasons: dict[str, int] = {}
    drift: list[float] = []
    last = np.zeros(worlds)  # each world's root distance from the plan while it ran
    qpos_diff = 0.0
    for t in range(min(length - 1, len(plan_qpos) - 1)):
        a = env.reference_actions_tensor()
        if teacher is not None:
            mean = teacher.act(teacher.env.groups_of([obs]))
            a = a + teacher.env.residual_scale * torch.from_numpy(mean.astype(np.float64))
        a = a + torch.from_numpy(rng.standard_normal(tuple(a.shape)) * noise)
        obs, _, term, trunc, info = env.step(a.clamp(-1.0, 1.0))
        ended = term.cpu().numpy() & alive
        for w in np.flatnonzero(ended):
            why = ",".join(k for k, v in info["terminated_by"].items() if bool(v[w]))
            reasons[why] = reasons.get(why, 0) + 1
        alive &= ~ended
        frames += alive
        # an ended world is reset at once: it keeps the distance of its last step
        qpos = env.backend.qpos()
        # a world whose episode ended this step (the clip's end too) holds its reset state
        running = alive & ~trunc.cpu().numpy()
        if running.any():
            qpos_diff = max(qpos_diff, float(np.abs(qpos[running] - plan_qpos[t + 1]).max()))
        root = qpos[:, :3]
        last = np.where(alive, np.linalg.norm(root - plan_qpos[t + 1, :3], axis=1), last)
        if t + 1 in DRIFT_FRAMES:
            drift.append(float(last.mean()))
        if not alive.any() and not to_the_end:
            break
    return {
        "frames": [round(float(frames.mean()), 2), int(frames.min()), int(frames.max())],
        "terminated_by": reasons,
        "root_drift_cm": [round(100 * d, 2) for d in drift],
        "qpos_max_diff": qpos_diff,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clip", default=CLIP)
    p.add_argument("--worlds", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--noise", default="0,1e-4,1e-3,1e-2,3e-2",
        help="comma-separated noise stds in action units",
    )  # fmt: skip
    p.add_argument(
        "--plan-cache", default=None,
        help="folder of cached plans (plan_clips); without it the clip is planned now "
        "(10-35 minutes on 2 cores)",
    )  # fmt: skip
    p.add_argument(
        "--teacher", default=None,
        help="a planner_ff/planner_fb teacher run trained on this plan: each level is also "
        "replayed with its feedback (teacher_levels), under the same noise",
    )  # fmt: skip
    add_settings_options(
        p, "a TeacherSettings field (the environment and physics the plan runs in)", plan=True
    )
    args = p.parse_args(argv)
    levels = [float(x) for x in args.noise.split(",") if x.strip()]
    if not levels or min(levels) < 0:
        raise SystemExit(f"--noise {args.noise!r}: give non-negative stds, e.g. 0,1e-3")

    import numpy as np

    from intermimic.plan.seeds import feedforward_actions, plan_clips
    from intermimic.rl.teacher_env import build_teacher_env_exact
    from intermimic.rl.teacher_policy import load_teacher
    from intermimic.rl.teacher_settings import FEEDFORWARD_RECIPES, TeacherSettings
    from intermimic.rl.train import torch_threads

    planner = planner_settings(args)
    recipe = TeacherSettings.of_run(Path(args.teacher)).recipe if args.teacher else "planner_ff"
    if recipe not in FEEDFORWARD_RECIPES:
        raise SystemExit(f"--teacher {args.teacher}: recipe {recipe!r} has no plan to replay")
    settings = teacher_settings(args, recipe=recipe)
    (clip,), clipset = sample_clipset([args.clip], settings, where=args.clip)
    cache = Path(args.plan_cache) if args.plan_cache else None
    t0 = time.perf_counter()
    plans = plan_clips(clipset, settings, planner, cache_dir=cache)
    plan = plans[clip.meta.clip_id]
    plan_s = time.perf_counter() - t0
    name = clip.meta.object_name
    out: dict[str, Any] = {
        "bench": "plan_tolerance",
        "clip": args.clip,
        "plan_frames": plan.frames,
        "clip_frames": clip.n_frames,
        "plan_seconds": round(plan.seconds, 1),
        "plan_wall_seconds": round(plan_s, 1),  # about 0 when the plan came from the cache
        "worlds": args.worlds,
        "drift_frames": list(DRIFT_FRAMES),
        "levels": {},
    }
    tenv = build_teacher_env_exact(clipset, settings, {name: args.worlds}, psi=False)
    try:
        env = tenv.envs[0]
        mine = feedforward_actions(plans)
        tenv.set_feedforward(mine)
        teacher = None
        if args.teacher:
            teacher = load_teacher(Path(args.teacher), tenv, settings)
            if set(tenv.feedforward) != set(mine) or any(
                not np.array_equal(tenv.feedforward[k], v) for k, v in mine.items()
            ):
                raise SystemExit(
                    f"--teacher {args.teacher} was trained on another plan than this one "
                    "(same --plan, --set and --plan-cache as its run?)"
                )
            out["teacher"] = str(teacher.checkpoint)
            out["teacher_levels"] = {}
        length = int(env.ref.clip_len[0])
        env.settings = env.settings.model_copy(update={"rollout_length": length + 2})
        rules = env.settings
        free = rules.model_copy(
            update={
                "termination": rules.termination.model_copy(
                    update={
                        "max_key_body_error": None,
                        "max_object_error": None,
                        "max_ig_ratio": None,
                        "max_missing_hand_frames": None,
                    }
                )
            }
        )
        qpos = plan.rollout.arrays["qpos"]
        with torch_threads(1):
            # the open-loop plan, and with a teacher also the plan with its feedback
            runs = [("levels", None)] + ([("teacher_levels", teacher)] if teacher else [])
            for s in levels:
                for key, policy in runs:
                    env.settings = rules
                    row = replay(env, qpos, s, args.worlds, args.seed, teacher=policy)
                    env.settings = free
                    row["root_drift_cm"] = replay(
                        env, qpos, s, args.worlds, args.seed, to_the_end=True, teacher=policy
                    )["root_drift_cm"]
                    out[key][f"{s:g}"] = row
    finally:
        tenv.close()
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
