"""The MjSpec humanoid builder, checked against itself and the reference MJCF."""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
import pytest

from intermimic.humanoid import (
    HumanoidSettings,
    UnknownBodyError,
    build_model,
    build_spec,
    default_skeleton,
    hinge_names,
    model_pd_gains,
    pd_gains,
)
from intermimic.motion.skeleton import SMPLX_BODY_NAMES, SMPLX_PARENTS


@pytest.fixture(scope="module")
def model() -> mujoco.MjModel:
    return build_model()


def test_layout(model: mujoco.MjModel) -> None:
    assert model.nbody == 53
    assert (model.nq, model.nv, model.nu, model.njnt) == (160, 159, 153, 154)
    assert tuple(model.body(i).name for i in range(1, 53)) == SMPLX_BODY_NAMES
    assert tuple(model.body_parentid[1:] - 1) == SMPLX_PARENTS
    assert model.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE
    names = tuple(model.joint(j).name for j in range(1, model.njnt))
    assert names == hinge_names(default_skeleton())
    assert names[:3] == ("L_Hip_x", "L_Hip_y", "L_Hip_z")
    np.testing.assert_array_equal(model.jnt_axis[1:4], np.eye(3))
    assert tuple(model.actuator(i).name for i in range(model.nu)) == names
    np.testing.assert_array_equal(model.actuator_trnid[:, 0], np.arange(1, 154))
    assert np.all(model.dof_armature[6:] == 0.02)
    assert model.opt.timestep == pytest.approx(1 / 120)
    assert model.geom("floor").type == mujoco.mjtGeom.mjGEOM_PLANE


def test_sites_and_gains(model: mujoco.MjModel) -> None:
    for b in ("Head", "L_Wrist", "R_Ankle"):
        site = model.site(f"{b}_key")
        assert model.site_bodyid[site.id] == model.body(b).id
    kp, kd = model_pd_gains(model)
    kp0, kd0 = pd_gains()
    np.testing.assert_array_equal(kp, kp0)
    np.testing.assert_array_equal(kd, kd0)
    assert kp[0] == 800 and kd[-1] == 10
    # Motors by default: gear 1 and no passive springs (the environment does the PD).
    assert np.all(model.actuator_gear[:, 0] == 1)
    assert np.all(model.jnt_stiffness == 0) and np.all(model.dof_damping == 0)


def test_position_actuators_are_a_pd() -> None:
    m = build_model(settings=HumanoidSettings(actuators="position", floor=False))
    kp, kd = pd_gains()
    np.testing.assert_allclose(m.actuator_gainprm[:, 0], kp)
    np.testing.assert_allclose(m.actuator_biasprm[:, 1], -kp)
    np.testing.assert_allclose(m.actuator_biasprm[:, 2], -kd)
    d = mujoco.MjData(m)
    d.ctrl[0] = 0.1  # L_Hip_x target 0.1 rad from rest: force kp * 0.1
    mujoco.mj_forward(m, d)
    assert d.actuator_force[0] == pytest.approx(kp[0] * 0.1)


def test_unknown_key_body() -> None:
    with pytest.raises(UnknownBodyError, match="L_Tail"):
        build_spec(settings=HumanoidSettings(key_bodies=("Head", "L_Tail")))


def test_model_simulates(model: mujoco.MjModel) -> None:
    d = mujoco.MjData(model)
    d.qpos[2] = 1.0
    d.qpos[3] = 1.0
    for _ in range(30):
        mujoco.mj_step(model, d)
    assert np.all(np.isfinite(d.qpos))
    assert d.qpos[2] < 1.0  # it falls


