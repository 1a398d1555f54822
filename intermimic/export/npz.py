"""``npz`` export: one motion file per clip, in the layout motion-tracking projects read.

The keys follow the motion files of mjlab's tracking task (and the ``whole_body_tracking``
lineage it comes from): ``fps``, ``joint_pos``, ``joint_vel``, ``body_pos_w``,
``body_quat_w``, ``body_lin_vel_w``, ``body_ang_vel_w``; we add the object and the
contacts. Everything is in the world frame, z up, SI units; quaternions are **w x y z**
(mjlab's order too). Strings are plain unicode arrays: ``np.load(path)`` needs no pickle.

=====================  ================  =======  =========================================
key                    shape             dtype    content
=====================  ================  =======  =========================================
``fps``                ``[1]``           float64  frames per second (30)
``embodiment``         ``[]``            str      the body the motion is of: ``smplx``
``joint_pos``          ``[T, 3J]``       float32  hinge angles (rad): each joint's local
                                                  rotation as intrinsic XYZ Euler angles,
                                                  joint 1 x y z, joint 2 x y z, ...
``joint_vel``          ``[T, 3J]``       float32  their time derivative (rad/s)
``joint_names``        ``[3J]``          str      ``<body>_x``, ``<body>_y``, ``<body>_z``
``body_pos_w``         ``[T, B, 3]``     float32  body positions (m); body 0 is the pelvis
``body_quat_w``        ``[T, B, 4]``     float32  body orientations, w x y z
``body_lin_vel_w``     ``[T, B, 3]``     float32  body linear velocities (m/s)
``body_ang_vel_w``     ``[T, B, 3]``     float32  body angular velocities (rad/s)
``body_names``         ``[B]``           str      SMPL-X body names
``object_pos_w``       ``[T, 3]``        float32  object position (m)
``object_quat_w``      ``[T, 4]``        float32  object orientation, w x y z
``object_lin_vel_w``   ``[T, 3]``        float32  object linear velocity (m/s)
``object_ang_vel_w``   ``[T, 3]``        float32  object angular velocity (rad/s)
``contact``            ``[T, B]``        int8     per-body contact label (+1/0/-1)
``object_contact``     ``[T]``           int8     object-in-contact flag (0/1)
``object_name``        ``[]``            str      object name
``subject``            ``[]``            str      subject
``clip_id``            ``[]``            str      clip id
=====================  ================  =======  =========================================
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from intermimic.export.clips import ExportClip
from intermimic.export.errors import ExportError
from intermimic.motion.kinematics import rotvec_to_euler_xyz
from intermimic.motion.skeleton import SMPLX_BODY_NAMES

SUFFIX = ".npz"
#: (key, shape, dtype, content) of every file, as in the module docstring.
SCHEMA: tuple[tuple[str, str, str, str], ...] = (
    ("fps", "[1]", "float64", "frames per second (30)"),
    ("embodiment", "[]", "str", "the body the motion is of: smplx (the SMPL-X humanoid)"),
    ("joint_pos", "[T, 3J]", "float32", "hinge angles (rad): each joint's local rotation as "
     "intrinsic XYZ Euler angles, joint 1 x y z, joint 2 x y z, ..."),
    ("joint_vel", "[T, 3J]", "float32", "their time derivative (rad/s)"),
    ("joint_names", "[3J]", "str", "<body>_x, <body>_y, <body>_z"),
    ("body_pos_w", "[T, B, 3]", "float32", "body positions (m); body 0 is the pelvis"),
    ("body_quat_w", "[T, B, 4]", "float32", "body orientations, w x y z"),
    ("body_lin_vel_w", "[T, B, 3]", "float32", "body linear velocities (m/s)"),
    ("body_ang_vel_w", "[T, B, 3]", "float32", "body angular velocities (rad/s)"),
    ("body_names", "[B]", "str", "SMPL-X body names"),
    ("object_pos_w", "[T, 3]", "float32", "object position (m)"),
    ("object_quat_w", "[T, 4]", "float32", "object orientation, w x y z"),
    ("object_lin_vel_w", "[T, 3]", "float32", "object linear velocity (m/s)"),
    ("object_ang_vel_w", "[T, 3]", "float32", "object angular velocity (rad/s)"),
    ("contact", "[T, B]", "int8", "per-body contact label (+1/0/-1)"),
    ("object_contact", "[T]", "int8", "object-in-contact flag (0/1)"),
    ("object_name", "[]", "str", "object name"),
    ("subject", "[]", "str", "subject"),
    ("clip_id", "[]", "str", "clip id"),
)  # fmt: skip
KEYS = tuple(k for k, *_ in SCHEMA)


def body_names(n_bodies: int) -> list[str]:
    if n_bodies == len(SMPLX_BODY_NAMES):
        return list(SMPLX_BODY_NAMES)
    return [f"body{i}" for i in range(n_bodies)]


def joint_angles(joint_rotvec: np.ndarray) -> np.ndarray:
    """``[T, J, 3]`` rotation vectors -> ``[T, 3J]`` hinge angles, unwrapped over time so
    that their derivative has no 2 pi jumps."""
    t = joint_rotvec.shape[0]
    angles = rotvec_to_euler_xyz(joint_rotvec).reshape(t, -1)
    return np.unwrap(angles, axis=0) if t > 1 else angles


def motion_arrays(ec: ExportClip) -> dict[str, np.ndarray]:
    """The arrays of one clip's motion file (see the module docstring)."""
    c, v = ec.clip, ec.velocities
    fps = c.meta.fps
    jp = joint_angles(c.joint_rotvec)
    jv = np.gradient(jp, axis=0) * fps if len(jp) > 1 else np.zeros_like(jp)
    names = body_names(c.n_bodies)
    f32 = np.float32
    return {
        "fps": np.asarray([fps], np.float64),
        "embodiment": np.asarray("smplx"),
        "joint_pos": jp.astype(f32),
        "joint_vel": jv.astype(f32),
        "joint_names": np.asarray([f"{b}_{a}" for b in names[1:] for a in "xyz"]),
        "body_pos_w": np.asarray(c.body_pos, f32),
        "body_quat_w": np.asarray(c.body_quat, f32),
        "body_lin_vel_w": v["body_linvel"],
        "body_ang_vel_w": v["body_angvel"],
        "body_names": np.asarray(names),
        "object_pos_w": np.asarray(c.obj_pos, f32),
        "object_quat_w": np.asarray(c.obj_quat, f32),
        "object_lin_vel_w": v["obj_linvel"],
        "object_ang_vel_w": v["obj_angvel"],
        "contact": np.asarray(c.contact, np.int8),
        "object_contact": np.asarray(c.obj_contact, np.int8),
        "object_name": np.asarray(c.meta.object_name),
        "subject": np.asarray(c.meta.subject),
        "clip_id": np.asarray(c.meta.clip_id),
    }


def write_motion_npz(clips: Sequence[ExportClip], out: Path) -> dict[str, dict[str, str]]:
    """One ``<clip_id>.npz`` per clip in the folder ``out`` (uncompressed, like mjlab's).

    Returns ``{"files": {file name: "dataset/subject/clip"}, "skipped": {}}``.
    """
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    for ec in clips:
        fname = ec.clip.meta.clip_id + SUFFIX
        if fname in files:
            raise ExportError(
                f"{out}: clips {files[fname]} and {'/'.join(ec.key)} share the file name "
                f"{fname}; export one dataset at a time"
            )
        np.savez(out / fname, **motion_arrays(ec))  # type: ignore[arg-type]
        files[fname] = "/".join(ec.key)
    return {"files": files, "skipped": {}}


def read_motion_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of a motion file (no pickle)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
