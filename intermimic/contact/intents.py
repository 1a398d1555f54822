"""Contact intents from kinematic cues: per-body labels, hand intents, object flag.

Rules (thresholds in :class:`~intermimic.contact.settings.ContactSettings`, defaults
after InterAct's labelling, see ``../shared/data/README.md``):

* the object is *held* when it is lifted (lowest point above ``lift_height``) and not in
  free fall (its acceleration differs from gravity by more than
  ``free_fall_tolerance``); optionally also when it moves faster than ``moving_speed``;
* object flag: held, or the minimum body-object distance under
  ``object_contact_distance``; forced off when that minimum exceeds
  ``object_release_distance``;
* body label: +1 within ``max(min distance, 0) + contact_margin`` while the flag is on
  (``free_contact_distance`` while it is off), -1 beyond ``far_distance``, else 0. The
  minimum is clamped at 0 because our distances are signed (geoms overlap the object
  in MoCap) while InterAct's point-to-point distances are not; with
  ``label_groups="smplx_parts"`` each hand's wrist + thumb, and its four other
  fingers, are labelled as one part each (their minimum distance), as in InterAct's
  labels, which come from SMPL-X's vertex segmentation (checked on the sample: those
  columns are identical in every frame);
* hand intent (left, right; the paper's contact-guided hands): +1 when any body of the
  hand (wrist and its 15 finger bodies) is +1, -1 when all are -1, else 0;
* runs shorter than ``min_duration`` frames are merged into the run before them
  (flicker removal), for the flag, every body's labels and the hand intents.

The clip's own labels (``clip.contact``, ``clip.obj_contact``) are never read here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from intermimic.contact.distances import body_object_distances, object_ground_distance
from intermimic.contact.errors import AnnotationError
from intermimic.contact.settings import GRAVITY, ContactSettings
from intermimic.motion.clip import HOIClip
from intermimic.motion.skeleton import SMPLX_BODY_NAMES
from intermimic.sim.scene import LEFT_HAND_NAMES, RIGHT_HAND_NAMES, Scene

LEFT_HAND = np.array([SMPLX_BODY_NAMES.index(n) for n in LEFT_HAND_NAMES])
RIGHT_HAND = np.array([SMPLX_BODY_NAMES.index(n) for n in RIGHT_HAND_NAMES])


def _part(side: str, fingers: tuple[str, ...], wrist: bool) -> NDArray[np.int64]:
    names = ([f"{side}_Wrist"] if wrist else []) + [
        f"{side}_{f}{k}" for f in fingers for k in (1, 2, 3)
    ]
    return np.array([SMPLX_BODY_NAMES.index(n) for n in names], np.int64)


# SMPL-X segmentation parts that span several of our bodies: palm + thumb, four fingers.
SMPLX_PARTS: tuple[NDArray[np.int64], ...] = tuple(
    part
    for side in ("L", "R")
    for part in (
        _part(side, ("Thumb",), wrist=True),
        _part(side, ("Index", "Middle", "Pinky", "Ring"), wrist=False),
    )
)


def part_distances(d: NDArray[np.floating]) -> NDArray[np.float64]:
    """``[T,52]`` distances where each body of a :data:`SMPLX_PARTS` part carries the
    part's minimum."""
    out = np.array(d, np.float64, copy=True)
    for idx in SMPLX_PARTS:
        out[:, idx] = out[:, idx].min(axis=1, keepdims=True)
    return out


@dataclass(frozen=True)
class ContactAnnotation:
    """Contact intents of one clip.

    ``labels [T,52]`` int8 (+1 expected, 0 unknown, -1 must not touch), ``obj_contact
    [T]`` int8 (0/1), ``hand_intent [T,2]`` int8 (left, right; +1/0/-1),
    ``distances [T,52]`` float32 signed body-object distance (m), ``obj_ground [T]``
    float32 height of the object's lowest point (m), and ``cues``: ``lifted``,
    ``free_fall``, ``held`` ``[T]`` bool, ``obj_speed`` ``[T]`` (m/s).
    """

    labels: NDArray[np.int8]
    obj_contact: NDArray[np.int8]
    hand_intent: NDArray[np.int8]
    distances: NDArray[np.float32]
    obj_ground: NDArray[np.float32]
    cues: dict[str, NDArray] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.labels.shape[0])


def smooth(x: NDArray[np.floating], window: int) -> NDArray[np.float64]:
    """Centred moving average along axis 0 (edges padded by repetition), same shape."""
    a: NDArray[np.float64] = np.array(x, np.float64)
    if window <= 1 or a.shape[0] < 2:
        return a
    pad = window // 2
    xp = np.concatenate([np.repeat(a[:1], pad, 0), a, np.repeat(a[-1:], window - 1 - pad, 0)])
    cs = np.cumsum(xp, axis=0)
    cs = np.concatenate([np.zeros_like(cs[:1]), cs])
    return (cs[window:] - cs[:-window]) / window


