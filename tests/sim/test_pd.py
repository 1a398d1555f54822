from __future__ import annotations

import mujoco
import numpy as np
import pytest

from intermimic.humanoid import HumanoidSettings, build_model
from intermimic.sim.pd import (
    ActionMap,
    ActionSettings,
    ActuatorError,
    NonFiniteActionError,
    actuated_joint_ranges,
    require_position_actuators,
)


@pytest.fixture(scope="module")
def model() -> mujoco.MjModel:
    return build_model(settings=HumanoidSettings(actuators="position"))


def test_offset_and_scale_span_the_joint_range(model: mujoco.MjModel) -> None:
    amap = ActionMap(model)
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
    amap = ActionMap(model, ActionSettings(scale=0.5))
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
