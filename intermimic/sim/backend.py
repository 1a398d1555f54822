"""One interface for N worlds of one scene, whatever steps them.

The environment (``intermimic/env``) talks only to :class:`SimBackend`. Two
implementations: ``mujoco`` (the C engine on the CPU, worlds stepped in parallel by a
thread pool that releases the GIL; the default) and ``warp`` (MuJoCo Warp on a GPU,
extra ``gpu``). Arrays are world first, in two forms: numpy float64 (``qpos``,
``body_states``, ...: exact, for writers and tests) and, for the environment's per-step
math, torch tensors on the backend's :attr:`SimBackend.device` (:meth:`SimBackend.read`
hands over everything a step needs in one call, :meth:`SimBackend.set_targets_tensor`
and :meth:`SimBackend.reset_tensor` take tensors). The base class converts from numpy;
a device backend overrides them to share its arrays without a copy to the host. PD
control runs inside the physics: the
humanoid's hinges are driven by position actuators with the PD gains (``kp``, ``kv``),
so a policy sets position targets and every substep applies
``tau = kp * (target - q) - kd * qdot``.

Blow-ups (issue #20): a world is *bad* (:meth:`SimBackend.bad_worlds`, ``SimTensors.bad``)
when its state is non-finite, non-physical (a speed beyond ``max_speed``, a free body
farther than ``max_distance`` from the origin, a penetration deeper than
``max_penetration``: :class:`~intermimic.sim.mujoco_backend.PhysicsSettings`) or when the
engine overflowed a buffer for it (C MuJoCo's contact / constraint arena warnings, MuJoCo
Warp's overflow bitmask). A blown-up world can sit at finite 1e7 values, and an overflowed
one silently loses contacts or constraints, so a finiteness test alone misses both. The
environment resets bad worlds; :meth:`SimBackend.stats` counts them by cause.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from intermimic.sim.scene import Scene

if TYPE_CHECKING:  # torch is imported where tensors are handed over, not by every reader
    import torch

F64 = NDArray[np.float64]

#: The array type of a :class:`BodyStates`: numpy float64 arrays (``body_states()``) or
#: torch tensors (``read()``).
A = TypeVar("A")

#: Contact partners, the last axis of :meth:`SimBackend.contact_forces`.
PARTNERS: tuple[str, ...] = ("object", "ground", "self")


@dataclass(frozen=True)
class BodyStates(Generic[A]):
    """World-frame states of the 52 humanoid bodies (SMPL-X order) and the object, as
    numpy arrays or torch tensors (``A``).

    ``pos [N,B,3]``, ``quat [N,B,4]`` (w x y z), ``linvel [N,B,3]``, ``angvel [N,B,3]``;
    ``obj_pos [N,3]``, ``obj_quat [N,4]``, ``obj_linvel [N,3]``, ``obj_angvel [N,3]``.
    """

    pos: A
    quat: A
    linvel: A
    angvel: A
    obj_pos: A
    obj_quat: A
    obj_linvel: A
    obj_angvel: A


@dataclass(frozen=True)
class SimTensors:
    """Everything the environment reads after a step or reset, as torch tensors on the
    backend's device in one dtype: ``bodies`` (:class:`BodyStates` of tensors), ``qpos
    [N,nq]``, ``qvel [N,nv]``, ``contact [N,52,3]`` (as :meth:`SimBackend.contact_forces`)
    and ``bad [N]`` bool (:meth:`SimBackend.bad_worlds`). Valid until the next ``step``
    or ``reset``."""

    bodies: BodyStates[torch.Tensor]
    qpos: torch.Tensor
    qvel: torch.Tensor
    contact: torch.Tensor
    bad: torch.Tensor


@dataclass(frozen=True)
class BackendStats:
    """What a backend has seen since it was made, for benchmarks and logs.

    ``peak_contacts``: the most contacts one world had after a step; ``peak_contacts_total``
    the most over all worlds together (MuJoCo Warp's shared contact pool is sized for the
    total); ``peak_constraints``: the most constraint rows one world had (MuJoCo Warp
    counts the demand, so a value above ``constraint_capacity`` is an overflow).
    ``overflow_worlds`` / ``unstable_worlds``: worlds flagged bad, so reset by the
    environment, because the engine overflowed a buffer / because the state went
    non-finite or non-physical (a world flagged for both counts as overflow, the cause).
    ``contact_capacity`` / ``constraint_capacity``: the per-world buffer sizes where the
    engine has fixed ones (MuJoCo Warp's ``nconmax`` / ``njmax``), else None (C MuJoCo
    grows its arena up to the model's ``memory``).
    """

    peak_contacts: int
    peak_contacts_total: int
    peak_constraints: int
    overflow_worlds: int
    unstable_worlds: int
    contact_capacity: int | None = None
    constraint_capacity: int | None = None


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
    def warmstart(self) -> F64:
        """``[N, nv]`` a copy of the constraint solver's warm start (MuJoCo's
        ``qacc_warmstart``: the accelerations of each world's last substep), where its
        next step's solver starts from. :meth:`reset` clears it, so a world reset to a
        state and stepped differs in the last bits from one that reached the state by
        stepping; :meth:`set_warmstart` after the reset makes the two the same."""

    def _warmstart_rows(
        self, world_ids: NDArray[np.int64], qacc: F64
    ) -> tuple[NDArray[np.int64], F64]:
        """``(ids [k], qacc [k, nv])`` for :meth:`set_warmstart`, checked: one finite row
        of ``nv`` per world."""
        ids = np.asarray(world_ids, dtype=np.int64).reshape(-1)
        rows = np.asarray(qacc, dtype=np.float64)
        if rows.shape != (ids.size, self.nv):
            raise ValueError(
                f"warm start of shape {rows.shape} for {ids.size} worlds: expected "
                f"({ids.size}, {self.nv}), one row of nv per world"
            )
        if not np.isfinite(rows).all():
            raise ValueError("warm start holds NaN or inf")
        return ids, rows

    @abstractmethod
    def set_warmstart(self, world_ids: NDArray[np.int64], qacc: F64) -> None:
        """Set the warm start ``qacc [k, nv]`` of worlds ``world_ids [k]`` (rows read by
        :meth:`warmstart`), after their :meth:`reset`: their next step continues as the
        stepped worlds the rows came from would, bit for bit."""

    @abstractmethod
    def body_states(self) -> BodyStates[F64]:
        """Body and object states after the last step or reset."""

    @abstractmethod
    def contact_forces(self) -> F64:
        """``[N, 52, 3]``: normal force magnitude (N) on each humanoid body, summed over its
        contacts, split by partner along the last axis as in :data:`PARTNERS`."""

    # ---- torch hand-over ------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        """Where :meth:`read` puts its tensors (the CPU for the ``mujoco`` backend)."""
        import torch

        return torch.device("cpu")

    def read(self, dtype: torch.dtype | None = None) -> SimTensors:
        """The state after the last step or reset as tensors on :attr:`device` in
        ``dtype`` (default float32): one read per step, so the environment never reads the
        contact sensors twice. This default converts the numpy reads; backends override
        it to skip copies."""
        import torch

        dtype = dtype or torch.float32
        bs = self.body_states()

        def t(a: NDArray[np.floating]) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a)).to(self.device, dtype)

        return SimTensors(
            bodies=BodyStates(*(t(getattr(bs, f)) for f in BodyStates.__dataclass_fields__)),
            qpos=t(self.qpos(copy=False)),
            qvel=t(self.qvel(copy=False)),
            contact=t(self.contact_forces()),
            bad=torch.from_numpy(np.asarray(self.bad_worlds(), bool)).to(self.device),
        )

    def state_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """``[k, nq + nv]`` float64 states (qpos then qvel) of worlds ``rows`` (long, on
        :attr:`device`), on :attr:`device`: what PSI keeps. This default reads the exact
        float64 numpy state; backends that keep theirs on a device override it so that
        nothing crosses to the host."""
        import torch

        r = rows.cpu().numpy()
        state = np.concatenate([self.qpos(copy=False)[r], self.qvel(copy=False)[r]], axis=1)
        return torch.from_numpy(state).to(self.device)

    def set_targets_tensor(self, targets: torch.Tensor) -> None:
        """:meth:`set_targets` from a tensor ``[N, nu]`` (on any device)."""
        import torch

        self.set_targets(targets.detach().to("cpu", torch.float64).numpy())

    def reset_tensor(self, world_ids: torch.Tensor, qpos: torch.Tensor, qvel: torch.Tensor) -> None:
        """:meth:`reset` from tensors (``world_ids`` long ``[k]``)."""
        import torch

        self.reset(
            world_ids.detach().cpu().numpy().astype(np.int64),
            qpos.detach().to("cpu", torch.float64).numpy(),
            qvel.detach().to("cpu", torch.float64).numpy(),
        )

    def reset_where(self, mask: torch.Tensor, qpos: torch.Tensor, qvel: torch.Tensor) -> None:
        """Reset the worlds ``mask [N]`` (bool) marks to their rows of ``qpos [N, nq]``
        and ``qvel [N, nv]`` (the other rows are ignored), as :meth:`reset_tensor` does.
        This default selects the marked rows (one host read); backends that keep their
        state on a device override it with masked writes that read nothing back."""
        ids = mask.nonzero().flatten()
        if ids.numel():
            self.reset_tensor(ids, qpos[ids], qvel[ids])

    def bad_worlds(self) -> NDArray[np.bool_]:
        """``[N]`` True for worlds whose physics went unstable (NaN, inf, non-physical
        values, an engine error or a buffer overflow: the module docstring) since their
        last :meth:`reset`.

        A bad world's state is meaningless (C MuJoCo itself resets it to the model
        defaults, and the ``mujoco`` backend stops stepping it; MuJoCo Warp steps every
        world); the env resets it and counts it. This default checks only that ``qpos``
        and ``qvel`` are finite.
        """
        finite = np.isfinite(self.qpos()).all(axis=1) & np.isfinite(self.qvel()).all(axis=1)
        return np.asarray(~finite, dtype=bool)

    @abstractmethod
    def stats(self) -> BackendStats:
        """Peak contact and constraint counts and bad worlds by cause since creation
        (:class:`BackendStats`); a device backend synchronises here, not per step."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release threads or devices."""


class UnknownBackendError(ValueError):
    """No backend of that name."""
