"""Body order of the SMPL-X humanoid used by InterAct/InterMimic data (52 bodies).

The order is depth-first over the kinematic tree: pelvis, legs, spine and head, then the
left arm with its 15 finger bodies, then the right. ``PARENTS[i]`` is the parent body's
index (-1 for the root). Joint ``j`` of a clip's ``joint_rotvec`` drives body ``j + 1``.
"""

from __future__ import annotations

_FINGERS = [f"{f}{i}" for f in ("Index", "Middle", "Pinky", "Ring", "Thumb") for i in (1, 2, 3)]

SMPLX_BODY_NAMES: tuple[str, ...] = (
    "Pelvis",
    "L_Hip", "L_Knee", "L_Ankle", "L_Toe",
    "R_Hip", "R_Knee", "R_Ankle", "R_Toe",
    "Torso", "Spine", "Chest", "Neck", "Head",
    "L_Thorax", "L_Shoulder", "L_Elbow", "L_Wrist", *(f"L_{f}" for f in _FINGERS),
    "R_Thorax", "R_Shoulder", "R_Elbow", "R_Wrist", *(f"R_{f}" for f in _FINGERS),
)  # fmt: skip


def _parents() -> tuple[int, ...]:
    idx = {n: i for i, n in enumerate(SMPLX_BODY_NAMES)}
    parent: dict[str, str | None] = {"Pelvis": None}
    for side in ("L", "R"):
        parent |= {
            f"{side}_Hip": "Pelvis",
            f"{side}_Knee": f"{side}_Hip",
            f"{side}_Ankle": f"{side}_Knee",
            f"{side}_Toe": f"{side}_Ankle",
            f"{side}_Thorax": "Chest",
            f"{side}_Shoulder": f"{side}_Thorax",
            f"{side}_Elbow": f"{side}_Shoulder",
            f"{side}_Wrist": f"{side}_Elbow",
        }
        for finger in ("Index", "Middle", "Pinky", "Ring", "Thumb"):
            parent[f"{side}_{finger}1"] = f"{side}_Wrist"
            parent[f"{side}_{finger}2"] = f"{side}_{finger}1"
            parent[f"{side}_{finger}3"] = f"{side}_{finger}2"
    parent |= {
        "Torso": "Pelvis",
        "Spine": "Torso",
        "Chest": "Spine",
        "Neck": "Chest",
        "Head": "Neck",
    }
    return tuple(-1 if parent[n] is None else idx[parent[n]] for n in SMPLX_BODY_NAMES)  # type: ignore[index]


SMPLX_PARENTS: tuple[int, ...] = _parents()
N_BODIES = len(SMPLX_BODY_NAMES)
N_JOINTS = N_BODIES - 1
