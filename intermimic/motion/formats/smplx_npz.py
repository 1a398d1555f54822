"""``smplx-npz``: SMPL-X parameter sequences (AMASS-style ``.npz``) plus an object pose.

What a kinematic capture or generator gives as SMPL-X parameters, one file per clip.
Keys (``allow_pickle=False``; strings as 0-d unicode arrays):

=======================  ===============================================================
key                      content
=======================  ===============================================================
``poses``                ``[T, 165]`` axis-angle of SMPL-X's 55 joints (root, 21 body,
                         jaw, eyes, 30 hand) or ``[T, 156]`` (SMPL-H: no jaw/eyes); or
``root_orient``,         instead ``[T, 3]``, ``[T, 63]`` and ``[T, 90]`` (hands optional:
``pose_body``,           flat hands when absent)
``pose_hand``
``trans``                ``[T, 3]`` the model translation (m)
``betas``                ``[K]`` shape (used with an SMPL-X model file, see below)
``mocap_framerate``      frame rate (also ``mocap_frame_rate`` or ``fps``); resampled to
                         30 fps on ingest
``obj_pos``/``obj_trans``  ``[T, 3]`` object position (m)
``obj_quat``             ``[T, 4]`` object orientation w x y z, or ``obj_rot`` as
                         rotation vectors ``[T, 3]`` or matrices ``[T, 3, 3]``
``object_name``          the object (required); ``subject``, ``clip_id`` optional (default:
                         the parent folder's name and the file name)
``rest_joints``          optional ``[55, 3]`` (or ``[52, 3]``) rest-pose joint positions of
                         this subject in SMPL-X's model frame (y up): the bone lengths
=======================  ===============================================================

The world is z up, as in AMASS. SMPL-X's body frame is y up, x to the body's left, z
forward; the humanoid's is z up, x forward, y left: ``v_h = C v_s`` with
:data:`~intermimic.motion.smplx.SMPLX_TO_HUMANOID`. Local joint rotations become
``C R C^T`` (rotation vectors turn with ``C``), the root ``R_root C^T``. SMPL-X joints
map to our 52 bodies by :data:`~intermimic.motion.smplx.SMPLX_JOINT_OF_BODY` (jaw and
eyes are dropped). SMPL-X rotates the body about the rest pelvis joint ``J0``, so the
pelvis is at ``trans + J0``.

Bone lengths (and ``J0``): from ``rest_joints`` when the file has them; else from an
SMPL-X model ``.npz`` named by ``$INTERMIMIC_SMPLX_MODEL`` and the file's ``betas``;
else the mean adult's bones and the neutral model's ``J0`` (:data:`NEUTRAL_PELVIS`).
Body poses are our FK (:func:`~intermimic.motion.kinematics.fk`) of the resulting
humanoid, so they are exactly what that humanoid reaches. The source has no contact
labels: ``contact`` and ``obj_contact`` are 0 (unknown) and ``extra["missing"]`` says
so; :func:`intermimic.contact.derive.complete_reference` derives them.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from intermimic.errors import ReadError
from intermimic.motion.formats import npz as _npz  # noqa: F401 - registered first: the fallback
from intermimic.motion.formats.bounded import (
    load_member,
    name_of,
    open_npz,
    open_npz_path,
    scalar,
)
from intermimic.motion.formats.registry import ClipFormat, Decoded, register_format
from intermimic.motion.kinematics import KinematicTree, fk, rotvec_to_euler_xyz
from intermimic.motion.quat import quat_conj, quat_mul, quat_to_rotvec, rotvec_to_quat
from intermimic.motion.skeleton import N_BODIES, SMPLX_MEAN_ADULT_OFFSETS, SMPLX_PARENTS
from intermimic.motion.smplx import SMPLX_JOINT_OF_BODY, SMPLX_TO_HUMANOID, smplx_joints

F64 = NDArray[np.float64]

MODEL_ENV_VAR = "INTERMIMIC_SMPLX_MODEL"
#: Rest pelvis joint ``J0`` of the neutral SMPL-X model at zero betas (model frame, m),
#: approximate; used when neither ``rest_joints`` nor a model file give the subject's.
NEUTRAL_PELVIS = np.array([0.0031, -0.3514, 0.0120])
#: Quaternion (w x y z) of SMPLX_TO_HUMANOID: 120 degrees about (1, 1, 1).
Q_SMPLX_TO_HUMANOID = np.array([0.5, 0.5, 0.5, 0.5])
_FPS_KEYS = ("mocap_framerate", "mocap_frame_rate", "fps")
_POSE_KEYS = ("poses", "pose_body", "root_orient")


def _joint_maps() -> tuple[NDArray[np.int64], F64]:
    return np.asarray(SMPLX_JOINT_OF_BODY, np.int64), SMPLX_TO_HUMANOID


def matrix_to_quat(m: NDArray[np.floating]) -> F64:
    """Rotation matrices ``[..., 3, 3]`` -> unit quaternions ``[..., 4]`` w x y z."""
    m = np.asarray(m, np.float64)
    t = np.stack(
        [
            1 + m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2],
            1 + m[..., 0, 0] - m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] + m[..., 1, 1] - m[..., 2, 2],
            1 - m[..., 0, 0] - m[..., 1, 1] + m[..., 2, 2],
        ],
        -1,
    )
    k = np.argmax(t, axis=-1)
    r = 0.5 * np.sqrt(np.maximum(np.take_along_axis(t, k[..., None], -1)[..., 0], 1e-12))
    s = 0.25 / r
    a = [
        np.stack(
            [r, (m[..., 2, 1] - m[..., 1, 2]) * s, (m[..., 0, 2] - m[..., 2, 0]) * s,
             (m[..., 1, 0] - m[..., 0, 1]) * s], -1),
        np.stack(
            [(m[..., 2, 1] - m[..., 1, 2]) * s, r, (m[..., 0, 1] + m[..., 1, 0]) * s,
             (m[..., 0, 2] + m[..., 2, 0]) * s], -1),
        np.stack(
            [(m[..., 0, 2] - m[..., 2, 0]) * s, (m[..., 0, 1] + m[..., 1, 0]) * s, r,
             (m[..., 1, 2] + m[..., 2, 1]) * s], -1),
        np.stack(
            [(m[..., 1, 0] - m[..., 0, 1]) * s, (m[..., 0, 2] + m[..., 2, 0]) * s,
             (m[..., 1, 2] + m[..., 2, 1]) * s, r], -1),
    ]  # fmt: skip
    q = np.choose(k[..., None], a)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


# ---- conversions between SMPL-X parameters and the humanoid's ------------------------


def smplx_to_humanoid_pose(poses: NDArray[np.floating]) -> tuple[F64, F64]:
    """``poses [T, 55, 3]`` SMPL-X axis-angle -> ``(root_quat [T, 4] w x y z,
    joint_rotvec [T, 51, 3])`` in the humanoid's frames."""
    body_joint, c = _joint_maps()
    p = np.asarray(poses, np.float64)
    root = quat_mul(rotvec_to_quat(p[:, 0]), quat_conj(Q_SMPLX_TO_HUMANOID))
    joints = p[:, body_joint[1:]] @ c.T
    return np.asarray(root, np.float64), np.asarray(joints, np.float64)


