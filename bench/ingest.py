"""Ingestion speed: the sample's clips into a fresh store, one JSON line.

Prints frames, seconds and frames/s of ``stages.ingest`` on one core (pinned;
median of ``--repeat`` runs, interpreter start and imports excluded), and beside it the
time of the bare minimum the same work needs (reading every file with torch.load), as
a ratio.
Falls back to synthetic clips when the sample is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from intermimic.motion.settings import IngestSettings
from intermimic.motion.synthetic import write_synthetic_dataset
from intermimic.paths import sample_raw_dir
from stages.ingest import discover, ingest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--source", type=Path, default=sample_raw_dir())
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--all-cores", action="store_true", help="do not pin to one core (the goal is per core)"
    )
    args = ap.parse_args()
    torch.set_num_threads(1)
    pinned = None
    if not args.all_cores and hasattr(os, "sched_setaffinity"):
        # One core, as the goal is stated; zarr's codec threads then share it too.
        pinned = max(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {pinned})
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    source = args.source
    if source is None:
        source = work / "synthetic"
        write_synthetic_dataset(
            source, subjects=("s1", "s2", "s3"), clips_per_subject=9, n_frames=200
        )
    files = discover([source])

    # warm-up: first-use costs of torch/zarr/pandas are not ingestion's
    ingest(files[:1], work / "warm", IngestSettings(dataset="bench"))

    times, frames = [], 0
    for i in range(args.repeat):
        store = work / f"store{i}"
        t0 = time.perf_counter()
        report = ingest(files, store, IngestSettings(dataset="bench"))
        times.append(time.perf_counter() - t0)
        frames = report.frames
        assert not report.rejected, report.rejected
    t0 = time.perf_counter()
    for f in files:
        torch.load(f, weights_only=True)
    read_only = time.perf_counter() - t0
    seconds = statistics.median(times)
    shutil.rmtree(work, ignore_errors=True)
    print(
        json.dumps(
            {
                "frames": frames,
                "clips": len(files),
                "seconds": round(seconds, 4),
                "frames_per_s": round(frames / seconds),
                "best_frames_per_s": round(frames / min(times)),
                "read_only_seconds": round(read_only, 4),
                "ratio_to_read_only": round(read_only / seconds, 3),
                "pinned_cpu": pinned,
                "cores": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
