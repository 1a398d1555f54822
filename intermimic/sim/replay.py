"""Kinematic replay of a clip in the scene, with penetration diagnostics.

Each frame's humanoid pose (root, joint angles) and object pose are written into
``qpos``; MuJoCo then runs kinematics and collision detection only (no dynamics), and
the contacts it finds tell how deep bodies sink into each other. Three categories are
reported per frame, each as the deepest penetration (m, >= 0):

* ``humanoid_ground``: any humanoid geom below the ground plane (feet through floor);
* ``humanoid_object``: any humanoid geom inside the object's convex collision parts;
* ``object_ground``: the object's parts below the ground plane.

Contacts between two humanoid geoms are ignored (the capsules of neighbouring limbs
overlap by design).

Penetration is zero when bodies float, so the report also has ``ground_clearance``: the
signed distance from the ground to the humanoid's lowest geom (m; > 0 hovering, < 0
sunk in), which shows a humanoid whose feet never reach the floor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import mujoco
import numpy as np
from numpy.typing import NDArray

from intermimic.motion.clip import HOIClip
from intermimic.motion.kinematics import clip_to_qpos
from intermimic.sim.scene import Scene

CATEGORIES: tuple[str, ...] = ("humanoid_ground", "humanoid_object", "object_ground")
# Clearance is measured up to this distance (m); a humanoid higher up reads as this value.
MAX_CLEARANCE = 1.0


def humanoid_qpos(clip: HOIClip) -> NDArray[np.float64]:
    """``[T, 160]`` humanoid qpos: root position, root quaternion (w x y z), 51 x 3 hinge angles."""
    return np.asarray(clip_to_qpos(clip), dtype=np.float64)


@dataclass(frozen=True)
class PenetrationReport:
    """Deepest penetration per frame and category, ``[T]`` float64 each (m, >= 0), and
    ``ground_clearance`` ``[T]`` (m, signed, capped at :data:`MAX_CLEARANCE`)."""

    humanoid_ground: NDArray[np.float64]
    humanoid_object: NDArray[np.float64]
    object_ground: NDArray[np.float64]
    ground_clearance: NDArray[np.float64]

    @property
    def n_frames(self) -> int:
        return int(self.humanoid_ground.shape[0])

    def summary(self) -> dict[str, float]:
        """``{category}_max`` and ``{category}_mean`` in metres, for metadata and reports."""
        out: dict[str, float] = {}
        for name in CATEGORIES:
            arr = getattr(self, name)
            out[f"{name}_max"] = float(arr.max()) if arr.size else 0.0
            out[f"{name}_mean"] = float(arr.mean()) if arr.size else 0.0
        c = self.ground_clearance
        out["ground_clearance_min"] = float(c.min()) if c.size else 0.0
        out["ground_clearance_median"] = float(np.median(c)) if c.size else 0.0
        return out


def _category_masks(scene: Scene) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]:
    n = scene.model.ngeom
    human = np.zeros(n, bool)
    human[scene.humanoid_geom_ids] = True
    obj = np.zeros(n, bool)
    obj[scene.object_geom_ids] = True
    ground = np.zeros(n, bool)
    ground[scene.ground_geom_id] = True
    return human, obj, ground


def penetration_depths(scene: Scene, data: mujoco.MjData) -> tuple[float, float, float]:
    """Deepest (humanoid-ground, humanoid-object, object-ground) penetration in ``data``'s
    current contacts (m, >= 0). Call after :func:`mujoco.mj_collision` or ``mj_forward``."""
    human, obj, ground = _category_masks(scene)
    return _depths(data, human, obj, ground)


def _depths(
    data: mujoco.MjData, human: NDArray[np.bool_], obj: NDArray[np.bool_], ground: NDArray[np.bool_]
) -> tuple[float, float, float]:
    n = data.ncon
    if n == 0:
        return 0.0, 0.0, 0.0
    g = data.contact.geom[:n]
    # dist < 0 is penetration; contacts inside the margin (dist >= 0) are only near.
    depth = np.maximum(-data.contact.dist[:n], 0.0)
    a, b = g[:, 0], g[:, 1]

    def deepest(m1: NDArray[np.bool_], m2: NDArray[np.bool_]) -> float:
        sel = (m1[a] & m2[b]) | (m2[a] & m1[b])
        return float(depth[sel].max()) if sel.any() else 0.0

    return deepest(human, ground), deepest(human, obj), deepest(obj, ground)


def ground_clearance(scene: Scene, data: mujoco.MjData) -> float:
    """Signed distance (m) from the ground plane to the nearest humanoid geom in ``data``
    (kinematics must be current): > 0 the humanoid hovers, < 0 it is sunk in."""
    fromto = np.zeros(6)
    best = MAX_CLEARANCE
    for g in scene.humanoid_geom_ids:
        dist = mujoco.mj_geomDistance(
            scene.model, data, scene.ground_geom_id, int(g), MAX_CLEARANCE, fromto
        )
        best = min(best, dist)
    return float(best)


def replay_states(
    scene: Scene, clip: HOIClip, data: mujoco.MjData | None = None
) -> Iterator[tuple[int, mujoco.MjData]]:
    """Yield ``(frame, data)`` with each frame's pose written and kinematics + collision run.

    The same ``data`` is reused: copy what you need before the next iteration.
    """
    d = data if data is not None else scene.make_data()
    q = humanoid_qpos(clip)
    obj_pos = clip.obj_pos.astype(np.float64)
    obj_quat = clip.obj_quat.astype(np.float64)
    for t in range(clip.n_frames):
        scene.set_state(d, q[t], obj_pos[t], obj_quat[t])
        # Kinematics and collision only: no velocities, forces or constraint solve.
        mujoco.mj_kinematics(scene.model, d)
        mujoco.mj_collision(scene.model, d)
        yield t, d


def replay_clip(
    scene: Scene,
    clip: HOIClip,
    on_frame: Callable[[int, mujoco.MjData], None] | None = None,
) -> PenetrationReport:
    """Replay ``clip`` kinematically and measure penetration per frame (see module doc)."""
    human, obj, ground = _category_masks(scene)
    out = np.zeros((clip.n_frames, 3), np.float64)
    clearance = np.zeros(clip.n_frames, np.float64)
    for t, d in replay_states(scene, clip):
        out[t] = _depths(d, human, obj, ground)
        clearance[t] = ground_clearance(scene, d)
        if on_frame is not None:
            on_frame(t, d)
    return PenetrationReport(out[:, 0].copy(), out[:, 1].copy(), out[:, 2].copy(), clearance)
