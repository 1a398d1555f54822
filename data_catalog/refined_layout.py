"""Names of the refined data in the store, shared by refinement and publishing.

A module of its own, free of torch and the RL stack, so that publishing and exporting
(which only read refined clips) do not pay for importing :mod:`stages.refine`.
"""

from __future__ import annotations

import hashlib

#: Refined clips of dataset ``D`` are stored as dataset ``D + REFINED_SUFFIX``.
REFINED_SUFFIX = "-refined"
#: Series groups of a refined subject: the simulated rollout and its artifact report.
ROLLOUT = "rollout"
ARTIFACTS = "artifacts"


def refined_dataset(dataset: str) -> str:
    """``<dataset>-refined``."""
    return f"{dataset}{REFINED_SUFFIX}"


def refined_sha256(teacher_sha: str, clip_sha: str) -> str:
    """The hash a refined clip carries: of its teacher checkpoint's and its raw clip's, so
    a new teacher or changed MoCap replaces exactly the clips it changes."""
    return hashlib.sha256(f"{teacher_sha}\0{clip_sha}".encode()).hexdigest()
