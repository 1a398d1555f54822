"""The default SMPL-X humanoid: a mean adult, as InterMimic used it.

The numbers (bone offsets in m, geom sizes, densities in kg/m^3, finger joint ranges)
are facts taken once from the reference MJCF that InterMimic published
(``smplx_humanoid_intermimic.xml``); the library never reads that file. Bodies are in
the data's body order (:data:`intermimic.motion.skeleton.SMPLX_BODY_NAMES`), which is
the depth-first order of the tree. Non-finger hinges range over +-180 degrees.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from intermimic.humanoid.skeleton_model import BodySpec, GeomSpec, Range, SkeletonModel
from intermimic.motion.skeleton import SMPLX_BODY_NAMES, SMPLX_MEAN_ADULT_OFFSETS

_PI = math.pi
_FREE: tuple[Range, Range, Range] = ((-_PI, _PI), (-_PI, _PI), (-_PI, _PI))


def _deg(x: Range, y: Range, z: Range) -> tuple[Range, Range, Range]:
    return tuple((math.radians(lo), math.radians(hi)) for lo, hi in (x, y, z))  # type: ignore[return-value]


def _capsule(radius: float, fromto: tuple[float, ...], density: float) -> GeomSpec:
    return GeomSpec("capsule", (radius,), density, fromto=fromto)  # type: ignore[arg-type]


def _sphere(radius: float, pos: tuple[float, ...], density: float) -> GeomSpec:
    return GeomSpec("sphere", (radius,), density, pos=pos)  # type: ignore[arg-type]


def _box(half: tuple[float, ...], pos: tuple[float, ...], density: float) -> GeomSpec:
    return GeomSpec("box", half, density, pos=pos)  # type: ignore[arg-type]


_INDEX = {n: i for i, n in enumerate(SMPLX_BODY_NAMES)}


def _body(
    name: str,
    parent: str | None,
    geoms: Sequence[GeomSpec],
    joint_range: tuple[Range, Range, Range] | None,
) -> BodySpec:
    """Body ``name`` with its mean-adult bone offset (:data:`SMPLX_MEAN_ADULT_OFFSETS`)."""
    offset = SMPLX_MEAN_ADULT_OFFSETS[_INDEX[name]]
    return BodySpec(name, parent, offset, tuple(geoms), joint_range)  # type: ignore[arg-type]


_BODIES: tuple[BodySpec, ...] = (
    _body(
        "Pelvis",
        None,
        [_sphere(0.1056, (0.0, 0.0, 0.0), 4629.6296296296305)],
        None,
    ),
    _body(
        "L_Hip",
        "Pelvis",
        [_capsule(0.059, (-0.0049, 0.0044, -0.0778, -0.0195, 0.0175, -0.3112), 2040.816327)],
        _FREE,
    ),
    _body(
        "L_Knee",
        "L_Hip",
        [_capsule(0.0564, (-0.0042, -0.0018, -0.0811, -0.0167, -0.0071, -0.3246), 1234.567901)],
        _FREE,
    ),
    _body(
        "L_Ankle",
        "L_Knee",
        [_box((0.0909, 0.0502, 0.0216), (0.0566, 0.0115, -0.0234), 1000.0)],
        _FREE,
    ),
    _body(
        "L_Toe",
        "L_Ankle",
        [_box((0.0194, 0.0493, 0.0209), (0.0576, -0.0115, 0.0227), 1000.0)],
        _FREE,
    ),
    _body(
        "R_Hip",
        "Pelvis",
        [_capsule(0.0588, (-0.0035, -0.0051, -0.077, -0.014, -0.0203, -0.3079), 2040.816327)],
        _FREE,
    ),
    _body(
        "R_Knee",
        "R_Hip",
        [_capsule(0.0564, (-0.0035, 0.0006, -0.0794, -0.0139, 0.0026, -0.3175), 1234.567901)],
        _FREE,
    ),
    _body(
        "R_Ankle",
        "R_Knee",
        [_box((0.0909, 0.0502, 0.0216), (0.0535, -0.0091, -0.025), 1000.0)],
        _FREE,
    ),
    _body(
        "R_Toe",
        "R_Ankle",
        [_box((0.0194, 0.0493, 0.0209), (0.0545, 0.0091, 0.0243), 1000.0)],
        _FREE,
    ),
    _body(
        "Torso",
        "Pelvis",
        [_capsule(0.0817, (-0.0054, 0.0055, 0.057, -0.0066, 0.0067, 0.0697), 1100.0)],
        _FREE,
    ),
    _body(
        "Spine",
        "Torso",
        [_capsule(0.0686, (0.0179, -0.0033, 0.0207, 0.0218, -0.004, 0.0253), 1100.0)],
        _FREE,
    ),
    _body(
        "Chest",
        "Spine",
        [_capsule(0.1145, (-0.0173, -0.0012, 0.0701, -0.0212, -0.0015, 0.0857), 1100.0)],
        _FREE,
    ),
    _body(
        "Neck",
        "Chest",
        [_capsule(0.0437, (0.0033, 0.0019, 0.0295, 0.0132, 0.0076, 0.118), 1000.0)],
        _FREE,
    ),
    _body("Head", "Neck", [_sphere(0.1054, (0.0, 0.0, 0.0), 1000.0)], _FREE),
    _body(
        "L_Thorax",
        "Chest",
        [_capsule(0.0564, (-0.0063, 0.0186, 0.0105, -0.025, 0.0743, 0.042), 1000.0)],
        _FREE,
    ),
    _body(
        "L_Shoulder",
        "L_Thorax",
        [_capsule(0.0533, (-0.0057, 0.056, -0.0112, -0.0228, 0.2241, -0.0448), 1000.0)],
        _FREE,
    ),
    _body(
        "L_Elbow",
        "L_Shoulder",
        [_capsule(0.0418, (0.0012, 0.0473, 0.0019, 0.0047, 0.1894, 0.0075), 1000.0)],
        _FREE,
    ),
    _body(
        "L_Wrist",
        "L_Elbow",
        [_box((0.0414, 0.0444, 0.0076), (-0.0022, 0.0456, -0.0084), 1000.0)],
        _FREE,
    ),
    _body(
        "L_Index1",
        "L_Wrist",
        [_capsule(0.0093, (0.0001, 0.0061, -0.0021, 0.0006, 0.0246, -0.0082), 1000.0)],
        _deg((-55.625, 55.625), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "L_Index2",
        "L_Index1",
        [_capsule(0.0076, (-0.0004, 0.0015, -0.0043, -0.0017, 0.0059, -0.017), 1000.0)],
        _deg((-55.625, 55.625), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "L_Index3",
        "L_Index2",
        [_capsule(0.0067, (-0.0, 0.0019, -0.0039, -0.0001, 0.0075, -0.0154), 1000.0)],
        _deg((-90.0, 5.625), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "L_Middle1",
        "L_Wrist",
        [_capsule(0.0096, (-0.001, 0.0054, -0.0029, -0.0039, 0.0214, -0.0116), 1000.0)],
        _deg((-55.625, 55.625), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "L_Middle2",
        "L_Middle1",
        [_capsule(0.0071, (-0.0004, 0.0013, -0.0046, -0.0017, 0.0051, -0.0184), 1000.0)],
        _deg((-55.625, 55.625), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "L_Middle3",
        "L_Middle2",
        [_capsule(0.0064, (-0.0, 0.0017, -0.0042, -0.0001, 0.0067, -0.0168), 1000.0)],
        _deg((-90.0, 5.625), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "L_Pinky1",
        "L_Wrist",
        [_capsule(0.0071, (-0.0012, 0.0024, -0.0028, -0.0047, 0.0097, -0.011), 1000.0)],
        _deg((-55.625, 55.625), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "L_Pinky2",
        "L_Pinky1",
        [_capsule(0.0064, (-0.0001, 0.0008, -0.0037, -0.0005, 0.0033, -0.0149), 1000.0)],
        _deg((-55.625, 55.625), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "L_Pinky3",
        "L_Pinky2",
        [_capsule(0.0051, (0.0003, 0.0012, -0.0033, 0.0011, 0.0049, -0.0133), 1000.0)],
        _deg((-90.0, 5.625), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "L_Ring1",
        "L_Wrist",
        [_capsule(0.0082, (-0.0005, 0.0048, -0.0032, -0.0019, 0.0191, -0.0126), 1000.0)],
        _deg((-55.625, 55.625), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "L_Ring2",
        "L_Ring1",
        [_capsule(0.0073, (0.0001, 0.0009, -0.0047, 0.0003, 0.0036, -0.0187), 1000.0)],
        _deg((-55.625, 55.625), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "L_Ring3",
        "L_Ring2",
        [_capsule(0.0061, (0.0005, 0.0013, -0.0043, 0.0019, 0.0052, -0.0171), 1000.0)],
        _deg((-90.0, 5.625), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "L_Thumb1",
        "L_Wrist",
        [_capsule(0.0123, (0.0022, 0.0044, -0.0035, 0.0089, 0.0176, -0.0139), 1000.0)],
        _deg((-55.625, 55.625), (-55.625, 55.625), (-55.625, 55.625)),
    ),
    _body(
        "L_Thumb2",
        "L_Thumb1",
        [_capsule(0.0093, (0.0011, 0.0048, -0.0018, 0.0044, 0.0191, -0.0071), 1000.0)],
        _deg((-5.625, 5.625), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "L_Thumb3",
        "L_Thumb2",
        [_capsule(0.0088, (0.0015, 0.0052, -0.0014, 0.006, 0.0207, -0.0055), 1000.0)],
        _deg((-90.0, 5.625), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "R_Thorax",
        "Chest",
        [_capsule(0.0576, (-0.0048, -0.0201, 0.011, -0.0192, -0.0804, 0.0439), 1000.0)],
        _FREE,
    ),
    _body(
        "R_Shoulder",
        "R_Thorax",
        [_capsule(0.0538, (-0.0042, -0.0541, -0.0101, -0.0167, -0.2164, -0.0402), 1000.0)],
        _FREE,
    ),
    _body(
        "R_Elbow",
        "R_Shoulder",
        [_capsule(0.042, (-0.0008, -0.0474, 0.001, -0.003, -0.1897, 0.004), 1000.0)],
        _FREE,
    ),
    _body(
        "R_Wrist",
        "R_Elbow",
        [_box((0.0414, 0.0416, 0.0078), (-0.0014, -0.0449, -0.008), 1000.0)],
        _FREE,
    ),
    _body(
        "R_Index1",
        "R_Wrist",
        [_capsule(0.0093, (0.0001, -0.0061, -0.0021, 0.0006, -0.0246, -0.0082), 1000.0)],
        _deg((-55.625, 55.625), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "R_Index2",
        "R_Index1",
        [_capsule(0.0076, (-0.0004, -0.0015, -0.0043, -0.0017, -0.0059, -0.017), 1000.0)],
        _deg((-55.625, 55.625), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "R_Index3",
        "R_Index2",
        [_capsule(0.0068, (-0.0, -0.0011, -0.0039, -0.0001, -0.0043, -0.0154), 1000.0)],
        _deg((-5.625, 90.0), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "R_Middle1",
        "R_Wrist",
        [_capsule(0.0096, (-0.001, -0.0054, -0.0029, -0.0039, -0.0214, -0.0116), 1000.0)],
        _deg((-55.625, 55.625), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "R_Middle2",
        "R_Middle1",
        [_capsule(0.0071, (-0.0004, -0.0013, -0.0046, -0.0017, -0.0051, -0.0184), 1000.0)],
        _deg((-55.625, 55.625), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "R_Middle3",
        "R_Middle2",
        [_capsule(0.0064, (-0.0, -0.0009, -0.0042, -0.0001, -0.0035, -0.0168), 1000.0)],
        _deg((-5.625, 90.0), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "R_Pinky1",
        "R_Wrist",
        [_capsule(0.0071, (-0.0012, -0.0024, -0.0028, -0.0047, -0.0097, -0.011), 1000.0)],
        _deg((-55.625, 55.625), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "R_Pinky2",
        "R_Pinky1",
        [_capsule(0.0064, (-0.0001, -0.0008, -0.0037, -0.0005, -0.0033, -0.0149), 1000.0)],
        _deg((-55.625, 55.625), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "R_Pinky3",
        "R_Pinky2",
        [_capsule(0.0052, (0.0003, -0.0004, -0.0033, 0.0011, -0.0017, -0.0133), 1000.0)],
        _deg((-5.625, 90.0), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "R_Ring1",
        "R_Wrist",
        [_capsule(0.0082, (-0.0005, -0.0048, -0.0032, -0.0019, -0.0191, -0.0126), 1000.0)],
        _deg((-55.625, 55.625), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "R_Ring2",
        "R_Ring1",
        [_capsule(0.0073, (0.0001, -0.0009, -0.0047, 0.0003, -0.0036, -0.0187), 1000.0)],
        _deg((-55.625, 55.625), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "R_Ring3",
        "R_Ring2",
        [_capsule(0.0061, (0.0005, -0.0005, -0.0043, 0.0019, -0.002, -0.0171), 1000.0)],
        _deg((-5.625, 90.0), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "R_Thumb1",
        "R_Wrist",
        [_capsule(0.0123, (0.0022, -0.0044, -0.0035, 0.0089, -0.0176, -0.0139), 1000.0)],
        _deg((-55.625, 55.625), (-55.625, 55.625), (-55.625, 55.625)),
    ),
    _body(
        "R_Thumb2",
        "R_Thumb1",
        [_capsule(0.0093, (0.0011, -0.0048, -0.0018, 0.0044, -0.0191, -0.0071), 1000.0)],
        _deg((-5.625, 5.625), (-5.625, 5.625), (-5.625, 5.625)),
    ),
    _body(
        "R_Thumb3",
        "R_Thumb2",
        [_capsule(0.0091, (0.0015, -0.0044, -0.0014, 0.006, -0.0175, -0.0055), 1000.0)],
        _deg((-5.625, 90.0), (-5.625, 5.625), (-5.625, 5.625)),
    ),
)

SMPLX_MEAN_ADULT = SkeletonModel(bodies=_BODIES, name="smplx_mean_adult")


def default_skeleton() -> SkeletonModel:
    """The mean-adult SMPL-X humanoid (52 bodies, the reference model's numbers)."""
    return SMPLX_MEAN_ADULT