def object_motion(
    obj_pos: NDArray[np.floating], fps: float, window: int = 5
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Object velocity and acceleration ``[T,3]`` (m/s, m/s^2) by central differences of
    the smoothed positions (MoCap noise would otherwise swamp the acceleration)."""
    p = smooth(obj_pos, window)
    if p.shape[0] < 2:
        return np.zeros_like(p), np.zeros_like(p)
    v = np.gradient(p, axis=0) * fps
    a = np.gradient(v, axis=0) * fps
    return v, a


def remove_flicker(x: NDArray, min_len: int) -> NDArray:
    """Copy of ``x [T, ...]`` where runs (along axis 0, per column) shorter than
    ``min_len`` frames take the value of the run before them (the run after, for a short
    first run). A clip shorter than ``min_len`` is returned unchanged."""
    out = np.array(x, copy=True)
    if min_len <= 1 or out.shape[0] < min_len:
        return out
    flat = out.reshape(out.shape[0], -1)
    for col in range(flat.shape[1]):
        v = flat[:, col]
        change = np.flatnonzero(v[1:] != v[:-1]) + 1
        if change.size == 0:
            continue
        starts = np.concatenate([[0], change])
        ends = np.concatenate([change, [len(v)]])
        short = np.flatnonzero(ends - starts < min_len)
        if short.size == 0:
            continue
        for i in short:
            if i > 0:
                v[starts[i] : ends[i]] = v[starts[i] - 1]
            elif len(starts) > 1:
                v[starts[i] : ends[i]] = v[ends[i]]
    return out


def object_flag(
    dmin: NDArray[np.floating],
    obj_ground: NDArray[np.floating],
    obj_pos: NDArray[np.floating],
    fps: float,
    settings: ContactSettings,
) -> tuple[NDArray[np.bool_], dict[str, NDArray]]:
    """The object-in-contact flag ``[T]`` (before flicker removal) and its cues."""
    s = settings
    v, a = object_motion(obj_pos, fps, s.smooth_frames)
    speed = np.linalg.norm(v, axis=1)
    # Free fall: the only acceleration is gravity's.
    free_fall = np.linalg.norm(a + np.array([0.0, 0.0, GRAVITY]), axis=1) < s.free_fall_tolerance
    lifted = np.asarray(obj_ground) > s.lift_height
    held = lifted & ~free_fall
    if s.moving_speed is not None:
        held |= (speed > s.moving_speed) & ~free_fall
    flag = (dmin < s.object_contact_distance) | held
    flag &= dmin <= s.object_release_distance
    cues = {"lifted": lifted, "free_fall": free_fall, "held": held, "obj_speed": speed}
    return flag, cues


def body_labels(
    d: NDArray[np.floating], flag: NDArray[np.bool_], settings: ContactSettings
) -> NDArray[np.int8]:
    """``[T,B]`` labels from distances ``d [T,B]`` and the object flag ``[T]``."""
    s = settings
    if s.label_groups == "smplx_parts":
        d = part_distances(d)
    dmin = d.min(axis=1)
    thr = np.where(flag, np.maximum(dmin, 0.0) + s.contact_margin, s.free_contact_distance)
    labels = np.zeros(d.shape, np.int8)
    labels[d > s.far_distance] = -1
    labels[d <= thr[:, None]] = 1
    return labels


def hand_intents(labels: NDArray[np.int8]) -> NDArray[np.int8]:
    """``[T,2]`` (left, right) hand intent from body labels ``[T,52]``."""
    out = np.zeros((labels.shape[0], 2), np.int8)
    for k, idx in enumerate((LEFT_HAND, RIGHT_HAND)):
        h = labels[:, idx]
        out[(h == -1).all(axis=1), k] = -1
        out[(h == 1).any(axis=1), k] = 1
    return out


def intents_from_distances(
    d: NDArray[np.floating],
    obj_ground: NDArray[np.floating],
    obj_pos: NDArray[np.floating],
    fps: float,
    settings: ContactSettings | None = None,
) -> ContactAnnotation:
    """The annotation from precomputed distances ``d [T,52]`` (m), the object's lowest
    point ``obj_ground [T]`` (m) and its position ``obj_pos [T,3]`` (m) at ``fps``."""
    s = settings or ContactSettings()
    d = np.asarray(d, np.float64)
    dmin = d.min(axis=1)
    flag, cues = object_flag(dmin, obj_ground, obj_pos, fps, s)
    flag = remove_flicker(flag, s.min_duration)
    labels = remove_flicker(body_labels(d, flag, s), s.min_duration)
    hands = remove_flicker(hand_intents(labels), s.min_duration)
    return ContactAnnotation(
        labels=labels,
        obj_contact=flag.astype(np.int8),
        hand_intent=hands,
        distances=d.astype(np.float32),
        obj_ground=np.asarray(obj_ground, np.float32),
        cues=cues,
    )


def annotate(
    clip: HOIClip, scene: Scene, settings: ContactSettings | None = None
) -> ContactAnnotation:
    """Contact intents of ``clip`` in ``scene`` (humanoid + the clip's object).

    Raises :class:`~intermimic.contact.errors.AnnotationError` for a clip without the 52
    SMPL-X bodies or a scene without an object.
    """
    s = settings or ContactSettings()
    if scene.object is None:
        raise AnnotationError(f"scene for clip {clip.meta.clip_id!r} has no object")
    d = body_object_distances(clip, scene, s)
    og = object_ground_distance(clip, scene.object)
    return intents_from_distances(d, og, clip.obj_pos, clip.meta.fps, s)
