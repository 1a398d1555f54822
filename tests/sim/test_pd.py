from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
import pydantic
import pytest
import torch

from intermimic.humanoid import HumanoidSettings, build_model
from intermimic.humanoid.skeleton_model import is_finger
from intermimic.sim.pd import (
    ActionMap,
    ActionSettings,
    ActuatorError,
    NonFiniteActionError,
    actuated_joint_ranges,
    offset_and_scale,
    require_position_actuators,
)

# The range-derived map alone, without the release's two adjustments.
PLAIN = ActionSettings(recentre_threshold=None, scale_overrides={})


@pytest.fixture(scope="module")
def model() -> mujoco.MjModel:
    return build_model(settings=HumanoidSettings(actuators="position"))


def test_offset_and_scale_span_the_joint_range(model: mujoco.MjModel) -> None:
    amap = ActionMap(model, PLAIN)
    assert amap.recentred == () and amap.overridden == ()
    rng = actuated_joint_ranges(model)
    assert rng.shape == (model.nu, 2)
    n = 3
    lo = amap.targets(-np.ones((n, model.nu)))
    hi = amap.targets(np.ones((n, model.nu)))
    mid = amap.targets(np.zeros((n, model.nu)))
    np.testing.assert_allclose(lo, np.broadcast_to(rng[:, 0], lo.shape))
    np.testing.assert_allclose(hi, np.broadcast_to(rng[:, 1], hi.shape))
    np.testing.assert_allclose(mid, np.broadcast_to(rng.mean(axis=1), mid.shape))
    # The +-180 deg hinges of the humanoid span +-pi.
    full = np.isclose(rng[:, 0], -np.pi) & np.isclose(rng[:, 1], np.pi)
    assert full.any()
    np.testing.assert_allclose(amap.scale[full], np.pi)
    np.testing.assert_allclose(amap.offset[full], 0.0, atol=1e-12)


def test_scale_setting_and_inverse(model: mujoco.MjModel) -> None:
    amap = ActionMap(model, PLAIN.model_copy(update={"scale": 0.5}))
    a = np.random.default_rng(0).uniform(-1, 1, (4, model.nu))
    t = amap.targets(a)
    np.testing.assert_allclose(amap.actions(t), a, atol=1e-12)
    rng = actuated_joint_ranges(model)
    np.testing.assert_allclose(amap.scale, 0.25 * (rng[:, 1] - rng[:, 0]))
    out = np.empty_like(a)
    assert amap.targets(a, out=out) is out
    np.testing.assert_allclose(out, t)


def test_actions_are_clipped(model: mujoco.MjModel) -> None:
    amap = ActionMap(model)
    np.testing.assert_allclose(
        amap.targets(np.full((1, model.nu), 5.0)), amap.targets(np.ones((1, model.nu)))
    )


def test_nan_actions_raise_by_default(model: mujoco.MjModel) -> None:
    a = np.zeros((3, model.nu))
    a[2, 7] = np.nan
    with pytest.raises(NonFiniteActionError, match=r"world\(s\) \[2\]"):
        ActionMap(model).targets(a)


def test_nan_actions_sanitised_when_asked(model: mujoco.MjModel) -> None:
    amap = ActionMap(model, ActionSettings(non_finite="zero"))
    a = np.zeros((2, model.nu))
    a[1, :3] = [np.nan, np.inf, -np.inf]
    t = amap.targets(a)
    assert np.isfinite(t).all()
    np.testing.assert_allclose(t[1, :3], amap.offset[:3])
    assert amap.n_sanitised == 3


def test_wrong_width_rejected(model: mujoco.MjModel) -> None:
    with pytest.raises(ValueError, match="columns"):
        ActionMap(model).targets(np.zeros((1, 3)))


def test_substeps() -> None:
    assert ActionSettings().substeps(1 / 120) == 4
    assert ActionSettings(policy_hz=60).substeps(1 / 120) == 2
    with pytest.raises(ValueError, match="divisor"):
        ActionSettings(policy_hz=50).substeps(1 / 120)


def test_motor_actuators_refused(model: mujoco.MjModel) -> None:
    require_position_actuators(model)
    with pytest.raises(ActuatorError, match="actuators='position'"):
        require_position_actuators(build_model())  # default: motors


def test_position_actuators_carry_the_pd_gains(model: mujoco.MjModel) -> None:
    kp = np.array(model.numeric("pd_kp").data)
    kd = np.array(model.numeric("pd_kd").data)
    np.testing.assert_allclose(model.actuator_gainprm[:, 0], kp)
    np.testing.assert_allclose(model.actuator_biasprm[:, 1], -kp)
    np.testing.assert_allclose(model.actuator_biasprm[:, 2], -kd)


def _index(model: mujoco.MjModel, name: str) -> int:
    return int(mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, name))


def test_released_dofs_5_and_17_are_our_knee_twist_hinges(
    model: mujoco.MjModel, reference_mjcf: Path
) -> None:
    # The release indexes its dofs in the MJCF's order (bodies in tree order, x, y, z
    # hinges each); dofs 5 and 17 there are the knees' z hinges, and so are our
    # actuators 5 and 17, whose names the scale override uses.
    ref = mujoco.MjModel.from_xml_path(str(reference_mjcf))
    hinges = [
        ref.joint(j).name for j in range(ref.njnt) if ref.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE
    ]
    assert (hinges[0], hinges[5], hinges[17]) == ("L_Hip_x", "L_Knee_z", "R_Knee_z")
    ours = [model.actuator(i).name for i in range(model.nu)]
    assert ours == hinges


