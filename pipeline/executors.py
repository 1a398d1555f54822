"""The executor is a setting: where a run's steps execute.

``INTERMIMIC_EXECUTOR`` picks one (read when the Definitions are built):

* ``multiprocess`` (default): each step in its own process on this machine
  (``dg.multiprocess_executor``; limit with ``execution: config: max_concurrent: N``).
* ``in_process``: every step in the run's own process (debugging, the smallest machines).
* ``dask``: steps are Dask tasks (``dagster-dask``). ``INTERMIMIC_DASK_ADDRESS`` names the
  scheduler of an existing cluster (``tcp://host:8786``); without it each run starts a
  local cluster of ``INTERMIMIC_DASK_WORKERS`` workers (default: one per core), its
  scheduler and dashboard on 127.0.0.1 only (``INTERMIMIC_DASK_DASHBOARD`` sets the
  dashboard's address, ``none`` turns it off). Several
  runs (say, two subjects) can share one cluster: their steps run side by side on its
  workers. The workers need this project installed and the same ``INTERMIMIC_*``
  variables (store, sources, objects) as the process that launches the runs.
* ``k8s``: each step in its own Kubernetes pod (``dagster-k8s`` ``k8s_job_executor``).
  :data:`K8S_RUN_CONFIG` is the documented run config (image, namespace, GPU pods for
  the training steps); :data:`K8S_GPU_OP_TAGS` the same GPU pod as ``op_tags``.

Dask and Kubernetes need the extras ``pip install '.[dask]'`` / ``'.[k8s]'``; runs from
several processes at once are best served by Postgres instance storage (``dagster.yaml``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import dagster as dg

EXECUTOR_ENV = "INTERMIMIC_EXECUTOR"
EXECUTORS = ("in_process", "multiprocess", "dask", "k8s")
DEFAULT_EXECUTOR = "multiprocess"
K8S_DIR = Path(__file__).parent / "k8s"
#: Run config for the Kubernetes executor: image, namespace, GPU pods for training.
K8S_RUN_CONFIG = K8S_DIR / "run_config.yaml"
#: The value of the ``dagster-k8s/config`` op tag that puts a step on a GPU pod.
K8S_GPU_OP_TAGS = K8S_DIR / "gpu_op_tags.yaml"


def executor_name(name: str | None = None) -> str:
    """The executor's name: ``name``, else ``$INTERMIMIC_EXECUTOR``, else multiprocess."""
    name = (name or os.environ.get(EXECUTOR_ENV) or DEFAULT_EXECUTOR).strip().lower()
    name = name.replace("-", "_")
    if name not in EXECUTORS:
        raise ValueError(f"{EXECUTOR_ENV}={name!r}: expected one of {', '.join(EXECUTORS)}")
    return name


def dask_cluster_config() -> dict[str, Any]:
    """The Dask executor's ``cluster`` config from ``INTERMIMIC_DASK_*``."""
    if address := os.environ.get("INTERMIMIC_DASK_ADDRESS"):
        return {"existing": {"address": address}}
    workers = int(os.environ.get("INTERMIMIC_DASK_WORKERS") or os.cpu_count() or 1)
    return {
        "local": {
            "n_workers": workers,
            "threads_per_worker": 1,
            "dashboard_address": dask_dashboard_address(),
        }
    }


#: Where a local cluster's dashboard listens: loopback only unless configured.
DASK_DASHBOARD_ENV = "INTERMIMIC_DASK_DASHBOARD"
DEFAULT_DASK_DASHBOARD = "127.0.0.1:8787"


def dask_dashboard_address() -> str | None:
    """The local cluster's dashboard address: ``$INTERMIMIC_DASK_DASHBOARD`` (``none`` or
    ``off``: no dashboard; ``:8787`` or ``0.0.0.0:8787``: every interface, on purpose),
    else ``127.0.0.1:8787``. Dask's own default binds every interface."""
    value = os.environ.get(DASK_DASHBOARD_ENV, "").strip()
    if not value:
        return DEFAULT_DASK_DASHBOARD
    return None if value.lower() in ("none", "off", "false", "0") else value


def executor_def(name: str | None = None) -> dg.ExecutorDefinition:
    """The executor definition for ``name`` (see the module docstring)."""
    name = executor_name(name)
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        return dg.multiprocess_executor
    if name == "dask":
        # Its config is required: give it one, so jobs launch without executor config.
        return _dask_executor().configured({"cluster": dask_cluster_config()}, name="dask")
    try:
        from dagster_k8s import k8s_job_executor
    except ImportError as exc:
        raise ImportError("the k8s executor needs `pip install '.[k8s]'`") from exc
    return k8s_job_executor


