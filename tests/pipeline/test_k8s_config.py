"""The Kubernetes executor's documented run config and GPU op tags, checked by Dagster.

No cluster is needed: the run config (``pipeline/k8s/run_config.yaml`` with the ``full``
profile) is validated against the main job built with ``k8s_job_executor``, and the pod
that dagster-k8s would create for the teacher step is built from it with dagster-k8s's
own code and inspected.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace

import dagster as dg
import pytest

pytest.importorskip("dagster_k8s")

from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import (
    UserDefinedDagsterK8sConfig,
    construct_dagster_k8s_job,
    get_user_defined_k8s_config,
)
from kubernetes.client import ApiClient

from pipeline.definitions import build_definitions
from pipeline.executors import executor_name, k8s_gpu_op_tags, k8s_run_config
from pipeline.main import job_config, profile_config

GPU = "nvidia.com/gpu"
#: What the step handler reads from the instance's K8sRunLauncher (the Helm chart's
#: values); the launcher itself needs a cluster to be built.
LAUNCHER = SimpleNamespace(
    dagster_home="/opt/dagster/dagster_home",
    instance_config_map="dagster-instance",
    postgres_password_secret="dagster-postgresql-secret",
    job_image=None,
)


@pytest.fixture
def run_config(monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setenv("INTERMIMIC_IMAGE", "registry.example/intermimic:test")
    cfg = k8s_run_config()
    return {**profile_config("full"), **cfg}


def test_executor_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTERMIMIC_EXECUTOR", raising=False)
    assert executor_name() == "multiprocess"
    monkeypatch.setenv("INTERMIMIC_EXECUTOR", "in-process")
    assert executor_name() == "in_process"
    assert build_definitions().executor.name == "in_process"  # type: ignore[union-attr]
    for name, expected in (("dask", "dask"), ("k8s", "k8s"), ("multiprocess", "multiprocess")):
        assert build_definitions(name).executor.name == expected  # type: ignore[union-attr]
    monkeypatch.setenv("INTERMIMIC_EXECUTOR", "slurm")
    with pytest.raises(ValueError, match="in_process, multiprocess, dask, k8s"):
        executor_name()


def test_k8s_run_config_is_valid_for_the_main_job(run_config: dict) -> None:
    job = build_definitions("k8s").resolve_job_def("hoi_pipeline")
    assert job.executor_def.name == "k8s"
    run_config = job_config(job, run_config)  # the profile's ops of this job
    dg.validate_run_config(job, run_config)
    # the unpartitioned jobs take the same run config
    for name in ("publish_export", "student"):
        other = build_definitions("k8s").resolve_job_def(name)
        dg.validate_run_config(
            other, job_config(other, run_config | {"ops": profile_config("full")["ops"]})
        )

    # the schema is really checked: a misspelt key in the GPU pod is refused
    bad = copy.deepcopy(run_config)
    pod = bad["execution"]["config"]["per_step_k8s_config"]["teacher_policy"]
    pod["container_confg"] = pod.pop("container_config")
    with pytest.raises(dg.DagsterInvalidConfigError, match="container_confg"):
        dg.validate_run_config(job, bad)


def test_teacher_step_gets_a_gpu_pod(run_config: dict) -> None:
    """Build the step's Kubernetes Job as dagster-k8s's step handler does."""
    job = build_definitions("k8s").resolve_job_def("hoi_pipeline")
    exc = dg.validate_run_config(job, job_config(job, run_config))["execution"]["k8s"]
    executor_context = K8sContainerContext(
        env_config_maps=exc.get("env_config_maps"),
        env_secrets=exc.get("env_secrets"),
        env_vars=exc.get("env_vars"),
        volume_mounts=exc.get("volume_mounts"),
        volumes=exc.get("volumes"),
        namespace=exc.get("job_namespace"),
        run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(exc.get("step_k8s_config", {})),
    )

    def pod_for(step: str) -> tuple[dict, dict]:
        ctx = executor_context.merge(
            K8sContainerContext(
                run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(
                    exc["per_step_k8s_config"].get(step, {})
                )
            )
        )
        k8s_job = construct_dagster_k8s_job(
            ctx.get_k8s_job_config(exc["job_image"], LAUNCHER),
            ["dagster", "api", "execute_step"],
            f"dagster-step-{step.replace('_', '-')}",
            user_defined_k8s_config=ctx.run_k8s_config,
        )
        # the Job as it would be sent to the API server
        spec = ApiClient().sanitize_for_serialization(k8s_job)["spec"]["template"]["spec"]
        return spec["containers"][0]["resources"], spec

    resources, spec = pod_for("teacher_policy")
    assert resources["limits"][GPU] == "1" and resources["requests"][GPU] == "1"
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert spec["tolerations"][0]["key"] == GPU
    container = spec["containers"][0]
    assert container["image"] == "registry.example/intermimic:test"
    assert {"name": "MUJOCO_GL", "value": "egl"} in container["env"]
    assert any(m["mountPath"] == "/store" for m in container["volumeMounts"])
    # a CPU step (ingest) keeps the default pod: no GPU, no GPU node selector
    resources, spec = pod_for("mocap_clips")
    assert GPU not in resources["limits"] and "nodeSelector" not in spec
    assert resources["limits"]["cpu"] == "4"


def test_gpu_op_tags_are_valid(run_config: dict) -> None:
    tags = k8s_gpu_op_tags()
    cfg = get_user_defined_k8s_config(tags)  # what dagster-k8s does with a step's tags
    assert cfg.container_config["resources"]["limits"][GPU] == 1
    assert cfg.pod_spec_config["node_selector"] == {"nvidia.com/gpu.present": "true"}

    @dg.asset(op_tags=tags)
    def gpu_step() -> None: ...

    # the tags travel with the step; the executor's config validates on a job using it
    defs = dg.Definitions(
        assets=[gpu_step], jobs=[dg.define_asset_job("gpu", selection=[gpu_step])],
        executor=build_definitions("k8s").executor,
    )  # fmt: skip
    job = defs.resolve_job_def("gpu")
    assert job.graph.node_named("gpu_step").tags["dagster-k8s/config"] == tags["dagster-k8s/config"]
    dg.validate_run_config(job, {"execution": run_config["execution"]})
