"""The Dagster code location: ``dagster dev -m pipeline.definitions``."""

from __future__ import annotations

import dagster as dg

from assets_defs.contact import contact_intents
from assets_defs.mocap import mocap_clips
from assets_defs.teacher import refined_rollouts, teacher_policy
from pipeline.jobs import ingest_job, main_job
from pipeline.resources import build_resources
from pipeline.sensors import new_subjects_sensor


def build_definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=[mocap_clips, contact_intents, teacher_policy, refined_rollouts],
        jobs=[ingest_job, main_job],
        sensors=[new_subjects_sensor],
        resources=build_resources(),
        executor=dg.multiprocess_executor,
    )


defs = build_definitions()
