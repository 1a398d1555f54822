"""Run the pipeline's main job on the default data and print where the results are.

``python -m pipeline.main`` (what ``make demo`` runs) registers every subject found in
the sources as a partition and materialises the job's assets for each, in the Dagster
instance at ``$DAGSTER_HOME``, so the runs show up in the UI afterwards.
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

MAIN_JOB = "hoi_pipeline"
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
            run_config={**profile_config(profile), **QUIET},
        )
        status = "[green]ok[/]" if result.success else "[red]failed[/]"
        console.print(f"{MAIN_JOB} [bold]{subject}[/]: {status} ({time.perf_counter() - t0:.1f} s)")
        ok &= result.success
    from intermimic.cli.catalog import print_catalog

    print_catalog(store.store().root)
    console.print(f"store: {store.root}\nDagster instance: {instance.root_directory}")
    return ok


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--profile", default="small", help="budget profile in pipeline/profiles")
    sys.exit(0 if run_main_job(profile=ap.parse_args().profile) else 1)
