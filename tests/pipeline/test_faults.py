"""Faults: two runs of one subject at once; the webserver and daemon killed mid-run.

* Two runs training the same subject's teacher at once: the second fails at once with a
  message that says why (the first holds the teacher's lock), the first completes, the
  checkpoints stay loadable, and launching the second again completes it (it resumes).
  Runs launched from the UI do not even get there: ``dagster.yaml`` lets one run per
  subject partition start at a time, the others wait in the queue (checked below too).
* ``dagster dev`` killed (SIGKILL, the whole process group) while a run trains a teacher:
  after a restart, run monitoring marks the run failed (``pipeline/launcher.py``), and
  launching it again completes from the checkpoint the killed run left (slow test).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest

from assets_defs.partitions import SUBJECTS
from assets_defs.resources import ObjectsResource, StoreResource
from assets_defs.teacher import teacher_policy
from data_catalog import Store
from data_catalog.runs import teacher_dir
from intermimic.motion.synthetic import (
    synthetic_clip,
    write_synthetic_dataset,
    write_synthetic_objects,
)
from intermimic.rl import checkpoint as ckpt

PROJECT = Path(__file__).resolve().parents[2]
#: Long enough that the first run still trains while the second sets up (a few seconds).
ITERATIONS = 24
TINY = {
    "worlds": 4,
    "horizon": 8,
    "hidden_dims": [32],
    "checkpoint_interval": 2,
    "sim_threads": 1,
    "tensorboard": False,
    "attempts": 1,
    "recipe": "ppo",  # trains without plans (the cpu default plans first)
}


def _teacher_config(iterations: int) -> dg.RunConfig:
    return dg.RunConfig(
        ops={"teacher_policy": {"config": {**TINY, "env_steps": iterations * 4 * 8}}}
    )


def test_same_subject_twice_at_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    clip = synthetic_clip("s1", "box", 0, 30, seed=1, dataset="lab")
    store.upsert_clips("lab", "s1", [clip.with_meta(source_sha256=f"{30:064x}")])
    resources = {
        "store": StoreResource(root=str(store.root)),
        "objects": ObjectsResource(root=str(write_synthetic_objects(tmp_path / "objects"))),
    }
    checkpoints = teacher_dir(store, "lab", "s1") / "checkpoints"

    first: dict[str, dg.ExecuteInProcessResult] = {}

    def run_first() -> None:
        instance = dg.DagsterInstance.ephemeral()
        instance.add_dynamic_partitions(SUBJECTS, ["s1"])
        first["result"] = dg.materialize(
            [teacher_policy], partition_key="s1", instance=instance, resources=resources,
            run_config=_teacher_config(ITERATIONS), raise_on_error=False,
        )  # fmt: skip

    thread = threading.Thread(target=run_first)
    thread.start()
    # the first run is training once its first checkpoint is written
    deadline = time.monotonic() + 120
    while not ckpt.list_checkpoints(checkpoints):
        assert thread.is_alive() and time.monotonic() < deadline, first
        time.sleep(0.1)

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(SUBJECTS, ["s1"])
    second = dg.materialize(
        [teacher_policy], partition_key="s1", instance=instance, resources=resources,
        run_config=_teacher_config(ITERATIONS), raise_on_error=False,
    )  # fmt: skip
    assert thread.is_alive(), "the first run ended before the second tried: train it longer"
    assert not second.success
    failure = second.failure_data_for_node("teacher_policy")
    assert failure is not None
    assert "being trained by another run" in str(failure.user_failure_data.description)

    thread.join(timeout=300)
    assert first["result"].success
    md = first["result"].asset_materializations_for_node("teacher_policy")[0].metadata
    assert md["iterations"].value == ITERATIONS
    # the store is consistent: every checkpoint loads, the latest is the last iteration
    latest = ckpt.load_latest(checkpoints)
    assert latest is not None and latest.iteration == ITERATIONS

    # launched again, the second run completes: it resumes and has nothing left to train
    again = dg.materialize(
        [teacher_policy], partition_key="s1", instance=instance, resources=resources,
        run_config=_teacher_config(ITERATIONS),
    )  # fmt: skip
    md = again.asset_materializations_for_node("teacher_policy")[0].metadata
    assert md["resumed_from"].value == ITERATIONS and md["iterations"].value == ITERATIONS


def test_one_run_per_subject_partition_is_queued() -> None:
    """The queue lets one run per subject start; a second of the same subject waits."""
    with dg.instance_for_test(overrides=_instance_overrides()) as instance:
        limits = instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        assert {
            "key": "dagster/partition",
            "value": {"applyLimitPerUniqueValue": True},
            "limit": 1,
        } in limits
        assert instance.run_monitoring_enabled
        assert instance.run_launcher.supports_check_run_worker_health


def _instance_overrides() -> dict:
    import yaml

    return dict(yaml.safe_load((PROJECT / "dagster.yaml").read_text()))


# ---- dagster dev killed mid-run ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_dagster_dev(home: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    out = open(log, "a")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagster", "dev", "-m", "pipeline.definitions",
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2)
            return proc, port
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(log.read_text()[-3000:]) from None
            time.sleep(1)


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _submit(port: int, subject: str, iterations: int) -> str:
    from dagster_graphql import DagsterGraphQLClient

    config = {"ops": {"teacher_policy": {"config": {**TINY, "env_steps": iterations * 4 * 8}}}}
    client = DagsterGraphQLClient("127.0.0.1", port_number=port, timeout=60)
    return client.submit_job_execution(
        "hoi_pipeline",
        run_config=config,
        tags={"dagster/partition": subject},
        asset_selection=[dg.AssetKey("mocap_clips"), dg.AssetKey("teacher_policy")],
    )


def _wait(home: Path, run_id: str, until: object, timeout: float) -> dg.DagsterRun:
    deadline = time.monotonic() + timeout
    with dg.DagsterInstance.from_config(str(home)) as instance:
        while True:
            run = instance.get_run_by_id(run_id)
            assert run is not None
            if until(run):  # type: ignore[operator]
                return run
            assert time.monotonic() < deadline, f"run {run_id} still {run.status}"
            time.sleep(1)


@pytest.mark.slow
def test_run_killed_with_dagster_dev_is_failed_and_relaunch_completes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    cfg = _instance_overrides()
    cfg["run_monitoring"]["poll_interval_seconds"] = 2
    (home / "dagster.yaml").write_text(json.dumps(cfg))
    src = tmp_path / "src"
    write_synthetic_dataset(src, subjects=("k1",), clips_per_subject=1)
    store_root = tmp_path / "store"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "INTERMIMIC_SOURCES": f"{src}:synthetic:interact-pt",
        "INTERMIMIC_STORE": str(store_root),
        "INTERMIMIC_OBJECTS": str(write_synthetic_objects(tmp_path / "objects")),
    }
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions(SUBJECTS, ["k1"])
    log = tmp_path / "dagster-dev.log"
    checkpoints = teacher_dir(Store(store_root), "synthetic", "k1") / "checkpoints"

    proc, port = _start_dagster_dev(home, env, log)
    try:
        run_id = _submit(port, "k1", iterations=2000)  # far more than it gets to train
        deadline = time.monotonic() + 300
        while not ckpt.list_checkpoints(checkpoints):  # mid-training
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
    finally:
        _stop(proc, signal.SIGKILL)  # webserver, daemon, code server and run worker at once
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.STARTED

    proc, port = _start_dagster_dev(home, env, log)
    try:
        run = _wait(home, run_id, lambda r: r.is_finished, timeout=120)
        assert run.status == dg.DagsterRunStatus.FAILURE
        with dg.DagsterInstance.from_config(str(home)) as instance:
            messages = [r.message for r in instance.all_logs(run_id)]
        assert any("launch the run again" in m for m in messages), messages[-5:]

        # launched again (a budget it already passed): it resumes and completes
        run_id = _submit(port, "k1", iterations=2)
        run = _wait(home, run_id, lambda r: r.is_finished, timeout=300)
        assert run.status == dg.DagsterRunStatus.SUCCESS, log.read_text()[-3000:]
    finally:
        _stop(proc)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        mat = instance.fetch_materializations(dg.AssetKey("teacher_policy"), limit=1).records[0]
    md = mat.asset_materialization.metadata  # type: ignore[union-attr]
    assert md["resumed_from"].value >= 2
    # the store is whole: the subject's clips read back, the latest checkpoint loads
    store = Store(store_root)
    assert store.read_clip("synthetic", "k1", store.index("synthetic", "k1")[0].clip_id)
    assert ckpt.load_latest(checkpoints) is not None
