"""The pipeline's stages: one plain function per stage over a store, what both front
doors (the ``intermimic`` CLI and the Dagster assets) call.

========  ===============================================  =========================
stage     function                                         module
========  ===============================================  =========================
ingest    :func:`~stages.ingest.ingest`                    :mod:`stages.ingest`
annotate  :func:`~stages.annotate.annotate_subject`        :mod:`stages.annotate`
teacher   :func:`~stages.teacher.train_subject_teacher`    :mod:`stages.teacher`
refine    :func:`~stages.refine.refine_subject`            :mod:`stages.refine`
publish   :func:`~stages.publish.publish_refined`          :mod:`stages.publish`
export    :func:`~stages.export.export_version`            :mod:`stages.export`
student   :func:`~stages.student.distill_student`          :mod:`stages.student`
evaluate  :func:`~stages.evaluate.evaluate_students`       :mod:`stages.evaluate`
========  ===============================================  =========================

Importing this package imports only ingestion, publishing and export (no torch); the
learning stages are imported from their modules.
"""

from stages.export import ExportReport, ExportSettings, export_version
from stages.ingest import IngestReport, Reject, discover, ingest
from stages.publish import PublishReport, PublishSettings, publish_refined

__all__ = [
    "ExportReport",
    "ExportSettings",
    "IngestReport",
    "PublishReport",
    "PublishSettings",
    "Reject",
    "discover",
    "export_version",
    "ingest",
    "publish_refined",
]