def test_matches_reference_mjcf(model: mujoco.MjModel, shared_data: Path) -> None:
    path = shared_data / "humanoid" / "smplx_humanoid_intermimic.xml"
    if not path.is_file():
        pytest.skip("reference MJCF not in the sample")
    ref = mujoco.MjModel.from_xml_path(str(path))
    assert [ref.body(i).name for i in range(ref.nbody)] == [
        model.body(i).name for i in range(model.nbody)
    ]
    np.testing.assert_allclose(model.body_pos, ref.body_pos, atol=1e-3)
    assert model.nv == ref.nv and model.nq == ref.nq and model.nu == ref.nu
    # Beyond the brief: same joints, ranges, masses, geoms and gains.
    assert [ref.joint(j).name for j in range(ref.njnt)] == [
        model.joint(j).name for j in range(model.njnt)
    ]
    np.testing.assert_allclose(model.jnt_range, ref.jnt_range, atol=1e-6)
    np.testing.assert_allclose(model.body_mass, ref.body_mass, rtol=1e-6)
    np.testing.assert_allclose(model.geom_size, ref.geom_size, atol=1e-9)
    np.testing.assert_array_equal(model.geom_type, ref.geom_type)
    kp, kd = model_pd_gains(model)
    np.testing.assert_allclose(kp, ref.jnt_stiffness[1:])
    np.testing.assert_allclose(kd, ref.dof_damping[6:])
    np.testing.assert_allclose(model.dof_armature[6:], ref.dof_armature[6:])


def test_no_self_contact_in_the_rest_pose() -> None:
    """Torso and chest capsules overlap at rest; left alone they push with ~20 kN."""
    from intermimic.humanoid import HumanoidSettings
    from intermimic.humanoid.builder import build_spec as _build_spec
    from intermimic.humanoid.builder import exclude_rest_overlaps
    from intermimic.humanoid.skeleton_model import is_finger

    # With self-collision on (contype 1, not the default), the overlaps are excluded.
    self_on = {"contype": 1, "exclude_rest_overlaps": False}
    raw = _build_spec(settings=HumanoidSettings(**self_on, hand_margin=0.001))
    assert exclude_rest_overlaps(raw) == [("Chest", "Torso")]
    # with the hands' 5 mm contact margin, neighbouring finger bases are in contact at rest
    # too: those pairs are excluded as well (and only finger pairs are added)
    wide = exclude_rest_overlaps(_build_spec(settings=HumanoidSettings(**self_on)))
    assert wide[0] == ("Chest", "Torso") and len(wide) > 1
    assert all(is_finger(a) and is_finger(b) for a, b in wide[1:])
    for settings in (HumanoidSettings(contype=1), HumanoidSettings()):
        m = _build_spec(settings=settings).compile()
        d = mujoco.MjData(m)
        mujoco.mj_forward(m, d)
        bodies = [(m.geom_bodyid[c.geom1], m.geom_bodyid[c.geom2]) for c in d.contact[: d.ncon]]
        assert not [p for p in bodies if min(p) > 0]
    # By default (self-collision off, as InterMimic) there is nothing to exclude.
    assert (
        exclude_rest_overlaps(_build_spec(settings=HumanoidSettings(exclude_rest_overlaps=False)))
        == []
    )


def test_self_collision_is_off_but_the_floor_collides() -> None:
    """InterMimic's humanoid never collides with itself: contype 2 / conaffinity 1 on
    every humanoid geom (2 & 1 = 0), the builder's floor conaffinity 3."""
    from intermimic.humanoid import HumanoidSettings
    from intermimic.humanoid.builder import build_spec as _build_spec

    s = HumanoidSettings()
    assert (s.contype, s.conaffinity) == (2, 1)
    m = _build_spec(settings=s).compile()
    floor = m.geom("floor").id
    body = np.array([g for g in range(m.ngeom) if g != floor])
    ct, ca = m.geom_contype[body], m.geom_conaffinity[body]
    assert not ((ct[:, None] & ca[None, :]) | (ca[:, None] & ct[None, :])).any()
    assert ((m.geom_contype[floor] & ca) | (ct & m.geom_conaffinity[floor])).all()


@pytest.mark.parametrize(
    ("field", "value"), [("contype", -1), ("conaffinity", -2), ("margin", -0.001), ("condim", 0)]
)
def test_bad_contact_settings_name_the_field(field: str, value: float) -> None:
    from pydantic import ValidationError

    from intermimic.humanoid import HumanoidSettings

    with pytest.raises(ValidationError, match=field):
        HumanoidSettings(**{field: value})
