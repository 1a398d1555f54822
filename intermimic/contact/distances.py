"""Per-frame distances: humanoid bodies to the object, humanoid and object to the ground.

Body poses come from the clip's ``body_pos``/``body_quat`` by default (the captured
subject, which is what the file's own contact labels were computed on), or from FK of
the clip's joint angles over the scene's humanoid (``ContactSettings.pose_source =
"fk"``, what a kinematic replay shows). Either way the *shapes* are the scene humanoid's
collision geoms (capsules, boxes, spheres) placed in each body's frame: the builder's
default skeleton, a fitted one, or any MJCF with the SMPL-X body names.

Body-object distance (m, signed: < 0 when a geom overlaps the object), in two steps:

1. Surface points, vectorised (always): the signed distance from each geom to the
   object's surface points (``SimObject.points``, object frame), analytic for capsule /
   box / sphere, minimum over points. Geoms are moved into the object frame, so the
   points never move; the points are split once into equal leaves
   (:class:`PointClusters`) and only the few leaves whose bounding sphere can hold the
   nearest point are searched. Exact for the point set (float32) within
   ``exact_within`` (0.25 m); against the true surface it overestimates by up to about
   half the point spacing (a few cm on the 1024-point table), and a thin geom pushed
   through a face may read positive. This is what InterAct's labels used and what
   :func:`~intermimic.contact.intents.annotate` uses by default.
2. Refinement (``ContactSettings.refine``, and always in the artifact report): pairs
   closer than ``refine_within`` get MuJoCo's exact signed geom distance
   (``mj_geomDistance``) to the object's convex collision parts, negative inside: the
   penetration depth. Geom poses are written straight into ``geom_xpos``/``geom_xmat``,
   so clip poses need no joint angles. Convex parts over-approximate concave objects, so
   this can read a little deeper than the mesh itself.

Object-ground distance: the lowest point of the object's mesh above ``z = 0`` (exact: a
linear function over the mesh reaches its minimum at a vertex of its convex hull).
Body-ground clearance: each geom's lowest point, analytic.

Speed (sample, 5834 frames, one core, numpy): about 3,000-4,000 frames/s for all 52
bodies on an idle machine (``bench/annotate.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
import trimesh
from numpy.typing import NDArray

from intermimic.contact.errors import AnnotationError
from intermimic.contact.settings import ContactSettings
from intermimic.motion.clip import HOIClip
from intermimic.motion.kinematics import KinematicTree, clip_to_qpos, fk, quat_to_matrix
from intermimic.motion.skeleton import N_BODIES
from intermimic.objects.model import SimObject
from intermimic.sim.scene import Scene

F64 = NDArray[np.float64]
SPHERE, CAPSULE, BOX = 0, 1, 2
_KINDS = {
    int(mujoco.mjtGeom.mjGEOM_SPHERE): SPHERE,
    int(mujoco.mjtGeom.mjGEOM_CAPSULE): CAPSULE,
    int(mujoco.mjtGeom.mjGEOM_BOX): BOX,
}


@dataclass(frozen=True)
class HumanoidGeoms:
    """The humanoid's collision geoms in their bodies' frames.

    ``body [G]`` SMPL-X body index, ``kind [G]`` (0 sphere, 1 capsule along local z,
    2 box), ``pos [G,3]`` and ``rot [G,3,3]`` the geom frame in the body frame,
    ``size [G,3]`` (sphere/capsule radius then capsule half length; box half sizes),
    ``geom_id [G]`` the MuJoCo geom ids, ``radius [G]`` a bounding-sphere radius.
    """

    body: NDArray[np.int64]
    kind: NDArray[np.int64]
    pos: F64
    rot: F64
    size: F64
    geom_id: NDArray[np.int64]
    radius: F64

    @classmethod
    def from_scene(cls, scene: Scene) -> HumanoidGeoms:
        m = scene.model
        body, kind, gid = [], [], []
        for b, geoms in enumerate(scene.geoms_per_body):
            for g in geoms:
                if int(m.geom_contype[g]) == 0 and int(m.geom_conaffinity[g]) == 0:
                    continue  # visual only
                t = int(m.geom_type[g])
                if t not in _KINDS:
                    raise AnnotationError(
                        f"humanoid geom {g} of body {b} has type {mujoco.mjtGeom(t).name}; "
                        "contact annotation handles capsules, boxes and spheres"
                    )
                body.append(b)
                kind.append(_KINDS[t])
                gid.append(int(g))
        ids = np.asarray(gid, np.int64)
        size = m.geom_size[ids].astype(np.float64)
        k = np.asarray(kind, np.int64)
        radius = np.where(
            k == SPHERE,
            size[:, 0],
            np.where(k == CAPSULE, size[:, 0] + size[:, 1], np.linalg.norm(size, axis=1)),
        )
        return cls(
            body=np.asarray(body, np.int64),
            kind=k,
            pos=m.geom_pos[ids].astype(np.float64),
            rot=quat_to_matrix(m.geom_quat[ids]),
            size=size,
            geom_id=ids,
            radius=radius,
        )

    @property
    def n(self) -> int:
        return int(self.body.shape[0])


def check_clip(clip: HOIClip) -> None:
    """Raise :class:`AnnotationError` naming the clip when its skeleton is not the
    52-body SMPL-X one the humanoid has."""
    if clip.n_bodies != N_BODIES:
        raise AnnotationError(
            f"clip {clip.meta.clip_id!r} has {clip.n_bodies} bodies; the SMPL-X humanoid "
            f"has {N_BODIES} (skeleton mismatch)",
            clip.meta.source_path or None,
        )


def _tree_from_scene(scene: Scene) -> KinematicTree:
    m = scene.model
    ids = scene.humanoid_body_ids
    index = {int(b): i for i, b in enumerate(ids)}
    parents = np.array([index.get(int(m.body_parentid[b]), -1) for b in ids], np.int64)
    return KinematicTree.from_arrays(parents, m.body_pos[ids].copy(), m.body_quat[ids].copy())


def body_poses(
    clip: HOIClip, scene: Scene, settings: ContactSettings | None = None
) -> tuple[F64, F64]:
    """Global body poses used for distances: ``(pos [T,52,3] m, quat [T,52,4] w x y z)``
    from the clip (``pose_source="clip"``) or FK of its joint angles (``"fk"``)."""
    check_clip(clip)
    s = settings or ContactSettings()
    if s.pose_source == "fk":
        return fk(_tree_from_scene(scene), clip_to_qpos(clip))
    return np.asarray(clip.body_pos, np.float64), np.asarray(clip.body_quat, np.float64)


def pose_geoms(geoms: HumanoidGeoms, body_pos: F64, body_quat: F64) -> tuple[F64, F64]:
    """World geom poses ``(pos [T,G,3], rot [T,G,3,3])`` from body poses ``[T,52,3]``,
    ``[T,52,4]``."""
    rb = quat_to_matrix(body_quat[:, geoms.body])  # [T,G,3,3]
    pos = body_pos[:, geoms.body] + np.einsum("tgij,gj->tgi", rb, geoms.pos)
    rot = np.einsum("tgij,gjk->tgik", rb, geoms.rot)
    return pos, rot


def to_object_frame(pos: F64, rot: F64, obj_pos: F64, obj_rot: F64) -> tuple[F64, F64]:
    """World poses ``[T,G,3]``, ``[T,G,3,3]`` -> the object's frame (``obj_rot [T,3,3]``)."""
    rt = np.swapaxes(obj_rot, -1, -2)[:, None]  # [T,1,3,3]
    p = np.einsum("tgij,tgj->tgi", rt, pos - obj_pos[:, None])
    r = rt @ rot
    return p, r


