"""Build a MuJoCo humanoid from a :class:`SkeletonModel`, programmatically (``MjSpec``).

Layout of the compiled model (what :mod:`intermimic.motion.kinematics` relies on):

* body 0 is the world, bodies ``1..B`` are the skeleton's bodies in its order;
* the root has a free joint: ``qpos[0:3]`` position, ``qpos[3:7]`` quaternion w x y z;
* every other body has hinges ``<name>_x``, ``<name>_y``, ``<name>_z`` about its own
  axes, so ``qpos[7 + 3 * (i - 1) + k]`` is hinge ``k`` of body ``i`` (``nq = 7 + 3 (B-1)``);
* one actuator per hinge, same order and name as the hinge (``nu = 3 (B - 1)``);
* numeric fields ``pd_kp`` / ``pd_kd`` (``[nu]``) hold the PD gains, whatever the
  actuator type (see :class:`~intermimic.humanoid.skeleton_model.HumanoidSettings`);
* a site ``<body>_key`` at the origin of every key body.

With ``HumanoidSettings.hands = "body"`` the finger bodies (:func:`welded_bodies`) are
still bodies, with their geoms and masses, but have no joints: each is fixed to its
parent, turned by the weld pose (``finger_pose``, hinge angles as a full model's; 0 by
default) in its ``quat``. Hinges and actuators are then those of the other bodies, in the
same order (:func:`hinge_names`; ``nq = 7 + 63``, ``nu = 63`` for SMPL-X): the layout
above with the welded bodies' hinges left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import mujoco
import numpy as np
from numpy.typing import NDArray

from intermimic.humanoid.errors import SkeletonError, UnknownBodyError
from intermimic.humanoid.skeleton_model import (
    GeomSpec,
    HandsMode,
    HumanoidSettings,
    SkeletonModel,
    is_finger,
)
from intermimic.humanoid.smplx_offsets import default_skeleton
from intermimic.motion.kinematics import euler_xyz_to_quat

AXES = ("x", "y", "z")
_GEOM_TYPES = {
    "capsule": mujoco.mjtGeom.mjGEOM_CAPSULE,
    "box": mujoco.mjtGeom.mjGEOM_BOX,
    "sphere": mujoco.mjtGeom.mjGEOM_SPHERE,
}


def welded_bodies(body_names: Sequence[str], hands: HandsMode = "full") -> tuple[str, ...]:
    """Of ``body_names`` (root first), those without joints: the finger bodies with
    ``hands="body"``, else none."""
    if hands == "full":
        return ()
    return tuple(n for n in body_names[1:] if is_finger(n))


def hinge_names(skeleton: SkeletonModel, hands: HandsMode = "full") -> tuple[str, ...]:
    """Hinge (and actuator) names in qpos order: ``[3 (B - 1)]``, or with
    ``hands="body"`` those of the bodies that are not welded."""
    welded = set(welded_bodies(skeleton.body_names, hands))
    return tuple(f"{n}_{a}" for n in skeleton.body_names[1:] if n not in welded for a in AXES)


def weld_angles(skeleton: SkeletonModel, settings: HumanoidSettings) -> NDArray[np.float64]:
    """``[W, 3]`` the hinge angles (rad) the :func:`welded_bodies` are fixed at
    (``finger_pose``, default 0); ``[0, 3]`` with full hands (``finger_pose`` unused). Raises
    :class:`~intermimic.humanoid.errors.SkeletonError` when ``finger_pose`` has not
    three values per welded body."""
    welded = welded_bodies(skeleton.body_names, settings.hands)
    if settings.finger_pose is None or not welded:
        return np.zeros((len(welded), 3))
    pose = np.asarray(settings.finger_pose, np.float64)
    if pose.shape != (3 * len(welded),) or not np.isfinite(pose).all():
        raise SkeletonError(
            f"finger_pose has {pose.size} values; hands='{settings.hands}' welds "
            f"{len(welded)} bodies of {skeleton.name!r} and needs {3 * len(welded)} finite ones"
        )
    return pose.reshape(len(welded), 3)


def pd_gains(
    skeleton: SkeletonModel | None = None, settings: HumanoidSettings | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(kp, kd)``, each ``[nu]`` in hinge order (:func:`hinge_names`), from the
    settings' gain groups."""
    sk = skeleton or default_skeleton()
    s = settings or HumanoidSettings()
    kp, kd = s.pd.arrays(sk.body_names)
    keep = _hinge_mask(sk, s.hands)
    return kp[keep], kd[keep]


def _hinge_mask(skeleton: SkeletonModel, hands: HandsMode) -> NDArray[np.bool_]:
    """``[3 (B - 1)]`` which of a full model's hinges the ``hands`` mode simulates."""
    welded = set(welded_bodies(skeleton.body_names, hands))
    return np.repeat([n not in welded for n in skeleton.body_names[1:]], 3)


def _add_geom(
    body: mujoco.MjsBody, g: GeomSpec, s: HumanoidSettings, margin: float | None = None
) -> None:
    geom = body.add_geom()
    geom.type = _GEOM_TYPES[g.type]
    size = np.zeros(3)
    size[: len(g.size)] = g.size
    geom.size = size
    if g.type == "capsule":
        assert g.fromto is not None  # checked by SkeletonModel.validate
        geom.fromto = np.asarray(g.fromto, dtype=np.float64)
    else:
        geom.pos = np.asarray(g.pos, dtype=np.float64)
        geom.quat = np.asarray(g.quat, dtype=np.float64)
    geom.density = g.density
    if g.name:
        geom.name = g.name
    geom.contype = s.contype
    geom.conaffinity = s.conaffinity
    geom.condim = s.condim
    geom.margin = s.margin if margin is None else margin
    geom.friction = np.asarray(s.friction, dtype=np.float64)