def humanoid_to_smplx_pose(
    root_quat: NDArray[np.floating], joint_rotvec: NDArray[np.floating]
) -> F64:
    """The inverse of :func:`smplx_to_humanoid_pose`: ``[T, 55, 3]`` SMPL-X axis-angle
    (jaw and eyes zero)."""
    body_joint, c = _joint_maps()
    rq = np.asarray(root_quat, np.float64)
    out = np.zeros((rq.shape[0], 55, 3))
    out[:, 0] = quat_to_rotvec(quat_mul(rq, Q_SMPLX_TO_HUMANOID))
    out[:, body_joint[1:]] = np.asarray(joint_rotvec, np.float64) @ c
    return out


def rest_joints_from_offsets(offsets: NDArray[np.floating], pelvis: NDArray[np.floating]) -> F64:
    """``[55, 3]`` SMPL-X rest joints (model frame) of a humanoid whose bone offsets are
    ``offsets [52, 3]`` (humanoid frame), pelvis joint at ``pelvis`` (model frame). Jaw
    and eyes are placed at the head."""
    body_joint, c = _joint_maps()
    off = np.asarray(offsets, np.float64)
    pos = np.zeros((N_BODIES, 3))
    for b in range(1, N_BODIES):
        pos[b] = pos[SMPLX_PARENTS[b]] + off[b]
    out = np.zeros((55, 3))
    out[body_joint] = pos @ c  # humanoid -> SMPL-X frame: v_s = C^T v_h
    out[22:25] = out[15]
    return out + np.asarray(pelvis, np.float64) - out[0]


