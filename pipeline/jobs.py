"""Jobs over the assets. ``ingest`` is today's main job: one run per subject partition."""

from __future__ import annotations

import dagster as dg

from assets_defs.contact import contact_intents
from assets_defs.mocap import mocap_clips
from assets_defs.teacher import refined_rollouts, teacher_policy

ingest_job = dg.define_asset_job(
    "ingest",
    selection=dg.AssetSelection.assets(mocap_clips),
    description="Ingest one subject's MoCap files into the store.",
)

#: The pipeline's main job: every stage built so far, for one subject partition.
main_job = dg.define_asset_job(
    "hoi_pipeline",
    selection=dg.AssetSelection.assets(
        mocap_clips, contact_intents, teacher_policy, refined_rollouts
    ),
    description="One subject through the pipeline: ingest, annotate, train a teacher, refine.",
)
