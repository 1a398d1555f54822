"""Set the reference object down where the simulated floor holds it still.

Captured objects that stand on the floor do not stand on the simulated one: on the OMOMO
sample ``sub2_woodchair_003``'s chair starts 0.88 cm into the ground by its collision
hulls and 1.8 degrees off the pose its legs rest in; the table of ``sub2_largetable_000``
0.32 cm. An environment that starts from the captured pose starts the object inside the
floor: the contact solver pushes it out in the first steps, and the chair jumps 0.9 cm
up and 1.7 cm sideways in three frames (2026-12-06), which the quality rule counts as
floating contact (an object moving fast with no hand near it) on frames no motion can
change.

:func:`rest_on_floor` finds the frames where the captured object rests on the floor
(still, its lowest collision point within :data:`FLOOR_BAND` of it), simulates the object
alone from such a run's first pose until it is still (:func:`settled_pose`), and puts it
in that pose for the whole run. The change fades out over ``blend_s`` seconds on either
side of the run, so the reference stays continuous where the object is picked up or set
down. Frames in motion beyond the fade are the capture's.
"""

from __future__ import annotations

import mujoco
import numpy as np
from numpy.typing import NDArray
from scipy.spatial.transform import Rotation, Slerp

from intermimic.env.grounding import geoms_clearance
from intermimic.sim.scene import Scene

F64 = NDArray[np.float64]

#: m; an object whose lowest collision point is within this of the floor stands on it.
FLOOR_BAND = 0.02
#: m/s and rad/s; a captured object slower than these (a capture's noise on a still
#: object is well under 1 cm/s) is still.
STILL_SPEED = 0.03
STILL_SPIN = 0.3
#: s; a shorter still run is a pause in a motion, not an object set down.
MIN_REST_S = 1.0 / 3.0
#: s of simulated settling; the object starts 1 mm above the floor.
SETTLE_S = 1.0
START_GAP = 1e-3
#: m/s; the settled object's speed above this: it did not come to rest (a ball, an object
#: leaning on the humanoid); its run keeps the capture's pose, lifted out of the floor.
AT_REST_SPEED = 1e-2


def object_clearance(scene: Scene, obj_pos: F64, obj_quat: F64) -> F64:
    """``[T]`` the object's lowest collision geom's signed distance to the ground (m)
    at poses ``obj_pos [T,3]``, ``obj_quat [T,4]`` (w x y z; negative: penetration)."""
    poses = np.concatenate([np.asarray(obj_pos), np.asarray(obj_quat)], axis=1)
    return geoms_clearance(scene, scene.object_qpos_adr, scene.object_geom_ids, poses)


def object_only_model(scene: Scene) -> tuple[mujoco.MjModel, NDArray[np.int64], NDArray[np.int64]]:
    """The scene without its humanoid: the object and the ground, compiled from the
    scene's spec (which holds its physics: the scene model is compiled from it); and
    the object's qpos and dof addresses in it."""
    spec = scene.spec.copy()
    spec.delete(spec.body(scene.model.body(int(scene.humanoid_body_ids[0])).name))
    m = spec.compile()
    joint = m.body(scene.model.body(scene.object_body_id).name).jntadr[0]
    qadr, dadr = int(m.jnt_qposadr[joint]), int(m.jnt_dofadr[joint])
    return m, np.arange(qadr, qadr + 7), np.arange(dadr, dadr + 6)


def settled_pose(
    scene: Scene, pos: F64, quat: F64, seconds: float = SETTLE_S
) -> tuple[F64, F64, bool]:
    """The pose the object comes to rest in when let go at ``pos``, ``quat`` lifted
    :data:`START_GAP` above the floor, alone on it in the scene's physics, after
    ``seconds``; and whether it is still then."""
    if not scene.has_object:
        raise ValueError("the scene has no object to settle")
    clearance = float(object_clearance(scene, pos[None], quat[None])[0])
    return _settle(object_only_model(scene), pos, quat, clearance, seconds)


def _settle(
    alone: tuple[mujoco.MjModel, NDArray[np.int64], NDArray[np.int64]],
    pos: F64,
    quat: F64,
    clearance: float,
    seconds: float,
) -> tuple[F64, F64, bool]:
    """:func:`settled_pose` in the object-only model ``alone`` (:func:`object_only_model`)
    from a pose whose clearance is known."""
    m, qadr, dadr = alone
    d = mujoco.MjData(m)
    d.qpos[qadr] = np.r_[pos + np.array([0.0, 0.0, START_GAP - clearance]), quat]
    for _ in range(max(round(seconds / m.opt.timestep), 1)):
        mujoco.mj_step(m, d)
    q = d.qpos[qadr]
    speed = float(np.linalg.norm(d.qvel[dadr[:3]]))
    return q[:3].copy(), q[3:7] / np.linalg.norm(q[3:7]), speed < AT_REST_SPEED


