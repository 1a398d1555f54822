"""Contact annotation speed: one JSON line.

Measures on the sample (27 clips, 5834 frames), single core, median of ``--repeat``:

* ``annotate``: :func:`intermimic.contact.annotate` on every clip (distances of all 52
  bodies to the object, object-ground distance, object flag, labels, hand intents,
  flicker removal); goal >= 2,000 frames/s;
* ``report``: :func:`intermimic.contact.artifact_report` (exact MuJoCo refinement near
  contact, ground, skating, jitter);
* ``replay`` (baseline): the existing per-frame MuJoCo kinematic replay
  (:func:`intermimic.sim.replay.replay_clip`: ``mj_kinematics`` + ``mj_collision`` +
  ground clearance per frame), and ``ratio`` = annotate / replay frames per second.

Clip reading and scene building are one-off costs, reported apart (``setup_s``). Also
prints the hand / feet / other F1 of our +1 labels against the sample's own labels.
"""

from __future__ import annotations

import os

# One core: keep any BLAS from spreading out before numpy loads.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from intermimic.contact import (  # noqa: E402
    ContactSettings,
    annotate,
    artifact_report,
    confusion,
    scores_from_confusion,
)
from intermimic.humanoid import build_spec  # noqa: E402
from intermimic.objects import ObjectLibrary  # noqa: E402
from intermimic.paths import sample_raw_dir, shared_data_dir  # noqa: E402
from intermimic.sim import build_scene, replay_clip  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-baseline", action="store_true", help="skip the replay baseline")
    ap.add_argument(
        "--pin",
        type=int,
        default=None,
        help="pin the process to this CPU (numpy here is single-threaded either way; "
        "pinning to a core other work uses measures the contention, not the code)",
    )
    args = ap.parse_args()
    if args.pin is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.pin})
    raw, root = sample_raw_dir(), shared_data_dir()
    if raw is None or root is None:
        print(json.dumps({"bench": "annotate", "skipped": "sample data not present"}))
        return
    from intermimic.motion.load import read_clip

    t0 = time.perf_counter()
    clips = [read_clip(p) for p in sorted(raw.glob("*.pt"))]
    lib = ObjectLibrary(root / "objects")
    spec = build_spec()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # open (non-watertight) sample meshes
        scenes = {n: build_scene(spec, lib.get(n)) for n in {c.meta.object_name for c in clips}}
    setup = time.perf_counter() - t0
    frames = sum(c.n_frames for c in clips)
    settings = ContactSettings()

    def run_annotate() -> float:
        t = time.perf_counter()
        for c in clips:
            annotate(c, scenes[c.meta.object_name], settings)
        return time.perf_counter() - t

    def run_report() -> float:
        t = time.perf_counter()
        for c in clips:
            artifact_report(c, scenes[c.meta.object_name], settings)
        return time.perf_counter() - t

    run_annotate()  # warm caches (hulls, point leaves)
    ann_s = statistics.median(run_annotate() for _ in range(args.repeat))
    rep_s = statistics.median(run_report() for _ in range(max(1, args.repeat - 2)))

    totals: dict[str, tuple[int, int, int]] = {}
    for c in clips:
        ann = annotate(c, scenes[c.meta.object_name], settings)
        for k, v in confusion(ann.labels, c.contact).items():
            totals[k] = tuple(np.add(totals.get(k, (0, 0, 0)), v))  # type: ignore[assignment]
    scores = scores_from_confusion(totals)

    out: dict[str, object] = {
        "bench": "annotate",
        "clips": len(clips),
        "frames": frames,
        "threads": 1,
        "pinned_cpu": args.pin,
        "setup_s": round(setup, 3),
        "annotate_s": round(ann_s, 4),
        "annotate_frames_per_s": round(frames / ann_s, 1),
        "report_frames_per_s": round(frames / rep_s, 1),
        "f1": {k: round(v["f1"], 4) for k, v in scores.items()},
        "precision_hands": round(scores["hands"]["precision"], 4),
        "recall_hands": round(scores["hands"]["recall"], 4),
    }
    if not args.no_baseline:
        t = time.perf_counter()
        for c in clips:
            replay_clip(scenes[c.meta.object_name], c)
        base = time.perf_counter() - t
        out["replay_frames_per_s"] = round(frames / base, 1)
        out["ratio_vs_replay"] = round(base / ann_s, 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
