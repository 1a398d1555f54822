"""Run the pipeline's main job on the default data and print where the results are.

``python -m pipeline.main`` (what ``make demo`` runs) registers every subject found in
the sources as a partition and materialises the job's assets for each, in the Dagster
instance at ``$DAGSTER_HOME``, so the runs show up in the UI afterwards.
"""

from __future__ import annotations

import sys
import time

import dagster as dg
from rich.console import Console

from assets_defs.partitions import SUBJECTS
from assets_defs.resources import MocapSourcesResource, StoreResource
from pipeline.definitions import build_definitions

MAIN_JOB = "hoi_pipeline"
# Step-by-step DEBUG events belong in the UI; the terminal gets warnings and errors.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def run_main_job(
    instance: dg.DagsterInstance | None = None, console: Console | None = None
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
            instance=instance, partition_key=subject, raise_on_error=False, run_config=QUIET
        )
        status = "[green]ok[/]" if result.success else "[red]failed[/]"
        console.print(f"{MAIN_JOB} [bold]{subject}[/]: {status} ({time.perf_counter() - t0:.1f} s)")
        ok &= result.success
    from intermimic.cli.catalog import print_catalog

    print_catalog(store.store().root)
    console.print(f"store: {store.root}\nDagster instance: {instance.root_directory}")
    return ok


if __name__ == "__main__":
    sys.exit(0 if run_main_job() else 1)