def skeleton_offsets_from_rest_joints(joints: NDArray[np.floating]) -> F64:
    """``[52, 3]`` humanoid bone offsets (parent frame) from SMPL-X rest joints ``[55, 3]``
    or ``[52, 3]`` (already in our body order), model frame."""
    body_joint, c = _joint_maps()
    j = np.asarray(joints, np.float64)
    body = j[body_joint] if j.shape[0] == 55 else j
    h = body @ c.T
    off = np.zeros((N_BODIES, 3))
    par = np.asarray(SMPLX_PARENTS)
    off[1:] = h[1:] - h[par[1:]]
    return off


# ---- the reader ----------------------------------------------------------------------


def _open(data: bytes, path: Path) -> np.lib.npyio.NpzFile:
    return open_npz(data, path)


def _arr(z: Any, key: str, path: Path, shape_tail: tuple[int, ...] | None = None) -> F64:
    a = load_member(z, key, path)
    if a.dtype.kind not in "biuf":
        raise ReadError(f"{key} has dtype {a.dtype}, expected numbers", path)
    if shape_tail is not None and (a.ndim != 1 + len(shape_tail) or a.shape[1:] != shape_tail):
        want = "[T" + "".join(f", {d}" for d in shape_tail) + "]"
        raise ReadError(f"{key} has shape {list(a.shape)}, expected {want}", path)
    return a.astype(np.float64)


def _poses(z: Any, keys: set[str], path: Path) -> F64:
    """``[T, 55, 3]`` SMPL-X axis-angle from ``poses`` or the split keys."""
    if "poses" in keys:
        p = _arr(z, "poses", path)
        if p.ndim != 2 or p.shape[1] not in (165, 156):
            raise ReadError(
                f"poses has shape {list(p.shape)}, expected [T, 165] (SMPL-X) or [T, 156]", path
            )
        t = p.shape[0]
        if p.shape[1] == 165:
            return p.reshape(t, 55, 3)
        out = np.zeros((t, 55, 3))  # SMPL-H layout: 22 body joints then 30 hand joints
        out[:, :22] = p[:, :66].reshape(t, 22, 3)
        out[:, 25:] = p[:, 66:].reshape(t, 30, 3)
        return out
    for key in ("root_orient", "pose_body"):
        if key not in keys:
            raise ReadError(f"missing key {key!r} (or 'poses')", path)
    root = _arr(z, "root_orient", path, (3,))
    t = root.shape[0]
    out = np.zeros((t, 55, 3))
    out[:, 0] = root
    out[:, 1:22] = _arr(z, "pose_body", path, (63,)).reshape(-1, 21, 3)
    if "pose_hand" in keys:
        out[:, 25:] = _arr(z, "pose_hand", path, (90,)).reshape(-1, 30, 3)
    for key in ("pose_jaw", "pose_eye"):
        if key in keys:
            a = _arr(z, key, path).reshape(t, -1, 3)
            out[:, 22 : 22 + a.shape[1]] = a
    return out


def _object_quat(z: Any, keys: set[str], path: Path) -> F64:
    if "obj_quat" in keys:
        return _arr(z, "obj_quat", path, (4,))
    if "obj_rot" in keys:
        r = _arr(z, "obj_rot", path)
        if r.ndim == 2 and r.shape[1] == 3:
            return np.asarray(rotvec_to_quat(r), np.float64)
        if r.ndim == 3 and r.shape[1:] == (3, 3):
            return matrix_to_quat(r)
        raise ReadError(
            f"obj_rot has shape {list(r.shape)}, expected [T, 3] (rotation vectors) "
            "or [T, 3, 3] (matrices)",
            path,
        )
    raise ReadError("missing the object orientation ('obj_quat' or 'obj_rot')", path)


def _rate(z: Any, key: str, path: Path) -> float:
    """The frame rate held by ``key`` (a scalar or a one-element array)."""
    a = _arr(z, key, path)
    if a.size != 1:
        raise ReadError(f"{key} has shape {list(a.shape)}, expected one number", path)
    return float(a.ravel()[0])