# ---- signed geom-to-points distances (vectorised) ------------------------------------


@dataclass(frozen=True)
class PointClusters:
    """The object's surface points split into ``K`` equal leaves of ``M`` points by
    median bisection: ``points [K,M,3]`` (padded with repeats, which cannot change a
    minimum), ``center [K,3]`` and ``radius [K]`` of each leaf's bounding sphere."""

    points: F64
    center: F64
    radius: F64

    @classmethod
    def build(cls, points: NDArray[np.floating], leaf: int = 16) -> PointClusters:
        pts = np.asarray(points, np.float64).reshape(-1, 3)
        if pts.shape[0] == 0:
            raise AnnotationError("object has no surface points")
        n_leaves = 1
        while n_leaves * leaf < pts.shape[0]:
            n_leaves *= 2
        idx = np.resize(np.arange(pts.shape[0]), n_leaves * leaf)
        groups = [idx]
        while len(groups) < n_leaves:
            nxt = []
            for gi in groups:
                p = pts[gi]
                axis = int(np.argmax(p.max(0) - p.min(0)))
                order = gi[np.argsort(p[:, axis], kind="stable")]
                half = len(order) // 2
                nxt += [order[:half], order[half:]]
            groups = nxt
        leaves = pts[np.stack(groups)]  # [K,M,3]
        center = 0.5 * (leaves.min(1) + leaves.max(1))
        radius = np.linalg.norm(leaves - center[:, None], axis=-1).max(1)
        return cls(leaves, center, radius)


