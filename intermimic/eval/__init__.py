"""Evaluation of tracking policies (teachers or students) on any set of clips.

* :mod:`~intermimic.eval.metrics`: success, duration, E_h, E_o and the artifact
  figures per clip, and their aggregates;
* :mod:`~intermimic.eval.evaluate`: run a policy on clips under perturbations (object
  mass, friction, initial-state noise) and measure it;
* :mod:`~intermimic.eval.report`: the comparison table (markdown) and PNG plots.
"""

from __future__ import annotations

from intermimic.eval.evaluate import (
    EvalSettings,
    Evaluation,
    evaluate_policy,
    evaluate_teacher_runs,
    raw_mocap,
)
from intermimic.eval.metrics import ClipResult, aggregate, key_body_error, object_point_error
from intermimic.eval.report import comparison_table, write_report

__all__ = [
    "ClipResult",
    "EvalSettings",
    "Evaluation",
    "aggregate",
    "comparison_table",
    "evaluate_policy",
    "evaluate_teacher_runs",
    "key_body_error",
    "object_point_error",
    "raw_mocap",
    "write_report",
]
