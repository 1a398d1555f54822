"""The MoCap artifact report of one clip: per-frame series and per-clip figures.

All lengths in m, speeds in m/s. Body poses follow ``ContactSettings.pose_source``;
body-object distances are always refined here (MuJoCo's exact signed distance to the
object's convex parts near contact), so penetration is measured, not estimated from
surface points.

========================  =============================================================
series ``[T]``            meaning
========================  =============================================================
``min_distance``          minimum signed body-object distance
``unsupported``           1 where the object is lifted or moving and not in free fall
                          (something must hold it)
``floating_gap``          ``max(min_distance, 0)`` on unsupported frames, else 0
``floating``              1 where unsupported and no body within ``support_distance``
``penetration_object``    deepest humanoid-object penetration, ``max(-min_distance, 0)``
``penetration_ground``    deepest humanoid-ground penetration (lowest geom point below 0)
``object_ground``         object lowest point below ground, ``max(-height, 0)``
``foot_skate_speed``      fastest horizontal speed of a foot in ground contact (0 if none)
``foot_skate_sum``        the speeds of the feet in ground contact, summed
``foot_contact_count``    how many feet are in ground contact (0, 1 or 2)
``jitter_body``           high-frequency body position noise (see below)
``jitter_object``         the same for the object position
========================  =============================================================

Jitter: the k-th finite difference (``jitter_order``, default 3) of white noise with
standard deviation ``s`` per coordinate has variance ``C(2k, k) s^2``; smooth motion
contributes ``x^(k) dt^k``, negligible at 30 fps for human motion. So
``sqrt(mean(diff_k(x)^2) / C(2k, k))`` estimates the noise amplitude ``s`` (m) directly.

Foot skating: a foot body (ankle, toe) touches the ground when its lowest geom point
is within ``foot_contact_height`` of its own floor level (the 5th percentile of that
point over the clip, not below 0: a constant offset between the captured feet and the
model's foot boxes must not read as hovering) in this frame and the previous one. The
foot's speed is the horizontal displacement of its touching body's origin (the one
nearest its floor) since the previous frame times fps; 0 when no body touches.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np
from numpy.typing import NDArray

from intermimic.contact.distances import (
    HumanoidGeoms,
    body_poses,
    geom_lowest_z,
    geom_point_distances,
    object_clusters,
    object_ground_distance,
    object_rotations,
    per_body_min,
    pose_geoms,
    refine_distances,
    to_object_frame,
)
from intermimic.contact.errors import AnnotationError
from intermimic.contact.intents import object_motion
from intermimic.contact.settings import GRAVITY, ContactSettings
from intermimic.motion.clip import HOIClip
from intermimic.motion.skeleton import SMPLX_BODY_NAMES
from intermimic.sim.scene import Scene

#: The artifact figures a refinement is judged by, before against after: refine
#: summaries, evaluation reports and exports all show these, in this order.
ARTIFACT_FIGURES = (
    "penetration_object_max",
    "penetration_ground_max",
    "floating_fraction",
    "foot_skate_speed_mean",
    "jitter_body",
    "jitter_object",
)
#: The physical ones among them, which a published refinement must not make worse.
PHYSICAL_FIGURES = ARTIFACT_FIGURES[:4]

F64 = NDArray[np.float64]
FEET: tuple[tuple[int, int], ...] = tuple(
    (SMPLX_BODY_NAMES.index(f"{s}_Ankle"), SMPLX_BODY_NAMES.index(f"{s}_Toe")) for s in "LR"
)


@dataclass(frozen=True)
class ArtifactReport:
    """``series``: name -> ``[T]`` float64 (see the module docstring); ``figures``: name
    -> float, the per-clip numbers (m, m/s, fractions in [0, 1])."""

    series: dict[str, F64]
    figures: dict[str, float]

    @property
    def n_frames(self) -> int:
        return int(next(iter(self.series.values())).shape[0]) if self.series else 0


def jitter_series(x: NDArray[np.floating], order: int = 3) -> F64:
    """Per-frame noise amplitude ``[T]`` (m) of positions ``x [T, ..., 3]``: the RMS over
    everything but time of the ``order``-th difference, divided by ``sqrt(C(2k, k))``.
    The first ``order`` frames repeat the first value."""
    a = np.asarray(x, np.float64).reshape(x.shape[0], -1)
    t = a.shape[0]
    if t <= order:
        return np.zeros(t)
    dk = np.diff(a, n=order, axis=0)
    per = np.sqrt((dk * dk).mean(axis=1) / comb(2 * order, order))
    return np.concatenate([np.full(order, per[0]), per])


def jitter_amplitude(x: NDArray[np.floating], order: int = 3) -> float:
    """Noise amplitude (m) of ``x [T, ..., 3]`` over the whole clip (see module doc)."""
    a = np.asarray(x, np.float64).reshape(x.shape[0], -1)
    if a.shape[0] <= order:
        return 0.0
    dk = np.diff(a, n=order, axis=0)
    return float(np.sqrt((dk * dk).mean() / comb(2 * order, order)))


def foot_skating(
    clearance: F64, body_pos: F64, fps: float, contact_height: float
) -> tuple[F64, F64, float]:
    """``(speed [T,2], contact [T,2] 0/1, floor)``: per foot (left, right) horizontal
    speed (m/s) while in ground contact (0 otherwise), the contact mask, and the mean
    floor level used (m). ``clearance [T,52]`` lowest geom point per body, ``body_pos
    [T,52,3]``.

    Each foot body (ankle, toe) gets its own floor: the 5th percentile of its lowest
    point over the clip, not below 0 (the captured foot and the model's foot box need
    not sit at the same height, and heel and toe differ). A body touches the ground when
    it is within ``contact_height`` of its floor in this frame and the previous one; the
    foot's support is its touching body nearest its floor.
    """
    t = clearance.shape[0]
    speed = np.zeros((t, 2))
    contact = np.zeros((t, 2))
    idx = np.array(FEET)  # [2 feet, 2 bodies]
    if t == 0:
        return speed, contact, 0.0
    h = clearance[:, idx]  # [T,2,2]
    floor = np.maximum(np.percentile(h, 5, axis=0), 0.0)  # [2,2]
    above = h - floor
    down = above < contact_height
    if t < 2:
        return speed, contact, float(floor.mean())
    planted = down[1:] & down[:-1]  # [T-1,2,2]
    v = np.linalg.norm(body_pos[1:, idx, :2] - body_pos[:-1, idx, :2], axis=-1) * fps
    # Support: the planted body nearest its floor; a foot without one is in the air.
    key = np.where(planted, above[1:], np.inf)
    pick = np.argmin(key, axis=-1)  # [T-1,2]
    any_planted = planted.any(axis=-1)
    sv = np.take_along_axis(v, pick[..., None], -1)[..., 0]
    speed[1:] = np.where(any_planted, sv, 0.0)
    contact[1:] = any_planted
    return speed, contact, float(floor.mean())


def artifact_report(
    clip: HOIClip, scene: Scene, settings: ContactSettings | None = None
) -> ArtifactReport:
    """Measure floating contact, penetration, foot skating and jitter in ``clip``.

    See the module docstring for every series and :meth:`ArtifactReport.figures` keys:
    ``floating_fraction``, ``floating_gap_max``, ``penetration_object_max``,
    ``penetration_object_mean`` (over all frames), ``penetration_object_frames``
    (fraction of frames with any), ``penetration_ground_max``,
    ``penetration_ground_mean``, ``object_ground_max``, ``foot_skate_speed_max``,
    ``foot_skate_speed_mean`` (over foot-contact frames), ``foot_skate_distance`` (m
    slid in contact, both feet), ``foot_contact_fraction``, ``foot_floor`` (m),
    ``jitter_body``, ``jitter_object`` (m), ``jerk_body_rms`` (m/s^3).
    """
    s = settings or ContactSettings()
    if scene.object is None:
        raise AnnotationError(f"scene for clip {clip.meta.clip_id!r} has no object")
    fps = clip.meta.fps
    geoms = HumanoidGeoms.from_scene(scene)
    bp, bq = body_poses(clip, scene, s)
    wpos, wrot = pose_geoms(geoms, bp, bq)
    opos = np.asarray(clip.obj_pos, np.float64)
    orot = object_rotations(clip)
    lpos, lrot = to_object_frame(wpos, wrot, opos, orot)
    dg = geom_point_distances(geoms, object_clusters(scene.object), lpos, lrot)
    dg, _ = refine_distances(scene, geoms, dg, wpos, wrot, opos, orot, s.refine_within)
    d = per_body_min(geoms, dg)
    dmin = d.min(axis=1)
    clearance = per_body_min(geoms, geom_lowest_z(geoms, wpos, wrot))
    og = object_ground_distance(clip, scene.object)

    v, a = object_motion(opos, fps, s.smooth_frames)
    speed = np.linalg.norm(v, axis=1)
    free_fall = np.linalg.norm(a + np.array([0.0, 0.0, GRAVITY]), axis=1) < s.free_fall_tolerance
    unsupported = ((og > s.lift_height) | (speed > s.float_speed)) & ~free_fall
    gap = np.where(unsupported, np.maximum(dmin, 0.0), 0.0)
    floating = unsupported & (dmin > s.support_distance)
    pen_obj = np.maximum(-dmin, 0.0)
    pen_ground = np.maximum(-clearance.min(axis=1), 0.0)
    obj_ground = np.maximum(-og, 0.0)
    skate, contact, floor = foot_skating(clearance, bp, fps, s.foot_contact_height)
    jb = jitter_series(bp, s.jitter_order)
    jo = jitter_series(opos[:, None], s.jitter_order)

    n_contact = float(contact.sum())
    jerk = np.diff(bp, n=3, axis=0) * fps**3 if bp.shape[0] > 3 else np.zeros((1, 1, 3))
    series = {
        "min_distance": dmin,
        "unsupported": unsupported.astype(np.float64),
        "floating_gap": gap,
        "floating": floating.astype(np.float64),
        "penetration_object": pen_obj,
        "penetration_ground": pen_ground,
        "object_ground": obj_ground,
        "foot_skate_speed": skate.max(axis=1),
        # with these two a clip's (or any frame range's) foot_skate_speed_mean is
        # recomputed exactly from the stored series: sum of sums over sum of counts
        "foot_skate_sum": skate.sum(axis=1),
        "foot_contact_count": contact.sum(axis=1).astype(np.float64),
        "jitter_body": jb,
        "jitter_object": jo,
    }

    def mx(x: F64) -> float:
        return float(x.max()) if x.size else 0.0

    def mean(x: F64) -> float:
        return float(x.mean()) if x.size else 0.0

    figures = {
        "floating_fraction": mean(floating.astype(np.float64)),
        "floating_gap_max": mx(gap),
        "penetration_object_max": mx(pen_obj),
        "penetration_object_mean": mean(pen_obj),
        "penetration_object_frames": mean((pen_obj > 0).astype(np.float64)),
        "penetration_ground_max": mx(pen_ground),
        "penetration_ground_mean": mean(pen_ground),
        "object_ground_max": mx(obj_ground),
        "foot_skate_speed_max": mx(skate),
        "foot_skate_speed_mean": float(skate.sum() / n_contact) if n_contact else 0.0,
        "foot_skate_distance": float(skate.sum() / fps),
        "foot_contact_fraction": mean(contact.max(axis=1)),
        "foot_floor": floor,
        "jitter_body": jitter_amplitude(bp, s.jitter_order),
        "jitter_object": jitter_amplitude(opos[:, None], s.jitter_order),
        "jerk_body_rms": float(np.sqrt((jerk * jerk).sum(axis=-1).mean())),
    }
    return ArtifactReport(series=series, figures=figures)
