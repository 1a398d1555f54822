"""Static holding torques of the reference poses, as offsets of the PD targets.

A PD servo makes torque only from an error: ``tau = kp (target - q) - kv qdot``. With the
next reference pose as its target, a hinge that must hold the body up (hips and trunk
leaning over the feet, a knee under load) settles where ``kp (target - q)`` equals the
load, short of the reference: with ``kp`` 800-1000 N m/rad the trunk and hips of the
SMPL-X humanoid sag 0.05-0.09 rad, and a body that sags leans, stoops and falls behind
the reference (a planner and a residual policy must find those offsets before anything
else). :func:`holding_offsets` gives the offset ``tau / kp`` per frame, from

* the generalised forces that hold each reference pose still (``mj_inverse`` with zero
  velocity and acceleration, contacts off), plus the object's weight shared by the two
  wrists while the reference object is lifted off its resting height;
* minus what the stance feet carry: the smallest foot forces (least squares, one force
  at the ground point under each stance foot body) that balance the free root's six
  generalised forces; a foot body is in stance where its reference height is within
  ``stance_band`` of its low percentile over the clip. In flight nothing is subtracted.

Quasi-static on purpose: with the reference's velocities and accelerations (finite
differences at 30 Hz, smoothed) the zero-residual rollout of ``sub2_largetable_000``
tracked no better (mean body-position error 11.2 against 11.0 cm at frame 25, with
``ground_window`` 0.5; 15.7 without offsets) and the offsets carry the capture's noise.
``EnvSettings.gravity_compensation`` scales them into the environment's base actions
(:meth:`~intermimic.env.TrackingEnv.reference_base`).
"""

from __future__ import annotations

import copy

import mujoco
import numpy as np
from numpy.typing import NDArray

from intermimic.sim.scene import Scene

F64 = NDArray[np.float64]

#: A foot body within this of its clip's low height percentile (m) stands on the ground.
STANCE_BAND = 0.03
#: The reference object counts as carried this far (m) above its lowest height in the clip.
LIFT = 0.02
_GRAVITY = np.array([0.0, 0.0, -9.81])


def hinge_gains(scene: Scene) -> F64:
    """``[H]`` the position actuators' ``kp`` per humanoid hinge dof, in dof order; raises
    ``ValueError`` unless actuator ``i`` drives hinge dof ``i`` (the layout the base
    actions assume)."""
    m = scene.model
    hinges = np.asarray(scene.humanoid_dof_adr[6:], np.int64)
    driven = m.jnt_dofadr[m.actuator_trnid[:, 0]]
    if m.nu != len(hinges) or not np.array_equal(driven, hinges):
        raise ValueError(
            f"{m.nu} actuators do not drive the {len(hinges)} humanoid hinges one to one, "
            "in order: no holding offsets for this embodiment"
        )
    return np.asarray(m.actuator_gainprm[:, 0], np.float64).copy()


def stance_feet(scene: Scene, qpos: F64, band: float = STANCE_BAND) -> NDArray[np.bool_]:
    """``[T, f]`` whether each foot body (``scene.foot_body_ids``) of the poses ``qpos [T,
    nq]`` stands: within ``band`` of its 5th percentile height over the poses."""
    m, d = scene.model, mujoco.MjData(scene.model)
    feet = np.asarray(scene.foot_body_ids, np.int64)
    z = np.empty((len(qpos), len(feet)))
    for t, q in enumerate(np.asarray(qpos, np.float64)):
        d.qpos[:] = q
        mujoco.mj_kinematics(m, d)
        z[t] = d.xpos[feet, 2]
    return z < np.percentile(z, 5, axis=0) + band


def holding_torques(
    scene: Scene,
    qpos: F64,
    stance: NDArray[np.bool_],
    lifted: NDArray[np.bool_],
) -> tuple[F64, F64]:
    """Hinge torques ``[T, H]`` that hold each pose of ``qpos [T, nq]`` still, and the
    foot forces ``[T, f, 3]`` (world, N; zero for a foot off the ground) they assume:
    see the module docstring. ``stance [T, f]`` marks the supporting foot bodies,
    ``lifted [T]`` the frames whose object weighs on the wrists."""
    m = copy.copy(scene.model)
    m.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_CONTACT)
    d = mujoco.MjData(m)
    dof = np.asarray(scene.humanoid_dof_adr, np.int64)
    root, hinges = dof[:6], dof[6:]
    feet = np.asarray(scene.foot_body_ids, np.int64)
    wrists = (int(scene.left_hand_body_ids[0]), int(scene.right_hand_body_ids[0]))
    obj_weight = (
        float(m.body_subtreemass[scene.object_body_id]) * _GRAVITY if scene.has_object else None
    )
    jac = np.zeros((3, m.nv))
    torques = np.zeros((len(qpos), len(hinges)))
    forces = np.zeros((len(qpos), len(feet), 3))
    for t, q in enumerate(np.asarray(qpos, np.float64)):
        d.qpos[:] = q
        d.qvel[:] = 0.0
        d.qacc[:] = 0.0
        mujoco.mj_inverse(m, d)
        need = d.qfrc_inverse.copy()
        if obj_weight is not None and lifted[t]:
            for b in wrists:  # the object presses on each wrist with half its weight
                mujoco.mj_jacBody(m, d, jac, None, b)
                need -= jac.T @ (0.5 * obj_weight)
        on = np.flatnonzero(stance[t])
        if len(on):
            rows = []
            for k in on:
                point = d.xpos[feet[k]].copy()
                point[2] = 0.0  # the ground under the foot body
                mujoco.mj_jac(m, d, jac, None, point, int(feet[k]))
                rows.append(jac.copy())
            j = np.concatenate(rows)  # [3k, nv]
            a = j[:, root].T  # [6, 3k]: what the foot forces do to the free root
            f = a.T @ np.linalg.solve(a @ a.T + 1e-9 * np.eye(6), need[root])
            need -= j.T @ f
            forces[t, on] = f.reshape(-1, 3)
        torques[t] = need[hinges]
    return torques, forces


def holding_offsets(
    scene: Scene,
    qpos: F64,
    obj_z: F64,
    band: float = STANCE_BAND,
    lift: float = LIFT,
) -> F64:
    """``[T, H]`` PD-target offsets (rad) ``tau / kp`` that make the servos hold each
    reference pose of one clip (``qpos [T, nq]``, the object's reference height ``obj_z
    [T]``) against gravity: see the module docstring."""
    kp = hinge_gains(scene)
    qpos = np.asarray(qpos, np.float64)
    obj_z = np.asarray(obj_z, np.float64)
    lifted = obj_z > obj_z.min() + lift
    torques, _ = holding_torques(scene, qpos, stance_feet(scene, qpos, band), lifted)
    return torques / kp