def _signed_d(
    kind: int, x: NDArray, y: NDArray, z: NDArray, p: NDArray, r: NDArray, size: NDArray
) -> NDArray:
    """Signed distance ``[C,G,N]`` of points (coordinates ``x, y, z``, each broadcastable
    to ``[C,G,N]``) to geoms of one kind posed ``p [C,G,3]``, ``r [C,G,3,3]`` (geom to
    frame), sized ``size [C or 1,G,3]``.

    Components are kept as separate arrays (structure of arrays): numpy is several times
    faster on those than on a trailing axis of length 3. Direct differences, no
    expanded squares, so float32 keeps sub-micrometre precision in the object frame.
    """
    dx = x - p[..., 0, None]
    dy = y - p[..., 1, None]
    dz = z - p[..., 2, None]
    if kind == SPHERE:
        return np.sqrt(dx * dx + dy * dy + dz * dz) - size[..., 0, None]
    if kind == BOX:
        axes = []
        for j in range(3):
            q = dx * r[..., 0, j, None] + dy * r[..., 1, j, None] + dz * r[..., 2, j, None]
            axes.append(np.abs(q) - size[..., j, None])
        o0, o1, o2 = (np.maximum(a, 0) for a in axes)
        inside = np.maximum(np.maximum(axes[0], axes[1]), axes[2])
        return np.sqrt(o0 * o0 + o1 * o1 + o2 * o2) + np.minimum(inside, 0)
    # Capsule along the geom's local z, half length size[1]: from p - h ez to p + h ez.
    h = size[..., 1]
    ux, uy, uz = (r[..., k, 2] * h for k in range(3))
    dx, dy, dz = dx + ux[..., None], dy + uy[..., None], dz + uz[..., None]  # from end a
    inv = 1.0 / np.maximum(4.0 * (ux * ux + uy * uy + uz * uz), 1e-12)
    s = np.clip(
        (dx * ux[..., None] + dy * uy[..., None] + dz * uz[..., None]) * (2.0 * inv)[..., None],
        0.0,
        1.0,
    )
    s *= 2.0
    ex = dx - s * ux[..., None]
    ey = dy - s * uy[..., None]
    ez = dz - s * uz[..., None]
    return np.sqrt(ex * ex + ey * ey + ez * ez) - size[..., 0, None]


