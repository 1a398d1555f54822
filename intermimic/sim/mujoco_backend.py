"""The ``mujoco`` backend: N worlds on the CPU, stepped by MuJoCo's own thread pool.

Stepping uses :class:`mujoco.batch.Batch` (MuJoCo >= 4): one ``MjData`` per world
(``persistent=True``), stepped by C threads with the GIL released, and its fields bound
as live ``[N, ...]`` numpy arrays. Measured on this project's scene (humanoid +
largetable, 64 worlds): a Python thread pool calling ``mj_step`` does not scale at all
(the binding keeps the GIL, 1.05x on 2 threads), ``mujoco.rollout`` scales (1.8x) but
keeps no per-world ``MjData`` (contacts, body poses), ``Batch`` scales 1.9x and keeps
everything; see ``bench/env_step.py``.

Model preparation (:func:`physics_model`), shared with the ``warp`` backend:

* the integrator is ``implicitfast`` by default: the PD damping ``kd`` of the position
  actuators is then integrated implicitly, which is what keeps the light finger bodies
  (``kd = 10``, armature 0.02) stable at 120 Hz; with MuJoCo's explicit ``Euler`` the
  humanoid blows up within 0.05 s. Isaac Gym's PD drive, which the method used, is
  implicit too.
* contact sensors (``mjSENS_CONTACT``, data ``found force``, ``reduce="maxforce"``) are
  added, one per humanoid body and partner (object body, ground geom, humanoid subtree),
  each keeping the ``contact_slots`` largest contacts. :meth:`contact_forces` sums
  the normal components of those slots, vectorised over all worlds, with no per-world
  Python.

Timing of the derived fields: ``step`` runs its substeps and then MuJoCo's position and
velocity stages at the new state (``mjSTAGE_VEL``; the next step continues from them, so
this costs nothing), so body poses and velocities are current. Contact forces are those
of the last substep's constraint solve (as Isaac Gym's net contact forces): the contact
sensors are acceleration-stage sensors, which the final stages leave untouched; after a
reset they read zero until the next step.

Bad worlds (see :mod:`intermimic.sim.backend`): after every step a world is flagged when
MuJoCo raised an error in it, raised a bad-state warning (``mjWARN_BADQPOS``,
``BADQVEL``, ``BADQACC``: it then resets the world to the model defaults on its own), or
ran out of arena for its contacts or constraints (``mjWARN_CONTACTFULL``,
``mjWARN_CNSTRFULL``: it then drops them, and bodies fall through each other), or when
its state is non-physical (:class:`PhysicsSettings` ``max_speed``, ``max_distance``). The
warning counters are cleared by a reset, so a raised counter means "since the world's
reset". Contact depths live in MuJoCo's arena, which ``Batch`` cannot bind, so
``max_penetration`` applies on the ``warp`` backend only. A bad world is not stepped
again until it is reset.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import mujoco
import numpy as np
from mujoco import batch as mjbatch
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from intermimic.sim.backend import PARTNERS, BackendStats, BodyStates, SimBackend, SimTensors
from intermimic.sim.pd import require_position_actuators
from intermimic.sim.scene import GROUND_NAME, Scene

if TYPE_CHECKING:  # torch is imported where tensors are handed over, not by every reader
    import torch

F64 = NDArray[np.float64]

_INTEGRATORS = {
    "euler": mujoco.mjtIntegrator.mjINT_EULER,
    "implicitfast": mujoco.mjtIntegrator.mjINT_IMPLICITFAST,
    "implicit": mujoco.mjtIntegrator.mjINT_IMPLICIT,
}
# Warnings MuJoCo raises when a world's state becomes NaN, inf or huge; it then resets
# that world to the model defaults on its own, so the counters are how we notice.
_BAD_WARNINGS = (
    int(mujoco.mjtWarning.mjWARN_BADQPOS),
    int(mujoco.mjtWarning.mjWARN_BADQVEL),
    int(mujoco.mjtWarning.mjWARN_BADQACC),
)
# Warnings MuJoCo raises when a world's contacts or constraints do not fit its arena: it
# drops them and carries on, so the world's physics is wrong from there on.
_OVERFLOW_WARNINGS = (
    int(mujoco.mjtWarning.mjWARN_CONTACTFULL),
    int(mujoco.mjtWarning.mjWARN_CNSTRFULL),
)
_CONTACT_DATASPEC = (1 << int(mujoco.mjtConDataField.mjCONDATA_FOUND)) | (
    1 << int(mujoco.mjtConDataField.mjCONDATA_FORCE)
)
_REDUCE_MAXFORCE = 2  # contact sensor reduce mode: keep the largest forces first
_SLOT = 4  # floats per contact-sensor slot: found, force (normal, tangent1, tangent2)


class PhysicsSettings(BaseModel):
    """Physics choices the backends apply to their copy of the scene's model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    integrator: Literal["euler", "implicitfast", "implicit"] = Field(
        default="implicitfast", description="implicitfast: PD damping integrated implicitly"
    )
    contact_slots: int = Field(
        default=4, ge=1, le=16, description="contacts summed per body and partner (largest)"
    )
    require_position_actuators: bool = Field(
        default=True, description="refuse a model whose actuators are not PD servos"
    )
    # Blow-up bounds (module docstring of intermimic.sim.backend). Generous: a tracked
    # human stays far inside them, a blown-up world far outside (the stress run of issue
    # #20 sat at 1e7-1e8).
    max_speed: float = Field(
        default=300.0,
        gt=0,
        description="bound on every |qvel| (rad/s, m/s): about twice the fastest human "
        "joint rotation measured (a finger snap, ~140 rad/s)",
    )
    max_distance: float = Field(
        default=1000.0,
        gt=0,
        description="bound on each free body's distance from the origin along any axis (m)",
    )
    max_penetration: float = Field(
        default=0.2,
        gt=0,
        description="deepest contact penetration (m) before a world counts as blown up "
        "(warp only); generous, as imperfect MoCap starts can hold a hand inside an object",
    )


