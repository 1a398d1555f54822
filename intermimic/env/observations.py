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

``layout="released"`` (``ObservationSettings.layout``; InterMimic's released content,
docs/fidelity.md rows 31, 32, 34) keeps these blocks but for the graph and adds (``K``
key bodies, ``H`` spin bodies: the root and the key bodies, :func:`spin_bodies`):

=====================  ===================  ============================================
block                  size                 content
=====================  ===================  ============================================
``future_k`` (each)    ... + 3 K + 3 H + 6  after the compact per-offset blocks:
                       + 3 K                reference minus own linear velocities of the
                                            key bodies, angular velocities of the spin
                                            bodies, object linear and angular velocity;
                                            reference minus own nearest-point encoding
                                            of the key bodies
``nearest``            3 B                  in place of ``interaction_graph``: each
                                            body's vector to its nearest object point,
                                            encoded ``d/|d| exp(-decay |d|)``
=====================  ===================  ============================================

The reference's nearest-point vectors are those of the reference body to the reference-
posed object (precomputed per frame, :class:`~intermimic.env.reference.ReferenceMotion`),
turned by the simulated heading like every other vector (released: by the reference
root's own heading; the two differ by the heading error only). Reference velocities are
:class:`~intermimic.env.reference.ReferenceMotion`'s finite differences at the clip's fps
(central; released: backward, angular ones as differences of exponential maps).

Inputs are ``torch.Tensor`` (world first, on one device); the observation is in the
dtype of ``sim.pos`` on its device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from intermimic.env.geometry import encode_ig, heading, heading_rotate, quat_columns, rel_rot6d
from intermimic.env.settings import ObsLayoutName
from intermimic.sim.backend import BodyStates

#: Per offset: reference ``(body_pos [N,B,3], body_quat [N,B,4], obj_pos [N,3],
#: obj_quat [N,4], contact [N,B] int8)``.
Future = tuple[Tensor, Tensor, Tensor, Tensor, Tensor]
#: Per offset, released layout: reference ``(key_linvel [N,K,3], spin_angvel [N,H,3],
#: obj_linvel [N,3], obj_angvel [N,3], key_nearest [N,K,3])``, world frame (the last:
#: each key body's vector to its nearest point of the reference-posed object).
FutureMotion = tuple[Tensor, Tensor, Tensor, Tensor, Tensor]


@dataclass(frozen=True)
class Released:
    """What the released layout observes beyond the compact one: ``nearest [N,B,3]``
    each simulated body's world vector to its nearest object point
    (:func:`~intermimic.env.nearest.nearest_vectors`), ``key [K]`` and ``spin [H]`` body
    indices (long, on the observation's device), one :data:`FutureMotion` per offset."""

    nearest: Tensor
    key: Tensor
    spin: Tensor
    future: Sequence[FutureMotion]


def spin_bodies(key: NDArray[np.integer]) -> NDArray[np.int64]:
    """Bodies whose angular-velocity error the released layout observes: the root (0)
    and the key bodies, ascending. For the SMPL-X humanoid's 21 key bodies these are the
    released 22 non-hand bodies 0-17 and 33-36 (the wrists included, the fingers not)."""
    return np.union1d(np.zeros(1, np.int64), np.asarray(key, np.int64)).astype(np.int64)


def block_sizes(
    n_bodies: int,
    n_ig: int,
    layout: ObsLayoutName = "compact",
    n_key: int = 0,
    n_spin: int = 0,
) -> tuple[int, int, int]:
    """``(own head, one future offset, own tail)`` sizes of the module docstring's blocks
    for ``n_bodies`` bodies, ``n_ig = K * Q`` graph edges (compact) or ``n_key`` key and
    ``n_spin`` spin bodies (released)."""
    head = 1 + 15 * n_bodies
    future = 10 * n_bodies + 10
    if layout == "compact":
        return head, future, 15 + 3 * n_ig + n_bodies
    if layout == "released":
        return head, future + 6 * n_key + 3 * n_spin + 6, 15 + 4 * n_bodies
    raise ValueError(f"observation layout must be 'compact' or 'released', got {layout!r}")


def observation_dim(
    n_bodies: int,
    n_ig: int,
    n_offsets: int,
    layout: ObsLayoutName = "compact",
    n_key: int = 0,
    n_spin: int = 0,
) -> int:
    """Length of the observation for ``n_bodies`` bodies, ``n_offsets`` future frames and
    the sizes :func:`block_sizes` reads for ``layout``."""
    head, future, tail = block_sizes(n_bodies, n_ig, layout, n_key, n_spin)
    return head + n_offsets * future + tail


def observe(
    sim: BodyStates,
    ig: Tensor | None,
    touch: Tensor,
    future: Sequence[Future],
    ig_decay: float,
    released: Released | None = None,
) -> Tensor:
    """The observation ``[N, D]`` (unnormalised) of the module docstring's blocks.

    ``sim`` are the world-frame states, ``ig`` ``[N,K,Q,3]`` the simulated interaction
    graph (world frame; compact layout, None for the released one), ``touch`` ``[N,B]``
    bool; ``future`` one :data:`Future` per offset; ``released`` the released layout's
    inputs (None: the compact layout).

    Every heading-frame vector (positions, velocities, and the two rotation-matrix
    columns of the 6D encodings, which are vectors too) is gathered into one
    ``[N, M, 3]`` tensor (one ``cat``) and rotated in one pass; the blocks are then cut
    out of it as views and joined with the others by one more ``cat``. Work of the same
    kind is batched across blocks and offsets (one :func:`quat_columns` for every
    quaternion whose columns are observed, one :func:`rel_rot6d` for all offsets, one
    encoding of every nearest-point vector): on the CPU at 64 worlds the cost of a torch
    call, not its arithmetic, dominates.
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
    blocks: dict[str, Tensor] = {  # name -> [N, m, 3] world vectors, rotated in this order
        "pos": sim.pos - root[:, None],
        "linvel": sim.linvel,
        "angvel": sim.angvel,
        "ref_pos": (ref_pos - sim.pos[:, None]).reshape(n, n_off * nb, 3),
        "ref_obj": ref_obj - sim.obj_pos[:, None],
        "obj": torch.stack((sim.obj_pos - root, sim.obj_linvel, sim.obj_angvel), dim=1),
        "cols": quat_columns(quats).reshape(n, -1, 3),
    }
    if released is None:
        if ig is None:
            raise ValueError("the compact observation layout needs the interaction graph")
        n_ig, n_key, n_spin = ig.shape[1] * ig.shape[2], 0, 0
        blocks["ig"] = ig.reshape(n, n_ig, 3)  # encoded after the rotation
    else:
        if len(released.future) != n_off:
            raise ValueError(
                f"{len(released.future)} released future blocks for {n_off} future offsets"
            )
        n_ig, n_key, n_spin = 0, int(released.key.numel()), int(released.spin.numel())
        blocks.update(_released_vectors(sim, released))
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

    if released is not None:
        # Encoded after the rotation (the encoding keeps directions): own, then each
        # offset's reference key bodies.
        near = encode_ig(turned[:, at["near"] : at["near"] + nb + n_off * n_key], ig_decay)
        own_near = near[:, :nb]
        ref_near = near[:, nb:].reshape(n, n_off, n_key, 3)
        near_err = (ref_near - own_near[:, released.key][:, None]).reshape(n, n_off, 3 * n_key)
    per_motion = n_key + n_spin + 2  # vectors per offset in "motion"
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
        if released is not None:
            parts += [rows("motion", i * per_motion, per_motion), near_err[:, i]]
    parts += [
        rows("obj", 0, 1),
        rows("cols", cols_ref_obj + 2 * n_off, 2),
        rows("obj", 1, 2),
    ]
    if released is None:
        parts.append(encode_ig(turned[:, at["ig"] :], ig_decay).reshape(n, 3 * n_ig))
    else:
        parts.append(own_near.reshape(n, 3 * nb))
    parts.append(touch.to(dtype))
    out = torch.cat(parts, dim=1)
    layout: ObsLayoutName = "compact" if released is None else "released"
    assert out.shape[1] == observation_dim(nb, n_ig, n_off, layout, n_key, n_spin)
    return out


def _released_vectors(sim: BodyStates, r: Released) -> dict[str, Tensor]:
    """The released layout's world vectors for :func:`observe`'s ``blocks``: ``motion``
    ``[N, O (K + H + 2), 3]``, per offset the reference-minus-own key-body linear
    velocities, spin-body angular velocities, object linear and angular velocity;
    ``near`` ``[N, B + O K, 3]``, the own nearest-point vectors of every body, then each
    offset's reference ones of the key bodies."""
    n = sim.pos.shape[0]
    if not r.future:
        empty = sim.pos.new_empty((n, 0, 3))
        return {"motion": empty, "near": r.nearest}
    stack = [torch.stack([f[j] for f in r.future], dim=1) for j in range(5)]
    key_v = stack[0] - sim.linvel[:, r.key][:, None]  # [N, O, K, 3]
    spin_w = stack[1] - sim.angvel[:, r.spin][:, None]  # [N, O, H, 3]
    obj_v = torch.stack((stack[2] - sim.obj_linvel[:, None], stack[3] - sim.obj_angvel[:, None]), 2)
    motion = torch.cat((key_v, spin_w, obj_v), dim=2)
    return {
        "motion": motion.reshape(n, -1, 3),
        "near": torch.cat((r.nearest, stack[4].reshape(n, -1, 3)), dim=1),
    }
