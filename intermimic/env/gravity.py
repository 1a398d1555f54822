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
  wrists while the reference object is lifted off its resting height (a share that
  rises from 0 at ``lift`` above that height to all of it at twice ``lift``);
* minus what the stance feet carry: the foot forces (one at the ground point under each
  stance foot body) of least weighted norm that balance the free root's six generalised
  forces. A foot body's weight is 1 where its reference height is within ``band`` of its
  low percentile over the clip and falls linearly to 0 at twice ``band``; a foot of
  weight ``w`` is charged ``|f|^2 / w``, so it takes load gradually as it comes down. In
  flight nothing is subtracted.

Each stance foot body may also press with a moment (its centre of pressure moving over a
sole of half-length ``SOLE``), so that one foot alone can balance the root. The ramps,
the moments and a light smoothing over time (a Gaussian of ``SMOOTH`` = 1.5 frames) keep
the offsets continuous: with on/off stance and lift (before 2026-12-06) they jumped by up
to 0.13 rad in one frame on ``sub2_largetable_000`` (frames 64 and 100, where the left
foot's bodies cross the band) and 0.21 on ``sub2_woodchair_003``, and the servos kicked
the leg at each such frame; now 0.014 and 0.029 rad at most (the median frame moves
0.005 and 0.003). The ramps alone leave 0.12 on ``sub2_woodchair_003``: a foot body
that fades while the remaining feet cannot hold the pose statically (a step) carries
much of the load to its last frame, a limit of the quasi-static model.

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
from scipy.ndimage import gaussian_filter1d

from intermimic.sim.scene import Scene

F64 = NDArray[np.float64]

#: A foot body within this of its clip's low height percentile (m) stands on the ground.
STANCE_BAND = 0.03
#: The reference object counts as carried this far (m) above its lowest height in the clip.
LIFT = 0.02
#: Regularisation of the feet's wrench solve (well below its smallest useful eigenvalue).
RIDGE = 1e-12
#: Standard deviation (frames) of the Gaussian the offsets are smoothed with over time.
SMOOTH = 1.5
#: Half-length (m) of a foot's sole: a stance foot body may press its ground point with
#: a moment m as cheaply as with a force m / SOLE (the centre of pressure moving over the
#: sole).
SOLE = 0.05
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


def stance_weights(scene: Scene, qpos: F64, band: float = STANCE_BAND) -> F64:
    """``[T, f]`` how much each foot body (``scene.foot_body_ids``) of the poses ``qpos
    [T, nq]`` stands, in ``[0, 1]``: 1 within ``band`` of its 5th percentile height over
    the poses, falling linearly to 0 at twice ``band``."""
    m, d = scene.model, mujoco.MjData(scene.model)
    feet = np.asarray(scene.foot_body_ids, np.int64)
    z = np.empty((len(qpos), len(feet)))
    for t, q in enumerate(np.asarray(qpos, np.float64)):
        d.qpos[:] = q
        mujoco.mj_kinematics(m, d)
        z[t] = d.xpos[feet, 2]
    above = z - np.percentile(z, 5, axis=0)
    return np.clip(2.0 - above / band, 0.0, 1.0)


def carried_share(obj_z: F64, lift: float = LIFT) -> F64:
    """``[T]`` the share of the object's weight the wrists hold, from its reference height
    ``obj_z [T]``: 0 up to ``lift`` above its lowest height in the clip, rising linearly to
    1 at twice ``lift``."""
    above = np.asarray(obj_z, np.float64) - float(np.min(obj_z))
    return np.clip(above / lift - 1.0, 0.0, 1.0)


def holding_torques(
    scene: Scene,
    qpos: F64,
    stance: F64,
    carried: F64,
) -> tuple[F64, F64]:
    """Hinge torques ``[T, H]`` that hold each pose of ``qpos [T, nq]`` still, and the
    foot wrenches ``[T, f, 6]`` they assume (world frame: the force in N at the ground
    point under the foot body, then the moment in N m; zero for a foot off the ground):
    see the module docstring. ``stance [T, f]`` weighs the supporting foot bodies
    (:func:`stance_weights`; 0: off the ground), ``carried [T]`` is the share of the
    object's weight on the wrists (:func:`carried_share`)."""
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
    jac, jacr = np.zeros((3, m.nv)), np.zeros((3, m.nv))
    torques = np.zeros((len(qpos), len(hinges)))
    wrenches = np.zeros((len(qpos), len(feet), 6))
    stance = np.asarray(stance, np.float64)
    carried = np.asarray(carried, np.float64)
    for t, q in enumerate(np.asarray(qpos, np.float64)):
        d.qpos[:] = q
        d.qvel[:] = 0.0
        d.qacc[:] = 0.0
        mujoco.mj_inverse(m, d)
        need = d.qfrc_inverse.copy()
        if obj_weight is not None and carried[t] > 0:
            for b in wrists:  # the object presses on each wrist with half its share
                mujoco.mj_jacBody(m, d, jac, None, b)
                need -= jac.T @ (0.5 * carried[t] * obj_weight)
        on = np.flatnonzero(stance[t] > 0)
        if len(on):
            rows, weights = [], []
            for k in on:
                point = d.xpos[feet[k]].copy()
                point[2] = 0.0  # the ground under the foot body
                mujoco.mj_jac(m, d, jac, jacr, point, int(feet[k]))
                rows += [jac.copy(), jacr.copy()]
                weights += [stance[t, k]] * 3 + [stance[t, k] * SOLE**2] * 3
            j = np.concatenate(rows)  # [6k, nv]: each foot's force, then its moment
            a = j[:, root].T  # [6, 6k]: what the feet's wrenches do to the free root
            # least sum |f_k|^2 / w_k + |m_k|^2 / (w_k SOLE^2) with a x = need: x = W a^T
            # (a W a^T)^-1 need; the moments keep a line of foot bodies (one foot) able to
            # balance the root, so a foot's load fades with its weight, continuously
            w = np.asarray(weights)
            x = w * (a.T @ np.linalg.solve((a * w) @ a.T + RIDGE * np.eye(6), need[root]))
            need -= j.T @ x
            wrenches[t, on] = x.reshape(-1, 6)
        torques[t] = need[hinges]
    return torques, wrenches


def holding_offsets(
    scene: Scene,
    qpos: F64,
    obj_z: F64,
    band: float = STANCE_BAND,
    lift: float = LIFT,
    smooth: float = SMOOTH,
) -> F64:
    """``[T, H]`` PD-target offsets (rad) ``tau / kp`` that make the servos hold each
    reference pose of one clip (``qpos [T, nq]``, the object's reference height ``obj_z
    [T]``) against gravity, smoothed over time by a Gaussian of ``smooth`` frames (0:
    not): see the module docstring."""
    kp = hinge_gains(scene)
    qpos = np.asarray(qpos, np.float64)
    stance = stance_weights(scene, qpos, band)
    torques, _ = holding_torques(scene, qpos, stance, carried_share(obj_z, lift))
    off = torques / kp
    return gaussian_filter1d(off, smooth, axis=0, mode="nearest") if smooth > 0 else off