def rest_runs(still: NDArray[np.bool_], min_frames: int) -> list[tuple[int, int]]:
    """``[(start, stop)]`` the runs of ``still`` frames at least ``min_frames`` long."""
    runs: list[tuple[int, int]] = []
    t, n = 0, len(still)
    while t < n:
        if not still[t]:
            t += 1
            continue
        stop = t
        while stop < n and still[stop]:
            stop += 1
        if stop - t >= min_frames:
            runs.append((t, stop))
        t = stop
    return runs


def _still(obj_pos: F64, obj_quat: F64, fps: float) -> NDArray[np.bool_]:
    """``[T]`` frames the object is still at: it moves slower than :data:`STILL_SPEED`
    and turns slower than :data:`STILL_SPIN` to its previous or its next frame (the
    first and last frames of a rest count, where it is set down or picked up)."""
    n = len(obj_pos)
    if n < 2:
        return np.ones(n, bool)
    speed = np.linalg.norm(np.diff(obj_pos, axis=0), axis=1) * fps
    rot = Rotation.from_quat(obj_quat, scalar_first=True)
    spin = (rot[1:] * rot[:-1].inv()).magnitude() * fps
    step = (speed < STILL_SPEED) & (spin < STILL_SPIN)  # [T-1]: from t to t + 1
    return np.r_[step[0], step[:-1] | step[1:], step[-1]]


def rest_on_floor(
    scene: Scene, obj_pos: F64, obj_quat: F64, fps: float, blend_s: float = 0.5
) -> tuple[F64, F64, list[tuple[int, int]]]:
    """The object's reference ``obj_pos [T,3]``, ``obj_quat [T,4]`` with each run of
    frames where it rests on the floor replaced by the pose the simulated floor holds it
    still in (module docstring), faded over ``blend_s`` seconds on either side; and the
    runs ``[(start, stop)]`` changed."""
    pos = np.array(obj_pos, np.float64)
    quat = np.array(obj_quat, np.float64)
    n = len(pos)
    if n == 0 or not scene.has_object:
        return pos, quat, []
    clearance = object_clearance(scene, pos, quat)
    low = clearance < FLOOR_BAND
    runs = rest_runs(_still(pos, quat, fps) & low, max(round(MIN_REST_S * fps), 1))
    if not runs:
        return pos, quat, []
    rot = Rotation.from_quat(quat, scalar_first=True)
    # per frame: the run whose change applies and its weight (1 inside, fading outside)
    weight = np.zeros(n)
    owner = np.full(n, -1)
    fade = max(blend_s * fps, 1.0)
    t = np.arange(n)
    for k, (a, b) in enumerate(runs):
        dist = np.maximum(a - t, t - (b - 1)).clip(min=0)
        w = np.clip(1.0 - dist / fade, 0.0, 1.0)
        take = w > weight
        weight[take], owner[take] = w[take], k
    new_pos, new_quat = pos.copy(), quat.copy()
    alone = object_only_model(scene)  # compiled once for every run
    for k, (a, b) in enumerate(runs):
        p, q, still = _settle(alone, pos[a], quat[a], float(clearance[a]), SETTLE_S)
        if not still:
            p, q = pos[a] + np.array([0.0, 0.0, max(-clearance[a], 0.0)]), quat[a]
        settled = Rotation.from_quat(q, scalar_first=True)
        new_pos[a:b] = p
        new_quat[a:b] = q
        # outside the run: the run's boundary frame's change, moved in by the weight
        for edge, frames in ((a, t[(owner == k) & (t < a)]), (b - 1, t[(owner == k) & (t >= b)])):
            if len(frames) == 0:
                continue
            turn = settled * rot[edge].inv()
            shift = p - pos[edge]
            w = weight[frames]
            partial = Slerp([0.0, 1.0], Rotation.concatenate([Rotation.identity(), turn]))(w)
            new_pos[frames] = pos[frames] + w[:, None] * shift
            new_quat[frames] = (partial * rot[frames]).as_quat(scalar_first=True)
    # one hemisphere along time, as the capture's (angular velocities by differences)
    flip = np.einsum("ti,ti->t", new_quat, quat) < 0
    new_quat[flip] *= -1
    return new_pos, new_quat, runs