def _scalar_str(z: Any, key: str, path: Path) -> str:
    """The 0-d text member ``key``, a plain name (ValidationError if not)."""
    return name_of(z, key, path)


def _plain(text: str) -> str:
    """A plain name (see :func:`~intermimic.motion.clip.check_name`) from ``text``."""
    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._-")
    return s[:128] or "subject"


def subject_bones(
    rest_joints: NDArray[np.floating] | None, betas: NDArray[np.floating] | None
) -> tuple[F64 | None, F64, str]:
    """``(offsets [52, 3] or None for the mean adult, pelvis J0 [3], where from)``."""
    if rest_joints is not None:
        j = np.asarray(rest_joints, np.float64)
        pelvis = j[0]
        return skeleton_offsets_from_rest_joints(j), pelvis, "rest_joints"
    model = os.environ.get(MODEL_ENV_VAR)
    if model and betas is not None:
        j = smplx_joints(model, np.asarray(betas).ravel()[:300])
        return skeleton_offsets_from_rest_joints(j), j[0], "smplx model + betas"
    return None, NEUTRAL_PELVIS.copy(), "mean adult"


def fk_tree(offsets: NDArray[np.floating] | None) -> KinematicTree:
    """The kinematic tree of the humanoid with ``offsets [52, 3]`` (None: mean adult)."""
    off = np.asarray(SMPLX_MEAN_ADULT_OFFSETS if offsets is None else offsets, np.float64)
    return KinematicTree.from_arrays(np.asarray(SMPLX_PARENTS), off)


def pose_bodies(
    root_pos: NDArray[np.floating],
    root_quat: NDArray[np.floating],
    joint_rotvec: NDArray[np.floating],
    offsets: NDArray[np.floating] | None = None,
) -> tuple[F64, F64]:
    """``(body_pos [T, 52, 3], body_quat [T, 52, 4])`` by our FK of the humanoid with
    ``offsets`` (None: the mean adult)."""
    t = root_pos.shape[0]
    qpos = np.concatenate(
        [
            np.asarray(root_pos, np.float64),
            np.asarray(root_quat, np.float64),
            rotvec_to_euler_xyz(joint_rotvec).reshape(t, -1),
        ],
        axis=1,
    )
    return fk(fk_tree(offsets), qpos)


def _keys(path: Path) -> set[str]:
    with np.load(path, allow_pickle=False) as z:
        return set(z.files)


