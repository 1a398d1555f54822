from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
import pytest

from intermimic.errors import InputError
from intermimic.motion.skeleton import SMPLX_BODY_NAMES
from intermimic.objects import SimObject
from intermimic.sim import PHYSICS_DT, SceneError, SceneSettings, build_scene


def test_scene_indices(humanoid_spec: mujoco.MjSpec, box_object: SimObject) -> None:
    scene = build_scene(humanoid_spec, box_object)
    m = scene.model
    assert m.opt.timestep == pytest.approx(PHYSICS_DT)
    names = [m.body(int(i)).name for i in scene.humanoid_body_ids]
    assert names == list(SMPLX_BODY_NAMES)
    assert scene.humanoid_qpos_adr.shape == (160,)
    assert len(set(scene.humanoid_qpos_adr.tolist())) == 160
    assert scene.humanoid_dof_adr.shape == (159,)
    assert m.body(scene.object_body_id).name == "box"
    assert scene.object_qpos_adr.tolist() == list(range(160, 167))
    assert scene.object_dof_adr.tolist() == list(range(159, 165))
    assert [m.body(int(i)).name for i in scene.key_body_ids] == [
        "L_Ankle", "R_Ankle", "L_Wrist", "R_Wrist", "Head"
    ]  # fmt: skip
    assert len(scene.hand_body_ids) == 32 and len(scene.foot_body_ids) == 4
    assert all(len(g) == 1 for g in scene.geoms_per_body)
    # The humanoid's own floor is replaced by exactly one ground plane.
    planes = np.flatnonzero(m.geom_type == mujoco.mjtGeom.mjGEOM_PLANE)
    assert planes.tolist() == [scene.ground_geom_id]
    assert m.geom(scene.ground_geom_id).name == "ground"
    assert m.geom_friction[scene.ground_geom_id][0] == pytest.approx(0.9)
    assert m.body_mass[scene.object_body_id] == pytest.approx(box_object.mass)
    # The caller's spec is left alone.
    assert humanoid_spec.geom("floor") is not None


def test_scene_without_object(humanoid_spec: mujoco.MjSpec) -> None:
    scene = build_scene(humanoid_spec, None, SceneSettings(timestep=0.005))
    assert not scene.has_object
    assert scene.model.opt.timestep == 0.005
    assert scene.object_geom_ids.size == 0


def test_set_state_round_trip(humanoid_spec: mujoco.MjSpec, box_object: SimObject) -> None:
    scene = build_scene(humanoid_spec, box_object)
    d = scene.make_data()
    q = np.zeros(160)
    q[:3] = [1.0, 2.0, 0.9]
    q[3] = 1.0
    q[7:] = np.linspace(-0.5, 0.5, 153)
    scene.set_state(d, q, np.array([0.0, 1.0, 0.2]), np.array([1.0, 0, 0, 0]))
    mujoco.mj_kinematics(scene.model, d)
    assert np.allclose(d.qpos[scene.humanoid_qpos_adr], q)
    assert np.allclose(d.xpos[scene.humanoid_body_ids[0]], [1.0, 2.0, 0.9])
    assert np.allclose(d.xpos[scene.object_body_id], [0.0, 1.0, 0.2])


def test_missing_body_is_an_input_error() -> None:
    spec = mujoco.MjSpec()
    spec.worldbody.add_body(name="Pelvis").add_freejoint()
    with pytest.raises(SceneError, match="L_Hip") as info:
        build_scene(spec)
    assert isinstance(info.value, InputError)


def test_reference_mjcf(reference_mjcf: Path, box_object: SimObject) -> None:
    scene = build_scene(mujoco.MjSpec.from_file(str(reference_mjcf)), box_object)
    assert scene.humanoid_qpos_adr.tolist() == list(range(160))
    assert len(scene.humanoid_geom_ids) == 52
