"""Small vectorised rotation helpers the environment uses on every step.

Everything is written out component by component into preallocated arrays: on the
small batches of one step (64 worlds x 52 bodies) that is several times faster than
``np.einsum`` or stacked quaternion products (measured: a heading rotation of 400
vectors per world takes 4.8 ms with ``einsum``, 0.3 ms with ``matmul``, about 0.1 ms
elementwise). Quaternions are w x y z, as everywhere in the project.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]

__all__ = [
    "encode_ig",
    "heading",
    "heading_inverse",
    "heading_rotate",
    "interaction_graph",
    "object_points",
    "quat_angle",
    "quat_columns",
    "quat_to_matrix",
    "rel_rot6d",
    "rot6d",
]


def quat_to_matrix(q: NDArray[np.floating]) -> F64:
    """Unit quaternions ``[..., 4]`` (w x y z) -> rotation matrices ``[..., 3, 3]``.

    Written into one preallocated array: several times faster than stacking rows, which
    matters on every step."""
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    out = np.empty((*q.shape[:-1], 3, 3))
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz = x * y, x * z, y * z
    wx, wy, wz = w * x, w * y, w * z
    out[..., 0, 0] = 1.0 - 2.0 * (yy + zz)
    out[..., 0, 1] = 2.0 * (xy - wz)
    out[..., 0, 2] = 2.0 * (xz + wy)
    out[..., 1, 0] = 2.0 * (xy + wz)
    out[..., 1, 1] = 1.0 - 2.0 * (xx + zz)
    out[..., 1, 2] = 2.0 * (yz - wx)
    out[..., 2, 0] = 2.0 * (xz - wy)
    out[..., 2, 1] = 2.0 * (yz + wx)
    out[..., 2, 2] = 1.0 - 2.0 * (xx + yy)
    return out


def quat_columns(q: NDArray[np.floating]) -> F64:
    """``[..., 2, 3]``: the first two columns of the rotation matrices of quaternions
    ``[..., 4]`` (the rotated x and y axes), without forming the third."""
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    out = np.empty((*q.shape[:-1], 2, 3))
    out[..., 0, 0] = 1.0 - 2.0 * (y * y + z * z)
    out[..., 0, 1] = 2.0 * (x * y + w * z)
    out[..., 0, 2] = 2.0 * (x * z - w * y)
    out[..., 1, 0] = 2.0 * (x * y - w * z)
    out[..., 1, 1] = 1.0 - 2.0 * (x * x + z * z)
    out[..., 1, 2] = 2.0 * (y * z + w * x)
    return out


def _conj_mul(a: NDArray[np.floating], b: NDArray[np.floating]) -> F64:
    """``conj(a) * b`` (the rotation from ``a`` to ``b`` in ``a``'s frame), ``[..., 4]``."""
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    out[..., 0] = aw * bw + ax * bx + ay * by + az * bz
    out[..., 1] = aw * bx - bw * ax - (ay * bz - az * by)
    out[..., 2] = aw * by - bw * ay - (az * bx - ax * bz)
    out[..., 3] = aw * bz - bw * az - (ax * by - ay * bx)
    return out


def quat_angle(a: NDArray[np.floating], b: NDArray[np.floating]) -> F64:
    """Angle (rad) ``[...]`` between unit quaternions ``a`` and ``b`` ``[..., 4]``.

    ``2 atan2(|v|, |w|)`` of the relative rotation, not ``arccos`` of a dot product:
    exact near zero, where tracking errors live, and sign-blind (``q`` and ``-q``)."""
    r = _conj_mul(a, b)
    v = np.sqrt(r[..., 1] ** 2 + r[..., 2] ** 2 + r[..., 3] ** 2)
    return 2.0 * np.arctan2(v, np.abs(r[..., 0]))


def rel_rot6d(a: NDArray[np.floating], b: NDArray[np.floating]) -> F64:
    """``[..., 6]``: 6D encoding of the rotation from ``a`` to ``b`` (``R_a^T R_b``, in
    ``a``'s own frame, so independent of the heading)."""
    c = quat_columns(_conj_mul(a, b))
    return c.reshape(*c.shape[:-2], 6)


def heading_rotate(cos_sin: tuple[F64, F64], v: NDArray[np.floating]) -> F64:
    """Rotate world vectors ``v [N, M, 3]`` into the heading frame given ``(cos, sin)`` of
    each world's heading ``[N]``: ``x' = c x + s y``, ``y' = -s x + c y``, ``z' = z``.
    Elementwise, several times faster than a batched matrix product."""
    c, s = cos_sin[0][:, None], cos_sin[1][:, None]
    x, y = v[..., 0], v[..., 1]
    out = np.empty(v.shape)
    out[..., 0] = c * x + s * y
    out[..., 1] = c * y - s * x
    out[..., 2] = v[..., 2]
    return out


def heading(root_quat: NDArray[np.floating]) -> tuple[F64, F64]:
    """``(cos, sin)`` ``[N]`` of the root's heading: the yaw of its x axis on the ground."""
    q = np.asarray(root_quat, dtype=np.float64)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    fx = 1.0 - 2.0 * (y * y + z * z)
    fy = 2.0 * (x * y + w * z)
    n = np.maximum(np.hypot(fx, fy), 1e-12)  # a root pointing straight up: any heading
    return fx / n, fy / n


def heading_inverse(root_quat: NDArray[np.floating]) -> F64:
    """``[N, 3, 3]``: rotation by minus the root's heading (yaw) about z.

    Applying it to world vectors gives them in the heading frame, which makes the
    observation independent of where the humanoid faces.
    """
    c, s = heading(root_quat)
    out = np.zeros((*c.shape, 3, 3))
    out[..., 0, 0] = c
    out[..., 0, 1] = s
    out[..., 1, 0] = -s
    out[..., 1, 1] = c
    out[..., 2, 2] = 1.0
    return out


def rot6d(mat: NDArray[np.floating]) -> F64:
    """``[..., 3, 3]`` rotation matrices -> ``[..., 6]``: their first two columns (column
    0 then column 1), a continuous rotation encoding (Zhou et al. 2019), unlike
    quaternions or angles."""
    m = np.asarray(mat, dtype=np.float64)
    return np.swapaxes(m[..., :, :2], -1, -2).reshape(*m.shape[:-2], 6)


def object_points(
    obj_pos: NDArray[np.floating], obj_rotmat: NDArray[np.floating], points: NDArray[np.floating]
) -> F64:
    """World positions ``[N, P, 3]`` of object-frame points ``[P, 3]`` given the object's
    position ``[N, 3]`` (m) and rotation matrix ``[N, 3, 3]``."""
    return np.matmul(points, np.swapaxes(obj_rotmat, -1, -2)) + obj_pos[:, None, :]


def interaction_graph(body_pos: NDArray[np.floating], points: NDArray[np.floating]) -> F64:
    """``[N, K, P, 3]`` vectors (m) from each of ``K`` bodies ``[N, K, 3]`` to each of
    ``P`` object surface points ``[N, P, 3]``, world frame."""
    return points[:, None, :, :] - body_pos[:, :, None, :]


def encode_ig(vectors: NDArray[np.floating], decay: float) -> F64:
    """``d / |d| * exp(-decay |d|)`` per vector ``[..., 3]``: direction, fading with
    distance, so near contacts dominate and far points read as about zero."""
    n = np.sqrt((vectors * vectors).sum(axis=-1, keepdims=True))
    return vectors * (np.exp(-decay * n) / np.maximum(n, 1e-9))