class MujocoSettings(PhysicsSettings):
    """Settings of the ``mujoco`` backend."""

    n_threads: int | None = Field(
        default=None, ge=1, description="threads stepping the worlds; None: all CPUs"
    )


@dataclass(frozen=True)
class PhysicsModel:
    """The scene's model prepared for a backend: integrator set, contact sensors added.

    ``sensor_slice`` is the ``[start, stop)`` range of the contact sensors in
    ``sensordata``, laid out ``[52, len(PARTNERS), contact_slots, 4]``.
    """

    model: mujoco.MjModel
    contact_slots: int
    sensor_slice: tuple[int, int]
    root_ids: NDArray[np.int64]  # [52 + 1] body_rootid of the humanoid bodies and object


def physics_model(scene: Scene, settings: PhysicsSettings | None = None) -> PhysicsModel:
    """Copy ``scene``'s spec, add the contact sensors, set the integrator, compile.

    Body, geom, joint and actuator ids stay those of ``scene.model`` (sensors are added
    at the end), so every index in :class:`Scene` stays valid.
    """
    s = settings or PhysicsSettings()
    if s.require_position_actuators:
        require_position_actuators(scene.model)
    spec = scene.spec.copy()
    spec.option.integrator = _INTEGRATORS[s.integrator]
    start = int(scene.model.nsensordata)
    root_name = scene.model.body(int(scene.humanoid_body_ids[0])).name
    obj_name = scene.model.body(scene.object_body_id).name if scene.has_object else None
    for b in scene.humanoid_body_ids:
        name = scene.model.body(int(b)).name
        partners: list[tuple[mujoco.mjtObj, str | None]] = [
            (mujoco.mjtObj.mjOBJ_BODY, obj_name),
            (mujoco.mjtObj.mjOBJ_GEOM, GROUND_NAME),
            # xbody = the whole humanoid subtree; a body never touches itself
            (mujoco.mjtObj.mjOBJ_XBODY, root_name),
        ]
        for reftype, refname in partners:
            # Without an object the sensor still has to exist (fixed layout): point it at
            # the ground too and zero its column in contact_forces.
            if refname is None:
                reftype, refname = mujoco.mjtObj.mjOBJ_GEOM, GROUND_NAME
            intprm = np.zeros(mujoco.mjNSENS, np.int32)
            intprm[:3] = (_CONTACT_DATASPEC, _REDUCE_MAXFORCE, s.contact_slots)
            spec.add_sensor(
                type=mujoco.mjtSensor.mjSENS_CONTACT,
                objtype=mujoco.mjtObj.mjOBJ_BODY,
                objname=name,
                reftype=reftype,
                refname=refname,
                intprm=intprm,
            )
    model = spec.compile()
    if model.nbody != scene.model.nbody or model.ngeom != scene.model.ngeom:
        raise RuntimeError("prepared model differs from the scene's")  # pragma: no cover
    ids = np.append(scene.humanoid_body_ids, max(scene.object_body_id, 0))
    return PhysicsModel(
        model=model,
        contact_slots=s.contact_slots,
        sensor_slice=(start, int(model.nsensordata)),
        root_ids=np.asarray(model.body_rootid[ids], np.int64),
    )


