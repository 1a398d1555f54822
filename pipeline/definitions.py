"""The Dagster code location: ``dagster dev -m pipeline.definitions``."""

from __future__ import annotations

import dagster as dg

from assets_defs.contact import contact_intents
from assets_defs.dataset import hoi_dataset_export, refined_dataset
from assets_defs.mocap import mocap_clips
from assets_defs.store_check import store_verified
from assets_defs.student import student_evaluation, student_policy
from assets_defs.teacher import refined_rollouts, teacher_policy
from pipeline.executors import executor_def
from pipeline.jobs import ingest_job, main_job, publish_export_job, student_job
from pipeline.resources import build_resources
from pipeline.sensors import new_subjects_sensor


def build_definitions(executor: str | None = None) -> dg.Definitions:
    """``executor``: in_process, multiprocess, dask or k8s (default ``$INTERMIMIC_EXECUTOR``,
    else multiprocess; see :mod:`pipeline.executors`)."""
    return dg.Definitions(
        assets=[
            mocap_clips,
            contact_intents,
            teacher_policy,
            refined_rollouts,
            refined_dataset,
            hoi_dataset_export,
            student_policy,
            student_evaluation,
        ],
        asset_checks=[store_verified],
        jobs=[ingest_job, main_job, publish_export_job, student_job],
        sensors=[new_subjects_sensor],
        resources=build_resources(),
        executor=executor_def(executor),
    )


defs = build_definitions()
