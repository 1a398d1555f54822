"""Publishing every subject's refined motion as one immutable, versioned dataset.

Where versions live and how they are read: :mod:`data_catalog.versions`.

The version id is a content hash of the inputs: for every clip the raw dataset, subject,
clip id, the raw clip's hash and the hash of the teacher checkpoint that refined it,
plus the settings that decide what goes in (``only_successful``, ``datasets``) and the
code version. The same inputs give the same id, so publishing twice writes nothing.
(A refined clip's identity is its teacher and raw clip, as in the store itself:
:func:`data_catalog.refined_layout.refined_sha256`.)

:func:`publish_refined` makes a new version current only when its blocking checks pass
(:func:`quality_checks`: every array finite, success ratio at least
``min_success_ratio``, physical figures not worse than the raw clip's), unless told
``force_current``; so ``current`` always names a version that passed them. A fourth
check, a warning that never blocks (:data:`CHECK_QUALITY`), lists which clips are of
full refinement quality, worse than the rule, partial or unmeasured
(:mod:`stages.refine_quality`).
"""

from stages.publish.checks import (
    CHECK_FINITE,
    CHECK_PHYSICAL,
    CHECK_QUALITY,
    CHECK_SUCCESS,
    CheckOutcome,
    clip_verdict,
    quality_check,
    quality_checks,
)
from stages.publish.gather import Gathered, gather_refined, series_figures
from stages.publish.settings import PublishSettings
from stages.publish.write import (
    STALL_ENV,
    PublishError,
    PublishReport,
    code_version,
    publish_refined,
    version_id,
    version_inputs,
)

__all__ = [
    "CHECK_FINITE",
    "CHECK_PHYSICAL",
    "CHECK_QUALITY",
    "CHECK_SUCCESS",
    "STALL_ENV",
    "CheckOutcome",
    "Gathered",
    "PublishError",
    "PublishReport",
    "PublishSettings",
    "clip_verdict",
    "code_version",
    "gather_refined",
    "publish_refined",
    "quality_check",
    "quality_checks",
    "series_figures",
    "version_id",
    "version_inputs",
]