def geom_point_distances(
    geoms: HumanoidGeoms,
    points: NDArray[np.floating] | PointClusters,
    pos: F64,
    rot: F64,
    chunk: int = 32,
    n_candidates: int = 4,
    exact_within: float = 0.25,
) -> F64:
    """Signed distance ``[T,G]`` (m) of each geom to the nearest of the object's points.

    ``pos [T,G,3]``, ``rot [T,G,3,3]`` are geom poses in the points' frame. Per (frame,
    geom) the point leaves (:class:`PointClusters`) are ranked by a lower bound
    (distance to the leaf centre minus its radius) and the ``n_candidates`` best leaves
    are searched; pairs where another leaf's bound is below the result are searched in
    full. Exact for the point set (float32 arithmetic) whenever any leaf may lie within
    ``exact_within``; for the other pairs the value is the distance to the nearest leaf
    centre (within a leaf radius of the truth, and like it beyond ``exact_within``),
    which nothing downstream depends on.
    """
    cl = points if isinstance(points, PointClusters) else PointClusters.build(points)
    f = np.float32
    k = cl.points.shape[0]
    m = min(n_candidates, k)
    lx, ly, lz = (cl.points[..., j].astype(f) for j in range(3))  # [K,M] each
    cx, cy, cz = (cl.center[:, j].astype(f) for j in range(3))
    crad = cl.radius.astype(f)
    t = pos.shape[0]
    out = np.empty((t, geoms.n))
    pos32, rot32 = pos.astype(f), rot.astype(f)
    for kind in (SPHERE, CAPSULE, BOX):
        sel = np.flatnonzero(geoms.kind == kind)
        if sel.size == 0:
            continue
        size = geoms.size[sel].astype(f)  # [G,3]
        for s0 in range(0, t, chunk):
            p, r = pos32[s0 : s0 + chunk, sel], rot32[s0 : s0 + chunk, sel]
            lb = _signed_d(kind, cx, cy, cz, p, r, size[None]) - crad  # [C,G,K]
            # Far pairs (every leaf's bound beyond exact_within): the distance to the
            # nearest leaf centre, which is beyond exact_within like the true value.
            best = (lb + crad).min(axis=-1)
            ci, gi = np.nonzero(lb.min(axis=-1) < exact_within)
            if ci.size:
                # Near pairs, flattened to [P,1,...]: search the m most promising leaves.
                lbn = lb[ci, gi]  # [P,K]
                pn, rn, sn = p[ci, gi][:, None], r[ci, gi][:, None], size[gi][:, None]
                if m < k:
                    part = np.argpartition(lbn, m, axis=-1)
                    cand = part[:, :m]
                    # Every leaf outside the candidates has a bound >= this one.
                    next_lb = np.take_along_axis(lbn, part[:, m : m + 1], -1)[:, 0]
                else:
                    cand = np.broadcast_to(np.arange(k), (ci.size, k))
                    next_lb = np.full(ci.size, np.inf, f)
                n = ci.size
                near = _signed_d(
                    kind,
                    lx[cand].reshape(n, 1, -1),
                    ly[cand].reshape(n, 1, -1),
                    lz[cand].reshape(n, 1, -1),
                    pn,
                    rn,
                    sn,
                )[:, 0].min(-1)
                # Leaves outside the candidates may still hold a nearer point: search
                # all of them for those pairs (in blocks, vectorised).
                redo = np.flatnonzero((next_lb < near) & (next_lb < exact_within))
                for lo in range(0, redo.size, 64):
                    j = redo[lo : lo + 64]
                    near[j] = _signed_d(
                        kind,
                        lx.reshape(1, 1, -1),
                        ly.reshape(1, 1, -1),
                        lz.reshape(1, 1, -1),
                        pn[j],
                        rn[j],
                        sn[j],
                    )[:, 0].min(-1)
                best[ci, gi] = near
            out[s0 : s0 + chunk, sel] = best
    return out


def per_body_min(geoms: HumanoidGeoms, d: F64, n_bodies: int = N_BODIES) -> F64:
    """``[T,G]`` per-geom values -> ``[T,B]`` minimum over each body's geoms (inf if none)."""
    out = np.full((d.shape[0], n_bodies), np.inf)
    if np.array_equal(geoms.body, np.arange(n_bodies)):
        return d.copy()  # one geom per body, in body order (the builder's humanoid)
    for g, b in enumerate(geoms.body):
        np.minimum(out[:, b], d[:, g], out=out[:, b])
    return out


