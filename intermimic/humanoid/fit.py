"""Subject-fitted humanoids: bone offsets measured from MoCap, or given by SMPL-X betas.

From clips
----------
:func:`measure_bones` expresses every body's position in its parent's frame, frame by
frame (``R_parent^T (p_child - p_parent)``, using the clip's global orientations), and
takes the median over frames. For a rigid skeleton that offset is the same in every
frame, so its spread over frames also tells whether the clip's position columns really
belong to the bodies they are labelled with (a permuted column is not rigid in its
supposed parent's frame). :func:`fit_skeleton` then builds a copy of the default
skeleton with

* ``mode="vector"`` (default): each offset set to the measured vector;
* ``mode="length"``: each default offset scaled by (median bone length / default length),
  keeping the default direction;

and each body's geoms moved with its bone (see :func:`_fit_geoms`). Bones whose columns
are not rigid (spread above ``tol``) are not trusted: they keep the default direction,
scaled by the median ratio of the trusted bones of the same kind (finger or not), and
are listed in :attr:`FittedSkeleton.fallback`.

Why ``vector`` is the default: on the 27 OMOMO sample clips (subject 2) the measured
offsets are rigid to float32 rounding, and their directions differ from the mean adult's
by up to several cm. Scaling lengths alone leaves a mean body position error of about
4 cm (the generic humanoid: 5.6 cm); the measured vectors reproduce the file's positions
to 1e-6 m.

Known defect of the InterAct sample files (measured, see
``tests/motion/test_kinematics.py``): their position columns for L_Index1..3 hold points
fixed to the head (SMPL-X jaw and eyes) and every later finger's columns hold the
previous finger (L_Middle* = the left index, ..., R_Index* = the left thumb, ...; the right
thumb is missing). The fit flags the six index columns as untrusted; the finger bones it
measures from the shifted columns are faithfully those of the neighbouring finger.

From SMPL-X
-----------
:func:`skeleton_from_smplx` reads an SMPL-X model ``.npz`` (``v_template``,
``shapedirs``, ``J_regressor``, ``kintree_table``) with ``allow_pickle=False`` and
regresses the rest-pose joints for given betas (:func:`intermimic.motion.smplx.smplx_joints`:
``J = J_regressor (v_template + shapedirs[..., :n] betas)``). The ``smplx`` package is not
needed (its loader unpickles, which this project does not do with files it did not write).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from intermimic.humanoid.errors import SkeletonError
from intermimic.humanoid.skeleton_model import (
    BodySpec,
    GeomSpec,
    SkeletonModel,
    Vec3,
    is_finger,
)
from intermimic.humanoid.smplx_offsets import default_skeleton
from intermimic.motion.clip import HOIClip
from intermimic.motion.quat import quat_conj, quat_mul
from intermimic.motion.smplx import SMPLX_JOINT_OF_BODY, SMPLX_TO_HUMANOID, smplx_joints

F64 = NDArray[np.float64]
FitMode = Literal["vector", "length"]


@dataclass(frozen=True)
class BoneMeasurement:
    """Bones measured from global body poses. Row 0 (the root) is zero / trusted.

    ``offsets [B, 3]``: median offset in the parent frame (m). ``lengths [B]``: median
    ``|p_child - p_parent|``. ``spread [B]``: the ``spread_quantile`` (default 95 %) of the
    frames' distances from the median offset (m): a mislabelled column is off in most
    frames, a few glitched frames do not count. ``consistent [B]``: ``spread <= tol``.
    ``n_frames``: frames used (frames with a non-finite value or a zero quaternion are
    left out).
    """

    offsets: F64
    lengths: F64
    spread: F64
    consistent: NDArray[np.bool_]
    n_frames: int


def offsets_in_parent_frame(
    body_pos: NDArray[np.floating], body_quat: NDArray[np.floating], parents: Sequence[int]
) -> F64:
    """``[T, B, 3]`` each body's position in its parent's frame (row 0: zeros).

    ``body_pos [T, B, 3]``, ``body_quat [T, B, 4]`` w x y z, world frame.
    """
    p = np.asarray(body_pos, dtype=np.float64)
    q = np.asarray(body_quat, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    par = np.asarray(parents)
    out = np.zeros_like(p)
    child = np.flatnonzero(par >= 0)
    d = p[:, child] - p[:, par[child]]
    qp = quat_conj(q[:, par[child]])
    vq = np.concatenate([np.zeros((*d.shape[:-1], 1)), d], axis=-1)
    out[:, child] = quat_mul(quat_mul(qp, vq), quat_conj(qp))[..., 1:]
    return out


def measure_bones(
    body_pos: NDArray[np.floating],
    body_quat: NDArray[np.floating],
    parents: Sequence[int],
    tol: float = 0.005,
    spread_quantile: float = 0.95,
) -> BoneMeasurement:
    """Measure bones from ``body_pos [T, B, 3]`` and ``body_quat [T, B, 4]`` (see module)."""
    pos = np.asarray(body_pos, dtype=np.float64)
    quat = np.asarray(body_quat, dtype=np.float64)
    norms = np.linalg.norm(quat, axis=-1)
    good = np.all(np.isfinite(pos), axis=(1, 2)) & np.all(
        np.isfinite(norms) & (norms > 0.5), axis=1
    )
    if not good.any():
        raise SkeletonError("no frame with finite positions and unit quaternions to measure")
    local = offsets_in_parent_frame(pos[good], quat[good], parents)
    med = np.median(local, axis=0)
    spread = np.quantile(np.linalg.norm(local - med, axis=-1), spread_quantile, axis=0)
    lengths = np.median(np.linalg.norm(local, axis=-1), axis=0)
    return BoneMeasurement(
        offsets=med,
        lengths=lengths,
        spread=spread,
        consistent=spread <= tol,
        n_frames=int(local.shape[0]),
    )


def measure_clip_bones(
    clips: HOIClip | Sequence[HOIClip], parents: Sequence[int], tol: float = 0.005
) -> BoneMeasurement:
    """:func:`measure_bones` over all frames of one clip or several (one subject)."""
    cs = [clips] if isinstance(clips, HOIClip) else list(clips)
    if not cs:
        raise ValueError("no clips to measure")
    pos = np.concatenate([c.body_pos for c in cs], axis=0)
    quat = np.concatenate([c.body_quat for c in cs], axis=0)
    if pos.shape[1] != len(parents):
        raise SkeletonError(
            f"clips have {pos.shape[1]} bodies, the skeleton has {len(parents)}",
            cs[0].meta.source_path or None,
        )
    return measure_bones(pos, quat, parents, tol)


@dataclass(frozen=True)
class FittedSkeleton:
    """A fitted skeleton plus how it was fitted.

    ``ratios [B]``: fitted / default bone length (1 at the root). ``fallback``: bodies
    whose measurement was not trusted (kept the default direction, typical ratio).
    """

    skeleton: SkeletonModel
    measurement: BoneMeasurement | None
    ratios: F64
    fallback: tuple[str, ...] = ()


def _align(a: F64, b: F64) -> F64:
    """Rotation matrix ``[3, 3]`` turning direction ``a`` onto direction ``b``."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    if c < -1.0 + 1e-9:  # opposite: turn half way round any axis normal to a
        n = np.cross(a, [1.0, 0.0, 0.0])
        if np.linalg.norm(n) < 1e-6:
            n = np.cross(a, [0.0, 1.0, 0.0])
        n /= np.linalg.norm(n)
        return 2.0 * np.outer(n, n) - np.eye(3)
    vx = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + c)


