"""A run launcher whose runs are failed, not left "started", when their process is gone.

Dagster's ``DefaultRunLauncher`` starts each run in a process of the code server, but it
cannot tell Dagster's run monitoring whether that process still lives: a run whose
worker died with the webserver and daemon (a crash, a kill, a reboot) stays "started"
for ever and keeps its subject's place in the queue. :class:`LocalRunLauncher` is that
launcher plus the health check run monitoring asks for (``dagster.yaml`` turns both
on): a run counts as running while the code server that started it still knows it or
its worker process is alive on this machine; otherwise the daemon marks it failed, and
launching it again resumes from what the store kept (atomic generations, checkpoints).
"""

from __future__ import annotations

import json
import os
import socket

from dagster import DagsterEventType, DagsterRun, DefaultRunLauncher
from dagster._core.launcher.base import CheckRunHealthResult, WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG

_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", socket.gethostname()}


def _alive(pid: int, started_at: float) -> bool:
    """Whether process ``pid`` lives and is the one that started at ``started_at``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        import psutil
    except ImportError:
        return True
    try:
        # a pid reused by a later process is not the run worker
        return bool(psutil.Process(pid).create_time() <= started_at + 1.0)
    except psutil.Error:
        return False


class LocalRunLauncher(DefaultRunLauncher):
    """``DefaultRunLauncher`` with a run worker health check (see the module docstring)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def _code_server_knows(self, run: DagsterRun) -> bool | None:
        """True/False from the code server that launched the run; None if unreachable."""
        from dagster._grpc.types import CanCancelExecutionRequest, CanCancelExecutionResult
        from dagster._serdes import deserialize_value

        client = self._get_grpc_client_for_termination(run.run_id)
        if client is None:
            return None
        try:
            res = client.can_cancel_execution(CanCancelExecutionRequest(run_id=run.run_id), 10)
        except Exception:
            return None
        return bool(deserialize_value(res, CanCancelExecutionResult).can_cancel)

    def _worker(self, run: DagsterRun) -> tuple[int, float] | None:
        """The run worker's pid and start time, from the run's RUN_START event."""
        records = self._instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.RUN_START, limit=1
        ).records
        if not records or records[0].event_log_entry.dagster_event is None:
            return None
        entry = records[0].event_log_entry
        pid = entry.dagster_event.pid  # type: ignore[union-attr]
        return (pid, entry.timestamp) if pid else None

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        if GRPC_INFO_TAG not in run.tags:
            # not launched through a code server (a CLI or in-process run): not ours to judge
            return CheckRunHealthResult(WorkerStatus.RUNNING, "not launched by a code server")
        knows = self._code_server_knows(run)
        if knows:
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        info = json.loads(run.tags[GRPC_INFO_TAG])
        if "socket" in info or info.get("host") in _LOCAL_HOSTS:
            worker = self._worker(run)
            if worker is not None and _alive(*worker):
                # the code server restarted but the worker it started lives on
                return CheckRunHealthResult(WorkerStatus.RUNNING, f"worker {worker[0]} alive")
            why = f"worker process {worker[0]} is gone" if worker else "no worker started"
        elif knows is None:
            # a code server on another machine that does not answer: cannot tell
            return CheckRunHealthResult(WorkerStatus.RUNNING, "code server unreachable")
        else:
            why = "its code server on another machine does not run it"
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"{why} (webserver, daemon or code server killed or restarted?); launch the run "
            "again: it resumes from what the store kept",
        )