# ---- exact refinement with MuJoCo ----------------------------------------------------


@dataclass(frozen=True)
class _Parts:
    geom_id: NDArray[np.int64]
    pos: F64  # [P,3] in the object frame
    rot: F64  # [P,3,3]
    center: F64  # [P,3] bounding-sphere centre, object frame
    radius: F64  # [P]


def _object_parts(scene: Scene) -> _Parts:
    m = scene.model
    ids = [
        int(g)
        for g in scene.object_geom_ids
        if m.geom_contype[g] or m.geom_conaffinity[g]  # collision parts, not the visual
    ]
    gid = np.asarray(ids, np.int64)
    pos = m.geom_pos[gid].astype(np.float64)
    rot = quat_to_matrix(m.geom_quat[gid])
    centers, radii = [], []
    for g in gid:
        mid = int(m.geom_dataid[g])
        v0, nv = int(m.mesh_vertadr[mid]), int(m.mesh_vertnum[mid])
        v = m.mesh_vert[v0 : v0 + nv].astype(np.float64)
        mid_pt = 0.5 * (v.min(0) + v.max(0))
        centers.append(mid_pt)
        radii.append(float(np.linalg.norm(v - mid_pt, axis=1).max()))
    c_local = np.asarray(centers).reshape(-1, 3)
    center = pos + np.einsum("pij,pj->pi", rot, c_local)
    return _Parts(gid, pos, rot, center, np.asarray(radii))


def refine_distances(
    scene: Scene,
    geoms: HumanoidGeoms,
    d: F64,
    pos: F64,
    rot: F64,
    obj_pos: F64,
    obj_rot: F64,
    within: float,
) -> tuple[F64, int]:
    """Replace ``d [T,G]`` entries under ``within`` by MuJoCo's exact signed distance to
    the object's convex parts (min over parts). ``pos``/``rot`` are world geom poses.
    Returns the refined copy and the number of ``mj_geomDistance`` calls made."""
    parts = _object_parts(scene)
    out = d.copy()
    if parts.geom_id.size == 0:
        return out, 0
    m = scene.model
    data = mujoco.MjData(m)
    distmax = within + 0.05
    fromto = np.zeros(6)
    # Object-frame geom centres, to cull parts by bounding spheres before the exact call.
    calls = 0
    frames = np.flatnonzero((d < within).any(axis=1))
    for t in frames:
        rt = obj_rot[t]
        data.geom_xpos[parts.geom_id] = obj_pos[t] + parts.pos @ rt.T
        data.geom_xmat[parts.geom_id] = (rt @ parts.rot).reshape(-1, 9)
        for g in np.flatnonzero(d[t] < within):
            gid = int(geoms.geom_id[g])
            data.geom_xpos[gid] = pos[t, g]
            data.geom_xmat[gid] = rot[t, g].reshape(9)
            c_obj = rt.T @ (pos[t, g] - obj_pos[t])
            gap = np.linalg.norm(parts.center - c_obj, axis=1) - parts.radius - geoms.radius[g]
            best = distmax
            for k in np.flatnonzero(gap < distmax):
                calls += 1
                best = min(
                    best,
                    mujoco.mj_geomDistance(m, data, gid, int(parts.geom_id[k]), distmax, fromto),
                )
            if best < distmax:
                out[t, g] = best
    return out, calls


# ---- public functions ----------------------------------------------------------------


def object_rotations(clip: HOIClip) -> F64:
    """``[T,3,3]`` object rotation matrices from ``clip.obj_quat`` (w x y z)."""
    return quat_to_matrix(clip.obj_quat)


