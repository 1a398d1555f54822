from __future__ import annotations

import warnings
from pathlib import Path
from types import ModuleType

import mujoco
import numpy as np
import pytest

from intermimic.humanoid import build_spec
from intermimic.motion.clip import ClipMeta, HOIClip
from intermimic.motion.kinematics import rotvec_to_euler_xyz
from intermimic.motion.load import read_clip
from intermimic.motion.quat import quat_mul
from intermimic.motion.synthetic import synthetic_clip
from intermimic.objects import ObjectLibrary, SimObject
from intermimic.sim import build_scene
from intermimic.sim.replay import (
    humanoid_qpos,
    penetration_depths,
    replay_clip,
)


def _clip(root_pos: np.ndarray, obj_pos: np.ndarray) -> HOIClip:
    t = len(root_pos)
    unit = np.tile(np.array([1.0, 0, 0, 0], np.float32), (t, 1))
    meta = ClipMeta(dataset="t", subject="s", clip_id="c", object_name="box")
    return HOIClip(
        meta=meta,
        root_pos=root_pos.astype(np.float32),
        root_quat=unit,
        joint_rotvec=np.zeros((t, 51, 3), np.float32),
        body_pos=np.zeros((t, 52, 3), np.float32),
        body_quat=np.tile(unit[:, None], (1, 52, 1)),
        obj_pos=obj_pos.astype(np.float32),
        obj_quat=unit,
        contact=np.zeros((t, 52), np.int8),
        obj_contact=np.zeros(t, np.int8),
    )


def test_known_penetrations(
    humanoid_spec: mujoco.MjSpec, box_object: SimObject, toy: ModuleType, box_half: float
) -> None:
    scene = build_scene(humanoid_spec, box_object)
    stand = toy.TOE_DROP + toy.BODY_RADIUS  # pelvis height with the toes just touching
    # Head position in the zero pose, to push the box 1 cm into the head sphere.
    d = scene.make_data()
    d.qpos[scene.humanoid_qpos_adr[:7]] = [0, 0, stand + 0.5, 1, 0, 0, 0]
    mujoco.mj_kinematics(scene.model, d)
    head = d.xpos[scene.model.body("Head").id].copy()
    beside_head = head + np.array([box_half + toy.BODY_RADIUS - 0.01, 0, 0])
    root = np.array([[0, 0, stand + 0.1], [0, 0, stand - 0.02], [0, 0, stand + 0.5]])
    obj = np.array([[3, 0, box_half + 0.1], [3, 0, box_half - 0.02], beside_head])
    report = replay_clip(scene, _clip(root, obj))
    assert report.n_frames == 3
    np.testing.assert_allclose(report.humanoid_ground, [0, 0.02, 0], atol=1e-3)
    np.testing.assert_allclose(report.object_ground, [0, 0.02, 0], atol=1e-3)
    np.testing.assert_allclose(report.humanoid_object, [0, 0, 0.01], atol=1e-3)
    np.testing.assert_allclose(report.ground_clearance, [0.1, -0.02, 0.5], atol=1e-3)
    s = report.summary()
    assert s["object_ground_max"] == pytest.approx(0.02, abs=1e-3)
    assert s["humanoid_ground_mean"] == pytest.approx(0.02 / 3, abs=1e-3)


def test_penetration_depths_on_data(
    humanoid_spec: mujoco.MjSpec, box_object: SimObject, box_half: float
) -> None:
    scene = build_scene(humanoid_spec, box_object)
    d = scene.make_data()
    scene.set_state(
        d, np.r_[0, 0, 5.0, 1, 0, 0, 0, np.zeros(153)], [0, 0, box_half - 0.02], [1, 0, 0, 0]
    )
    mujoco.mj_forward(scene.model, d)
    hg, ho, og = penetration_depths(scene, d)
    assert (hg, ho) == (0.0, 0.0)
    assert og == pytest.approx(0.02, abs=1e-3)


def test_euler_matches_hinge_chain(humanoid_spec: mujoco.MjSpec) -> None:
    """Hinge angles from rotvec_to_euler_xyz reproduce the joint rotation in MuJoCo."""
    rng = np.random.default_rng(0)
    rotvec = rng.uniform(-1.2, 1.2, (51, 3))
    scene = build_scene(humanoid_spec)
    d = scene.make_data()
    q = np.r_[0, 0, 1.0, 1, 0, 0, 0, rotvec_to_euler_xyz(rotvec).ravel()]
    scene.set_state(d, q)
    mujoco.mj_kinematics(scene.model, d)
    from intermimic.motion.quat import rotvec_to_quat

    hip = scene.model.body("L_Hip").id
    expected = rotvec_to_quat(rotvec[0])
    got = d.xquat[hip]
    assert min(np.abs(got - expected).max(), np.abs(got + expected).max()) < 1e-9


def test_humanoid_qpos_of_synthetic_clip() -> None:
    clip = synthetic_clip(n_frames=12)
    q = humanoid_qpos(clip)
    assert q.shape == (12, 160)
    np.testing.assert_allclose(q[:, :3], clip.root_pos, atol=1e-6)
    np.testing.assert_allclose(q[:, 3:7], clip.root_quat, atol=1e-6)
    assert quat_mul(clip.root_quat[:1], clip.root_quat[:1]).shape == (1, 4)


@pytest.mark.slow
def test_sample_clip_replay(shared_data: Path) -> None:
    """The real table clip replays in our humanoid's scene with small penetrations."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj = ObjectLibrary(shared_data / "objects").get("largetable")
    scene = build_scene(build_spec(), obj)
    clip = read_clip(shared_data / "omomo" / "raw" / "sub2_largetable_000.pt")
    report = replay_clip(scene, clip)
    s = report.summary()
    assert report.n_frames == clip.n_frames
    assert s["humanoid_object_max"] < 0.1
    assert s["object_ground_max"] < 0.05
