"""The ``warp`` backend: MuJoCo Warp (``mujoco-warp``), all worlds batched on one device.

The same prepared model as the ``mujoco`` backend (:func:`physics_model`: implicitfast
integrator, contact sensors) is put on the device with ``mujoco_warp.put_model``; the
``N`` worlds live in one ``mujoco_warp.Data`` (``put_data(nworld=N)``) and every call
advances all of them at once.

Nothing leaves the device per step (issue #20). Warp's arrays are shared with torch
without a copy (``wp.to_torch``, as mjlab does), so :meth:`WarpBackend.read` gathers the
body states and sums the contact sensors with torch on the device, in the layout of
:func:`~intermimic.sim.mujoco_backend.tensors_from` (shared with the ``mujoco``
backend); :meth:`WarpBackend.reset_tensor` writes the reset worlds' rows in place
(``index_copy_``) and zeroes their warm start, time, sensors and overflow flags, with no
download and re-upload of whole arrays; targets are copied device to device; bad worlds
are found with torch on the device and handed over as a bool tensor (``SimTensors.bad``).
On a GPU the substeps of a policy step *and* the kinematics pass after them (``kinematics,
com_pos, com_vel``: body poses and velocities at the new state) are captured once in a
CUDA graph and replayed; on the CPU (how the tests run here, slowly) they are plain kernel
launches. The numpy reads (``qpos()``, ``body_states()``, ``contact_forces()``) stay for
writers and tests: they copy to the host in float64.

Streams: Warp launches on its device stream, torch on its current one. Warp's streams
are blocking, so they are ordered with torch's legacy default stream; when torch runs on
another stream, each hand-over makes one stream wait on the other (an event, no host
synchronisation).

Overflow (``mujoco_warp.OverflowType``): MuJoCo Warp sets a per-world bitmask when a
world overflowed a buffer (``NEFC``: more constraint rows than ``njmax``, and the Jacobian,
CCD, height-field and island buffers) and keeps it until the world is reset; those worlds
are flagged bad. Contacts live in one pool for all worlds (``nconmax * N``): when it
overflows, every world's bitmask gets the pool bits, so the backend flags only the worlds
that hold at least their share (``nconmax``) of the pool and clears the pool bits. Solver
iteration limits are not overflows and are left alone. The engine's overflow printouts are
switched off: :meth:`WarpBackend.stats` counts them instead.

MuJoCo Warp computes in float32, so the two backends agree to float32 rounding plus
solver differences, not bit for bit. Needs the ``gpu`` extra: ``pip install
'intermimic[gpu]'``.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import mujoco
import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from intermimic.sim.backend import BackendStats, BodyStates, SimBackend, SimTensors
from intermimic.sim.mujoco_backend import (
    PhysicsSettings,
    body_states_from,
    contact_normals,
    free_position_adr,
    physics_model,
    split_body_states,
    tensors_from,
)
from intermimic.sim.scene import Scene

if TYPE_CHECKING:  # torch is imported where tensors are handed over, not by every reader
    from collections.abc import Iterator

    import torch

F64 = NDArray[np.float64]

# OverflowType bits (mujoco_warp._src.types), spelled out so the module imports without
# mujoco_warp. Per world: constraint rows, Jacobian non-zeros, CCD, height field, islands.
_NEFC, _NJMAX_NNZ, _BROADPHASE, _NARROWPHASE, _CCD, _HFIELD, _NVMAX = 1, 2, 4, 8, 16, 32, 128
_WORLD_OVERFLOW = _NEFC | _NJMAX_NNZ | _CCD | _HFIELD | _NVMAX
# Set on every world at once when the shared contact pool overflows.
_POOL_OVERFLOW = _BROADPHASE | _NARROWPHASE


class WarpSettings(PhysicsSettings):
    """Settings of the ``warp`` backend."""

    device: str | None = Field(
        default=None, description="warp device ('cuda:0', 'cpu'); None: cuda if present"
    )
    nconmax: int = Field(default=256, ge=1, description="contacts per world (buffer size)")
    njmax: int = Field(default=1024, ge=1, description="constraint rows per world")
    graph: bool = Field(default=True, description="capture substeps in a CUDA graph (GPU)")


@contextmanager
def _no_gc() -> Iterator[None]:
    """No garbage collection while a CUDA graph is captured: a stale Warp object freed
    then would record its destructor into the graph (mjlab does the same)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class WarpBackend(SimBackend):
    """``n_worlds`` copies of the scene on a warp device (see the module docstring)."""

    name = "warp"

    def __init__(self, scene: Scene, n_worlds: int, settings: WarpSettings | None = None) -> None:
        super().__init__(scene, n_worlds)
        import mujoco_warp as mjw  # optional dependency, imported only here
        import torch
        import warp as wp

        self._wp: Any = wp
        self._mjw: Any = mjw
        self.settings = s = settings or WarpSettings()
        # Warp prints a banner and every kernel compile; keep stdout for the caller.
        self._wp.config.log_level = self._wp.LOG_WARNING
        wp.init()
        self.wp_device = s.device or ("cuda:0" if wp.is_cuda_available() else "cpu")
        self.physics = physics_model(scene, s)
        self.model = self.physics.model
        self._body_ids = np.append(scene.humanoid_body_ids, max(scene.object_body_id, 0))
        self._graphs: dict[int, Any] = {}
        with wp.ScopedDevice(self.wp_device):
            self._m = mjw.put_model(self.model)
            # The overflow bits are read and counted (stats()), not printed per kernel.
            self._m.opt.warn_overflow = 0
            # Start from the model defaults, as the mujoco backend does: body poses and
            # velocities, but no collision, so that the default pose's contacts (the
            # humanoid half in the ground) do not bound nconmax and njmax.
            data = mujoco.MjData(self.model)
            mujoco.mj_kinematics(self.model, data)
            mujoco.mj_comPos(self.model, data)
            mujoco.mj_comVel(self.model, data)
            self._d = mjw.put_data(
                self.model,
                data,
                nworld=n_worlds,
                nconmax=s.nconmax,
                njmax=s.njmax,
            )
        self._use_graph = self._graph_possible()
        d = self._d
        # Zero-copy torch views of Warp's arrays (same memory, same device).
        t = wp.to_torch
        self._qpos, self._qvel, self._ctrl = t(d.qpos), t(d.qvel), t(d.ctrl)
        self._xpos, self._xquat = t(d.xpos), t(d.xquat)
        self._cvel, self._subtree_com = t(d.cvel), t(d.subtree_com)
        self._sensordata = t(d.sensordata)
        self._warmstart, self._time = t(d.qacc_warmstart), t(d.time)
        self._qfrc_applied, self._xfrc_applied = t(d.qfrc_applied), t(d.xfrc_applied)
        self._act = t(d.act) if self.model.na else None
        self._nefc, self._overflow = t(d.nefc), t(d.overflow)
        self._nacon, self._ncollision = t(d.nacon), t(d.ncollision)
        self._con_dist, self._con_world = t(d.contact.dist), t(d.contact.worldid)
        self._naconmax = int(d.naconmax)
        dev = self._qpos.device
        self._tdev = dev

        def long(a: NDArray[np.integer]) -> torch.Tensor:
            return torch.as_tensor(np.asarray(a, np.int64), device=dev)

        self._t_body_ids = long(self._body_ids)
        self._t_root_ids = long(self.physics.root_ids)
        self._t_free = long(free_position_adr(self.model))
        self._sensor_slice = slice(*self.physics.sensor_slice)
        self._pool_index = torch.arange(self._naconmax, device=dev, dtype=torch.int32)
        # Device-side bookkeeping: read on the host only by bad_worlds() and stats().
        self._bad = torch.zeros(n_worlds, dtype=torch.bool, device=dev)
        self._counts = torch.zeros(2, dtype=torch.int64, device=dev)  # overflow, unstable
        # contacts (one world), contacts (total), constraints (one world)
        self._peak = torch.zeros(3, dtype=torch.int64, device=dev)

    @property
    def device(self) -> torch.device:
        """The torch device of Warp's (``wp_device``): the environment's tensors live there."""
        return self._tdev  # type: ignore[no-any-return]

    # ---- device helpers --------------------------------------------------------------
    def _graph_possible(self) -> bool:
        """CUDA graphs need a CUDA device, Warp's memory pool (allocations inside the
        capture) and conditional graph nodes (MuJoCo Warp's solver loop: CUDA 12.4)."""
        wp = self._wp
        if not (self.settings.graph and self.wp_device.startswith("cuda")):
            return False
        return bool(wp.is_mempool_enabled(self.wp_device) and wp.is_conditional_graph_supported())

    def _torch_waits_for_warp(self) -> None:
        """Order torch's current stream after Warp's launches (module docstring)."""
        if self._tdev.type != "cuda":
            return
        import torch

        current = torch.cuda.current_stream(self._tdev)
        if current.cuda_stream != 0:  # the legacy default stream syncs by itself
            current.wait_stream(self._wp.stream_to_torch(self.wp_device))

    def _warp_waits_for_torch(self) -> None:
        """Order Warp's next launches after torch's writes (module docstring)."""
        if self._tdev.type != "cuda":
            return
        import torch

        current = torch.cuda.current_stream(self._tdev)
        if current.cuda_stream != 0:
            wp = self._wp
            wp.get_device(self.wp_device).stream.wait_stream(wp.stream_from_torch(current))

    def _host(self, arr: Any) -> F64:
        # numpy() of a CPU warp array is a view of the device memory: copy it.
        return np.array(arr.numpy(), dtype=np.float64)

    def _kinematics(self) -> None:
        # Position and velocity stages at the current state, so body poses and
        # velocities are current (mj_step leaves them one substep behind).
        mjw = self._mjw
        mjw.kinematics(self._m, self._d)
        mjw.com_pos(self._m, self._d)
        mjw.com_vel(self._m, self._d)

    def _substeps(self, substeps: int) -> None:
        for _ in range(substeps):
            self._mjw.step(self._m, self._d)
        # Poses and velocities at the new state; the contact sensors keep the last
        # substep's forces (these stages do not touch sensordata).
        self._kinematics()

    def _check(self) -> None:
        """Flag this step's bad worlds on the device (module docstring), count the new ones
        by cause and keep the peak contact and constraint counts; no host read."""
        import torch

        s = self.settings
        q, v = self._qpos, self._qvel
        # NaN compares False, so "not within the bound" also catches NaN.
        unstable = ~(v.abs().amax(dim=1) <= s.max_speed)
        unstable |= ~(q[:, self._t_free].abs().amax(dim=1) <= s.max_distance)
        unstable |= ~torch.isfinite(q).all(dim=1)
        # Contacts of the last substep, per world: count and deepest penetration.
        nacon = self._nacon.to(torch.int64)
        valid = self._pool_index < nacon
        world = torch.where(valid, self._con_world, 0).to(torch.int64)
        count = torch.zeros(self.n_worlds, dtype=torch.int64, device=self._tdev)
        count.index_add_(0, world, valid.to(torch.int64))
        depth = torch.where(valid, -self._con_dist, float("-inf"))
        deepest = torch.full((self.n_worlds,), float("-inf"), device=self._tdev)
        deepest.scatter_reduce_(0, world, depth.to(deepest.dtype), "amax")
        unstable |= deepest > s.max_penetration
        flags = self._overflow
        overflow = (flags & _WORLD_OVERFLOW) != 0
        pool = ((flags & _POOL_OVERFLOW) != 0) | (nacon > self._naconmax)
        overflow |= pool & (count >= s.nconmax)
        flags.bitwise_and_(~_POOL_OVERFLOW)
        new = (overflow | unstable) & ~self._bad
        self._counts += torch.stack([(new & overflow).sum(), (new & ~overflow).sum()])
        self._bad |= overflow | unstable
        step_peak = torch.stack([count.max(), nacon.reshape(()), self._nefc.max().to(torch.int64)])
        torch.maximum(self._peak, step_peak, out=self._peak)

    def _fresh_world_arrays(self) -> list[torch.Tensor]:
        """The per-world arrays a reset zeroes, as in a fresh MuJoCo world: warm start,
        time, contact sensors (no force has acted yet), applied forces, overflow flags
        and activations."""
        zero = [self._warmstart, self._time, self._sensordata, self._qfrc_applied]
        zero += [self._xfrc_applied, self._overflow]
        if self._act is not None:
            zero.append(self._act)
        return zero

    # ---- SimBackend ------------------------------------------------------------------
    def reset(self, world_ids: NDArray[np.int64], qpos: F64, qvel: F64) -> None:
        import torch

        ids = np.asarray(world_ids, dtype=np.int64).reshape(-1)
        self.reset_tensor(
            torch.from_numpy(ids),
            torch.from_numpy(np.asarray(qpos, np.float64).reshape(ids.size, self.nq)),
            torch.from_numpy(np.asarray(qvel, np.float64).reshape(ids.size, self.nv)),
        )

    def reset_tensor(self, world_ids: torch.Tensor, qpos: torch.Tensor, qvel: torch.Tensor) -> None:
        """Write worlds ``world_ids``' state in place on the device: qpos, qvel, and, as a
        fresh MuJoCo world, zero time, warm start, applied forces, activations, contact
        sensors (no force has acted yet) and overflow flags; targets are kept. Then the
        kinematics pass (every world: the others' poses are recomputed from unchanged
        states, so they stay as they were). One host read: the check that the states are
        finite (a NaN state would be reset again forever)."""
        import torch

        n = int(world_ids.numel())
        if n == 0:
            return
        dev, dt = self._tdev, self._qpos.dtype
        ids = world_ids.detach().reshape(-1).to(dev, torch.int64)
        q = qpos.detach().reshape(n, self.nq).to(dev, dt)
        v = qvel.detach().reshape(n, self.nv).to(dev, dt)
        if not bool(torch.isfinite(q).all() & torch.isfinite(v).all()):
            raise ValueError("reset state holds NaN or inf")
        self._qpos.index_copy_(0, ids, q)
        self._qvel.index_copy_(0, ids, v)
        for a in self._fresh_world_arrays():
            a.index_fill_(0, ids, 0)
        self._bad.index_fill_(0, ids, False)
        self._warp_waits_for_torch()
        with self._wp.ScopedDevice(self.wp_device):
            self._kinematics()
        self._torch_waits_for_warp()

    def reset_where(self, mask: torch.Tensor, qpos: torch.Tensor, qvel: torch.Tensor) -> None:
        """:meth:`reset_tensor` for the worlds ``mask [N]`` marks, from their rows of
        ``qpos [N, nq]`` and ``qvel [N, nv]``, by masked writes on the device: nothing is
        read back, and the kinematics pass runs every step a mask is given (whether or
        not it marks a world; cheaper on a GPU than asking). A marked row that is not
        finite is not written: its world is flagged bad instead (:meth:`bad_worlds`), so
        that the environment counts it and resets it again from another draw."""
        import torch

        dev, dt = self._tdev, self._qpos.dtype
        m = mask.detach().reshape(-1).to(dev, torch.bool)
        q = qpos.detach().reshape(self.n_worlds, self.nq).to(dev, dt)
        v = qvel.detach().reshape(self.n_worlds, self.nv).to(dev, dt)
        ok = torch.isfinite(q).all(dim=1) & torch.isfinite(v).all(dim=1)
        write = m & ok
        col = write[:, None]
        self._qpos.copy_(torch.where(col, q, self._qpos))
        self._qvel.copy_(torch.where(col, v, self._qvel))
        for a in self._fresh_world_arrays():
            a.masked_fill_(write.reshape(-1, *([1] * (a.ndim - 1))), 0)
        self._bad.copy_(torch.where(write, False, self._bad) | (m & ~ok))
        self._warp_waits_for_torch()
        with self._wp.ScopedDevice(self.wp_device):
            self._kinematics()
        self._torch_waits_for_warp()

    def set_targets(self, targets: F64) -> None:
        import torch

        t = np.asarray(targets, dtype=np.float64).reshape(self.n_worlds, self.nu)
        if not np.isfinite(t).all():
            raise ValueError("PD targets hold NaN or inf (map actions with ActionMap)")
        self.set_targets_tensor(torch.from_numpy(t))

    def set_targets_tensor(self, targets: torch.Tensor) -> None:
        """Copy targets ``[N, nu]`` into Warp's ``ctrl`` on the device. Not checked for
        NaN here (a check is a host read per step): ``ActionMap.targets_tensor`` already
        replaces or refuses non-finite actions, and the numpy :meth:`set_targets` checks."""
        self._ctrl.copy_(targets.detach().reshape(self.n_worlds, self.nu))

    def step(self, substeps: int) -> None:
        wp = self._wp
        self._warp_waits_for_torch()
        with wp.ScopedDevice(self.wp_device):
            if self._use_graph:
                graph = self._graphs.get(substeps)
                if graph is None:
                    with _no_gc(), wp.ScopedCapture() as cap:
                        self._substeps(substeps)
                    graph = self._graphs[substeps] = cap.graph
                wp.capture_launch(graph)
            else:
                self._substeps(substeps)
        self._torch_waits_for_warp()
        self._check()

    def read(self, dtype: torch.dtype | None = None) -> SimTensors:
        """The state as tensors on the device, with no host copy: ``qpos`` and ``qvel``
        are Warp's own arrays when ``dtype`` is Warp's float32 (read-only by contract:
        valid, and live, until the next ``step`` or ``reset``); bodies and contacts are
        gathered by torch (:func:`tensors_from`, as the ``mujoco`` backend does)."""
        import torch

        dtype = dtype or torch.float32

        def rows(a: torch.Tensor, idx: torch.Tensor | slice) -> torch.Tensor:
            # A tensor index gathers (a fresh tensor, which tensors_from may write into);
            # the sensor slice stays a view, read once.
            return a[:, idx].to(dtype)

        bodies, contact = tensors_from(
            rows(self._xpos, self._t_body_ids),
            rows(self._xquat, self._t_body_ids),
            rows(self._cvel, self._t_body_ids),
            rows(self._subtree_com, self._t_root_ids),
            rows(self._sensordata, self._sensor_slice),
            self.physics.contact_slots,
            self.scene.has_object,
        )
        return SimTensors(
            bodies=bodies,
            qpos=self._qpos.to(dtype),
            qvel=self._qvel.to(dtype),
            contact=contact,
            bad=self._bad.clone(),
        )

    def state_rows(self, rows: torch.Tensor) -> torch.Tensor:
        """:meth:`SimBackend.state_rows` gathered on the device (Warp's float32 state
        widened; nothing crosses to the host)."""
        import torch

        return torch.cat([self._qpos[rows], self._qvel[rows]], dim=1).to(torch.float64)

    def qpos(self, copy: bool = True) -> F64:
        return self._host(self._d.qpos)

    def qvel(self, copy: bool = True) -> F64:
        return self._host(self._d.qvel)

    def warmstart(self) -> F64:
        return self._host(self._d.qacc_warmstart)

    def set_warmstart(self, world_ids: NDArray[np.int64], qacc: F64) -> None:
        import torch

        ids, qacc = self._warmstart_rows(world_ids, qacc)
        rows = torch.from_numpy(qacc).to(self._tdev, self._warmstart.dtype)
        self._warmstart.index_copy_(0, torch.from_numpy(ids).to(self._tdev), rows)
        self._warp_waits_for_torch()

    def body_states(self) -> BodyStates:
        d = self._d
        pos, quat, lin, ang = body_states_from(
            self._host(d.xpos), self._host(d.xquat), self._host(d.cvel),
            self._host(d.subtree_com), self._body_ids, self.physics.root_ids,
        )  # fmt: skip
        return split_body_states(pos, quat, lin, ang, self.scene.has_object)

    def contact_forces(self) -> F64:
        sd = self._host(self._d.sensordata)
        return contact_normals(sd, self.physics, self.scene.has_object)

    def bad_worlds(self) -> NDArray[np.bool_]:
        return np.asarray(self._bad.cpu().numpy(), bool).copy()

    def stats(self) -> BackendStats:
        contacts, total, constraints = (int(x) for x in self._peak.cpu())
        overflow, unstable = (int(x) for x in self._counts.cpu())
        return BackendStats(
            peak_contacts=contacts,
            peak_contacts_total=total,
            peak_constraints=constraints,
            overflow_worlds=overflow,
            unstable_worlds=unstable,
            contact_capacity=self.settings.nconmax,
            constraint_capacity=self.settings.njmax,
        )

    def close(self) -> None:
        self._graphs.clear()
