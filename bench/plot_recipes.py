"""Plot the teacher recipes' learning curves side by side: frames tracked from the MoCap start.

Reads ``bench/teacher_curve.py`` JSON lines (``--run LABEL=PATH``, one per recipe) and
draws each run's ``tracked_curve`` (the noiseless attempt from the clip's MoCap start of
checkpoints kept over the run) against env steps and against wall clock (the planner's
time included), the clip's last frame as the goal. A run without a ``tracked_curve``
(older runs) is drawn from its ``untrained_deterministic`` and ``trained_deterministic``
figures. Also prints one JSON line: per run, the last point and the best frames tracked.

Usage: ``python bench/plot_recipes.py --run a=a.json --run b=b.json --out recipes.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def points(run: dict[str, Any]) -> list[list[float]]:
    """``[env_steps, seconds, frames, e_h_cm, e_o_cm]`` rows of a teacher_curve run."""
    if run.get("tracked_curve"):
        return [list(map(float, r)) for r in run["tracked_curve"]]
    u, t = run["untrained_deterministic"], run["trained_deterministic"]
    return [
        [0.0, 0.0, u["mean_duration"], u["e_h_cm"], u["e_o_cm"]],
        [run["env_steps"], run["train_seconds"], t["mean_duration"], t["e_h_cm"], t["e_o_cm"]],
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", action="append", required=True, metavar="LABEL=PATH")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)

    from intermimic.viz.plots import _figure, save_png

    runs = {}
    for item in args.run:
        label, _, path = item.partition("=")
        runs[label] = json.loads(Path(path).read_text().strip().splitlines()[-1])
    plt = _figure()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    goal = max(r["clip_frames"] for r in runs.values()) - 1
    summary = {}
    for label, run in runs.items():
        pts = points(run)
        steps = [r[0] / 1e6 for r in pts]
        minutes = [r[1] / 60 for r in pts]
        frames = [r[2] for r in pts]
        axes[0].plot(steps, frames, marker="o", label=label)
        axes[1].plot(minutes, frames, marker="o", label=label)
        summary[label] = {"last": pts[-1], "best_frames": max(frames)}
    for ax, xlabel in zip(axes, ("env steps (millions)", "wall clock (minutes)"), strict=True):
        ax.axhline(goal, color="grey", linestyle="--", linewidth=1, label=f"clip end ({goal})")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("frames tracked from MoCap start")
        ax.set_ylim(0, goal * 1.08)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    clip = next(iter(runs.values()))["clip"]
    fig.suptitle(f"teacher recipes on {clip} (noiseless attempt of kept checkpoints)")
    fig.tight_layout()
    save_png(fig, args.out, dpi=110)
    print(json.dumps({"bench": "plot_recipes", "out": args.out, "runs": summary}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