def contact_normals(sensordata: F64, pm: PhysicsModel, has_object: bool) -> F64:
    """``[N, 52, 3]`` summed normal force magnitudes from ``sensordata [N, nsensordata]``."""
    a, b = pm.sensor_slice
    n = sensordata.shape[0]
    block = sensordata[:, a:b].reshape(n, -1, len(PARTNERS), pm.contact_slots, _SLOT)
    # Slot layout: found, then the force in the contact frame, normal first; the normal's
    # sign depends on which geom is "1" in the contact, so take its magnitude.
    out = np.abs(block[..., 1]).sum(axis=-1)
    if not has_object:
        out[:, :, 0] = 0.0
    return out


def free_position_adr(model: mujoco.MjModel) -> NDArray[np.int64]:
    """``[3 k]`` qpos addresses of the positions of the model's ``k`` free joints (the
    humanoid's root and the object): every other body hangs off one of them, so bounding
    these bounds every body's distance from the origin."""
    free = np.flatnonzero(model.jnt_type == mujoco.mjtJoint.mjJNT_FREE)
    adr = model.jnt_qposadr[free]
    return np.asarray((adr[:, None] + np.arange(3)[None]).reshape(-1), np.int64)


def tensors_from(
    pos: torch.Tensor,
    quat: torch.Tensor,
    cvel: torch.Tensor,
    root_com: torch.Tensor,
    sensors: torch.Tensor,
    contact_slots: int,
    has_object: bool,
) -> tuple[BodyStates[torch.Tensor], torch.Tensor]:
    """:class:`BodyStates` and ``contact [N, 52, 3]`` from tensors already gathered for
    the ``52 + 1`` bodies (``pos``, ``quat``, ``cvel`` at the bodies, ``root_com`` the
    subtree centre of mass of each body's root) and the contact-sensor block ``sensors
    [N, len]``: the torch twin of :func:`body_states_from`, :func:`split_body_states` and
    :func:`contact_normals`, shared by both backends' :meth:`~SimBackend.read` so their
    layouts and semantics cannot drift apart. Writes into its inputs (zeroing the object
    row without an object)."""
    import torch

    ang = cvel[..., :3]
    lin = cvel[..., 3:] + torch.linalg.cross(ang, pos - root_com)
    if not has_object:
        for a in (pos, quat, lin, ang):
            a[:, -1] = 0.0
    n = pos.shape[0]
    block = sensors.reshape(n, -1, len(PARTNERS), contact_slots, _SLOT)
    contact = block[..., 1].abs().sum(dim=-1)
    if not has_object:
        contact[:, :, 0] = 0.0
    bodies = BodyStates(
        pos=pos[:, :-1], quat=quat[:, :-1], linvel=lin[:, :-1], angvel=ang[:, :-1],
        obj_pos=pos[:, -1], obj_quat=quat[:, -1], obj_linvel=lin[:, -1],
        obj_angvel=ang[:, -1],
    )  # fmt: skip
    return bodies, contact


