"""Each body's vector to its nearest object surface point (the released observation's
interaction graph, docs/fidelity.md row 34).

InterMimic's released observation gives every body the vector to the nearest of the
object's 1024 surface points, encoded ``d/|d| exp(-5 |d|)``; ours searches
``ObservationSettings.nearest_points`` of them (all 1024 by default; a farthest-point
subset when fewer, whose error ``bench/nearest_points.py`` measures). The environment
computes it for the simulated state every step and
:class:`~intermimic.env.reference.ReferenceMotion` once per reference frame (float64),
with this one function.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: Points per block of the CPU's two-level argmin (:func:`_argmin`).
_BLOCK = 32


def nearest_vectors(
    body_pos: Tensor, obj_pos: Tensor, obj_rotmat: Tensor, local_points: Tensor
) -> Tensor:
    """``[N, B, 3]`` world-frame vectors (m) from each of ``B`` bodies ``[N, B, 3]`` to
    its nearest object point, the points given in the object frame ``[P, 3]`` with the
    object's position ``[N, 3]`` and rotation matrix ``[N, 3, 3]``.

    The search runs in the object frame, so the ``[N, P, 3]`` world points are never
    formed: with ``b = R^T (body - obj_pos)`` the nearest point minimises ``|p|^2 - 2
    b.p`` (``|b|^2`` is the same for every point). On the CPU one batched matrix
    product gives the ``B x P`` dot products (float32 rounding of about ``1e-7 |b||p|``
    m^2 can only swap points whose distances differ by less, whose vectors then agree to
    that); on an accelerator the squared distances by components, elementwise, so no TF32
    matrix-product setting can round the choice. The vector itself is formed exactly
    from the chosen point, ``R (p - b)``. Ties go to the lower point index."""
    cpu = local_points.device.type == "cpu"
    # Row vectors: (body - obj_pos) R = (R^T (body - obj_pos))^T.
    b = torch.bmm(body_pos - obj_pos[:, None, :], obj_rotmat)
    if not cpu:
        sq = _sq_by_components(b, local_points)
    else:
        p_sq = (local_points * local_points).sum(dim=-1)
        pts = local_points.transpose(0, 1).expand(b.shape[0], 3, local_points.shape[0])
        sq = torch.baddbmm(p_sq, b, pts, alpha=-2.0)
    near = local_points[_argmin(sq) if cpu else sq.argmin(dim=-1)]  # [N, B, 3], object frame
    # Back to the world: rows (p - b) R^T = (R (p - b))^T.
    return torch.bmm(near - b, obj_rotmat.transpose(1, 2))


def _sq_by_components(b: Tensor, local_points: Tensor) -> Tensor:
    """``[N, B, P]`` squared distances from points ``b [N, B, 3]`` to ``local_points [P,
    3]``, elementwise (the accelerator's way: no matrix product to round)."""
    sq = torch.zeros((*b.shape[:2], local_points.shape[0]), dtype=b.dtype, device=b.device)
    for c in range(3):
        diff = b[:, :, c : c + 1] - local_points[:, c]
        sq.addcmul_(diff, diff)
    return sq


def _argmin(sq: Tensor) -> Tensor:
    """``sq.argmin(-1)``, the same indices (the first minimum), on the CPU in two levels
    for long rows: the minimum of every block of :data:`_BLOCK` points (``amin``
    vectorises, ``argmin`` along a row does not), the first block holding the row's
    minimum, the first minimum inside it. Measured at 64 worlds x 52 bodies x 1024
    points, one thread: 1.6 ms against 3.8 ms, the whole search 4.0 ms against 5.4 ms."""
    p = sq.shape[-1]
    if p < 8 * _BLOCK or p % _BLOCK:
        return sq.argmin(dim=-1)
    blocks = sq.unflatten(-1, (p // _BLOCK, _BLOCK))
    first = blocks.amin(dim=-1).argmin(dim=-1)  # [..., ] block index
    pick = first[..., None, None].expand(*first.shape, 1, _BLOCK)
    inner = blocks.gather(-2, pick).squeeze(-2).argmin(dim=-1)
    return first * _BLOCK + inner