def build_spec(
    skeleton: SkeletonModel | None = None, settings: HumanoidSettings | None = None
) -> mujoco.MjSpec:
    """An ``MjSpec`` of the humanoid (see the module docstring for its layout).

    Angles in the spec are radians (``compiler.degree = False``). Raises
    :class:`~intermimic.humanoid.errors.UnknownBodyError` when the settings name a key
    body or a PD override the skeleton lacks.
    """
    sk = skeleton or default_skeleton()
    s = settings or HumanoidSettings()
    missing = [n for n in s.key_bodies if n not in sk.body_names]
    if missing:
        raise UnknownBodyError(f"key bodies not in skeleton {sk.name!r}: {', '.join(missing)}")
    kp, kd = pd_gains(sk, s)
    weld = dict(zip(welded_bodies(sk.body_names, s.hands), weld_angles(sk, s), strict=True))

    spec = mujoco.MjSpec()
    spec.modelname = sk.name
    spec.compiler.degree = False
    spec.option.timestep = s.timestep
    if s.floor:
        floor = spec.worldbody.add_geom()
        floor.name = "floor"
        floor.type = mujoco.mjtGeom.mjGEOM_PLANE
        floor.size = np.array([100.0, 100.0, 0.2])
        floor.condim = s.condim
        # The world's bit, plus the humanoid's contype so the two always collide.
        floor.contype = 1
        floor.conaffinity = 1 | s.contype

    key = set(s.key_bodies)
    made: dict[str, mujoco.MjsBody] = {}
    for b in sk.bodies:
        parent = spec.worldbody if b.parent is None else made[b.parent]
        body = parent.add_body()
        body.name = b.name
        body.pos = np.asarray(b.offset, dtype=np.float64) if b.parent else np.zeros(3)
        made[b.name] = body
        if b.parent is None:
            free = body.add_freejoint()
            free.name = b.name
        elif b.name in weld:
            # fixed to the parent, turned as hinges at these angles would turn it
            body.quat = euler_xyz_to_quat(weld[b.name])
        else:
            for k, axis in enumerate(AXES):
                j = body.add_joint()
                j.name = f"{b.name}_{axis}"
                j.type = mujoco.mjtJoint.mjJNT_HINGE
                j.axis = np.eye(3)[k]
                j.armature = s.pd.armature
                if s.joint_limited and b.joint_range is not None:
                    j.limited = mujoco.mjtLimited.mjLIMITED_TRUE
                    j.range = np.asarray(b.joint_range[k], dtype=np.float64)
                else:
                    j.limited = mujoco.mjtLimited.mjLIMITED_FALSE
        hand = b.name.endswith("_Wrist") or is_finger(b.name)
        for g in b.geoms:
            _add_geom(body, g, s, margin=s.hand_margin if hand else s.margin)
        if b.name in key:
            site = body.add_site()
            site.name = f"{b.name}_key"

    for i, name in enumerate(hinge_names(sk, s.hands)):
        act = spec.add_actuator()
        act.name = name
        act.target = name
        act.trntype = mujoco.mjtTrn.mjTRN_JOINT
        if s.actuators == "position":
            # MuJoCo's own PD: force = kp (ctrl - q) - kv qdot.
            act.set_to_position(kp=float(kp[i]), kv=float(kd[i]))
        else:
            act.gear = np.array([1.0, 0, 0, 0, 0, 0])
    spec.add_numeric(name="pd_kp", data=kp.tolist(), size=len(kp))
    spec.add_numeric(name="pd_kd", data=kd.tolist(), size=len(kd))
    if s.exclude_rest_overlaps and s.contype & s.conaffinity:
        # Only when humanoid geoms collide with each other (there is nothing to exclude
        # otherwise, and this saves a compile).
        exclude_rest_overlaps(spec)
    return spec


def exclude_rest_overlaps(spec: mujoco.MjSpec) -> list[tuple[str, str]]:
    """Exclude collisions between body pairs whose geoms touch in the rest pose.

    MuJoCo already skips parent-child pairs; this catches the rest (a capsule reaching
    past its neighbour, as torso and chest do). Returns the excluded name pairs.
    """
    model = spec.compile()
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    pairs: set[tuple[str, str]] = set()
    for c in data.contact[: data.ncon]:
        b1, b2 = (int(model.geom_bodyid[g]) for g in (c.geom1, c.geom2))
        if b1 > 0 and b2 > 0 and b1 != b2:  # body 0 is the world (floor)
            n1, n2 = sorted((model.body(b1).name, model.body(b2).name))
            pairs.add((n1, n2))
    for n1, n2 in sorted(pairs):
        ex = spec.add_exclude()
        ex.bodyname1, ex.bodyname2 = n1, n2
    return sorted(pairs)


def build_model(
    skeleton: SkeletonModel | None = None, settings: HumanoidSettings | None = None
) -> mujoco.MjModel:
    """Build and compile the humanoid: ``build_spec(...).compile()``."""
    return build_spec(skeleton, settings).compile()


def model_pd_gains(model: mujoco.MjModel) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(kp, kd)`` ``[nu]`` stored in a model built here (numeric fields pd_kp, pd_kd)."""
    kp = np.array(model.numeric("pd_kp").data, dtype=np.float64)
    kd = np.array(model.numeric("pd_kd").data, dtype=np.float64)
    return kp, kd