#: Cluster classes of the Dask executor's ``cluster`` config (dagster-dask's list).
_DASK_CLUSTERS = {
    "local": ("dask.distributed", "LocalCluster"),
    "ssh": ("dask.distributed", "SSHCluster"),
    "yarn": ("dask_yarn", "YarnCluster"),
    "kube": ("dask_kubernetes", "KubeCluster"),
    **{
        kind: ("dask_jobqueue", f"{kind.upper()}Cluster")
        for kind in ("pbs", "sge", "lsf", "slurm", "oar")
    },
    "moab": ("dask_jobqueue", "MoabCluster"),
}


def _run_step_on_worker(query: Any, *args: Any) -> Any:
    """On a Dask worker: the step's arguments first, the finished dependencies last."""
    *step_args, dependencies = args
    return query(dependencies, *step_args)


def _dask_executor() -> dg.ExecutorDefinition:
    """dagster-dask's executor, with two fixes.

    * dagster-dask names a step's task ``<job>.<step>``. Dask keys are global on a
      scheduler, so two runs of one job sharing a cluster (two subjects at once) would be
      handed each other's task; here the key also holds the run id.
    * dagster-dask 0.29 passes Dagster's run record to ``client.submit`` as a plain
      argument; Dask >= 2024.12 walks arguments looking for futures, and Dagster records
      refuse iteration, so every step fails. Here they are bound in a partial.

    Everything else is dagster-dask's: its config schema, its worker function
    (``query_on_dask_worker``), its resource tags.
    """
    try:
        import dask.distributed
        from dagster_dask.executor import (
            DaskExecutor,
            dask_executor,
            get_dask_resource_requirements,
            query_on_dask_worker,
        )
    except ImportError as exc:
        raise ImportError("the dask executor needs `pip install '.[dask]'`") from exc
    import functools
    import importlib
    from collections.abc import Iterator

    from dagster._core.definitions.executor_definition import (
        multiple_process_executor_requirements,
    )
    from dagster._core.errors import raise_execution_interrupts
    from dagster._utils import iterate_with_context

    class RunScopedDaskExecutor(DaskExecutor):
        def execute(self, plan_context: Any, execution_plan: Any) -> Iterator[dg.DagsterEvent]:
            if not plan_context.instance.is_persistent:
                raise dg.DagsterInvariantViolationError(
                    "Dask execution requires a persistent DagsterInstance"
                )
            job_name, run_id = plan_context.job_name, plan_context.run_id
            if self.cluster_type == "existing":
                cluster: Any = self.cluster_configuration["address"]
            elif self.cluster_type in _DASK_CLUSTERS:
                module, cls = _DASK_CLUSTERS[self.cluster_type]
                cluster = getattr(importlib.import_module(module), cls)(**self.build_dict(job_name))
            else:
                raise ValueError(f"unknown Dask cluster type {self.cluster_type!r}")
            with dask.distributed.Client(cluster) as client:
                futures: dict[str, Any] = {}
                for level in execution_plan.get_steps_to_execute_by_level():
                    for step in level:
                        deps = [
                            futures[key]
                            for step_input in step.step_inputs
                            for key in step_input.dependency_keys
                        ]
                        # Dagster's objects ride inside a partial: recent Dask walks a
                        # task's arguments, and Dagster records refuse to be iterated.
                        work = functools.partial(
                            _run_step_on_worker,
                            query_on_dask_worker,
                            plan_context.reconstructable_job,
                            plan_context.dagster_run,
                            plan_context.run_config,
                            [step.key],
                            plan_context.instance.get_ref(),
                            execution_plan.known_state,
                        )
                        futures[step.key] = client.submit(
                            work,
                            deps,
                            key=f"{job_name}.{run_id}.{step.key}",
                            resources=get_dask_resource_requirements(step.tags),
                        )
                done = dask.distributed.as_completed(list(futures.values()), with_results=True)
                for _future, events in iterate_with_context(raise_execution_interrupts, done):
                    yield from events

    @dg.executor(
        name="dask",
        config_schema=dask_executor.config_schema.as_field(),
        requirements=multiple_process_executor_requirements(),
    )
    def run_scoped_dask_executor(init_context: dg.InitExecutorContext) -> dg.Executor:
        cluster: dict[str, Any] = dict(init_context.executor_config["cluster"])  # type: ignore[call-overload]
        ((cluster_type, cluster_config),) = cluster.items()
        return RunScopedDaskExecutor(cluster_type, cluster_config)

    return run_scoped_dask_executor


def _yaml(path: Path) -> dict[str, Any]:
    import yaml

    return dict(yaml.safe_load(path.read_text()) or {})


def k8s_run_config() -> dict[str, Any]:
    """The documented Kubernetes run config (``pipeline/k8s/run_config.yaml``)."""
    return _yaml(K8S_RUN_CONFIG)


def k8s_gpu_op_tags() -> dict[str, str]:
    """``op_tags`` that put a step on a GPU pod under the k8s executor (a JSON string,
    as Dagster wants tag values)."""
    return {"dagster-k8s/config": json.dumps(_yaml(K8S_GPU_OP_TAGS))}