class SmplxNpz(ClipFormat):
    name = "smplx-npz"
    suffixes = (".npz",)

    def sniff(self, path: Path) -> bool:
        keys = _keys(path)
        return bool(keys & set(_POSE_KEYS)) and "trans" in keys

    def identify(self, path: Path) -> dict[str, str]:
        with open_npz_path(path) as z:
            out: dict[str, str] = {
                k: _plain(str(scalar(z, k, path)))
                for k in ("subject", "object_name", "clip_id")
                if k in z.files
            }
        out.setdefault("subject", _plain(path.parent.name))
        out.setdefault("clip_id", _plain(path.name.removesuffix(".npz")))
        return out

    def decode(self, data: bytes, path: Path) -> Decoded:
        with _open(data, path) as z:
            keys = set(z.files)
            poses = _poses(z, keys, path)
            t = poses.shape[0]
            if "trans" not in keys:
                raise ReadError("missing key 'trans'", path)
            trans = _arr(z, "trans", path, (3,))
            fps_key = next((k for k in _FPS_KEYS if k in keys), None)
            if fps_key is None:
                raise ReadError(f"missing the frame rate (one of {', '.join(_FPS_KEYS)})", path)
            fps = _rate(z, fps_key, path)
            obj_key = next((k for k in ("obj_pos", "obj_trans") if k in keys), None)
            if obj_key is None:
                raise ReadError("missing the object position ('obj_pos' or 'obj_trans')", path)
            obj_pos = _arr(z, obj_key, path, (3,))
            obj_quat = _object_quat(z, keys, path)
            if "object_name" not in keys:
                raise ReadError("missing key 'object_name'", path)
            meta: dict[str, Any] = {
                "object_name": _scalar_str(z, "object_name", path),
                "subject": _scalar_str(z, "subject", path)
                if "subject" in keys
                else _plain(path.parent.name),
                "clip_id": _scalar_str(z, "clip_id", path)
                if "clip_id" in keys
                else _plain(path.name.removesuffix(".npz")),
                "fps": fps,
            }
            rest = _arr(z, "rest_joints", path) if "rest_joints" in keys else None
            betas = _arr(z, "betas", path) if "betas" in keys else None
        if rest is not None and rest.shape not in ((55, 3), (52, 3)):
            raise ReadError(f"rest_joints has shape {list(rest.shape)}, expected [55, 3]", path)
        lengths = {len(trans), len(obj_pos), len(obj_quat)}
        if lengths != {t}:
            raise ReadError(
                f"frame counts differ: poses {t}, trans {len(trans)}, object position "
                f"{len(obj_pos)}, object orientation {len(obj_quat)}",
                path,
            )
        if not (np.isfinite(poses).all() and np.isfinite(trans).all()):
            raise ReadError("poses or trans hold NaN or inf", path)
        try:
            offsets, pelvis, bones = subject_bones(rest, betas)
        except Exception as exc:  # a bad model file: name it
            raise ReadError(f"cannot get the subject's bones: {exc}", path) from None
        root_quat, joint_rotvec = smplx_to_humanoid_pose(poses)
        root_pos = trans + pelvis
        body_pos, body_quat = pose_bodies(root_pos, root_quat, joint_rotvec, offsets)
        f32 = np.float32
        arrays: dict[str, np.ndarray] = {
            "root_pos": root_pos.astype(f32),
            "root_quat": root_quat.astype(f32),
            "joint_rotvec": joint_rotvec.astype(f32),
            "body_pos": body_pos.astype(f32),
            "body_quat": body_quat.astype(f32),
            "obj_pos": obj_pos.astype(f32),
            "obj_quat": obj_quat.astype(f32),
            "contact": np.zeros((t, N_BODIES), np.int8),
            "obj_contact": np.zeros(t, np.int8),
        }
        extra = {
            "missing": ("contact", "obj_contact"),
            "derived": ("body_pos", "body_quat"),
            "bones": bones,
        }
        return Decoded(meta=meta, arrays=arrays, extra=extra)


def write_smplx_npz(
    path: Path | io.BytesIO,
    *,
    root_pos: NDArray[np.floating],
    root_quat: NDArray[np.floating],
    joint_rotvec: NDArray[np.floating],
    obj_pos: NDArray[np.floating],
    obj_quat: NDArray[np.floating],
    object_name: str,
    fps: float,
    subject: str | None = None,
    offsets: NDArray[np.floating] | None = None,
    pelvis: NDArray[np.floating] | None = None,
    split: bool = False,
) -> None:
    """Write a humanoid motion as an AMASS-style SMPL-X file (what tools and tests feed
    the reader). ``offsets [52, 3]`` (humanoid bones) go in as ``rest_joints``;
    ``split`` writes ``root_orient``/``pose_body``/``pose_hand`` instead of ``poses``."""
    p = humanoid_to_smplx_pose(root_quat, joint_rotvec)
    j0 = NEUTRAL_PELVIS if pelvis is None else np.asarray(pelvis, np.float64)
    t = p.shape[0]
    payload: dict[str, np.ndarray] = {
        "trans": np.asarray(root_pos, np.float64) - j0,
        "betas": np.zeros(16),
        "mocap_framerate": np.array(float(fps)),
        "obj_trans": np.asarray(obj_pos, np.float64),
        "obj_quat": np.asarray(obj_quat, np.float64),
        "object_name": np.array(object_name),
        "gender": np.array("neutral"),
    }
    if split:
        payload |= {
            "root_orient": p[:, 0],
            "pose_body": p[:, 1:22].reshape(t, 63),
            "pose_hand": p[:, 25:].reshape(t, 90),
        }
    else:
        payload["poses"] = p.reshape(t, 165)
    if subject is not None:
        payload["subject"] = np.array(subject)
    if offsets is not None:
        payload["rest_joints"] = rest_joints_from_offsets(offsets, j0)
    np.savez(path, **payload)  # type: ignore[arg-type]


register_format(SmplxNpz())
