"""Body mode: the SMPL-X humanoid with its 30 finger bodies welded (63 hinges)."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest
from pydantic import ValidationError

from intermimic.humanoid import HumanoidSettings, build_model, hinge_names
from intermimic.humanoid.builder import welded_bodies
from intermimic.humanoid.embodiment import SmplxEmbodiment, make_embodiment
from intermimic.humanoid.errors import SkeletonError
from intermimic.humanoid.skeleton_model import is_finger
from intermimic.humanoid.smplx_offsets import default_skeleton
from intermimic.motion.kinematics import fk_mujoco
from intermimic.motion.skeleton import SMPLX_BODY_NAMES

#: A light grasp: every finger hinge bent a little (rad), x y z per finger body.
GRASP = tuple(np.tile([0.1, -0.2, 0.3], 30).tolist())


def test_body_model_has_63_actuated_hinges_and_52_bodies() -> None:
    m = build_model(settings=HumanoidSettings(hands="body"))
    assert m.nbody - 1 == 52 and m.nq == 7 + 63 and m.nv == 6 + 63 and m.nu == 63
    emb = make_embodiment("smplx-body")
    assert isinstance(emb, SmplxEmbodiment) and emb.name == "smplx-body"
    assert len(emb.joint_names) == 63
    actuated = tuple(m.joint(int(j)).name for j in m.actuator_trnid[:, 0])
    assert actuated == emb.joint_names == hinge_names(default_skeleton(), "body")
    assert not any(is_finger(n.rsplit("_", 1)[0]) for n in actuated)
    welded = welded_bodies(SMPLX_BODY_NAMES, "body")
    assert len(welded) == 30 and all(m.body(n).jntnum == 0 for n in welded)
    # the fingers keep their geoms and masses
    full = build_model()
    np.testing.assert_allclose(m.body_mass, full.body_mass)
    assert m.ngeom == full.ngeom
    np.testing.assert_array_equal(
        np.array(m.numeric("pd_kp").data), np.array(full.numeric("pd_kp").data)[emb._kept]
    )


@pytest.mark.parametrize("finger_pose", [None, GRASP])
def test_body_poses_equal_the_full_model_with_fingers_at_the_weld(finger_pose: object) -> None:
    settings = HumanoidSettings(hands="body", finger_pose=finger_pose)
    body = build_model(settings=settings)
    full = build_model()
    emb = SmplxEmbodiment(settings=settings)
    rng = np.random.default_rng(0)
    own = np.zeros((3, body.nq))
    own[:, 2] = 1.0
    own[:, 3] = 1.0
    own[1:, 7:] = rng.uniform(-0.4, 0.4, (2, body.nq - 7))  # row 0: the rest pose
    smplx = emb.smplx_qpos(own)
    assert smplx.shape == (3, 160)
    np.testing.assert_array_equal(emb.own_qpos(smplx), own)
    pos_b, quat_b = fk_mujoco(body, own)
    pos_f, quat_f = fk_mujoco(full, smplx)
    np.testing.assert_allclose(pos_b, pos_f, atol=1e-12)
    # w x y z up to sign
    dots = np.abs(np.einsum("tbi,tbi->tb", quat_b, quat_f))
    np.testing.assert_allclose(dots, 1.0, atol=1e-12)


def test_reference_qpos_drops_the_finger_hinges_and_the_reference_welds_them() -> None:
    from intermimic.motion.kinematics import clip_to_qpos
    from intermimic.motion.synthetic import synthetic_clip

    clip = synthetic_clip(n_frames=5, seed=1)
    emb = SmplxEmbodiment(settings=HumanoidSettings(finger_pose=GRASP), hands="body")
    q = clip_to_qpos(clip)
    own = emb.reference_qpos(clip)
    assert own.shape == (5, 70)
    ref = emb.reference_smplx_qpos(clip)
    np.testing.assert_array_equal(emb.own_qpos(ref), own)
    fingers = ref[:, 7:][:, ~emb._kept]
    np.testing.assert_allclose(fingers, np.tile(GRASP, (5, 1)))
    np.testing.assert_array_equal(ref[:, 7:][:, emb._kept], q[:, 7:][:, emb._kept])
    # full hands: the clip itself
    full = SmplxEmbodiment()
    assert full.name == "smplx" and full.reference_qpos(clip).shape == (5, 160)
    np.testing.assert_array_equal(full.smplx_qpos(q), q)


def test_bad_hands_settings_are_rejected() -> None:
    with pytest.raises(ValidationError, match="hands"):
        HumanoidSettings(hands="fingers")  # type: ignore[arg-type]
    with pytest.raises(SkeletonError, match="90"):
        build_model(settings=HumanoidSettings(hands="body", finger_pose=(0.1, 0.2)))
    # a finger pose is moot with full hands
    assert build_model(settings=HumanoidSettings(finger_pose=(0.1,))).nu == 153


def test_body_model_steps_and_holds_its_fingers() -> None:
    m = build_model(settings=HumanoidSettings(hands="body", actuators="position"))
    d = mujoco.MjData(m)
    d.qpos[2] = 1.0
    for _ in range(10):
        mujoco.mj_step(m, d)
    assert np.isfinite(d.qpos).all() and d.qpos.shape == (70,)