def _vec3(v: NDArray[np.floating]) -> Vec3:
    return (float(v[0]), float(v[1]), float(v[2]))


def _fit_geoms(
    base: SkeletonModel, new_offsets: F64, ratios: F64, rotate: bool
) -> dict[str, tuple[GeomSpec, ...]]:
    """Geoms of every body, moved with the bone they lie along.

    A body's "bone" is the one to its only child (a limb segment), the mean of its
    children's (pelvis, chest, wrist), or, for a leaf, its own incoming bone. Capsule
    axes are scaled by the bone's length ratio and (``rotate``) turned onto the fitted
    bone direction; radii are kept, since positions say nothing about girth. Boxes and
    spheres keep their orientation (a foot stays flat); their centres are scaled, and box
    half sizes are stretched along the bone direction only.
    """
    names = base.body_names
    idx = {n: i for i, n in enumerate(names)}
    default = base.offsets()
    out: dict[str, tuple[GeomSpec, ...]] = {}
    for i, b in enumerate(base.bodies):
        kids = [idx[c] for c in base.children(b.name)]
        if len(kids) == 1:
            k = kids[0]
            s, d0, d1 = ratios[k], default[k], new_offsets[k]
        elif kids:
            s = float(np.median(ratios[kids]))
            d0 = d1 = default[kids].mean(axis=0)
        else:
            s, d0, d1 = ratios[i], default[i], new_offsets[i]
        rot = _align(d0, d1) if rotate and np.linalg.norm(d0) > 1e-9 else np.eye(3)
        unit = np.abs(d0) / max(np.linalg.norm(d0), 1e-12)
        geoms = []
        for g in b.geoms:
            if g.type == "capsule":
                assert g.fromto is not None
                ft = np.asarray(g.fromto, dtype=np.float64).reshape(2, 3)
                ft = s * ft @ rot.T
                x0, y0, z0, x1, y1, z1 = (float(v) for v in ft.ravel())
                geoms.append(replace(g, fromto=(x0, y0, z0, x1, y1, z1)))
            elif g.type == "box":
                size = np.asarray(g.size) * (1.0 + (s - 1.0) * unit)
                geoms.append(
                    replace(g, size=tuple(float(v) for v in size), pos=_vec3(s * np.asarray(g.pos)))
                )
            else:
                geoms.append(replace(g, pos=_vec3(s * np.asarray(g.pos))))
        out[b.name] = tuple(geoms)
    return out


