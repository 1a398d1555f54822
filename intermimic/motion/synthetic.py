"""Small, valid synthetic clips: for tests, and for the demo when the sample is absent.

A clip is a person walking forward and carrying a box between the hands. Its global
body poses come from forward kinematics of the joint rotations over a fixed skeleton,
so positions, orientations and joint angles agree with each other.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from intermimic.motion.clip import CANONICAL_FPS, ClipMeta, HOIClip
from intermimic.motion.formats import get_format
from intermimic.motion.quat import quat_mul, rotvec_to_quat
from intermimic.motion.skeleton import SMPLX_BODY_NAMES, SMPLX_PARENTS

# Rough offsets of each body from its parent (m), enough for a plausible silhouette.
_OFFSETS = {
    "Hip": (0.0, 0.08, -0.09), "Knee": (0.0, 0.0, -0.39), "Ankle": (0.0, 0.0, -0.40),
    "Toe": (0.12, 0.0, -0.05), "Torso": (-0.01, 0.0, 0.11), "Spine": (0.0, 0.0, 0.13),
    "Chest": (0.0, 0.0, 0.05), "Neck": (0.0, 0.0, 0.21), "Head": (0.03, 0.0, 0.09),
    "Thorax": (0.0, 0.08, 0.12), "Shoulder": (0.0, 0.11, 0.03), "Elbow": (0.0, 0.25, 0.0),
    "Wrist": (0.0, 0.25, 0.0),
    "1": (0.09, 0.0, 0.0), "2": (0.035, 0.0, 0.0), "3": (0.025, 0.0, 0.0),
}  # fmt: skip
RIGHT_HAND = SMPLX_BODY_NAMES.index("R_Wrist")
LEFT_HAND = SMPLX_BODY_NAMES.index("L_Wrist")


def _offset(name: str) -> np.ndarray:
    side, _, part = name.partition("_")
    if not part:
        part = side
    key = part if part in _OFFSETS else part[-1]
    off = np.array(_OFFSETS.get(key, (0.0, 0.0, 0.0)), dtype=np.float64)
    if side == "R":
        off[1] = -off[1]
    return off


OFFSETS = np.stack([_offset(n) for n in SMPLX_BODY_NAMES])


def forward_kinematics(
    root_pos: np.ndarray, root_quat: np.ndarray, joint_rotvec: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Global body positions ``[T,52,3]`` and orientations ``[T,52,4]`` (w x y z) over
    the synthetic skeleton. ``joint_rotvec`` is ``[T,51,3]``, root quaternion w x y z."""
    n = root_pos.shape[0]
    local = rotvec_to_quat(joint_rotvec)
    pos = np.zeros((n, len(SMPLX_BODY_NAMES), 3))
    quat = np.zeros((n, len(SMPLX_BODY_NAMES), 4))
    pos[:, 0], quat[:, 0] = root_pos, root_quat
    for b in range(1, len(SMPLX_BODY_NAMES)):
        p = SMPLX_PARENTS[b]
        qp = quat[:, p]
        off = np.concatenate([np.zeros((n, 1)), np.broadcast_to(OFFSETS[b], (n, 3))], axis=1)
        rotated = quat_mul(quat_mul(qp, off), qp * np.array([1, -1, -1, -1]))[:, 1:]
        pos[:, b] = pos[:, p] + rotated
        quat[:, b] = quat_mul(qp, local[:, b - 1])
    return pos, quat


