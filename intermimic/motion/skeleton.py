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

#: Bone offsets (m) of the mean-adult SMPL-X humanoid, each body in its parent's frame
#: (row 0, the root, is zero), in body order: facts taken once from the reference MJCF
#: InterMimic published. Kinematics (FK of joint angles) needs only these;
#: :mod:`intermimic.humanoid.smplx_offsets` builds the simulated humanoid's bodies on them.
SMPLX_MEAN_ADULT_OFFSETS: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.0, 0.0),  # Pelvis
    (-0.0111, 0.0758, -0.0952),  # L_Hip
    (-0.0244, 0.0218, -0.389),  # L_Knee
    (-0.0209, -0.0089, -0.4057),  # L_Ankle
    (0.1133, 0.0231, -0.0468),  # L_Toe
    (-0.0128, -0.0753, -0.1017),  # R_Hip
    (-0.0175, -0.0254, -0.3849),  # R_Knee
    (-0.0174, 0.0032, -0.3968),  # R_Ankle
    (0.1071, -0.0181, -0.05),  # R_Toe
    (-0.0311, -0.0057, 0.111),  # Torso
    (-0.012, 0.0122, 0.1267),  # Spine
    (0.0397, -0.0073, 0.046),  # Chest
    (-0.0552, -0.006, 0.2172),  # Neck
    (0.0165, 0.0095, 0.1475),  # Head
    (-0.0266, 0.0574, 0.1273),  # L_Thorax
    (-0.0313, 0.0928, 0.0525),  # L_Shoulder
    (-0.0285, 0.2802, -0.056),  # L_Elbow
    (0.0059, 0.2367, 0.0094),  # L_Wrist
    (0.0212, 0.107, -0.0141),  # L_Index1
    (0.0007, 0.0307, -0.0103),  # L_Index2
    (-0.0021, 0.0074, -0.0213),  # L_Index3
    (-0.0028, 0.1143, -0.0116),  # L_Middle1
    (-0.0048, 0.0268, -0.0145),  # L_Middle2
    (-0.0021, 0.0063, -0.023),  # L_Middle3
    (-0.0428, 0.088, -0.0204),  # L_Pinky1
    (-0.0058, 0.0122, -0.0138),  # L_Pinky2
    (-0.0006, 0.0042, -0.0186),  # L_Pinky3
    (-0.0267, 0.1018, -0.0147),  # L_Ring1
    (-0.0023, 0.0239, -0.0158),  # L_Ring2
    (0.0004, 0.0045, -0.0234),  # L_Ring3
    (0.0287, 0.0444, -0.023),  # L_Thumb1
    (0.0112, 0.022, -0.0174),  # L_Thumb2
    (0.0055, 0.0239, -0.0088),  # L_Thumb3
    (-0.0337, -0.0595, 0.1228),  # R_Thorax
    (-0.024, -0.1005, 0.0549),  # R_Shoulder
    (-0.0208, -0.2705, -0.0503),  # R_Elbow
    (-0.0038, -0.2372, 0.005),  # R_Wrist
    (0.0229, -0.1057, -0.0132),  # R_Index1
    (0.0007, -0.0307, -0.0103),  # R_Index2
    (-0.0021, -0.0074, -0.0213),  # R_Index3
    (-0.0011, -0.113, -0.0107),  # R_Middle1
    (-0.0048, -0.0268, -0.0145),  # R_Middle2
    (-0.0021, -0.0063, -0.023),  # R_Middle3
    (-0.0411, -0.0867, -0.0196),  # R_Pinky1
    (-0.0058, -0.0122, -0.0138),  # R_Pinky2
    (-0.0006, -0.0042, -0.0186),  # R_Pinky3
    (-0.025, -0.1005, -0.0139),  # R_Ring1
    (-0.0023, -0.0238, -0.0158),  # R_Ring2
    (0.0004, -0.0045, -0.0234),  # R_Ring3
    (0.0304, -0.043, -0.0222),  # R_Thumb1
    (0.0112, -0.022, -0.0174),  # R_Thumb2
    (0.0055, -0.0239, -0.0088),  # R_Thumb3
)
