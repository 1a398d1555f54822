"""The ``warp`` backend: MuJoCo Warp (``mujoco-warp``), all worlds batched on one device.

The same prepared model as the ``mujoco`` backend (:func:`physics_model`: implicitfast
integrator, contact sensors) is put on the device with ``mujoco_warp.put_model``; the
``N`` worlds live in one ``mujoco_warp.Data`` (``make_data(nworld=N)``) and every call
advances all of them at once. On a GPU the substeps of a policy step are captured once in
a CUDA graph and replayed; on the CPU (how the tests run here, slowly) they are plain
kernel launches.

Arrays cross to the host as numpy copies (``wp.array.numpy()``), world first, in the
same layouts as the ``mujoco`` backend; the torch hand-over (``read``) is for now the base
class's, built from those copies, on the torch device of Warp's (``wp_device``). MuJoCo
Warp computes in float32, so the two backends agree to float32 rounding plus solver
differences, not bit for bit.
Needs the ``gpu`` extra: ``pip install 'intermimic[gpu]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mujoco
import numpy as np
from numpy.typing import NDArray
from pydantic import Field

from intermimic.sim.backend import BodyStates, SimBackend
from intermimic.sim.mujoco_backend import (
    PhysicsSettings,
    body_states_from,
    contact_normals,
    physics_model,
    split_body_states,
)
from intermimic.sim.scene import Scene

if TYPE_CHECKING:  # torch is imported where tensors are handed over, not by every reader
    import torch

F64 = NDArray[np.float64]


class WarpSettings(PhysicsSettings):
    """Settings of the ``warp`` backend."""

    device: str | None = Field(
        default=None, description="warp device ('cuda:0', 'cpu'); None: cuda if present"
    )
    nconmax: int = Field(default=256, ge=1, description="contacts per world (buffer size)")
    njmax: int = Field(default=1024, ge=1, description="constraint rows per world")
    graph: bool = Field(default=True, description="capture substeps in a CUDA graph (GPU)")


class WarpBackend(SimBackend):
    """``n_worlds`` copies of the scene on a warp device (see the module docstring)."""

    name = "warp"

    def __init__(self, scene: Scene, n_worlds: int, settings: WarpSettings | None = None) -> None:
        super().__init__(scene, n_worlds)
        import mujoco_warp as mjw  # optional dependency, imported only here
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
            # Start from the model defaults, as the mujoco backend does.
            data = mujoco.MjData(self.model)
            mujoco.mj_forward(self.model, data)
            self._d = mjw.put_data(
                self.model,
                data,
                nworld=n_worlds,
                nconmax=s.nconmax,
                njmax=s.njmax,
            )
        self._bad = np.zeros(n_worlds, bool)

    @property
    def device(self) -> torch.device:
        """The torch device of Warp's (``wp_device``): the environment's tensors live there."""
        import torch

        return torch.device(self.wp_device)

    # ---- device helpers --------------------------------------------------------------
    def _host(self, arr: Any) -> F64:
        # numpy() of a CPU warp array is a view of the device memory: copy it.
        return np.array(arr.numpy(), dtype=np.float64)

    def _put(self, dst: Any, value: NDArray[np.floating]) -> None:
        src = self._wp.array(np.ascontiguousarray(value, dtype=np.float32), dtype=dst.dtype)
        self._wp.copy(dst, src)

    def _kinematics(self) -> None:
        # Position and velocity stages at the current state, so body poses and
        # velocities are current (mj_step leaves them one substep behind).
        mjw = self._mjw
        mjw.kinematics(self._m, self._d)
        mjw.com_pos(self._m, self._d)
        mjw.com_vel(self._m, self._d)

    # ---- SimBackend ------------------------------------------------------------------
    def reset(self, world_ids: NDArray[np.int64], qpos: F64, qvel: F64) -> None:
        ids = np.asarray(world_ids, dtype=np.int64).reshape(-1)
        if ids.size == 0:
            return
        qpos = np.asarray(qpos, dtype=np.float64).reshape(ids.size, self.nq)
        qvel = np.asarray(qvel, dtype=np.float64).reshape(ids.size, self.nv)
        if not (np.isfinite(qpos).all() and np.isfinite(qvel).all()):
            raise ValueError("reset state holds NaN or inf")
        wp = self._wp
        with wp.ScopedDevice(self.wp_device):
            q, v = self._host(self._d.qpos), self._host(self._d.qvel)
            q[ids], v[ids] = qpos, qvel
            ws = self._host(self._d.qacc_warmstart)
            ws[ids] = 0.0
            t = self._host(self._d.time)
            t[ids] = 0.0
            self._put(self._d.qpos, q)
            self._put(self._d.qvel, v)
            self._put(self._d.qacc_warmstart, ws)
            self._put(self._d.time, t)
            # No force has acted yet in a reset world: its contact sensors read zero, as
            # in the mujoco backend.
            sd = self._host(self._d.sensordata)
            sd[ids] = 0.0
            self._put(self._d.sensordata, sd)
            self._kinematics()
        self._bad[ids] = False

    def set_targets(self, targets: F64) -> None:
        t = np.asarray(targets, dtype=np.float64).reshape(self.n_worlds, self.nu)
        if not np.isfinite(t).all():
            raise ValueError("PD targets hold NaN or inf (map actions with ActionMap)")
        with self._wp.ScopedDevice(self.wp_device):
            self._put(self._d.ctrl, t)

    def _substeps(self, substeps: int) -> None:
        for _ in range(substeps):
            self._mjw.step(self._m, self._d)

    def step(self, substeps: int) -> None:
        wp = self._wp
        with wp.ScopedDevice(self.wp_device):
            if self.wp_device.startswith("cuda") and self.settings.graph:
                graph = self._graphs.get(substeps)
                if graph is None:
                    with wp.ScopedCapture() as cap:
                        self._substeps(substeps)
                    graph = self._graphs[substeps] = cap.graph
                wp.capture_launch(graph)
            else:
                self._substeps(substeps)
            # Poses and velocities at the new state; the contact sensors keep the last
            # substep's forces (these stages do not touch sensordata).
            self._kinematics()
        q, v = self.qpos(), self.qvel()
        self._bad |= ~(np.isfinite(q).all(axis=1) & np.isfinite(v).all(axis=1))

    def qpos(self, copy: bool = True) -> F64:
        return self._host(self._d.qpos)

    def qvel(self, copy: bool = True) -> F64:
        return self._host(self._d.qvel)

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
        return self._bad.copy()

    def close(self) -> None:
        self._graphs.clear()
