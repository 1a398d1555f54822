"""One interface for N worlds of one scene, whatever steps them.

The environment (``intermimic/env``) talks only to :class:`SimBackend`. Two
implementations: ``mujoco`` (the C engine on the CPU, worlds stepped in parallel by a
thread pool that releases the GIL; the default) and ``warp`` (MuJoCo Warp on a GPU,
extra ``gpu``). Arrays are numpy, world first. PD control runs inside the physics: the
humanoid's hinges are driven by position actuators with the PD gains (``kp``, ``kv``),
so a policy sets position targets and every substep applies
``tau = kp * (target - q) - kd * qdot``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from intermimic.sim.scene import Scene

F64 = NDArray[np.float64]

#: Contact partners, the last axis of :meth:`SimBackend.contact_forces`.
PARTNERS: tuple[str, ...] = ("object", "ground", "self")


@dataclass(frozen=True)
class BodyStates:
    """World-frame states of the 52 humanoid bodies (SMPL-X order) and the object.

    ``pos [N,B,3]``, ``quat [N,B,4]`` (w x y z), ``linvel [N,B,3]``, ``angvel [N,B,3]``;
    ``obj_pos [N,3]``, ``obj_quat [N,4]``, ``obj_linvel [N,3]``, ``obj_angvel [N,3]``.
    """

    pos: F64
    quat: F64
    linvel: F64
    angvel: F64
    obj_pos: F64
    obj_quat: F64
    obj_linvel: F64
    obj_angvel: F64


class SimBackend(ABC):
    """``n_worlds`` copies of ``scene``'s model, stepped together."""

    name: str

    def __init__(self, scene: Scene, n_worlds: int) -> None:
        self.scene = scene
        self.n_worlds = n_worlds

    @property
    def nq(self) -> int:
        return int(self.scene.model.nq)

    @property
    def nv(self) -> int:
        return int(self.scene.model.nv)

    @property
    def nu(self) -> int:
        """Actuated hinges of the humanoid (153 for the SMPL-X humanoid)."""
        return int(self.scene.model.nu)

    @abstractmethod
    def reset(self, world_ids: NDArray[np.int64], qpos: F64, qvel: F64) -> None:
        """Set the full state ``qpos [k,nq]``, ``qvel [k,nv]`` of worlds ``world_ids [k]``."""

    @abstractmethod
    def set_targets(self, targets: F64) -> None:
        """PD position targets ``[N, nu]`` (rad), held until the next call."""

    @abstractmethod
    def step(self, substeps: int) -> None:
        """Advance every world by ``substeps`` physics steps."""

    @abstractmethod
    def qpos(self, copy: bool = True) -> F64:
        """``[N, nq]``: a copy, or with ``copy=False`` a read-only view into the backend's
        buffer, valid until the next ``step`` or ``reset`` (no copy, for the env's hot loop)."""

    @abstractmethod
    def qvel(self, copy: bool = True) -> F64:
        """``[N, nv]``; ``copy`` as in :meth:`qpos`."""

    @abstractmethod
    def body_states(self) -> BodyStates:
        """Body and object states after the last step or reset."""

    @abstractmethod
    def contact_forces(self) -> F64:
        """``[N, 52, 3]``: normal force magnitude (N) on each humanoid body, summed over its
        contacts, split by partner along the last axis as in :data:`PARTNERS`."""

    def bad_worlds(self) -> NDArray[np.bool_]:
        """``[N]`` True for worlds whose physics went unstable (NaN, inf or huge values, or
        an engine error) since their last :meth:`reset`.

        A bad world is no longer stepped (its state is meaningless: MuJoCo itself resets
        it to the model defaults); the env should reset it and count it. This default
        checks only that ``qpos`` and ``qvel`` are finite.
        """
        finite = np.isfinite(self.qpos()).all(axis=1) & np.isfinite(self.qvel()).all(axis=1)
        return np.asarray(~finite, dtype=bool)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release threads or devices."""


class UnknownBackendError(ValueError):
    """No backend of that name."""
