"""Sensors: new or changed MoCap subjects become partitions and runs."""

from __future__ import annotations

import hashlib
import json

import dagster as dg

from assets_defs.partitions import SUBJECTS, subjects
from assets_defs.resources import MocapSourcesResource
from pipeline.jobs import ingest_job


def _fingerprint(files: list[tuple[str, int, int]]) -> str:
    return hashlib.sha256(json.dumps(sorted(files)).encode()).hexdigest()[:16]


@dg.sensor(
    job=ingest_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.STOPPED
)
def new_subjects_sensor(
    context: dg.SensorEvaluationContext, mocap_sources: MocapSourcesResource
) -> dg.SensorResult:
    """Add a partition for every new subject and request a run for new or changed ones.

    The cursor remembers a fingerprint (names, sizes, modification times) of each
    subject's files, so an unchanged folder requests nothing.
    """
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    current = {}
    for subject, files in mocap_sources.files_by_subject().items():
        stats = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p, _ in files]
        current[subject] = _fingerprint(stats)
    known = set(context.instance.get_dynamic_partitions(SUBJECTS))
    new = sorted(set(current) - known)
    due = sorted(s for s, fp in current.items() if seen.get(s) != fp)
    return dg.SensorResult(
        run_requests=[dg.RunRequest(partition_key=s, run_key=f"{s}:{current[s]}") for s in due],
        dynamic_partitions_requests=[subjects.build_add_request(new)] if new else [],
        cursor=json.dumps(current, sort_keys=True),
    )
