"""What the environment needs from a body: the :class:`Embodiment` interface.

The tracking environment simulates an embodiment (the SMPL-X humanoid, a robot) and
compares it with a reference that is always SMPL-X motion (52 bodies). An embodiment
says, by name:

* ``body_names``: the bodies whose states the environment reads (root first); every
  per-body quantity of the environment (observations, contact forces, labels) has one
  row per body, in this order;
* ``smplx_bodies``: for each of those, the SMPL-X body of the reference it follows
  (its contact label, its reference pose): the body map;
* ``tracked_bodies``: the bodies the embodiment-aware terms (body position and rotation)
  compare with their mapped reference bodies: the key-body map; ``position_bodies``
  (default: ``tracked_bodies``) narrows the body-position term to a subset (InterMimic's
  SMPL-X humanoid: rotations of all 52 bodies, positions of its 21 key bodies);
* ``key_bodies`` (early termination, interaction graph), ``left_hand``/``right_hand``
  (hand contact), ``feet``;
* ``joint_names``: the actuated hinges, in actuator (action) order; PD gains live in
  the model (position actuators), targets come from joint-range midpoints and
  half-ranges, with InterMimic's recentring and scale overrides
  (:class:`~intermimic.sim.pd.ActionMap`);
* how a reference maps onto it: ``height_ratio`` (reference positions, root and object
  included, are scaled by it), ``rest_offsets`` (each body's frame relative to its
  SMPL-X body's frame, when both stand in the same pose), :meth:`reference_qpos` (the
  embodiment's own pose per reference frame, for start states and residual actions),
  :meth:`reference_smplx_qpos` (the SMPL-X pose whose FK over :meth:`reference_tree` is
  the reference: the clip's own, unless the body cannot take some of it, as welded
  fingers cannot).

:class:`~intermimic.humanoid.embodiment.SmplxEmbodiment` maps one to one with ratio 1;
:class:`~intermimic.humanoid.g1.G1Embodiment` is the Unitree G1 with hands (both, and
:func:`~intermimic.humanoid.embodiment.make_embodiment`, in modules above this one).
The environment and the rewards use only this interface: they do not branch on which
embodiment they hold.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import mujoco
import numpy as np
from numpy.typing import NDArray

from intermimic.motion.clip import HOIClip
from intermimic.motion.kinematics import KinematicTree, clip_to_qpos
from intermimic.motion.quat import quat_mul
from intermimic.motion.skeleton import SMPLX_BODY_NAMES

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


class EmbodimentError(ValueError):
    """An embodiment's name lists are inconsistent."""


