"""The policy's observation, in the humanoid's heading frame.

Every vector is rotated by minus the root's yaw (:func:`~intermimic.env.geometry.
heading_inverse`) and positions are taken relative to the root, so the observation does
not change when the whole world (humanoid, object, reference) is turned about z or
moved on the ground: the policy need not learn the same motion for every direction.

Blocks, in order (``B`` = 52 bodies, ``K`` graph bodies, ``Q`` graph points, ``O``
future offsets):

=====================  ===================  ============================================
block                  size                 content
=====================  ===================  ============================================
``root_height``        1                    pelvis height (m)
``body_pos``           3 B                  body positions relative to the root
``body_rot``           6 B                  body orientations, 6D (two matrix columns)
``body_linvel``        3 B                  body linear velocities
``body_angvel``        3 B                  body angular velocities
``future_k`` (each)    3 B + 6 B + 1 + 3    reference minus own body positions, own-to-
                       + 6 + B              reference body rotations (6D, body frame),
                                            reference root height, reference minus own
                                            object position, reference object rotation
                                            (6D), reference contact labels
``object``             15                   object position (relative to the root),
                                            rotation (6D), linear and angular velocity
``interaction_graph``  3 K Q                key body -> object point vectors, encoded
                                            ``d/|d| exp(-decay |d|)``
``contact``            B                    own body-object contacts (0/1)
=====================  ===================  ============================================
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from intermimic.env.geometry import encode_ig, heading, heading_rotate, quat_columns, rel_rot6d
from intermimic.sim.backend import BodyStates

F64 = NDArray[np.float64]

#: Per offset: reference ``(body_pos [N,B,3], body_quat [N,B,4], obj_pos [N,3],
#: obj_quat [N,4], contact [N,B])``.
Future = tuple[F64, F64, F64, F64, NDArray[np.int8]]


def observation_dim(n_bodies: int, n_ig: int, n_offsets: int) -> int:
    """Length of the observation for ``n_bodies`` bodies, ``n_ig = K * Q`` graph edges and
    ``n_offsets`` future frames."""
    own = 1 + 15 * n_bodies
    future = 10 * n_bodies + 10
    return own + n_offsets * future + 15 + 3 * n_ig + n_bodies


def observe(
    sim: BodyStates,
    ig: NDArray[np.floating],
    touch: NDArray[np.bool_],
    future: Sequence[Future],
    ig_decay: float,
) -> F64:
    """The observation ``[N, D]`` (unnormalised) of the module docstring's blocks.

    ``sim`` are the world-frame states, ``ig`` ``[N,K,Q,3]`` the simulated interaction
    graph (world frame), ``touch`` ``[N,B]``; ``future`` one :data:`Future` per offset.

    Every heading-frame vector (positions, velocities, and the two rotation-matrix
    columns of the 6D encodings, which are vectors too) is gathered into one
    ``[N, M, 3]`` array and rotated in one pass; the blocks are then cut out of it.
    """
    n, nb = sim.pos.shape[:2]
    root = sim.pos[:, 0]
    vecs: list[NDArray[np.floating]] = []  # world vectors [N, m, 3], rotated together
    layout: list[int | NDArray[np.floating]] = []  # m (take m rotated vectors) or raw [N, d]

    def rot(v: NDArray[np.floating]) -> None:
        v = v.reshape(n, -1, 3)
        vecs.append(v)
        layout.append(v.shape[1])

    layout.append(root[:, 2:3])
    rot(sim.pos - root[:, None])
    rot(quat_columns(sim.quat))
    rot(sim.linvel)
    rot(sim.angvel)
    for ref_pos, ref_quat, ref_obj, ref_obj_quat, ref_contact in future:
        rot(ref_pos - sim.pos)
        layout.append(rel_rot6d(sim.quat, ref_quat).reshape(n, -1))
        layout.append(ref_pos[:, 0, 2:3])
        rot(ref_obj - sim.obj_pos)
        rot(quat_columns(ref_obj_quat))
        layout.append(ref_contact.astype(np.float64))
    rot(sim.obj_pos - root)
    rot(quat_columns(sim.obj_quat))
    rot(sim.obj_linvel)
    rot(sim.obj_angvel)
    n_ig = ig.shape[1] * ig.shape[2]
    rot(ig)
    layout.append(touch.astype(np.float64))

    turned = heading_rotate(heading(sim.quat[:, 0]), np.concatenate(vecs, axis=1))
    # The graph block is last among the rotated vectors: encode it in place.
    turned[:, -n_ig:] = encode_ig(turned[:, -n_ig:], ig_decay)
    parts: list[NDArray[np.floating]] = []
    at = 0
    for item in layout:
        if isinstance(item, int):
            parts.append(turned[:, at : at + item].reshape(n, -1))
            at += item
        else:
            parts.append(item)
    out = np.concatenate(parts, axis=1)
    assert out.shape[1] == observation_dim(nb, n_ig, len(future))
    return out
