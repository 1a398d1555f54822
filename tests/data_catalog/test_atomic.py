"""Atomic writes: a writer killed at any moment leaves the store readable and whole."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from data_catalog import Catalog, Store
from intermimic.motion.settings import IngestSettings
from intermimic.motion.synthetic import write_synthetic_dataset
from stages import ingest

WRITER = textwrap.dedent(
    """
    import sys
    from stages import ingest
    from intermimic.motion.settings import IngestSettings
    ingest([sys.argv[1]], sys.argv[2], IngestSettings(dataset="lab", zstd_level=9))
    print("done", flush=True)
    """
)


def _check_consistent(root: Path, allowed: list[set[str]]) -> None:
    store = Store(root)
    for ds, subj in store.subjects():
        g = store.open_subject(ds, subj)
        index = store.index(ds, subj)
        assert {e.clip_id for e in index} in allowed
        n = sum(e.length for e in index)
        for name in ("root_pos", "body_quat", "contact"):
            assert g[name].shape[0] == n
        assert np.isfinite(g["body_pos"][...]).all()
    Catalog(root).clips()  # parses


def test_sigkill_during_ingest_leaves_old_or_new(tmp_path: Path) -> None:
    old_src = tmp_path / "old"
    write_synthetic_dataset(old_src, subjects=("s1",), clips_per_subject=2)
    new_src = tmp_path / "new"
    write_synthetic_dataset(new_src, subjects=("s1",), clips_per_subject=8, n_frames=2000)
    old_ids = {p.stem for p in old_src.iterdir()}
    all_ids = old_ids | {p.stem for p in new_src.iterdir()}
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    killed_mid_write = 0
    for i, extra in enumerate((0.0, 0.01, 0.04, 0.08)):
        root = tmp_path / f"store{i}"
        ingest([old_src], root, IngestSettings(dataset="lab"))
        subject_dir = root / "mocap" / "lab" / "s1"
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(new_src), str(root)], env=env, stdout=subprocess.PIPE
        )
        # Wait until the new generation is being staged, then kill the writer in the act.
        deadline = time.monotonic() + 60
        while not list(subject_dir.glob(".g-*.tmp-*")) and proc.poll() is None:
            assert time.monotonic() < deadline, "writer never started writing"
            time.sleep(0.0005)
        time.sleep(extra)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed_mid_write += 1
        proc.wait()
        _check_consistent(root, [old_ids, all_ids])
        # the next writer cleans up after the dead one and succeeds
        ingest([new_src], root, IngestSettings(dataset="lab"))
        _check_consistent(root, [all_ids])
        assert not list(subject_dir.glob(".*tmp-*"))
    assert killed_mid_write >= 3, "the writer finished too fast to be killed mid-write"
