"""Lift the capture's swing feet: a reference that steps where the MoCap shuffles.

Captured feet often glide a few centimetres above the floor while they move (the toe
barely leaves it, 1-2 m/s horizontally): a tracker that follows that reference drags its
feet near the floor. :func:`lift_swing_feet` raises each swinging foot by up to
``clearance`` (a smooth bump over the swing) with the foot's
world orientation kept, solving the leg's hip, knee and ankle angles by damped
Gauss-Newton on forward kinematics; stance feet, the rest of the body and the object are
left as captured.

A foot swings where its ankle's horizontal speed exceeds ``swing_speed`` (full lift at
``full_speed``) while the other foot stands (its ankle slower than ``stance_speed``),
so a step is lifted and a double-support shuffle or a jump is not.

Measured on ``sub2_largetable_000`` (2026-12-04, the planner with 4 cm,
``PlannerSettings.swing_clearance``): the simulated feet step (the right ankle more than
2 cm up in 54 of the 61 frames where the captured one swings, against 30), but the
artifact report's foot skating does not fall: the standing feet creep and rock under
the planner's noise, and the lift starts with the foot's motion, too late for a
simulated foot that lags its targets. With the feet's noise off and ``lead_frames`` 3
(the lift starting 3 frames before the step) the skating falls from 0.172 to 0.122 m/s,
within the quality rule (docs/refinement_log.md, "Quiet feet, early lifts").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.ndimage import uniform_filter1d

from intermimic.motion.clip import HOIClip
from intermimic.motion.kinematics import (
    KinematicTree,
    clip_to_qpos,
    euler_xyz_to_rotvec,
    fk,
)
from intermimic.motion.quat import normalize, quat_conj, quat_mul, quat_to_rotvec

F64 = NDArray[np.float64]

#: The leg chain of each side: the bodies whose angles the lift solves, foot last.
LEGS: dict[str, tuple[str, str, str]] = {
    "L": ("L_Hip", "L_Knee", "L_Ankle"),
    "R": ("R_Hip", "R_Knee", "R_Ankle"),
}


@dataclass(frozen=True)
class FootLift:
    """A lifted clip and what was done: ``lift [T, 2]`` the height (m) added to the left
    and right foot per frame, ``residual [T, 2]`` the IK's remaining ankle position error
    (m) where it lifted (0 elsewhere)."""

    clip: HOIClip
    lift: F64
    residual: F64


def swing_lift(
    ankle_pos: F64,
    fps: float,
    *,
    clearance: float,
    swing_speed: float = 0.15,
    full_speed: float = 0.5,
    stance_speed: float = 0.2,
    smooth_frames: int = 5,
    lead_frames: int = 0,
) -> F64:
    """``[T, 2]`` height to add to each foot from the ankles' positions ``[T, 2, 3]``
    (left, right): ``clearance`` times a smoothstep of the ankle's horizontal speed
    between ``swing_speed`` and ``full_speed``, where the other ankle is slower than
    ``stance_speed``; each frame then takes the largest lift of itself and the
    ``lead_frames`` frames after it where the other foot is not lifted (the foot rises
    that many frames before it moves, unless the other is still landing; it lands as
    before), and the result is averaged over ``smooth_frames`` frames so the lift ramps
    in."""
    if clearance < 0:
        raise ValueError(f"clearance={clearance}: a lift cannot be negative")
    if lead_frames < 0:
        raise ValueError(f"lead_frames={lead_frames}: a lift cannot start after its step")
    if not 0 <= swing_speed < full_speed:
        raise ValueError(f"swing_speed={swing_speed} must be in [0, full_speed={full_speed})")
    t = ankle_pos.shape[0]
    if t < 2 or clearance == 0:
        return np.zeros((t, 2))
    speed = np.linalg.norm(np.gradient(ankle_pos[..., :2], axis=0) * fps, axis=-1)
    x = np.clip((speed - swing_speed) / (full_speed - swing_speed), 0.0, 1.0)
    swing = x * x * (3.0 - 2.0 * x)
    stance = speed[:, ::-1] < stance_speed
    lift = clearance * swing * stance
    # a tracker's foot lags its PD targets and must unload before it can rise: a lift
    # that starts with the horizontal motion leaves the first frames of a step dragging
    ahead = lift.copy()
    for k in range(1, min(lead_frames, t - 1) + 1):
        ahead[:-k] = np.maximum(ahead[:-k], lift[k:])
    # never while the other foot is still up: the early lift would leave both in the air
    lift = np.where(lift[:, ::-1] > 0, lift, ahead)
    if smooth_frames > 1:
        lift = uniform_filter1d(lift, smooth_frames, axis=0, mode="nearest")
    return lift


def _leg_columns(names: Sequence[str], leg: tuple[str, ...]) -> tuple[NDArray[np.int64], int]:
    """The qpos columns of a leg's hinges and its foot body's index."""
    try:
        ids = [list(names).index(n) for n in leg]
    except ValueError as err:
        raise ValueError(f"the humanoid has no body {err.args[0].split()[0]}: {leg}") from err
    if min(ids) < 1:
        raise ValueError(f"leg {leg} includes the root body")
    cols = np.concatenate([7 + 3 * (b - 1) + np.arange(3) for b in ids])
    return cols.astype(np.int64), ids[-1]


def _ik(
    tree: KinematicTree,
    qpos: F64,
    cols: NDArray[np.int64],
    foot: int,
    target_pos: F64,
    target_quat: F64,
    *,
    iterations: int = 12,
    rot_scale: float = 0.1,
    damping: float = 1e-4,
) -> tuple[F64, F64]:
    """Damped Gauss-Newton on the hinge columns ``cols`` of ``qpos [n, D]`` so the
    ``foot`` body reaches ``target_pos [n, 3]`` with orientation ``target_quat [n, 4]``
    (rotation error weighed ``rot_scale`` m per rad). Returns the solved qpos and the
    remaining position error per frame. A numerical Jacobian costs ``len(cols) + 1`` FK
    passes an iteration over all frames at once, milliseconds for a clip: cheaper to
    write and check than an analytic one, and fast enough to be called once per plan."""
    q = qpos.copy()
    eps = 1e-6

    def residual(qq: F64) -> F64:
        pos, quat = fk(tree, qq)
        rot = quat_to_rotvec(quat_mul(quat_conj(quat[:, foot]), target_quat))
        return np.concatenate([pos[:, foot] - target_pos, rot_scale * rot], axis=1)

    for _ in range(iterations):
        r = residual(q)
        jac = np.empty((len(q), r.shape[1], len(cols)))
        for k, c in enumerate(cols):
            qk = q.copy()
            qk[:, c] += eps
            jac[:, :, k] = (residual(qk) - r) / eps
        jt = jac.transpose(0, 2, 1)
        lhs = jt @ jac + damping * np.eye(len(cols))
        step = np.linalg.solve(lhs, (jt @ r[..., None]))[..., 0]
        q[:, cols] -= step
    r = residual(q)
    return q, np.linalg.norm(r[:, :3], axis=1)


def lift_swing_feet(
    clip: HOIClip,
    tree: KinematicTree,
    names: Sequence[str],
    *,
    clearance: float = 0.04,
    swing_speed: float = 0.15,
    full_speed: float = 0.5,
    stance_speed: float = 0.2,
    smooth_frames: int = 5,
    lead_frames: int = 0,
) -> FootLift:
    """``clip`` with its swing feet lifted by up to ``clearance`` m (module doc).

    ``tree`` and ``names`` are the humanoid whose FK the clip's joint angles drive (body
    order of ``clip_to_qpos``, e.g. ``Embodiment.reference_tree`` over the SMPL-X
    bodies); the legs are found by name (``L_Hip``, ``L_Knee``, ``L_Ankle`` and the
    right's). Only the leg hinges of lifted frames change; ``body_pos`` and
    ``body_quat`` move with the FK's change, so the clip stays consistent."""
    q0 = clip_to_qpos(clip)
    if q0.shape[1] != 7 + 3 * (tree.n_bodies - 1):
        raise ValueError(
            f"clip {clip.meta.clip_id}: {q0.shape[1]} qpos columns for a tree of "
            f"{tree.n_bodies} bodies"
        )
    if len(names) != tree.n_bodies:
        raise ValueError(f"{len(names)} body names for a tree of {tree.n_bodies} bodies")
    pos0, quat0 = fk(tree, q0)
    legs = [_leg_columns(names, LEGS[s]) for s in ("L", "R")]
    ankles = np.stack([pos0[:, foot] for _, foot in legs], axis=1)
    lift = swing_lift(
        ankles,
        float(clip.meta.fps),
        clearance=clearance,
        swing_speed=swing_speed,
        full_speed=full_speed,
        stance_speed=stance_speed,
        smooth_frames=smooth_frames,
        lead_frames=lead_frames,
    )
    q = q0.copy()
    residual = np.zeros_like(lift)
    rotvec = np.array(clip.joint_rotvec, np.float32)
    for side, (cols, foot) in enumerate(legs):
        rows = np.flatnonzero(lift[:, side] > 1e-4)
        if rows.size == 0:
            continue
        target = pos0[rows, foot].copy()
        target[:, 2] += lift[rows, side]
        solved, err = _ik(tree, q[rows], cols, foot, target, quat0[rows, foot])
        q[rows[:, None], cols[None, :]] = solved[:, cols]
        residual[rows, side] = err
        # only the solved joints' rotations are rewritten: the others keep their stored
        # rotation vectors bit for bit (no Euler round trip)
        joints = (cols[::3] - 7) // 3
        angles = q[rows[:, None], cols[None, :]].reshape(len(rows), len(joints), 3)
        rotvec[rows[:, None], joints[None, :]] = euler_xyz_to_rotvec(angles)
    if not lift.any():
        return FootLift(clip, lift, residual)
    pos1, quat1 = fk(tree, q)
    # the clip's stored bodies move by what the FK moved them (they may be another
    # skeleton's positions for the same angles, e.g. before the humanoid's fit)
    body_pos = np.asarray(clip.body_pos, np.float64) + (pos1 - pos0)
    delta = quat_mul(quat1, quat_conj(quat0))  # world-frame turn of each body
    body_quat = normalize(quat_mul(delta, np.asarray(clip.body_quat, np.float64)))
    lifted = clip.with_arrays(
        joint_rotvec=rotvec,
        body_pos=body_pos.astype(np.float32),
        body_quat=body_quat.astype(np.float32),
    )
    return FootLift(lifted, lift, residual)