def body_states_from(
    xpos: F64,
    xquat: F64,
    cvel: F64,
    subtree_com: F64,
    ids: NDArray[np.int64],
    root_ids: NDArray[np.int64],
) -> tuple[F64, F64, F64, F64]:
    """World-frame ``pos, quat, linvel, angvel`` ``[N, k, ...]`` of bodies ``ids [k]``.

    MuJoCo's ``cvel`` is (angular, linear) at the subtree centre of mass of the body's
    root; the linear velocity of the body origin is ``v + w x (xpos - subtree_com[root])``
    (what ``mj_objectVelocity`` does one body at a time).
    """
    pos = xpos[:, ids]
    cv = cvel[:, ids]
    ang = cv[..., :3]
    lin = cv[..., 3:] + np.cross(ang, pos - subtree_com[:, root_ids])
    return pos, xquat[:, ids], lin, ang


def split_body_states(pos: F64, quat: F64, lin: F64, ang: F64, has_object: bool) -> BodyStates:
    """:class:`BodyStates` from arrays whose last body is the object (zeros without one)."""
    if not has_object:
        for a in (pos, quat, lin, ang):
            a[:, -1] = 0.0
    return BodyStates(
        pos=pos[:, :-1], quat=quat[:, :-1], linvel=lin[:, :-1], angvel=ang[:, :-1],
        obj_pos=pos[:, -1], obj_quat=quat[:, -1], obj_linvel=lin[:, -1],
        obj_angvel=ang[:, -1],
    )  # fmt: skip


