"""Lifting the capture's swing feet (intermimic.motion.footlift)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from intermimic.motion.footlift import lift_swing_feet, swing_lift
from intermimic.motion.kinematics import KinematicTree, clip_to_qpos, fk
from intermimic.motion.skeleton import SMPLX_BODY_NAMES, SMPLX_PARENTS
from intermimic.motion.synthetic import OFFSETS, forward_kinematics, stepping_clip

FPS = 30.0
NAMES = list(SMPLX_BODY_NAMES)
L_ANKLE, R_ANKLE = NAMES.index("L_Ankle"), NAMES.index("R_Ankle")
LEG_BODIES = {NAMES.index(n) for n in ("L_Knee", "L_Ankle", "L_Toe", "R_Knee", "R_Ankle", "R_Toe")}


def _tree() -> KinematicTree:
    return KinematicTree.from_arrays(np.asarray(SMPLX_PARENTS), OFFSETS)


def test_swing_lift_against_hand_computed_values() -> None:
    t = np.arange(30) / FPS
    ankles = np.zeros((30, 2, 3))
    ankles[:, 0, 0] = 1.0 * t  # the left foot moves at 1 m/s, the right stands
    lift = swing_lift(ankles, FPS, clearance=0.04, smooth_frames=1)
    np.testing.assert_allclose(lift[:, 0], 0.04)
    np.testing.assert_allclose(lift[:, 1], 0.0)
    # halfway between swing_speed 0.15 and full_speed 0.5 the smoothstep is 1/2
    ankles[:, 0, 0] = 0.325 * t
    mid = swing_lift(ankles, FPS, clearance=0.04, smooth_frames=1)
    np.testing.assert_allclose(mid[:, 0], 0.02)
    # both feet moving (a shuffle, a jump, the root carried): no lift; below the swing
    # speed: none either
    ankles[:, 1, 0] = 1.0 * t
    assert not swing_lift(ankles, FPS, clearance=0.04).any()
    ankles[:, :, 0] = 0.1 * t[:, None]
    assert not swing_lift(ankles, FPS, clearance=0.04).any()
    # the smoothing ramps a lift in over its frames: a 3-frame swing averaged over 3
    step = np.zeros((12, 2, 3))
    step[6:, 0, 0] = 0.1  # the left ankle moves 10 cm between frames 5 and 6 (3 m/s)
    ramp = swing_lift(step, FPS, clearance=0.03, smooth_frames=3)[:, 0]
    np.testing.assert_allclose(ramp[[3, 4, 5, 6, 7, 8]], [0.0, 0.01, 0.02, 0.02, 0.01, 0.0])
    assert not swing_lift(step, FPS, clearance=0.0).any()
    # the step's speed (central differences) is 1.5 m/s at frames 5 and 6: lifted there;
    # a lead of 2 frames starts the lift at frame 3 and lands it where it landed
    np.testing.assert_array_equal(
        np.flatnonzero(swing_lift(step, FPS, clearance=0.03, smooth_frames=1)[:, 0]), [5, 6]
    )
    led = swing_lift(step, FPS, clearance=0.03, smooth_frames=1, lead_frames=2)
    np.testing.assert_allclose(led[:, 0], [0, 0, 0, 0.03, 0.03, 0.03, 0.03, 0, 0, 0, 0, 0])
    assert not led[:, 1].any()
    # a lead longer than the clip is the whole clip's look-ahead, no error
    assert swing_lift(step, FPS, clearance=0.03, smooth_frames=1, lead_frames=50)[0, 0] == 0.03
    # alternating steps: the right foot moves at frames 5-6, the left at 8-9; the left's
    # lead would start at frame 6 but waits until the right is down (frame 7)
    steps = np.zeros((14, 2, 3))
    steps[6:, 1, 0] = 0.1
    steps[9:, 0, 0] = 0.1
    both = swing_lift(steps, FPS, clearance=0.03, smooth_frames=1, lead_frames=3)
    np.testing.assert_allclose(
        both[:, 1], [0, 0, 0.03, 0.03, 0.03, 0.03, 0.03, 0, 0, 0, 0, 0, 0, 0]
    )
    np.testing.assert_allclose(both[:, 0], [0, 0, 0, 0, 0, 0, 0, 0.03, 0.03, 0.03, 0, 0, 0, 0])
    assert not (both > 0).all(axis=1).any()
    with pytest.raises(ValueError, match="lead_frames"):
        swing_lift(step, FPS, clearance=0.01, lead_frames=-1)
    with pytest.raises(ValueError, match="negative"):
        swing_lift(step, FPS, clearance=-0.01)
    with pytest.raises(ValueError, match="swing_speed"):
        swing_lift(step, FPS, clearance=0.01, swing_speed=0.6)


def test_lift_raises_the_swing_foot_and_nothing_else() -> None:
    clip = stepping_clip()
    tree = _tree()
    q0 = clip_to_qpos(clip)
    pos0, quat0 = fk(tree, q0)
    # the tree's FK is the synthetic skeleton's own (an independent path)
    np.testing.assert_allclose(pos0, clip.body_pos, atol=1e-5)
    out = lift_swing_feet(clip, tree, NAMES, clearance=0.05)
    lifted = out.lift[:, 0] > 1e-4
    assert lifted.sum() > 10 and not out.lift[:, 1].any()
    assert out.residual.max() < 1e-6
    pos1, quat1 = fk(tree, clip_to_qpos(out.clip))
    dz = pos1[:, L_ANKLE, 2] - pos0[:, L_ANKLE, 2]
    np.testing.assert_allclose(dz, out.lift[:, 0], atol=1e-6)
    np.testing.assert_allclose(pos1[:, L_ANKLE, :2], pos0[:, L_ANKLE, :2], atol=1e-6)
    turn = Rotation.from_quat(quat1[:, L_ANKLE][:, [1, 2, 3, 0]]).inv() * Rotation.from_quat(
        quat0[:, L_ANKLE][:, [1, 2, 3, 0]]
    )
    assert turn.magnitude().max() < 1e-6  # the foot keeps its orientation
    others = [b for b in range(len(NAMES)) if b not in LEG_BODIES]
    np.testing.assert_allclose(pos1[:, others], pos0[:, others], atol=1e-9)
    np.testing.assert_allclose(pos1[:, R_ANKLE], pos0[:, R_ANKLE], atol=1e-9)
    # the stored bodies follow the new angles (the synthetic skeleton's FK of them)
    pos2, quat2 = forward_kinematics(
        np.asarray(out.clip.root_pos, np.float64),
        np.asarray(out.clip.root_quat, np.float64),
        np.asarray(out.clip.joint_rotvec, np.float64),
    )
    np.testing.assert_allclose(out.clip.body_pos, pos2, atol=1e-5)
    np.testing.assert_allclose(np.abs((out.clip.body_quat * quat2).sum(-1)), 1.0, atol=1e-5)
    # frames without a lift, and every joint but the lifted leg's, keep their rotation
    # vectors bit for bit; the object and labels are untouched
    np.testing.assert_array_equal(out.clip.joint_rotvec[~lifted], clip.joint_rotvec[~lifted])
    leg = [NAMES.index(n) - 1 for n in ("L_Hip", "L_Knee", "L_Ankle")]
    rest = [j for j in range(51) if j not in leg]
    np.testing.assert_array_equal(out.clip.joint_rotvec[:, rest], clip.joint_rotvec[:, rest])
    assert not np.array_equal(out.clip.joint_rotvec[:, leg], clip.joint_rotvec[:, leg])
    np.testing.assert_array_equal(out.clip.obj_pos, clip.obj_pos)
    np.testing.assert_array_equal(out.clip.contact, clip.contact)


def test_nothing_to_lift_returns_the_clip_and_bad_inputs_are_named() -> None:
    clip = stepping_clip(swing=0.0)  # standing still
    out = lift_swing_feet(clip, _tree(), NAMES, clearance=0.05)
    assert out.clip is clip and not out.lift.any()
    with pytest.raises(ValueError, match="L_Ankle"):
        lift_swing_feet(clip, _tree(), [n.replace("L_Ankle", "Foot") for n in NAMES])
    with pytest.raises(ValueError, match="body names"):
        lift_swing_feet(clip, _tree(), NAMES[:-1])
    small = KinematicTree.from_arrays(np.asarray(SMPLX_PARENTS[:22]), OFFSETS[:22])
    with pytest.raises(ValueError, match="qpos columns"):
        lift_swing_feet(clip, small, NAMES[:22])
