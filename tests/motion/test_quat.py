"""Quaternion order and rotation conversions against hand-computed values."""

from __future__ import annotations

import numpy as np

from intermimic.motion.quat import (
    normalize,
    quat_mul,
    quat_norm_error,
    quat_to_rotvec,
    rotvec_to_quat,
    slerp,
    wxyz_to_xyzw,
    xyzw_to_wxyz,
)


def test_order_conversion_moves_w() -> None:
    xyzw = np.array([0.1, 0.2, 0.3, 0.9])
    assert xyzw_to_wxyz(xyzw).tolist() == [0.9, 0.1, 0.2, 0.3]
    assert wxyz_to_xyzw(xyzw_to_wxyz(xyzw)).tolist() == xyzw.tolist()


def test_rotvec_quarter_turn_about_z() -> None:
    q = rotvec_to_quat(np.array([0.0, 0.0, np.pi / 2]))
    s = np.sqrt(0.5)
    np.testing.assert_allclose(q, [s, 0, 0, s], atol=1e-12)
    # rotating x by it gives y: q * (0,1,0,0) * q^-1
    v = quat_mul(quat_mul(q, np.array([0, 1.0, 0, 0])), q * [1, -1, -1, -1])
    np.testing.assert_allclose(v, [0, 0, 1, 0], atol=1e-12)


def test_rotvec_roundtrip_including_tiny_and_near_pi() -> None:
    rng = np.random.default_rng(0)
    axes = rng.standard_normal((500, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.concatenate([rng.uniform(0, np.pi - 1e-3, 497), [0.0, 1e-10, np.pi - 1e-6]])
    v = axes * angles[:, None]
    np.testing.assert_allclose(quat_to_rotvec(rotvec_to_quat(v)), v, atol=1e-7)


def test_slerp_halfway_is_half_angle() -> None:
    q0 = np.array([1.0, 0, 0, 0])
    q1 = rotvec_to_quat(np.array([0, 0, 1.0]))
    np.testing.assert_allclose(
        slerp(q0, q1, 0.5), rotvec_to_quat(np.array([0, 0, 0.5])), atol=1e-12
    )
    # antipodal representation takes the short way
    np.testing.assert_allclose(
        slerp(q0, -q1, 0.5), rotvec_to_quat(np.array([0, 0, 0.5])), atol=1e-12
    )


def test_norm_error_and_normalize() -> None:
    q = np.array([[2.0, 0, 0, 0], [0.6, 0.8, 0, 0]], dtype=np.float32)
    np.testing.assert_allclose(quat_norm_error(q), [1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(normalize(q)[0], [1, 0, 0, 0])
