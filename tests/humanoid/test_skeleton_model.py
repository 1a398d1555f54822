"""SkeletonModel validation and PD gain settings."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from intermimic.errors import InputError
from intermimic.humanoid import (
    BodySpec,
    BoneLengthError,
    CyclicSkeletonError,
    Gains,
    GeomSpec,
    MissingParentError,
    PDSettings,
    SkeletonError,
    SkeletonModel,
    UnknownBodyError,
    default_skeleton,
)
from intermimic.motion.skeleton import SMPLX_BODY_NAMES, SMPLX_PARENTS

BALL = (GeomSpec("sphere", (0.05,), 1000.0),)


def chain(*bodies: tuple[str, str | None, tuple[float, float, float]]) -> SkeletonModel:
    return SkeletonModel(tuple(BodySpec(n, p, o, BALL) for n, p, o in bodies))


def test_default_is_the_data_body_order() -> None:
    sk = default_skeleton()
    assert sk.body_names == SMPLX_BODY_NAMES
    assert sk.parents == SMPLX_PARENTS
    assert sk.n_bodies == 52
    # Known facts of the reference model.
    np.testing.assert_allclose(sk.body("L_Knee").offset, (-0.0244, 0.0218, -0.389))
    assert sk.body("Pelvis").geoms[0].type == "sphere"
    assert sk.body("L_Ankle").geoms[0].type == "box"
    lo, hi = sk.body("L_Index3").joint_range[0]
    assert (np.degrees(lo), np.degrees(hi)) == pytest.approx((-90.0, 5.625))


def test_errors_are_input_errors() -> None:
    assert issubclass(SkeletonError, InputError)


def test_missing_parent() -> None:
    with pytest.raises(MissingParentError, match="'Nowhere'"):
        chain(("root", None, (0, 0, 0)), ("a", "Nowhere", (0, 0, 0.1)))


def test_two_roots() -> None:
    with pytest.raises(MissingParentError, match="exactly one root"):
        chain(("root", None, (0, 0, 0)), ("a", None, (0, 0, 0.1)))


def test_cycle() -> None:
    with pytest.raises(CyclicSkeletonError, match="loops"):
        chain(("root", None, (0, 0, 0)), ("a", "b", (0, 0, 0.1)), ("b", "a", (0, 0, 0.1)))


def test_unknown_body_lookup() -> None:
    with pytest.raises(UnknownBodyError, match="'L_Tail'"):
        default_skeleton().index("L_Tail")
    with pytest.raises(UnknownBodyError):
        default_skeleton().replace_bodies({"L_Tail": default_skeleton().bodies[1]})


@pytest.mark.parametrize(
    ("name", "offset", "match"),
    [
        ("a", (0.0, 0.0, 0.0), "below"),
        ("a", (0.0, 0.0, 1.6), "exceeds 1.5"),
        ("L_Index2", (0.0, 0.3, 0.0), "exceeds 0.2"),
        ("a", (0.0, float("nan"), 0.1), "finite"),
    ],
)
def test_bone_lengths(name: str, offset: tuple, match: str) -> None:
    with pytest.raises(BoneLengthError, match=match):
        chain(("root", None, (0, 0, 0)), (name, "root", offset))


def test_duplicates_and_order() -> None:
    with pytest.raises(SkeletonError, match="duplicate"):
        chain(("root", None, (0, 0, 0)), ("a", "root", (0, 0, 0.1)), ("a", "root", (0, 0, 0.1)))
    with pytest.raises(SkeletonError, match="depth-first"):
        chain(
            ("root", None, (0, 0, 0)),
            ("a", "root", (0, 0, 0.1)),
            ("b", "root", (0, 0, 0.1)),
            ("a2", "a", (0, 0, 0.1)),
        )


def test_geom_checks() -> None:
    bad = GeomSpec("capsule", (0.05,), 1000.0, fromto=(0, 0, 0, 0, 0, 0))
    with pytest.raises(SkeletonError, match="zero length"):
        SkeletonModel((BodySpec("root", None, (0, 0, 0), (bad,)),))
    with pytest.raises(SkeletonError, match="density"):
        SkeletonModel((BodySpec("root", None, (0, 0, 0), (replace(BALL[0], density=0.0),)),))
    with pytest.raises(SkeletonError, match="size"):
        SkeletonModel((BodySpec("root", None, (0, 0, 0), (GeomSpec("box", (1.0,), 1.0),)),))


def test_pd_groups() -> None:
    pd = PDSettings()
    expected = {
        "L_Hip": (800, 80), "R_Knee": (800, 80), "L_Ankle": (800, 80),
        "L_Toe": (500, 50),
        "Torso": (1000, 100), "Spine": (1000, 100), "Chest": (1000, 100),
        "Neck": (500, 50), "Head": (500, 50), "L_Thorax": (500, 50),
        "R_Shoulder": (500, 50), "L_Elbow": (500, 50),
        "R_Wrist": (300, 30),
        "L_Index1": (100, 10), "R_Thumb3": (100, 10),
    }  # fmt: skip
    for name, (kp, kd) in expected.items():
        g = pd.gains(name)
        assert (g.kp, g.kd) == (kp, kd), name
    kp, kd = pd.arrays(SMPLX_BODY_NAMES)
    assert kp.shape == kd.shape == (153,)
    assert pd.armature == 0.02
    with pytest.raises(UnknownBodyError):
        pd.group_of("Tail")
    with pytest.raises(UnknownBodyError, match="L_Tail"):
        PDSettings(overrides={"L_Tail": Gains(kp=1, kd=1)}).arrays(SMPLX_BODY_NAMES)
    kp2, _ = PDSettings(overrides={"L_Hip": Gains(kp=1, kd=1)}).arrays(SMPLX_BODY_NAMES)
    assert kp2[:3].tolist() == [1, 1, 1] and kp2[3] == 800
