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

Inputs are ``torch.Tensor`` (world first, on one device); the observation is in the
dtype of ``sim.pos`` on its device.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from intermimic.env.geometry import encode_ig, heading, heading_rotate, quat_columns, rel_rot6d
from intermimic.sim.backend import BodyStates

#: Per offset: reference ``(body_pos [N,B,3], body_quat [N,B,4], obj_pos [N,3],
#: obj_quat [N,4], contact [N,B] int8)``.
Future = tuple[Tensor, Tensor, Tensor, Tensor, Tensor]


def observation_dim(n_bodies: int, n_ig: int, n_offsets: int) -> int:
    """Length of the observation for ``n_bodies`` bodies, ``n_ig = K * Q`` graph edges and
    ``n_offsets`` future frames."""
    own = 1 + 15 * n_bodies
    future = 10 * n_bodies + 10
    return own + n_offsets * future + 15 + 3 * n_ig + n_bodies


def observe(
    sim: BodyStates,
    ig: Tensor,
    touch: Tensor,
    future: Sequence[Future],
    ig_decay: float,
) -> Tensor:
    """The observation ``[N, D]`` (unnormalised) of the module docstring's blocks.

    ``sim`` are the world-frame states, ``ig`` ``[N,K,Q,3]`` the simulated interaction
    graph (world frame), ``touch`` ``[N,B]`` bool; ``future`` one :data:`Future` per
    offset.

    Every heading-frame vector (positions, velocities, and the two rotation-matrix
    columns of the 6D encodings, which are vectors too) is gathered into one
    ``[N, M, 3]`` tensor (one ``cat``) and rotated in one pass; the blocks are then cut
    out of it as views and joined with the others by one more ``cat``. Work of the same
    kind is batched across blocks and offsets (one :func:`quat_columns` for every
    quaternion whose columns are observed, one :func:`rel_rot6d` for all offsets): on the
    CPU at 64 worlds the cost of a torch call, not its arithmetic, dominates.
    """
    n, nb = sim.pos.shape[:2]
    n_off = len(future)
    dtype = sim.pos.dtype
    root = sim.pos[:, 0]
    if future:
        ref_pos = torch.stack([f[0] for f in future], dim=1)  # [N, O, B, 3]
        ref_obj = torch.stack([f[2] for f in future], dim=1)  # [N, O, 3]
        # own-to-reference rotations, body frame: not rotated by the heading
        rel = rel_rot6d(sim.quat[:, None], torch.stack([f[1] for f in future], dim=1))
    else:  # no future frames: empty blocks keep one code path
        ref_pos = sim.pos.new_empty((n, 0, nb, 3))
        ref_obj = sim.pos.new_empty((n, 0, 3))
    # Quaternions whose two matrix columns are observed (heading-frame vectors): the
    # bodies', each offset's reference object's, the object's.
    quats = torch.cat([sim.quat, *(f[3][:, None] for f in future), sim.obj_quat[:, None]], 1)
    n_ig = ig.shape[1] * ig.shape[2]
    blocks: dict[str, Tensor] = {  # name -> [N, m, 3] world vectors, rotated in this order
        "pos": sim.pos - root[:, None],
        "linvel": sim.linvel,
        "angvel": sim.angvel,
        "ref_pos": (ref_pos - sim.pos[:, None]).reshape(n, n_off * nb, 3),
        "ref_obj": ref_obj - sim.obj_pos[:, None],
        "obj": torch.stack((sim.obj_pos - root, sim.obj_linvel, sim.obj_angvel), dim=1),
        "cols": quat_columns(quats).reshape(n, -1, 3),
        "ig": ig.reshape(n, n_ig, 3),  # last: encoded after the rotation
    }
    at: dict[str, int] = {}
    m = 0
    for name, v in blocks.items():
        at[name] = m
        m += v.shape[1]
    turned = heading_rotate(heading(sim.quat[:, 0]), torch.cat(list(blocks.values()), dim=1))

    def rows(name: str, first: int, count: int) -> Tensor:
        """``count`` rotated vectors of block ``name`` from its ``first``, as ``[N, 3 count]``."""
        start = at[name] + first
        return turned[:, start : start + count].reshape(n, 3 * count)

    cols_ref_obj = 2 * nb  # in "cols": bodies first (2 each), then the offsets, the object
    parts: list[Tensor] = [
        root[:, 2:3],
        rows("pos", 0, nb),
        rows("cols", 0, 2 * nb),
        rows("linvel", 0, nb),
        rows("angvel", 0, nb),
    ]
    for i, f in enumerate(future):
        parts += [
            rows("ref_pos", i * nb, nb),
            rel[:, i].reshape(n, 6 * nb),
            f[0][:, 0, 2:3],
            rows("ref_obj", i, 1),
            rows("cols", cols_ref_obj + 2 * i, 2),
            f[4].to(dtype),
        ]
    parts += [
        rows("obj", 0, 1),
        rows("cols", cols_ref_obj + 2 * n_off, 2),
        rows("obj", 1, 2),
        encode_ig(turned[:, at["ig"] :], ig_decay).reshape(n, 3 * n_ig),
        touch.to(dtype),
    ]
    out = torch.cat(parts, dim=1)
    assert out.shape[1] == observation_dim(nb, n_ig, n_off)
    return out