def test_default_map_is_the_released_one(model: mujoco.MjModel) -> None:
    amap = ActionMap(model)
    rng = actuated_joint_ranges(model)
    middle = rng.mean(axis=1)
    tips = [
        f"{side}_{f}3_x" for side in "LR" for f in ("Index", "Middle", "Pinky", "Ring", "Thumb")
    ]
    assert sorted(amap.recentred) == sorted(tips)
    tip_idx = [_index(model, n) for n in tips]
    # The finger tips' ranges are off-centre (-90..5.6 deg, -5.6..90 deg): offset 0, scale pi.
    np.testing.assert_allclose(np.abs(middle[tip_idx]), np.deg2rad((90 - 5.6) / 2), atol=1e-3)
    np.testing.assert_allclose(amap.offset[tip_idx], 0.0)
    np.testing.assert_allclose(amap.scale[tip_idx], np.pi)
    # The knee twist hinges: scale 5 rad.
    assert amap.overridden == ("L_Knee_z", "R_Knee_z")
    np.testing.assert_allclose(amap.scale[[5, 17]], 5.0)
    np.testing.assert_allclose(amap.offset[[5, 17]], 0.0, atol=1e-12)
    # Every other hinge is the plain map.
    plain = ActionMap(model, PLAIN)
    rest = np.setdiff1d(np.arange(model.nu), [*tip_idx, 5, 17])
    np.testing.assert_allclose(amap.offset[rest], plain.offset[rest])
    np.testing.assert_allclose(amap.scale[rest], plain.scale[rest])
    # Fingers other than the tips are centred and keep their own half range.
    finger = [i for i in rest if is_finger(model.actuator(int(i)).name.rsplit("_", 1)[0])]
    assert finger and np.all(amap.scale[finger] < 1.0)


def test_default_map_round_trips(model: mujoco.MjModel) -> None:
    amap = ActionMap(model)
    a = np.random.default_rng(1).uniform(-1, 1, (5, model.nu))
    t = amap.targets(a)
    np.testing.assert_allclose(amap.actions(t), a, atol=1e-12)
    np.testing.assert_allclose(
        amap.targets_tensor(torch.from_numpy(a)).numpy(), t, rtol=0, atol=1e-12
    )
    # Targets inside every joint's range map back into [-1, 1] (reference actions).
    rng = actuated_joint_ranges(model)
    inside = rng[:, 0] + np.random.default_rng(2).uniform(0, 1, (5, model.nu)) * (
        rng[:, 1] - rng[:, 0]
    )
    back = amap.actions(inside)
    assert np.all(np.abs(back) <= 1.0)
    np.testing.assert_allclose(amap.targets(back), inside, atol=1e-12)


def test_recentring_uses_the_first_hinge_scale() -> None:
    rng = np.array([[-1.0, 1.5], [-np.pi, 0.2], [0.0, 0.5], [-0.1, 0.1]])
    names = ("a", "b", "c", "d")
    s = ActionSettings(scale_overrides={"c": 2.0, "unknown": 7.0})
    offset, scale, recentred, overridden = offset_and_scale(rng, names, s)
    # a (offset 0.25) is itself off-centre: every recentred hinge takes its old scale 1.25.
    assert recentred == ("a", "b", "c") and overridden == ("c",)
    np.testing.assert_allclose(offset, [0.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(scale, [1.25, 1.25, 2.0, 0.1])
    # The threshold is strict and None turns recentring off.
    _, _, rec, _ = offset_and_scale(rng, names, ActionSettings(recentre_threshold=0.25))
    assert rec == ("b",)
    off, _, rec, _ = offset_and_scale(rng, names, PLAIN)
    assert rec == () and off[1] == pytest.approx(0.5 * (0.2 - np.pi))


@pytest.mark.parametrize(
    ("update", "field"),
    [
        ({"scale_overrides": {"L_Knee_z": 0.0}}, "scale_overrides"),
        ({"scale_overrides": {"L_Knee_z": -5.0}}, "scale_overrides"),
        ({"scale_overrides": {"L_Knee_z": float("nan")}}, "scale_overrides"),
        ({"recentre_threshold": -0.1}, "recentre_threshold"),
        ({"recentre_thresh": 0.1}, "recentre_thresh"),
    ],
)
def test_bad_action_settings_name_the_field(update: dict[str, object], field: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=field):
        ActionSettings(**update)  # type: ignore[arg-type]


def test_missing_override_names_are_ignored() -> None:
    # A model without knee twist hinges (any embodiment but SMPL-X): the default is inert.
    spec = mujoco.MjSpec()
    spec.compiler.degree = False
    body = spec.worldbody.add_body(name="b")
    joint = body.add_joint(name="j", type=mujoco.mjtJoint.mjJNT_HINGE, range=[-0.5, 0.5])
    joint.limited = mujoco.mjtLimited.mjLIMITED_TRUE
    body.add_geom(size=[0.1, 0, 0])
    act = spec.add_actuator(name="j", target="j", trntype=mujoco.mjtTrn.mjTRN_JOINT)
    act.set_to_position(kp=10.0, kv=1.0)
    amap = ActionMap(spec.compile())
    assert amap.overridden == () and amap.recentred == ()
    np.testing.assert_allclose(amap.scale, [0.5])
