"""Body-object and ground distances: exact against brute force and MuJoCo."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from intermimic.contact import ContactSettings, body_ground_clearance, body_object_distances
from intermimic.contact.distances import (
    BOX,
    CAPSULE,
    SPHERE,
    HumanoidGeoms,
    PointClusters,
    _signed_d,
    body_poses,
    geom_point_distances,
    object_ground_distance,
    object_rotations,
    pose_geoms,
    refine_distances,
    to_object_frame,
)
from intermimic.contact.intents import RIGHT_HAND


def _local_poses(clip, scene):
    geoms = HumanoidGeoms.from_scene(scene)
    bp, bq = body_poses(clip, scene)
    wpos, wrot = pose_geoms(geoms, bp, bq)
    lpos, lrot = to_object_frame(wpos, wrot, clip.obj_pos.astype(float), object_rotations(clip))
    return geoms, wpos, wrot, lpos, lrot


def test_geom_point_distances_match_brute_force(box_scene, clean_clip):
    clip = clean_clip.with_arrays(obj_pos=clean_clip.obj_pos + np.float32([0.1, 0.05, 0.02]))
    geoms, _, _, lpos, lrot = _local_poses(clip, box_scene)
    pts = box_scene.object.points.astype(np.float64)
    fast = geom_point_distances(geoms, PointClusters.build(pts), lpos, lrot, exact_within=10.0)
    brute = np.empty_like(fast)
    for kind in (SPHERE, CAPSULE, BOX):
        sel = np.flatnonzero(geoms.kind == kind)
        brute[:, sel] = _signed_d(
            kind, pts[:, 0], pts[:, 1], pts[:, 2], lpos[:, sel], lrot[:, sel], geoms.size[sel][None]
        ).min(-1)
    assert np.abs(fast - brute).max() < 1e-6


def test_signed_distance_negative_inside():
    # One sphere of radius 0.1 at the origin; a point at 0.04 from its centre is 6 cm in.
    geoms_pos = np.zeros((1, 1, 3))
    rot = np.eye(3)[None, None]
    d = _signed_d(
        SPHERE,
        np.array([0.04]),
        np.array([0.0]),
        np.array([0.0]),
        geoms_pos,
        rot,
        np.array([[[0.1, 0, 0]]]),
    )
    assert d[0, 0, 0] == pytest.approx(-0.06)
    # A unit box (half 0.5): a point 0.2 inside the +x face.
    d = _signed_d(
        BOX,
        np.array([0.3]),
        np.array([0.0]),
        np.array([0.0]),
        geoms_pos,
        rot,
        np.array([[[0.5, 0.5, 0.5]]]),
    )
    assert d[0, 0, 0] == pytest.approx(-0.2)


def test_clip_and_fk_poses_agree_on_a_clean_clip(box_scene, clean_clip):
    a = body_object_distances(clean_clip, box_scene, ContactSettings(pose_source="clip"))
    b = body_object_distances(clean_clip, box_scene, ContactSettings(pose_source="fk"))
    assert a.shape == (clean_clip.n_frames, 52)
    assert np.abs(a - b).max() < 1e-5


def test_clean_clip_touches_with_the_right_hand(box_scene, clean_clip):
    d = body_object_distances(clean_clip, box_scene, ContactSettings(refine=True))
    assert np.abs(d.min(axis=1)).max() < 1e-4  # touching, not penetrating, every frame
    assert np.isin(d.argmin(axis=1), RIGHT_HAND).all()


def test_refinement_matches_mujoco_kinematics(box_scene, clean_clip):
    """Poses written straight into geom_xpos/xmat give what mj_kinematics would."""
    clip = clean_clip.slice(0, 5)
    clip = clip.with_arrays(obj_pos=clip.obj_pos + np.float32([0, 0, -0.01]))
    geoms, wpos, wrot, lpos, lrot = _local_poses(clip, box_scene)
    opos, orot = clip.obj_pos.astype(float), object_rotations(clip)
    coarse = geom_point_distances(geoms, box_scene.object.points, lpos, lrot)
    refined, calls = refine_distances(box_scene, geoms, coarse, wpos, wrot, opos, orot, 0.05)
    assert calls > 0
    m = box_scene.model
    data = mujoco.MjData(m)
    fromto = np.zeros(6)
    from intermimic.sim.replay import humanoid_qpos

    q = humanoid_qpos(clip)
    for t in range(clip.n_frames):
        box_scene.set_state(data, q[t], opos[t], clip.obj_quat[t])
        mujoco.mj_kinematics(m, data)
        g = int(np.argmin(refined[t]))
        ref = min(
            mujoco.mj_geomDistance(m, data, int(geoms.geom_id[g]), int(p), 0.1, fromto)
            for p in box_scene.object_geom_ids
            if m.geom_contype[p]
        )
        assert refined[t, g] == pytest.approx(ref, abs=1e-5)


def test_object_ground_distance_is_the_lowest_corner(box_scene, clean_clip):
    clip = clean_clip.slice(0, 3)
    angle = np.pi / 4  # rotate 45 degrees about x: a box edge points down
    quat = np.float32([np.cos(angle / 2), np.sin(angle / 2), 0, 0])
    pos = np.float32([[0, 0, 1.0]] * 3)
    clip = clip.with_arrays(obj_pos=pos, obj_quat=np.tile(quat, (3, 1)))
    h = object_ground_distance(clip, box_scene.object)
    half = 0.15
    assert h == pytest.approx(np.full(3, 1.0 - half * np.sqrt(2)), abs=1e-6)


def test_feet_stand_on_the_ground(box_scene, clean_clip):
    c = body_ground_clearance(clean_clip, box_scene)
    assert c.shape == (clean_clip.n_frames, 52)
    assert c.min() == pytest.approx(0.0, abs=1e-6)