def synthetic_clip(
    subject: str = "synth1",
    object_name: str = "box",
    take: int = 0,
    n_frames: int = 90,
    seed: int = 0,
    dataset: str = "synthetic",
) -> HOIClip:
    """A valid carry clip: same seed, same clip."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / CANONICAL_FPS
    phase = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(0.5, 1.0)
    root_pos = np.stack(
        [speed * t, np.zeros_like(t), 0.92 + 0.02 * np.sin(4 * np.pi * t + phase)], 1
    )
    yaw = 0.1 * np.sin(np.pi * t + phase)
    root_quat = np.stack([np.cos(yaw / 2), 0 * yaw, 0 * yaw, np.sin(yaw / 2)], 1)
    joint_rotvec = 0.05 * rng.standard_normal((1, 51, 3)) + 0.2 * np.sin(
        2 * np.pi * t[:, None, None] + rng.uniform(0, 2 * np.pi, (1, 51, 3))
    ) * rng.uniform(0, 1, (1, 51, 3))
    body_pos, body_quat = forward_kinematics(root_pos, root_quat, joint_rotvec)
    hands = 0.5 * (body_pos[:, LEFT_HAND] + body_pos[:, RIGHT_HAND])
    obj_pos = hands + np.array([0.25, 0.0, 0.0])
    obj_quat = root_quat.copy()
    contact = np.full((n_frames, len(SMPLX_BODY_NAMES)), -1, dtype=np.int8)
    contact[:, [LEFT_HAND, RIGHT_HAND]] = 1
    contact[:, 1:9] = 0  # legs: unknown
    meta = ClipMeta(
        dataset=dataset,
        subject=subject,
        clip_id=f"{subject}_{object_name}_{take:03d}",
        object_name=object_name,
        fps=CANONICAL_FPS,
        source_format="synthetic",
    )
    f32 = np.float32
    return HOIClip(
        meta=meta,
        root_pos=root_pos.astype(f32),
        root_quat=root_quat.astype(f32),
        joint_rotvec=joint_rotvec.astype(f32),
        body_pos=body_pos.astype(f32),
        body_quat=body_quat.astype(f32),
        obj_pos=obj_pos.astype(f32),
        obj_quat=obj_quat.astype(f32),
        contact=contact,
        obj_contact=np.ones(n_frames, dtype=np.int8),
    )


def stepping_clip(n_frames: int = 40, swing: float = 0.5, seed: int = 0) -> HOIClip:
    """A person standing in place whose left leg swings forward and back at the hip
    (``swing`` rad; its ankle moves up to about 1.3 m/s at 0.5) while the right foot
    stands: a step, for tests of the feet. Hands, object and labels as
    :func:`synthetic_clip`'s (``seed``), re-posed by forward kinematics."""
    clip = synthetic_clip("synth1", "box", 0, n_frames, seed=seed)
    t = np.arange(n_frames) / CANONICAL_FPS
    root_pos = np.tile([0.0, 0.0, 0.92], (n_frames, 1))
    root_quat = np.tile([1.0, 0.0, 0.0, 0.0], (n_frames, 1))
    rotvec = np.zeros((n_frames, len(SMPLX_BODY_NAMES) - 1, 3))
    rotvec[:, SMPLX_BODY_NAMES.index("L_Hip") - 1, 1] = swing * np.sin(2 * np.pi * t)
    rotvec[:, SMPLX_BODY_NAMES.index("L_Knee") - 1, 1] = 0.2
    body_pos, body_quat = forward_kinematics(root_pos, root_quat, rotvec)
    hands = 0.5 * (body_pos[:, LEFT_HAND] + body_pos[:, RIGHT_HAND])
    f32 = np.float32
    return clip.with_arrays(
        root_pos=root_pos.astype(f32),
        root_quat=root_quat.astype(f32),
        joint_rotvec=rotvec.astype(f32),
        body_pos=body_pos.astype(f32),
        body_quat=body_quat.astype(f32),
        obj_pos=(hands + np.array([0.25, 0.0, 0.0])).astype(f32),
        obj_quat=root_quat.astype(f32),
    )


def write_synthetic_dataset(
    folder: str | Path,
    subjects: tuple[str, ...] = ("synth1", "synth2"),
    clips_per_subject: int = 3,
    format: str = "interact-pt",
    n_frames: int = 90,
    seed: int = 0,
) -> list[Path]:
    """Write valid synthetic clip files (one per subject and take) and return their paths."""
    fmt = get_format(format)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for si, subject in enumerate(subjects):
        for take in range(clips_per_subject):
            clip = synthetic_clip(
                subject, "box", take, n_frames + 7 * take, seed=seed + 100 * si + take
            )
            path = out / f"{clip.meta.clip_id}{fmt.suffixes[0]}"
            fmt.write(clip, path)
            paths.append(path)
    return paths


#: Extents (m) of the synthetic clips' box: long enough in y to lie between the hands.
BOX_EXTENTS = (0.4, 1.3, 0.3)


def write_synthetic_objects(folder: str | Path) -> Path:
    """Write the synthetic clips' object (``box/box.obj``, metres) and return the folder."""
    import trimesh  # deferred: about 1 s to import, and only this writer needs it

    root = Path(folder)
    (root / "box").mkdir(parents=True, exist_ok=True)
    path = root / "box" / "box.obj"
    if not path.exists():
        trimesh.creation.box(extents=BOX_EXTENTS).export(path)
    return root
