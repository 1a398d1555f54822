"""The SMPL-X humanoid: typed skeleton data, the MuJoCo builder, subject fitting.

Usage::

    from intermimic.humanoid import build_model, fit_skeleton

    model = build_model()                                # the mean adult, an MjModel
    fitted = build_model(fit_skeleton(clips).skeleton)   # one subject's bones (HOIClips)
"""

from intermimic.humanoid.builder import (
    build_model,
    build_spec,
    hinge_names,
    model_pd_gains,
    pd_gains,
)
from intermimic.humanoid.errors import (
    BoneLengthError,
    CyclicSkeletonError,
    MissingParentError,
    SkeletonError,
    SmplxModelError,
    UnknownBodyError,
)
from intermimic.humanoid.fit import (
    BoneMeasurement,
    FittedSkeleton,
    fit_skeleton,
    measure_bones,
    measure_clip_bones,
    offsets_in_parent_frame,
    skeleton_from_smplx,
    skeleton_with_offsets,
    smplx_joints,
)
from intermimic.humanoid.skeleton_model import (
    BodySpec,
    BoneLimits,
    Gains,
    GeomSpec,
    HumanoidSettings,
    PDSettings,
    SkeletonModel,
)
from intermimic.humanoid.smplx_offsets import SMPLX_MEAN_ADULT, default_skeleton

__all__ = [
    "SMPLX_MEAN_ADULT",
    "BodySpec",
    "BoneLengthError",
    "BoneLimits",
    "BoneMeasurement",
    "CyclicSkeletonError",
    "FittedSkeleton",
    "Gains",
    "GeomSpec",
    "HumanoidSettings",
    "MissingParentError",
    "PDSettings",
    "SkeletonError",
    "SkeletonModel",
    "SmplxModelError",
    "UnknownBodyError",
    "build_model",
    "build_spec",
    "default_skeleton",
    "fit_skeleton",
    "hinge_names",
    "measure_bones",
    "measure_clip_bones",
    "model_pd_gains",
    "offsets_in_parent_frame",
    "pd_gains",
    "skeleton_from_smplx",
    "skeleton_with_offsets",
    "smplx_joints",
]
