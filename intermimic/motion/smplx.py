"""SMPL-X's joint layout and its model files, as the humanoid's 52 bodies see them.

:data:`SMPLX_JOINT_OF_BODY` maps each of our bodies to SMPL-X's joint (jaw and eyes are
unused), :data:`SMPLX_JOINT_PARENTS` is SMPL-X's own tree, :data:`SMPLX_TO_HUMANOID` turns
its axes into the humanoid's. :func:`smplx_joints` reads an SMPL-X model ``.npz``
(``v_template``, ``shapedirs``, ``J_regressor``, ``kintree_table``) with
``allow_pickle=False`` and regresses the rest-pose joints for given betas:
``J = J_regressor (v_template + shapedirs[..., :n] betas)``. Used by the ``smplx-npz``
reader (:mod:`intermimic.motion.formats.smplx_npz`) and by the humanoid fit
(:func:`intermimic.humanoid.fit.skeleton_from_smplx`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from intermimic.errors import InputError

F64 = NDArray[np.float64]


class SmplxModelError(InputError):
    """An SMPL-X model file is missing, unreadable, or lacks the arrays the fit needs."""


# SMPL-X joint index of each of the 52 humanoid bodies (jaw and eyes, 22-24, are unused).
SMPLX_JOINT_OF_BODY: tuple[int, ...] = (
    0, 1, 4, 7, 10, 2, 5, 8, 11, 3, 6, 9, 12, 15,
    13, 16, 18, 20, *range(25, 40),
    14, 17, 19, 21, *range(40, 55),
)  # fmt: skip

# SMPL-X's own kinematic tree over its 55 joints.
SMPLX_JOINT_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
    20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
    21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53,
)  # fmt: skip

# SMPL-X is y up, x to the body's left, z forward; the humanoid is z up, x forward,
# y left: humanoid (x, y, z) = SMPL-X (z, x, y).
SMPLX_TO_HUMANOID = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def smplx_joints(model_path: str | Path, betas: Sequence[float] | NDArray[np.floating]) -> F64:
    """Rest-pose joint positions ``[55, 3]`` (SMPL-X frame, m) of a model file for ``betas``.

    Raises :class:`SmplxModelError` naming the file when it
    is missing, needs unpickling, or lacks/mis-shapes an array.
    """
    path = Path(model_path)
    if path.suffix != ".npz":
        raise SmplxModelError("expected an SMPL-X model .npz (the .pkl form is not read)", path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {
                k: np.asarray(z[k]) for k in ("v_template", "shapedirs", "J_regressor") if k in z
            }
            kintree = np.asarray(z["kintree_table"]) if "kintree_table" in z else None
    except FileNotFoundError:
        raise SmplxModelError("file not found", path) from None
    except ValueError as exc:  # numpy refuses object arrays without allow_pickle
        raise SmplxModelError(f"cannot read without unpickling: {exc}", path) from None
    except OSError as exc:
        raise SmplxModelError(f"not a readable .npz: {exc}", path) from None
    missing = [k for k in ("v_template", "shapedirs", "J_regressor") if k not in arrays]
    if missing:
        raise SmplxModelError(f"missing arrays: {', '.join(missing)}", path)
    v, sd, jr = arrays["v_template"], arrays["shapedirs"], arrays["J_regressor"]
    b = np.asarray(betas, dtype=np.float64).ravel()
    nv = v.shape[0]
    if v.shape != (nv, 3) or sd.ndim != 3 or sd.shape[:2] != (nv, 3) or jr.shape[1:] != (nv,):
        raise SmplxModelError(
            f"inconsistent shapes: v_template {v.shape}, shapedirs {sd.shape}, "
            f"J_regressor {jr.shape}",
            path,
        )
    if jr.shape[0] < 55:
        raise SmplxModelError(f"J_regressor has {jr.shape[0]} joints, SMPL-X needs 55", path)
    if b.size > sd.shape[2]:
        raise SmplxModelError(f"{b.size} betas given, the model has {sd.shape[2]}", path)
    if kintree is not None:
        par = kintree[0, :55].astype(np.int64)
        par[0] = -1  # stored as uint32 max in the official files
        if tuple(par.tolist()) != SMPLX_JOINT_PARENTS:
            raise SmplxModelError("kintree_table is not SMPL-X's joint tree", path)
    shaped = v.astype(np.float64) + sd[:, :, : b.size].astype(np.float64) @ b
    return jr[:55].astype(np.float64) @ shaped
