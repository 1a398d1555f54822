"""Frames the reference's own PD targets track (zero residual), per clip: one JSON line.

Every clip of a subject (default the sample's ``sub2``) starts from its MoCap state at
frame 0 in the teacher environment of the CPU profile (``--set KEY=VALUE`` for any
:class:`~intermimic.rl.teacher_settings.TeacherSettings` field), with residual actions
and a residual of zero: the PD targets are the next reference pose. The figure is how many
policy steps each clip runs before early termination (or to its end): the floor a trained
teacher starts from, and a direct measure of the environment's settings (physics,
termination) on their own. Prints ``per_clip`` (clip -> frames tracked, clip frames,
termination reason), ``mean_frames`` and ``mean_fraction``.

Usage: ``python bench/zero_residual.py [--subject sub2] [--clip sub2_largetable_000]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench._common import add_settings_options, sample_clipset, sample_dir, teacher_settings


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subject", default="sub2")
    p.add_argument("--clip", action="append", default=[], help="only these clips")
    add_settings_options(p, "any TeacherSettings field")
    args = p.parse_args(argv)

    from intermimic.rl.teacher_env import build_teacher_env_exact
    from intermimic.rl.vecenv import to_host

    settings = teacher_settings(args, residual_actions=True)
    ids = [q.stem for q in sorted(sample_dir().glob(f"{args.subject}_*.pt"))]
    if args.clip:
        ids = [c for c in ids if c in set(args.clip)]
    _, clipset = sample_clipset(ids, settings, where=args.subject)
    worlds = {name: len(group) for name, group in clipset.groups.items()}
    env = build_teacher_env_exact(clipset, settings, worlds, psi=False)
    out: dict[str, Any] = {}
    for e in env.envs:
        # every world starts its own clip at frame 0 from the MoCap state
        e.psi.sample = _starts(e)  # type: ignore[method-assign]
        e.settings = e.settings.model_copy(update={"rollout_length": 10**6})
    env.reset()
    n = env.num_envs
    alive = np.ones(n, bool)
    frames = np.zeros(n, np.int64)
    reason = [""] * n
    zeros = np.zeros((n, env.num_actions))
    for t in range(env.max_episode_length):
        _, _, term, trunc, info = env.step(zeros)
        term, trunc = to_host(term), to_host(trunc)
        ended = (term | trunc) & alive
        frames[alive] = t + 1
        why = {k: to_host(v) for k, v in info.get("terminated_by", {}).items()}
        for w in np.flatnonzero(ended):
            reason[w] = next((k for k, v in why.items() if v[w]), "clip_end")
        alive &= ~ended
        if not alive.any():
            break
    w = 0
    fractions = []
    for e in env.envs:
        for c, cid in enumerate(e.ref.clip_ids):
            length = int(e.ref.clip_len[c])
            out[cid] = {"frames": int(frames[w]), "clip_frames": length, "ended_by": reason[w]}
            fractions.append(frames[w] / max(length - 1, 1))
            w += 1
    env.close()
    print(
        json.dumps(
            {
                "subject": args.subject,
                "clips": len(out),
                "mean_frames": round(float(np.mean([v["frames"] for v in out.values()])), 1),
                "mean_fraction": round(float(np.mean(fractions)), 3),
                "per_clip": out,
            }
        )
    )
    return 0


def _starts(env: Any) -> Any:
    """A PSI draw that gives world ``w`` its clip's frame 0 (MoCap state)."""
    import torch

    def sample(n: int) -> tuple[Any, Any, Any]:
        frames = env.ref.clip_start[np.arange(n) % len(env.ref.clip_start)].astype(np.int64)
        states = torch.from_numpy(env.ref.states()[frames]).to(env.device)
        return frames, states, np.ones(n, bool)

    return sample


if __name__ == "__main__":
    raise SystemExit(main())
