"""Run the pipeline's main job on the default data and print where the results are.

``python -m pipeline.main`` (what ``make demo`` runs) registers every subject found in
the sources as a partition and materialises the job's assets for each, then runs the
unpartitioned jobs ``publish_export`` (every subject's refined clips as one dataset
version, checked and exported) and ``student`` (the student distilled from every
teacher, then evaluated), in the Dagster instance at ``$DAGSTER_HOME``, so the
runs show up in the UI afterwards.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import dagster as dg
from rich.console import Console

from assets_defs.partitions import SUBJECTS
from assets_defs.resources import MocapSourcesResource, StoreResource
from pipeline.definitions import build_definitions
from pipeline.jobs import MAIN_JOB, PUBLISH_EXPORT_JOB, STUDENT_JOB

# Step-by-step DEBUG events belong in the UI; the terminal gets warnings and errors.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
PROFILES = Path(__file__).parent / "profiles"


def profile_config(name: str) -> dict[str, Any]:
    """Run config of a budget profile (``pipeline/profiles/<name>.yaml``)."""
    import yaml

    path = PROFILES / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILES.glob("*.yaml")))
        raise SystemExit(f"unknown profile {name!r}; known: {known}")
    return dict(yaml.safe_load(path.read_text()) or {})


def job_config(job: dg.JobDefinition, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with only the ops ``job`` has: a profile configures every job's assets,
    and Dagster refuses config for ops a job does not run."""
    nodes = {n.name for n in job.nodes}
    ops = {k: v for k, v in (config.get("ops") or {}).items() if k in nodes}
    return {**{k: v for k, v in config.items() if k != "ops"}, "ops": ops, **QUIET}


def _run_job(
    name: str, defs: dg.Definitions, instance: dg.DagsterInstance, console: Console, profile: str
) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def(name)
    t0 = time.perf_counter()
    result = job.execute_in_process(
        instance=instance, raise_on_error=False, run_config=job_config(job, profile_config(profile))
    )
    status = "[green]ok[/]" if result.success else "[red]failed[/]"
    console.print(f"{name}: {status} ({time.perf_counter() - t0:.1f} s)")
    return result


def run_student(
    defs: dg.Definitions, instance: dg.DagsterInstance, console: Console, profile: str
) -> bool:
    """Distil the student from every subject's teacher and evaluate it (one run)."""
    result = _run_job(STUDENT_JOB, defs, instance, console, profile)
    evals = result.asset_materializations_for_node("student_evaluation")
    if evals:
        md = evals[0].metadata
        console.print(f"evaluation report: {md['report'].value}")
    return result.success


def run_publish_export(
    defs: dg.Definitions, instance: dg.DagsterInstance, console: Console, profile: str
) -> bool:
    """Publish every subject's refined clips as a version and export it (one run)."""
    from data_catalog.versions import current_version

    result = _run_job(PUBLISH_EXPORT_JOB, defs, instance, console, profile)
    for check in result.get_asset_check_evaluations():
        if not check.passed:
            console.print(f"[yellow]check {check.check_name} failed:[/] {check.description}")
    exports = result.asset_materializations_for_node("hoi_dataset_export")
    if exports:
        md = exports[0].metadata
        console.print(f"exported version {md['version'].value}: {md['export_root'].value}")
    else:
        store: StoreResource = (defs.resources or {})["store"]  # type: ignore[assignment]
        current = current_version(store.store())
        console.print(f"nothing exported; current version: {current or 'none'}")
    return result.success


def run_main_job(
    instance: dg.DagsterInstance | None = None,
    console: Console | None = None,
    profile: str = "small",
) -> bool:
    """Materialise the main job for every subject; True when every run succeeded."""
    console = console or Console()
    instance = instance or dg.DagsterInstance.get()
    defs = build_definitions()
    resources = defs.resources or {}
    sources: MocapSourcesResource = resources["mocap_sources"]  # type: ignore[assignment]
    store: StoreResource = resources["store"]  # type: ignore[assignment]
    found = sources.subjects()
    if not found:
        console.print("[red]no subjects found in[/] " + ", ".join(s.path for s in sources.sources))
        return False
    known = set(instance.get_dynamic_partitions(SUBJECTS))
    if new := [s for s in found if s not in known]:
        instance.add_dynamic_partitions(SUBJECTS, new)
    job = defs.resolve_job_def(MAIN_JOB)
    ok = True
    for subject in found:
        t0 = time.perf_counter()
        result = job.execute_in_process(
            instance=instance,
            partition_key=subject,
            raise_on_error=False,
            run_config=job_config(job, profile_config(profile)),
        )
        status = "[green]ok[/]" if result.success else "[red]failed[/]"
        console.print(f"{MAIN_JOB} [bold]{subject}[/]: {status} ({time.perf_counter() - t0:.1f} s)")
        ok &= result.success
    # then every subject at once: one dataset version, checked, exported
    ok &= run_publish_export(defs, instance, console, profile)
    # and one student for every subject, evaluated against the teachers and the MoCap
    ok &= run_student(defs, instance, console, profile)
    from cli.catalog import print_catalog

    print_catalog(store.store().root)
    console.print(f"store: {store.root}\nDagster instance: {instance.root_directory}")
    return ok


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profile", default="small", help="budget profile in pipeline/profiles")
    sys.exit(0 if run_main_job(profile=ap.parse_args().profile) else 1)
