"""Quaternion helpers. Inside the project quaternions are **w x y z** (MuJoCo's order).

This module is the one place where the x y z w order of InterAct and Isaac Gym files
is converted: readers and writers call :func:`xyzw_to_wxyz` / :func:`wxyz_to_xyzw`
and nothing else touches component order.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.floating]


def xyzw_to_wxyz(q: FloatArray) -> FloatArray:
    """``[..., 4]`` x y z w -> w x y z (a copy)."""
    return np.concatenate([q[..., 3:4], q[..., 0:3]], axis=-1)


def wxyz_to_xyzw(q: FloatArray) -> FloatArray:
    """``[..., 4]`` w x y z -> x y z w (a copy)."""
    return np.concatenate([q[..., 1:4], q[..., 0:1]], axis=-1)


def quat_norm_error(q: FloatArray) -> FloatArray:
    """``|‖q‖ - 1|`` per quaternion, shape ``q.shape[:-1]``.

    Float32 input is summed in float32: its rounding (~1e-7) is far below any tolerance
    we check, and the einsum is several times faster than a float64 norm.
    """
    q = np.asarray(q)
    return np.abs(np.sqrt(np.einsum("...i,...i->...", q, q)) - 1.0)


def normalize(q: FloatArray) -> FloatArray:
    """Unit quaternions of the same dtype; raises on a zero quaternion."""
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(n == 0):
        raise ValueError("zero quaternion cannot be normalised")
    return (q / n).astype(q.dtype, copy=False)


def quat_mul(a: FloatArray, b: FloatArray) -> FloatArray:
    """Hamilton product ``a * b`` of w x y z quaternions, broadcasting over leading axes."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        axis=-1,
    )


def quat_conj(q: FloatArray) -> FloatArray:
    """Conjugate (inverse of a unit quaternion), w x y z."""
    return q * np.array([1.0, -1.0, -1.0, -1.0], dtype=q.dtype)


def rotvec_to_quat(v: FloatArray) -> FloatArray:
    """Rotation vectors ``[..., 3]`` (axis * angle, rad) -> unit quaternions ``[..., 4]``."""
    v = np.asarray(v, dtype=np.float64)
    angle = np.linalg.norm(v, axis=-1, keepdims=True)
    half = 0.5 * angle
    # sin(x/2)/x -> 1/2 - x^2/48 near zero keeps small rotations exact to float64.
    small = angle < 1e-8
    scale = np.where(small, 0.5 - angle**2 / 48.0, np.sin(half) / np.where(small, 1.0, angle))
    return np.concatenate([np.cos(half), v * scale], axis=-1)


def quat_to_rotvec(q: FloatArray) -> FloatArray:
    """Unit quaternions ``[..., 4]`` -> rotation vectors ``[..., 3]``, angle in [0, pi]."""
    q = np.asarray(q, dtype=np.float64)
    q = np.where(q[..., :1] < 0, -q, q)  # the short way round
    w = np.clip(q[..., :1], -1.0, 1.0)
    xyz = q[..., 1:]
    s = np.linalg.norm(xyz, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(s, w)
    small = s < 1e-8
    scale = np.where(small, 2.0 / np.where(w == 0, 1.0, w), angle / np.where(small, 1.0, s))
    return xyz * scale


def slerp(q0: FloatArray, q1: FloatArray, t: FloatArray) -> FloatArray:
    """Spherical interpolation of unit quaternions ``[..., 4]`` at fractions ``t``."""
    q0 = np.asarray(q0, dtype=np.float64)
    q1 = np.asarray(q1, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)[..., None]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin_t = np.sin(theta)
    near = sin_t < 1e-6
    safe = np.where(near, 1.0, sin_t)
    w0 = np.where(near, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    w1 = np.where(near, t, np.sin(t * theta) / safe)
    out = w0 * q0 + w1 * q1
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def quat_rotate(q: FloatArray, v: FloatArray) -> FloatArray:
    """Rotate vectors ``[..., 3]`` by unit quaternions ``[..., 4]`` (w x y z), broadcasting."""
    w = q[..., :1]
    u = q[..., 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)
