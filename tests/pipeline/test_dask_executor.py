"""Two subjects at once on one local Dask cluster (``INTERMIMIC_EXECUTOR=dask``).

A real ``dask.distributed.LocalCluster`` with two single-threaded worker processes; two
runs (one per subject partition) launched at the same moment through the CLI, as two
people or a backfill would, both pointed at that cluster. The steps must run on the
workers, side by side (overlapping in time, on different worker processes), and every
result must be in the store and the instance.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from assets_defs.partitions import SUBJECTS
from data_catalog import Store
from intermimic.motion.synthetic import write_synthetic_dataset, write_synthetic_objects
from stages.annotate import INTENTS

pytest.importorskip("dagster_dask")
distributed = pytest.importorskip("dask.distributed")

PROJECT = Path(__file__).resolve().parents[2]
SUBJECTS_ = ("dk1", "dk2")
STEPS = ("mocap_clips", "contact_intents")


def _step_spans(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple[float, float, int]]:
    """step key -> (start time, end time, pid of the process that ran it)."""
    start: dict[str, tuple[float, int]] = {}
    spans = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            start[event.step_key] = (record.timestamp, event.pid)  # type: ignore[assignment]
        elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            t0, pid = start[event.step_key]
            spans[event.step_key] = (t0, record.timestamp, pid)
    return spans


@pytest.mark.slow  # about 150 s on 2 cores: the default suite had reached its 15 minutes
def test_two_subjects_in_parallel_on_a_local_dask_cluster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    write_synthetic_dataset(src, subjects=SUBJECTS_, clips_per_subject=2)
    store_root = tmp_path / "store"
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(PROJECT / "dagster.yaml", home / "dagster.yaml")
    # The workers are started below with this environment: it is where the store is.
    monkeypatch.setenv("INTERMIMIC_SOURCES", f"{src}:synthetic:interact-pt")
    monkeypatch.setenv("INTERMIMIC_STORE", str(store_root))
    monkeypatch.setenv("INTERMIMIC_OBJECTS", str(write_synthetic_objects(tmp_path / "objects")))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("INTERMIMIC_EXECUTOR", "dask")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(SUBJECTS, list(SUBJECTS_))

    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        worker_pids = set(client.run(os.getpid).values())
        assert len(worker_pids) == 2
        # what every worker would import on its first step, so both start alike
        client.run(importlib.import_module, "pipeline.definitions")
        env = {**os.environ, "INTERMIMIC_DASK_ADDRESS": cluster.scheduler_address}
        cmd = [sys.executable, "-m", "dagster", "asset", "materialize", "-m",
               "pipeline.definitions", "--select", ",".join(STEPS), "--partition"]  # fmt: skip
        out = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True}
        procs = [subprocess.Popen([*cmd, s], cwd=PROJECT, env=env, **out) for s in SUBJECTS_]
        outputs = [p.communicate(timeout=400)[0] for p in procs]
        for p, out in zip(procs, outputs, strict=True):
            errors = [line for line in out.splitlines() if "ERROR" in line or "Error" in line]
            assert p.returncode == 0, "\n".join(errors[-20:]) or out[-3000:]

    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        assert sorted(r.tags["dagster/partition"] for r in runs) == sorted(SUBJECTS_)
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        spans = {r.tags["dagster/partition"]: _step_spans(instance, r.run_id) for r in runs}
        for subject in SUBJECTS_:
            key = dg.AssetKey("contact_intents")
            mats = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, asset_partitions=[subject]), limit=5
            ).records
            assert len(mats) == 1, subject

    # every step ran on a Dask worker, not in the process that launched its run
    for subject in SUBJECTS_:
        assert set(spans[subject]) == set(STEPS), spans
        assert {pid for _, _, pid in spans[subject].values()} <= worker_pids, (spans, worker_pids)
    # and the two subjects ran side by side: a step of one overlapped a step of the other
    # in time (a worker runs one task at a time, so they were on different workers)
    a, b = (list(spans[s].values()) for s in SUBJECTS_)
    overlapping = [(x, y) for x in a for y in b if x[0] < y[1] and y[0] < x[1]]
    assert overlapping, spans
    assert all(x[2] != y[2] for x, y in overlapping)

    store = Store(store_root)
    assert sorted(s for _, s in store.subjects("synthetic")) == sorted(SUBJECTS_)
    for subject in SUBJECTS_:
        assert len(store.index("synthetic", subject)) == 2
        assert INTENTS in store.series_groups("synthetic", subject)
