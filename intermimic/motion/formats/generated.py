"""``generated-npz``: motion from a kinematic generator: joint rotations + object pose.

Text-to-HOI and other kinematic generators give the humanoid's root and joint rotations
and the object's pose, but no contact labels and often no body positions. Keys (npz,
``allow_pickle=False``), as the canonical ``npz`` format names them:

==================  ====================================================================
key                 content
==================  ====================================================================
``root_pos``        ``[T, 3]`` pelvis position (m)
``root_quat``       ``[T, 4]`` pelvis orientation w x y z
``joint_rotvec``    ``[T, 51, 3]`` local joint rotations (rotation vectors, our frames)
``obj_pos``         ``[T, 3]``, ``obj_quat`` ``[T, 4]`` w x y z
``object_name``     the object (required); ``subject`` (default ``generated``),
                    ``clip_id`` (default: the file name), ``fps`` (default 30)
``bone_offsets``    optional ``[52, 3]`` bone offsets of the humanoid the motion was made
                    for (default: the mean adult)
``body_pos``, ...   any other :class:`~intermimic.motion.clip.HOIClip` field, used as given
==================  ====================================================================

Missing ``body_pos``/``body_quat`` are our FK of that humanoid; missing ``contact`` and
``obj_contact`` are 0 (unknown) and listed in ``extra["missing"]``, for
:func:`intermimic.contact.derive.complete_reference` to derive from the geometry.
A file is recognised as this format (rather than the canonical ``npz``) when it has
``joint_rotvec`` but lacks ``body_pos`` or ``contact``.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from intermimic.errors import ReadError
from intermimic.motion.clip import CANONICAL_FPS, FIELDS, HOIClip
from intermimic.motion.formats.bounded import load_member, open_npz_path, scalar
from intermimic.motion.formats.registry import ClipFormat, Decoded, register_format
from intermimic.motion.formats.smplx_npz import (
    _arr,
    _keys,
    _open,
    _plain,
    _rate,
    _scalar_str,
    pose_bodies,
)
from intermimic.motion.skeleton import N_BODIES

REQUIRED = ("root_pos", "root_quat", "joint_rotvec", "obj_pos", "obj_quat")


class GeneratedNpz(ClipFormat):
    name = "generated-npz"
    suffixes = (".npz",)

    def sniff(self, path: Path) -> bool:
        keys = _keys(path)
        return "joint_rotvec" in keys and not {"body_pos", "contact"} <= keys

    def identify(self, path: Path) -> dict[str, str]:
        with open_npz_path(path) as z:
            out: dict[str, str] = {
                k: _plain(str(scalar(z, k, path)))
                for k in ("subject", "object_name", "clip_id")
                if k in z.files
            }
        out.setdefault("subject", "generated")
        out.setdefault("clip_id", _plain(path.name.removesuffix(".npz")))
        return out

    def decode(self, data: bytes, path: Path) -> Decoded:
        with _open(data, path) as z:
            keys = set(z.files)
            missing = [k for k in (*REQUIRED, "object_name") if k not in keys]
            if missing:
                raise ReadError(f"missing key(s) {', '.join(missing)}", path)
            arrays: dict[str, np.ndarray] = {
                k: load_member(z, k, path) for k in FIELDS if k in keys
            }
            meta: dict[str, Any] = {
                "object_name": _scalar_str(z, "object_name", path),
                "subject": _scalar_str(z, "subject", path) if "subject" in keys else "generated",
                "clip_id": _scalar_str(z, "clip_id", path)
                if "clip_id" in keys
                else _plain(path.name.removesuffix(".npz")),
                "fps": _rate(z, "fps", path) if "fps" in keys else CANONICAL_FPS,
            }
            offsets = _arr(z, "bone_offsets", path) if "bone_offsets" in keys else None
        if offsets is not None and offsets.shape != (N_BODIES, 3):
            raise ReadError(f"bone_offsets has shape {list(offsets.shape)}, expected [52, 3]", path)
        rp = _check(arrays, "root_pos", (3,), path)
        rq = _check(arrays, "root_quat", (4,), path)
        jr = _check(arrays, "joint_rotvec", (N_BODIES - 1, 3), path)
        t = rp.shape[0]
        if rq.shape[0] != t or jr.shape[0] != t:
            raise ReadError(
                f"frame counts differ: root_pos {t}, root_quat {rq.shape[0]}, "
                f"joint_rotvec {jr.shape[0]}",
                path,
            )
        derived: list[str] = []
        if "body_pos" not in arrays or "body_quat" not in arrays:
            if not (np.isfinite(rp).all() and np.isfinite(rq).all() and np.isfinite(jr).all()):
                raise ReadError("root or joint rotations hold NaN or inf", path)
            norm = np.linalg.norm(rq, axis=-1, keepdims=True)
            if (np.abs(norm - 1.0) > 1e-3).any():
                raise ReadError("root_quat is not unit norm", path)
            pos, quat = pose_bodies(rp, rq / norm, jr, offsets)
            arrays["body_pos"], arrays["body_quat"] = (
                pos.astype(np.float32),
                quat.astype(np.float32),
            )
            derived += ["body_pos", "body_quat"]
        absent = [k for k in ("contact", "obj_contact") if k not in arrays]
        if "contact" in absent:
            arrays["contact"] = np.zeros((t, N_BODIES), np.int8)
        if "obj_contact" in absent:
            arrays["obj_contact"] = np.zeros(t, np.int8)
        return Decoded(
            meta=meta,
            arrays=arrays,
            extra={"missing": tuple(absent), "derived": tuple(derived)},
        )

    def write(self, clip: HOIClip, path: Path) -> None:
        write_generated(clip, path)


def _check(arrays: dict[str, np.ndarray], key: str, tail: tuple[int, ...], path: Path) -> Any:
    a = np.asarray(arrays[key])
    if a.dtype.kind not in "biuf" or a.ndim != 1 + len(tail) or a.shape[1:] != tail:
        want = "[T" + "".join(f", {d}" for d in tail) + "]"
        raise ReadError(f"{key} has shape {list(a.shape)} ({a.dtype}), expected {want}", path)
    return a.astype(np.float64)


def write_generated(clip: HOIClip, path: Path | io.BytesIO, *, with_bodies: bool = False) -> None:
    """Write what a kinematic generator gives: root, joint rotations, object pose (and,
    with ``with_bodies``, body poses), no contact labels."""
    keys = ["root_pos", "root_quat", "joint_rotvec", "obj_pos", "obj_quat"]
    if with_bodies:
        keys += ["body_pos", "body_quat"]
    payload = {k: getattr(clip, k) for k in keys}
    np.savez(
        path,
        subject=np.array(clip.meta.subject),
        object_name=np.array(clip.meta.object_name),
        clip_id=np.array(clip.meta.clip_id),
        fps=np.array(clip.meta.fps),
        **payload,
    )


register_format(GeneratedNpz())
