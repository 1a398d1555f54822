"""Partitions shared by the per-subject stages."""

from __future__ import annotations

import dagster as dg

#: One partition per subject; the ``new_subjects`` sensor adds them as files appear.
SUBJECTS = "subjects"
subjects = dg.DynamicPartitionsDefinition(name=SUBJECTS)