class MujocoBackend(SimBackend):
    """``n_worlds`` copies of the scene on the CPU (see the module docstring).

    Not for use from several Python threads at once (one ``Batch`` underneath).
    Beyond :class:`SimBackend`: :attr:`ctrl` (in-place targets), :meth:`get_data` (one
    world's ``MjData``), :attr:`model` (the prepared model: integrator, sensors).
    """

    name = "mujoco"

    def __init__(self, scene: Scene, n_worlds: int, settings: MujocoSettings | None = None) -> None:
        super().__init__(scene, n_worlds)
        self.settings = settings or MujocoSettings()
        self.physics = physics_model(scene, self.settings)
        self.model = self.physics.model
        # The CPUs this process may run on (affinity), not every CPU of the machine.
        nthread = self.settings.n_threads or len(os.sched_getaffinity(0)) or 1
        self._batch = mjbatch.Batch(self.model, n_worlds, nthread=nthread, persistent=True)
        b = self._batch
        # Live views: state rows (writable) and outputs (refreshed after every call).
        self._qpos = b.bind("qpos")
        self._qvel = b.bind("qvel")
        self._ctrl = b.bind("ctrl")
        self._xpos = b.bind("xpos")
        self._xquat = b.bind("xquat")
        self._cvel = b.bind("cvel")
        self._subtree_com = b.bind("subtree_com")
        self._sensordata = b.bind("sensordata")
        self._warmstart = b.bind("qacc_warmstart")
        self._ncon = b.bind("ncon")
        self._nefc = b.bind("nefc")
        # Read-only aliases handed out by qpos(copy=False) / qvel(copy=False).
        self._qpos_ro = self._qpos.view()
        self._qpos_ro.flags.writeable = False
        self._qvel_ro = self._qvel.view()
        self._qvel_ro.flags.writeable = False
        self._bad = np.zeros(n_worlds, bool)
        self._free_adr = free_position_adr(self.model)
        self._peak = np.zeros(3, np.int64)  # contacts (one world), total, constraints
        self._n_overflow = 0
        self._n_unstable = 0
        self._body_ids = np.append(scene.humanoid_body_ids, max(scene.object_body_id, 0))
        # Default pose with zero targets until the first reset / set_targets.
        b.reset(stage=mujoco.mjtStage.mjSTAGE_VEL)

    # ---- state ---------------------------------------------------------------------
    @property
    def ctrl(self) -> F64:
        """``[N, nu]`` writable view of the PD targets the next step applies (no copy);
        ``ActionMap.targets(actions, out=backend.ctrl)`` writes them in place."""
        return self._ctrl

    def reset(self, world_ids: NDArray[np.int64], qpos: F64, qvel: F64) -> None:
        ids = np.asarray(world_ids, dtype=np.int64).reshape(-1)
        if ids.size == 0:
            return
        qpos = np.asarray(qpos, dtype=np.float64).reshape(ids.size, self.nq)
        qvel = np.asarray(qvel, dtype=np.float64).reshape(ids.size, self.nv)
        if not (np.isfinite(qpos).all() and np.isfinite(qvel).all()):
            raise ValueError("reset state holds NaN or inf")
        targets = self._ctrl[ids].copy()  # targets are held across a reset
        # Reset clears time, warm start, warnings and the applied forces; then the new
        # state goes in and the position/velocity stages make body poses current.
        self._batch.reset(ids, stage=mujoco.mjtStage.mjSTAGE_NONE)
        self._qpos[ids] = qpos
        self._qvel[ids] = qvel
        self._ctrl[ids] = targets
        self._batch.forward(ids, stage=mujoco.mjtStage.mjSTAGE_VEL)
        self._bad[ids] = False

    def set_targets(self, targets: F64) -> None:
        t = np.asarray(targets, dtype=np.float64)
        if not np.isfinite(t).all():
            raise ValueError("PD targets hold NaN or inf (map actions with ActionMap)")
        self._ctrl[...] = t

    def step(self, substeps: int) -> None:
        ok = np.flatnonzero(~self._bad)
        if ok.size == 0:
            return
        ids = None if ok.size == self.n_worlds else ok
        # One call: the substeps, then the position and velocity stages at the new state
        # (mjSTAGE_VEL), which the next step continues from at no extra cost.
        # The contact sensors are acceleration-stage sensors: those stages leave them as
        # the last substep computed them.
        unstable = np.zeros(self.n_worlds, bool)
        try:
            self._batch.step(ids, nstep=substeps, stage=mujoco.mjtStage.mjSTAGE_VEL)
        except mjbatch.SimulationError as exc:
            # A MuJoCo error (mju_error) in a world leaves its state as before the call;
            # mark it bad rather than stopping every world.
            unstable[exc.ids] = True
        self._check(unstable)

    def _check(self, unstable: NDArray[np.bool_]) -> None:
        """Flag this step's bad worlds (module docstring), count the new ones by cause and
        keep the peak contact and constraint counts."""
        warning = self._batch.warning[:, :, 1]
        overflow = warning[:, _OVERFLOW_WARNINGS].any(axis=1)
        unstable |= warning[:, _BAD_WARNINGS].any(axis=1)
        # NaN compares False, so "not within the bound" also catches NaN velocities.
        unstable |= ~(np.abs(self._qvel).max(axis=1) <= self.settings.max_speed)
        far = np.abs(self._qpos[:, self._free_adr]).max(axis=1)
        unstable |= ~(far <= self.settings.max_distance)
        unstable |= ~np.isfinite(self._qpos).all(axis=1)
        new = (overflow | unstable) & ~self._bad
        if new.any():
            self._n_overflow += int((new & overflow).sum())
            self._n_unstable += int((new & ~overflow).sum())
        self._bad |= overflow | unstable
        ncon = self._ncon
        self._peak = np.maximum(self._peak, (ncon.max(), ncon.sum(), self._nefc.max()))

    def qpos(self, copy: bool = True) -> F64:
        return self._qpos.copy() if copy else self._qpos_ro

    def qvel(self, copy: bool = True) -> F64:
        return self._qvel.copy() if copy else self._qvel_ro

    def warmstart(self) -> F64:
        return self._warmstart.copy()

    def set_warmstart(self, world_ids: NDArray[np.int64], qacc: F64) -> None:
        ids, rows = self._warmstart_rows(world_ids, qacc)
        self._warmstart[ids] = rows

    def body_states(self) -> BodyStates:
        pos, quat, lin, ang = body_states_from(
            self._xpos, self._xquat, self._cvel, self._subtree_com,
            self._body_ids, self.physics.root_ids,
        )  # fmt: skip
        return split_body_states(pos, quat, lin, ang, self.scene.has_object)

    def read(self, dtype: torch.dtype | None = None) -> SimTensors:
        import torch

        dtype = dtype or torch.float32

        # Straight from MuJoCo's buffers: only the rows the env uses are gathered (a
        # fresh array, as torch needs a writable one) and cast, once; the base class would
        # copy every array in float64 first.
        def rows(a: F64, idx: NDArray[np.int64]) -> torch.Tensor:
            return torch.from_numpy(np.take(a, idx, axis=1)).to(dtype)

        a, b = self.physics.sensor_slice
        bodies, contact = tensors_from(
            rows(self._xpos, self._body_ids),
            rows(self._xquat, self._body_ids),
            rows(self._cvel, self._body_ids),
            rows(self._subtree_com, self.physics.root_ids),
            rows(self._sensordata, np.arange(a, b)),
            self.physics.contact_slots,
            self.scene.has_object,
        )
        return SimTensors(
            bodies=bodies,
            qpos=torch.from_numpy(self._qpos).to(dtype),
            qvel=torch.from_numpy(self._qvel).to(dtype),
            contact=contact,
            bad=torch.from_numpy(np.asarray(self.bad_worlds(), bool)),
        )

    def contact_forces(self) -> F64:
        # From the live sensordata, on demand: a reset world's sensors read zero.
        return contact_normals(self._sensordata, self.physics, self.scene.has_object)

    def bad_worlds(self) -> NDArray[np.bool_]:
        return self._bad.copy()

    def stats(self) -> BackendStats:
        contacts, total, constraints = (int(x) for x in self._peak)
        return BackendStats(
            peak_contacts=contacts,
            peak_contacts_total=total,
            peak_constraints=constraints,
            overflow_worlds=self._n_overflow,
            unstable_worlds=self._n_unstable,
        )

    def state_dict(self) -> dict[str, Any]:
        """Every world's full physics state (MuJoCo's state rows: time, qpos, qvel, act,
        warm start, ctrl, applied forces, ...) and the bad-world marks."""
        return {"state": self._batch.state.copy(), "bad": self._bad.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`: the next step continues bit-exactly."""
        rows = np.asarray(state["state"], np.float64)
        if rows.shape != self._batch.state.shape:
            raise ValueError(
                f"backend state has shape {rows.shape}, this backend {self._batch.state.shape}"
            )
        self._batch.state[...] = rows
        self._batch.forward(None, stage=mujoco.mjtStage.mjSTAGE_VEL)
        self._bad[...] = np.asarray(state["bad"], bool)

    def get_data(self, world: int) -> mujoco.MjData:
        """A copy of world ``world``'s whole ``MjData`` (for rendering or debugging)."""
        return self._batch.get_data(world)

    def close(self) -> None:
        self._batch = None  # type: ignore[assignment]


def standing_qpos(
    scene: Scene,
    humanoid_qpos: NDArray[np.floating] | None = None,
    obj_pos: NDArray[np.floating] | tuple[float, float, float] | None = None,
    obj_quat: NDArray[np.floating] | None = None,
    clearance: float = 1e-3,
) -> F64:
    """A full scene ``qpos [nq]`` with the humanoid's lowest geom ``clearance`` above z=0.

    ``humanoid_qpos [160]`` defaults to the model's rest pose (arms out, standing); its
    root height is replaced. ``obj_pos`` / ``obj_quat`` (w x y z) place the object
    (default: upright, 3 m along x, resting on the ground).
    """
    m = scene.model
    d = mujoco.MjData(m)
    d.qpos[:] = m.qpos0
    if humanoid_qpos is not None:
        d.qpos[scene.humanoid_qpos_adr] = humanoid_qpos
    if scene.has_object:
        d.qpos[scene.object_qpos_adr[:3]] = (3.0, 0.0, 0.0) if obj_pos is None else obj_pos
        d.qpos[scene.object_qpos_adr[3:]] = (1.0, 0.0, 0.0, 0.0) if obj_quat is None else obj_quat
    mujoco.mj_kinematics(m, d)

    def lowest(geoms: NDArray[np.int64]) -> float:
        # signed distance of the geoms to the ground plane (negative when below)
        return min(
            mujoco.mj_geomDistance(m, d, int(g), scene.ground_geom_id, 10.0, None) for g in geoms
        )

    root_z = int(scene.humanoid_qpos_adr[2])
    d.qpos[root_z] += clearance - lowest(scene.humanoid_geom_ids)
    if scene.has_object and obj_pos is None:
        d.qpos[scene.object_qpos_adr[2]] += clearance - lowest(scene.object_geom_ids)
    return np.array(d.qpos, dtype=np.float64)