def skeleton_with_offsets(
    base: SkeletonModel,
    offsets: F64,
    *,
    rotate_geoms: bool = True,
    name: str | None = None,
) -> tuple[SkeletonModel, F64]:
    """A copy of ``base`` with new ``offsets [B, 3]`` and geoms fitted to them.

    Returns the skeleton and the length ratios ``[B]``. Raises a
    :class:`~intermimic.humanoid.errors.BoneLengthError` for zero or absurd bones.
    """
    new = np.asarray(offsets, dtype=np.float64)
    if new.shape != (base.n_bodies, 3):
        raise SkeletonError(f"offsets have shape {new.shape}, expected ({base.n_bodies}, 3)")
    default_len = base.bone_lengths()
    ratios = np.ones(base.n_bodies)
    ratios[1:] = np.linalg.norm(new[1:], axis=1) / default_len[1:]
    geoms = _fit_geoms(base, new, ratios, rotate_geoms)
    bodies = tuple(
        BodySpec(
            b.name,
            b.parent,
            b.offset if b.parent is None else _vec3(new[i]),
            geoms[b.name],
            b.joint_range,
        )
        for i, b in enumerate(base.bodies)
    )
    return SkeletonModel(bodies=bodies, name=name or base.name, limits=base.limits), ratios


def fit_skeleton(
    clips: HOIClip | Sequence[HOIClip],
    base: SkeletonModel | None = None,
    *,
    mode: FitMode = "vector",
    tol: float = 0.005,
    name: str | None = None,
) -> FittedSkeleton:
    """Fit ``base`` (default: the mean adult) to the bones measured in ``clips``.

    Clips must have ``base``'s bodies in ``base``'s order. See the module docstring for
    the two modes and for bones that are not trusted.
    """
    sk = base or default_skeleton()
    meas = measure_clip_bones(clips, sk.parents, tol)
    default = sk.offsets()
    default_len = sk.bone_lengths()
    ratio = np.ones(sk.n_bodies)
    ratio[1:] = meas.lengths[1:] / default_len[1:]
    trusted = meas.consistent.copy()
    fingers = np.array([is_finger(n) for n in sk.body_names])
    fallback: list[str] = []
    for i in np.flatnonzero(~trusted):
        same_kind = trusted & (fingers == fingers[i])
        same_kind[0] = False
        ratio[i] = float(np.median(ratio[same_kind])) if same_kind.any() else 1.0
        fallback.append(sk.body_names[i])
    if mode == "vector":
        new = np.where(trusted[:, None], meas.offsets, default * ratio[:, None])
    elif mode == "length":
        new = default * ratio[:, None]
    else:
        raise ValueError(f"unknown fit mode {mode!r}; use 'vector' or 'length'")
    new[0] = default[0]
    cs = [clips] if isinstance(clips, HOIClip) else list(clips)
    subjects = {c.meta.subject for c in cs}
    subject = name or (f"{sk.name}_{subjects.pop()}" if len(subjects) == 1 else f"{sk.name}_fitted")
    skeleton, ratios = skeleton_with_offsets(sk, new, rotate_geoms=mode == "vector", name=subject)
    return FittedSkeleton(skeleton, meas, ratios, tuple(fallback))


# ---- SMPL-X --------------------------------------------------------------------------


def skeleton_from_smplx(
    model_path: str | Path,
    betas: Sequence[float] | NDArray[np.floating],
    base: SkeletonModel | None = None,
    name: str | None = None,
) -> FittedSkeleton:
    """A humanoid whose bone offsets are the SMPL-X rest joints for ``betas``.

    ``base`` (default: the mean adult) supplies geoms, which are fitted to the new bones
    as in :func:`fit_skeleton`, and joint ranges.
    """
    sk = base or default_skeleton()
    if sk.n_bodies != len(SMPLX_JOINT_OF_BODY):
        raise SkeletonError(f"skeleton {sk.name!r} does not have the 52 SMPL-X humanoid bodies")
    joints = smplx_joints(model_path, betas) @ SMPLX_TO_HUMANOID.T
    body_joints = joints[list(SMPLX_JOINT_OF_BODY)]
    par = np.array(sk.parents)
    offsets = np.zeros((sk.n_bodies, 3))
    offsets[1:] = body_joints[1:] - body_joints[par[1:]]
    skeleton, ratios = skeleton_with_offsets(sk, offsets, name=name or f"{sk.name}_smplx")
    return FittedSkeleton(skeleton, None, ratios)
