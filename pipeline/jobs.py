"""Jobs over the assets and their names, defined once here for main, sensors and tests."""

from __future__ import annotations

import dagster as dg

from assets_defs.contact import contact_intents
from assets_defs.dataset import hoi_dataset_export, refined_dataset
from assets_defs.mocap import mocap_clips
from assets_defs.student import student_evaluation, student_policy
from assets_defs.teacher import refined_rollouts, teacher_policy

INGEST_JOB = "ingest"
MAIN_JOB = "hoi_pipeline"
PUBLISH_EXPORT_JOB = "publish_export"
STUDENT_JOB = "student"

ingest_job = dg.define_asset_job(
    INGEST_JOB,
    selection=dg.AssetSelection.assets(mocap_clips),
    description="Ingest one subject's MoCap files into the store.",
)

#: The pipeline's main job: every stage built so far, for one subject partition.
main_job = dg.define_asset_job(
    MAIN_JOB,
    selection=dg.AssetSelection.assets(
        mocap_clips, contact_intents, teacher_policy, refined_rollouts
    ),
    description="One subject through the pipeline: ingest, annotate, train a teacher, refine.",
)

#: Unpartitioned: every subject's refined clips as one version, then its exports. A job of
#: its own because the main job runs one subject partition at a time.
publish_export_job = dg.define_asset_job(
    PUBLISH_EXPORT_JOB,
    selection=dg.AssetSelection.assets(refined_dataset, hoi_dataset_export),
    description="Publish every subject's refined clips as a version, check it, export it.",
)

#: Unpartitioned: distil the student from every subject's teacher, then evaluate it.
student_job = dg.define_asset_job(
    STUDENT_JOB,
    selection=dg.AssetSelection.assets(student_policy, student_evaluation),
    description="Distil the student (DAgger + PPO) and evaluate it against its baselines.",
)