def body_object_distances(
    clip: HOIClip, scene: Scene, settings: ContactSettings | None = None
) -> F64:
    """Signed distance ``[T,52]`` (m) from each body's geoms to the object; < 0 overlapping.

    Surface-point distances, refined near contact when ``settings.refine`` (see the
    module docstring). Raises :class:`AnnotationError` when the
    clip does not have the 52 SMPL-X bodies or the scene has no object.
    """
    s = settings or ContactSettings()
    if scene.object is None:
        raise AnnotationError(f"scene for clip {clip.meta.clip_id!r} has no object")
    geoms = HumanoidGeoms.from_scene(scene)
    bp, bq = body_poses(clip, scene, s)
    wpos, wrot = pose_geoms(geoms, bp, bq)
    opos = np.asarray(clip.obj_pos, np.float64)
    orot = object_rotations(clip)
    lpos, lrot = to_object_frame(wpos, wrot, opos, orot)
    d = geom_point_distances(geoms, object_clusters(scene.object), lpos, lrot, s.chunk_frames)
    if s.refine:
        d, _ = refine_distances(scene, geoms, d, wpos, wrot, opos, orot, s.refine_within)
    return per_body_min(geoms, d)


_HULL_CACHE: dict[int, tuple[NDArray[np.floating], F64]] = {}
_CLUSTER_CACHE: dict[int, tuple[NDArray[np.floating], PointClusters]] = {}


def object_clusters(obj: SimObject) -> PointClusters:
    """:class:`PointClusters` of ``obj.points``, built once per points array."""
    key = id(obj.points)
    hit = _CLUSTER_CACHE.get(key)
    # Keep the array itself in the entry so its id cannot be reused by another array.
    if hit is None or hit[0] is not obj.points:
        hit = (obj.points, PointClusters.build(obj.points))
        _CLUSTER_CACHE[key] = hit
    return hit[1]


def hull_vertices(obj: SimObject) -> F64:
    """``[V,3]`` vertices of the convex hull of the object's mesh (object frame, m)."""
    verts = obj.mesh.vertices
    hit = _HULL_CACHE.get(id(verts))
    if hit is None or hit[0] is not verts:
        v = np.asarray(verts, np.float64)
        try:
            hv = np.asarray(trimesh.convex.convex_hull(v).vertices, np.float64)
        except Exception:  # degenerate (flat) meshes: all vertices are still exact
            hv = v
        hit = (verts, hv)
        _HULL_CACHE[id(verts)] = hit
    return hit[1]


def object_ground_distance(clip: HOIClip, obj: SimObject) -> F64:
    """Height ``[T]`` (m) of the object's lowest point above ``z = 0``; < 0 below ground."""
    hv = hull_vertices(obj)
    rot = object_rotations(clip)
    z = np.einsum("tj,vj->tv", rot[:, 2, :], hv).min(axis=1)
    return np.asarray(clip.obj_pos[:, 2], np.float64) + z


def geom_lowest_z(geoms: HumanoidGeoms, pos: F64, rot: F64) -> F64:
    """``[T,G]`` world z (m) of each geom's lowest point (analytic)."""
    size = geoms.size
    sphere = pos[..., 2] - size[:, 0]
    half_axis_z = np.abs(rot[..., 2, 2]) * size[:, 1]
    capsule = pos[..., 2] - half_axis_z - size[:, 0]
    box = pos[..., 2] - np.einsum("tgk,gk->tg", np.abs(rot[..., 2, :]), size)
    return np.where(geoms.kind == SPHERE, sphere, np.where(geoms.kind == CAPSULE, capsule, box))


def body_ground_clearance(
    clip: HOIClip, scene: Scene, settings: ContactSettings | None = None
) -> F64:
    """``[T,52]`` height (m) of each body's lowest geom point above ``z = 0``."""
    geoms = HumanoidGeoms.from_scene(scene)
    bp, bq = body_poses(clip, scene, settings)
    pos, rot = pose_geoms(geoms, bp, bq)
    return per_body_min(geoms, geom_lowest_z(geoms, pos, rot))
