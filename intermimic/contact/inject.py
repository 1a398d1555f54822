"""Known artifacts put into a good clip, to prove the report measures what it claims.

Every injector returns an :class:`Injected`: the modified clip and the figures of
:func:`~intermimic.contact.artifacts.artifact_report` it should produce, defined the
same way the report measures them. Injectors edit ``body_pos`` (and the object pose),
not the joint angles: the report must run with ``pose_source="clip"`` (the default).

:func:`clean_carry_clip` makes the good clip: a person standing still on the ground,
feet exactly at ``z = 0``, swinging the right arm while the object hangs from the right
hand (its top face exactly touching the hand's lowest point), body poses from FK of the
scene's own humanoid so that the clip's and FK's poses agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from intermimic.contact.artifacts import FEET
from intermimic.contact.distances import (
    HumanoidGeoms,
    _tree_from_scene,
    geom_lowest_z,
    hull_vertices,
    pose_geoms,
)
from intermimic.contact.intents import RIGHT_HAND
from intermimic.motion.clip import CANONICAL_FPS, ClipMeta, HOIClip
from intermimic.motion.kinematics import euler_xyz_to_rotvec, fk
from intermimic.motion.skeleton import SMPLX_BODY_NAMES
from intermimic.sim.scene import Scene

F64 = NDArray[np.float64]
_R_SHOULDER = SMPLX_BODY_NAMES.index("R_Shoulder")
_R_ELBOW = SMPLX_BODY_NAMES.index("R_Elbow")


@dataclass(frozen=True)
class Injected:
    """A clip with an injected artifact and the report figures it should give."""

    clip: HOIClip
    expected: dict[str, float] = field(default_factory=dict)


def clean_carry_clip(
    scene: Scene, n_frames: int = 90, swing: float = 0.3, seed: int = 0
) -> HOIClip:
    """A good clip in ``scene``: standing, right arm swinging ``swing`` rad about the
    vertical at 0.5 Hz, the scene's object held under the right hand (see module doc).
    ``seed`` sets the swing phase."""
    if scene.object is None:
        raise ValueError("clean_carry_clip needs a scene with an object")
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / CANONICAL_FPS
    phase = rng.uniform(0, 2 * np.pi)
    nb = len(SMPLX_BODY_NAMES)
    angles = np.zeros((n_frames, nb - 1, 3))
    angles[:, _R_SHOULDER - 1, 2] = swing * np.sin(np.pi * t + phase)
    angles[:, _R_ELBOW - 1, 2] = 0.5 * swing * np.sin(np.pi * t + phase + 0.5)
    root_quat = np.tile([1.0, 0.0, 0.0, 0.0], (n_frames, 1))
    root_pos = np.tile([0.0, 0.0, 1.0], (n_frames, 1))
    qpos = np.concatenate([root_pos, root_quat, angles.reshape(n_frames, -1)], axis=1)
    tree = _tree_from_scene(scene)
    body_pos, body_quat = fk(tree, qpos)
    geoms = HumanoidGeoms.from_scene(scene)
    gpos, grot = pose_geoms(geoms, body_pos, body_quat)
    low = geom_lowest_z(geoms, gpos, grot)  # [T,G]
    feet = np.isin(geoms.body, np.array(FEET).ravel())
    dz = -low[:, feet].min()  # stand the feet exactly on z = 0
    root_pos[:, 2] += dz
    body_pos[..., 2] += dz
    low += dz
    hand = np.isin(geoms.body, RIGHT_HAND)
    hand_low = low[:, hand].min(axis=1)  # [T]
    hv = hull_vertices(scene.object)
    centre_xy = 0.5 * (hv[:, :2].min(0) + hv[:, :2].max(0))
    wrist = body_pos[:, RIGHT_HAND[0]]
    obj_pos = np.empty((n_frames, 3))
    # Centre the top face under the hand, 8 cm out from the wrist along the arm (-y).
    obj_pos[:, :2] = wrist[:, :2] + np.array([0.0, -0.08]) - centre_xy
    obj_pos[:, 2] = hand_low - hv[:, 2].max()
    f32 = np.float32
    meta = ClipMeta(
        dataset="synthetic",
        subject="clean",
        clip_id=f"clean_{scene.object.name}_{seed:03d}",
        object_name=scene.object.name,
        source_format="synthetic",
    )
    contact = np.full((n_frames, nb), -1, np.int8)
    contact[:, RIGHT_HAND] = 1
    return HOIClip(
        meta=meta,
        root_pos=root_pos.astype(f32),
        root_quat=root_quat.astype(f32),
        joint_rotvec=euler_xyz_to_rotvec(angles).astype(f32),
        body_pos=body_pos.astype(f32),
        body_quat=body_quat.astype(f32),
        obj_pos=obj_pos.astype(f32),
        obj_quat=np.tile(np.array([1, 0, 0, 0], f32), (n_frames, 1)),
        contact=contact,
        obj_contact=np.ones(n_frames, np.int8),
    )


def _unit(direction: NDArray[np.floating] | tuple[float, float, float]) -> F64:
    d = np.asarray(direction, np.float64)
    n = np.linalg.norm(d)
    if not np.isfinite(n) or n == 0:
        raise ValueError(f"direction must be a non-zero vector, got {direction}")
    return d / n


def offset_object(
    clip: HOIClip,
    start: int,
    stop: int,
    distance: float = 0.03,
    direction: tuple[float, float, float] | None = None,
) -> Injected:
    """Move the object ``distance`` (m) along ``direction`` in frames ``[start, stop)``
    (default: from the right wrist towards the object). Expected, for a clip whose
    object touched a body along that direction: ``floating_gap_max = distance`` and
    ``floating_fraction = (stop - start) / T`` when ``distance`` exceeds the support
    distance (the object must be lifted or moving there)."""
    pos = np.array(clip.obj_pos, np.float64)
    if direction is None:
        wrist = clip.body_pos[start:stop, RIGHT_HAND[0]].mean(axis=0)
        u = _unit(pos[start:stop].mean(axis=0) - wrist)
    else:
        u = _unit(direction)
    pos[start:stop] += distance * u
    out = clip.with_arrays(obj_pos=pos.astype(np.float32))
    return Injected(
        out,
        {
            "floating_gap_max": distance,
            "floating_fraction": (stop - start) / clip.n_frames,
        },
    )


def push_hand(
    clip: HOIClip,
    start: int,
    stop: int,
    depth: float = 0.02,
    direction: tuple[float, float, float] | None = None,
    bodies: NDArray[np.integer] = RIGHT_HAND,
) -> Injected:
    """Move the hand ``bodies`` (default: right wrist and fingers) ``depth`` (m) along
    ``direction`` (default: from the wrist towards the object) in frames ``[start,
    stop)``. Expected, for a hand touching the object along that direction:
    ``penetration_object_max = depth``."""
    bp = np.array(clip.body_pos, np.float64)
    if direction is None:
        wrist = bp[start:stop, bodies[0]].mean(axis=0)
        u = _unit(np.asarray(clip.obj_pos[start:stop], np.float64).mean(axis=0) - wrist)
    else:
        u = _unit(direction)
    bp[start:stop, np.asarray(bodies)] += depth * u
    out = clip.with_arrays(body_pos=bp.astype(np.float32))
    return Injected(out, {"penetration_object_max": depth})


def slide_foot(
    clip: HOIClip, start: int, stop: int, speed: float = 0.2, side: str = "L"
) -> Injected:
    """Slide one foot (ankle and toe bodies) along +x at ``speed`` (m/s) from frame
    ``start`` to ``stop - 1``; it stays where it ended after that. The foot moves
    ``speed / fps`` per frame on ``stop - start - 1`` frames. Expected:
    ``foot_skate_speed_max = speed``, ``foot_skate_distance = speed (stop - start - 1) /
    fps`` (for a clip whose feet were planted and still)."""
    fps = clip.meta.fps
    k = "LR".index(side)
    bp = np.array(clip.body_pos, np.float64)
    t = np.arange(clip.n_frames)
    off = speed / fps * np.clip(t - start, 0, stop - 1 - start)
    bp[:, list(FEET[k]), 0] += off[:, None]
    out = clip.with_arrays(body_pos=bp.astype(np.float32))
    return Injected(
        out,
        {
            "foot_skate_speed_max": speed,
            "foot_skate_distance": speed * (stop - start - 1) / fps,
        },
    )


def add_jitter(clip: HOIClip, amplitude: float = 0.01, seed: int = 0) -> Injected:
    """Add white Gaussian noise of standard deviation ``amplitude`` (m, per coordinate)
    to every body position. Expected: ``jitter_body = amplitude`` (for a smooth clip)."""
    rng = np.random.default_rng(seed)
    bp = np.asarray(clip.body_pos, np.float64) + amplitude * rng.standard_normal(
        clip.body_pos.shape
    )
    return Injected(clip.with_arrays(body_pos=bp.astype(np.float32)), {"jitter_body": amplitude})