class Embodiment(ABC):
    """A simulated body and how an SMPL-X reference maps onto it (module docstring)."""

    name: str
    body_names: tuple[str, ...]
    smplx_bodies: tuple[str, ...]
    tracked_bodies: tuple[str, ...]
    position_bodies: tuple[str, ...] | None = None
    key_bodies: tuple[str, ...]
    left_hand: tuple[str, ...]
    right_hand: tuple[str, ...]
    feet: tuple[str, ...]
    #: Whether InterMimic's action-map adjustments (``ActionSettings.recentre_threshold``:
    #: off-centre hinges driven about 0) are meant for this body. They were written for
    #: the SMPL-X humanoid's finger tips; a robot's asymmetric ranges (the G1's knees,
    #: fingers) keep their range middles unless a run sets the threshold itself.
    released_action_map: bool = False

    # ---- the model ----------------------------------------------------------------------
    @abstractmethod
    def build_spec(self) -> mujoco.MjSpec:
        """The body as an ``MjSpec``: root with a free joint, one PD position actuator per
        hinge of :attr:`joint_names` (gains in the model), no ground (the scene adds it)."""

    @property
    @abstractmethod
    def joint_names(self) -> tuple[str, ...]:
        """Actuated hinges in actuator order (the action's columns)."""

    # ---- the reference ------------------------------------------------------------------
    @property
    def height_ratio(self) -> float:
        """Reference positions are scaled by this (1: same size as the reference)."""
        return 1.0

    def rest_offsets(self) -> F64:
        """``[B, 4]`` w x y z: body ``b``'s frame in its SMPL-X body's frame, both in the
        same pose; the reference orientation of ``b`` is ``q_smplx * offset_b``."""
        return np.tile([1.0, 0.0, 0.0, 0.0], (len(self.body_names), 1))

    @abstractmethod
    def reference_tree(self, model: mujoco.MjModel, body_ids: I64) -> KinematicTree:
        """The SMPL-X humanoid whose FK of a clip's joint angles is the reference
        (``model``/``body_ids``: the scene's model and this embodiment's bodies in it)."""

    @abstractmethod
    def reference_qpos(self, clip: HOIClip) -> F64:
        """``[T, 7 + J]`` this embodiment's pose per frame of ``clip`` (root position,
        root quaternion w x y z, then :attr:`joint_names`' angles): the start states of
        the environment and the targets residual actions are relative to."""

    def reference_smplx_qpos(self, clip: HOIClip) -> F64:
        """``[T, 160]`` SMPL-X humanoid qpos whose FK over :meth:`reference_tree` gives
        the reference body poses (default: the clip's own joint angles)."""
        return clip_to_qpos(clip)

    # ---- derived indices (shared) ---------------------------------------------------------
    def index(self, names: tuple[str, ...]) -> I64:
        """Positions of ``names`` in :attr:`body_names`."""
        where = {n: i for i, n in enumerate(self.body_names)}
        missing = [n for n in names if n not in where]
        if missing:
            raise EmbodimentError(f"{self.name}: not among its bodies: {', '.join(missing)}")
        return np.array([where[n] for n in names], np.int64)

    @property
    def smplx_index(self) -> I64:
        """``[B]``: the SMPL-X body (0..51) each body follows."""
        where = {n: i for i, n in enumerate(SMPLX_BODY_NAMES)}
        return np.array([where[n] for n in self.smplx_bodies], np.int64)

    @property
    def tracked_index(self) -> I64:
        return self.index(self.tracked_bodies)

    @property
    def position_index(self) -> I64:
        """Bodies of the body-position term: :attr:`position_bodies`, else the tracked."""
        return self.index(self.position_bodies or self.tracked_bodies)

    def check(self) -> None:
        """Raise :class:`EmbodimentError` when the name lists do not fit together."""
        if len(self.smplx_bodies) != len(self.body_names):
            raise EmbodimentError(
                f"{self.name}: {len(self.body_names)} bodies but {len(self.smplx_bodies)} "
                "SMPL-X counterparts"
            )
        unknown = sorted(set(self.smplx_bodies) - set(SMPLX_BODY_NAMES))
        if unknown:
            raise EmbodimentError(f"{self.name}: not SMPL-X bodies: {', '.join(unknown)}")
        for names in (self.tracked_bodies, self.key_bodies, self.left_hand, self.right_hand):
            self.index(names)
        if self.position_bodies is not None:
            self.index(self.position_bodies)
        self.index(self.feet)

    def map_reference(
        self, body_pos: NDArray[np.floating], body_quat: NDArray[np.floating]
    ) -> tuple[F64, F64]:
        """SMPL-X body poses ``[T, 52, ...]`` -> this embodiment's ``[T, B, ...]``:
        mapped, positions scaled by :attr:`height_ratio`, rest offsets applied."""
        idx = self.smplx_index
        pos = np.asarray(body_pos, np.float64)[:, idx]
        quat = np.asarray(body_quat, np.float64)[:, idx]
        s = self.height_ratio
        if s != 1.0:
            pos = pos * s
        off = self.rest_offsets()
        if not np.allclose(off, [1.0, 0.0, 0.0, 0.0]):
            quat = np.asarray(quat_mul(quat, off[None]), np.float64)
        return pos, quat

    def map_object(self, obj_pos: NDArray[np.floating]) -> F64:
        """Object positions ``[T, 3]`` scaled as the reference: horizontally by
        :attr:`height_ratio`, vertically about the clip's lowest object height (an
        object resting on the ground stays on it; a lifted one is lifted less)."""
        p = np.array(obj_pos, np.float64)
        s = self.height_ratio
        if s != 1.0:
            z0 = p[:, 2].min()
            p[:, :2] *= s
            p[:, 2] = z0 + s * (p[:, 2] - z0)
        return p

    def map_contact(self, contact: NDArray[np.integer]) -> NDArray[np.int8]:
        """Labels ``[T, 52]`` -> ``[T, B]``: each body takes its SMPL-X body's label."""
        return np.asarray(contact, np.int8)[:, self.smplx_index]

    def describe(self) -> dict[str, Any]:
        """Name and joint names (what exported data carries)."""
        return {"embodiment": self.name, "joint_names": list(self.joint_names)}
