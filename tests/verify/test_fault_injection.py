"""Fault injection: ingest, publish and export SIGKILLed at random moments, 30 times in
all. After each kill the store holds no damage (at most leftovers of the dead writer or a
catalog a step behind); after the next successful run of the killed command,
``verify_store`` finds nothing wrong."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from data_catalog import Store
from data_catalog.refined_import import record_refinement
from intermimic.motion.settings import IngestSettings
from intermimic.motion.synthetic import write_synthetic_dataset
from stages import ingest
from stages.export import ExportSettings, export_version, stale_stagings
from stages.publish import PublishSettings, publish_refined
from stages.verify import DAMAGED, verify_store

PROJECT = Path(__file__).resolve().parents[2]
ROUNDS = 10  # per command: 30 runs, at least 20 of them killed mid-run
FORMATS = ("zarr3", "npz", "interact-pt", "zarr2")

DRIVER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from data_catalog import Store
    from intermimic.motion.settings import IngestSettings
    from stages import ingest
    from stages.export import ExportSettings, export_version
    from stages.publish import PublishSettings, publish_refined

    cmd, root, arg = sys.argv[1:4]
    print("go", flush=True)
    if cmd == "ingest":
        ingest([arg], root, IngestSettings(dataset="lab", chunk_frames=64, zstd_level=9))
    elif cmd == "publish":
        publish_refined(Store(root), PublishSettings(force_current=True, chunk_frames=64))
    else:
        out, fmt = arg.split("|")
        export_version(Store(root), out, ExportSettings(format=fmt, chunk_frames=64))
    print("done", flush=True)
    """
)


def _start(args: list[str]) -> subprocess.Popen[str]:
    """The driver, once its imports are done (it has printed "go")."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER, *args], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "go"
    return proc


def _run_timed(args: list[str]) -> float:
    """Seconds the driver's work takes, run to its end."""
    proc = _start(args)
    t0 = time.perf_counter()
    assert proc.wait(timeout=300) == 0
    return time.perf_counter() - t0


def _run_and_kill(args: list[str], delay: float) -> bool:
    """Run the driver, SIGKILL it ``delay`` s after its imports; True if it was killed."""
    proc = _start(args)
    time.sleep(delay)
    killed = proc.poll() is None
    if killed:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=120)
    return killed


def _no_damage(store: Store, what: str) -> None:
    report = verify_store(store)
    damaged = [p.line() for p in report.problems if p.kind == DAMAGED]
    assert not damaged, f"after killing {what}: {damaged}"


def _clean(store: Store, what: str) -> None:
    report = verify_store(store)
    assert report.clean, f"after {what} ran again: {[p.line() for p in report.problems]}"


@pytest.mark.slow
def test_kills_at_random_moments_leave_a_store_that_verifies(
    whole_store: Store, tmp_path: Path
) -> None:
    rng = random.Random(1234)
    store = whole_store
    root = str(store.root)
    # two versions of every source file (same clip ids, other content): every ingest writes
    sources = []
    for k in range(2):
        src = tmp_path / f"src{k}"
        write_synthetic_dataset(src, subjects=("s1", "s2"), clips_per_subject=6, n_frames=300,
                                seed=50 * k)  # fmt: skip
        sources.append(src)
    settings = IngestSettings(dataset="lab", chunk_frames=64, zstd_level=9)
    publish = PublishSettings(force_current=True, chunk_frames=64)
    out = store.root / "exports" / "fault" / "out"

    def refine(i: int) -> None:
        """New refined clips of s1 (another teacher): the next publish has new inputs."""
        raws = store.read_subject("lab", "s1")
        refined = [c.slice(0, c.n_frames - 2) for c in raws]
        record_refinement(
            store, "lab", "s1", refined, teacher_sha256=f"{i:064x}",
            tracking={c.meta.clip_id: {"success": 1.0, "e_h_cm": 3.0, "e_o_cm": 5.0}
                      for c in refined},
        )  # fmt: skip

    # how long each command's work takes in a process of its own, to draw kill moments from
    t_ingest = _run_timed(["ingest", root, str(sources[1])])
    refine(0)
    t_publish = _run_timed(["publish", root, "-"])
    t_export = _run_timed(["export", root, f"{out}|zarr3"])
    _clean(store, "the calibration runs")

    killed = 0
    t0 = time.monotonic()
    for i in range(ROUNDS):
        src = sources[i % 2]
        killed += _run_and_kill(["ingest", root, str(src)], rng.uniform(0, t_ingest))
        _no_damage(store, "ingest")
        ingest([src], root, settings)
        _clean(store, "ingest")

        refine(i + 1)
        killed += _run_and_kill(["publish", root, "-"], rng.uniform(0, t_publish))
        _no_damage(store, "publish")
        publish_refined(store, publish)
        _clean(store, "publish")

        fmt = FORMATS[i % len(FORMATS)]
        killed += _run_and_kill(["export", root, f"{out}|{fmt}"], rng.uniform(0, t_export))
        _no_damage(store, "export")
        export_version(store, out, ExportSettings(format=fmt, chunk_frames=64))
        _clean(store, "export")
        assert stale_stagings(out) == []
    print(
        f"{3 * ROUNDS} runs, {killed} killed mid-run, {time.monotonic() - t0:.0f} s; work "
        f"takes {t_ingest:.2f} s (ingest), {t_publish:.2f} s (publish), {t_export:.2f} s (export)"
    )
    assert killed >= 20, f"only {killed} runs were killed before they finished"
