"""Put the reference humanoid's feet on the simulated ground.

Captured motion and the simulated body disagree on where the soles are: on the OMOMO
sample the SMPL-X ankle joints sit about 5 cm above the floor while the humanoid's foot
boxes end near the joints, so the reference, taken as it is, holds the simulated
humanoid 5-10 cm in the air. The first simulated steps then drop it to the ground and
every body-position error starts at that height (InterMimic's own refined files are
8-9 cm lower than the raw ones for the same reason). :func:`ground_offset` measures the
height of the humanoid's lowest geom above the ground over a clip; the reference
humanoid (root and bodies, not the object) is shifted down by it.
"""

from __future__ import annotations

import mujoco
import numpy as np
from numpy.typing import NDArray

from intermimic.sim.scene import Scene

#: Frames measured per clip at most (evenly spread); the offset is a low percentile.
MAX_FRAMES = 240


def lowest_clearance(scene: Scene, humanoid_qpos: NDArray[np.floating]) -> NDArray[np.float64]:
    """``[T]`` the lowest humanoid geom's signed distance to the ground (m) at each of
    the given humanoid poses ``[T, len(humanoid_qpos_adr)]`` (negative: penetration)."""
    m = scene.model
    d = mujoco.MjData(m)
    hq = np.asarray(humanoid_qpos, np.float64)
    out = np.empty(len(hq))
    ground = int(scene.ground_geom_id)
    geoms = [int(g) for g in scene.humanoid_geom_ids]
    for t, q in enumerate(hq):
        d.qpos[scene.humanoid_qpos_adr] = q
        mujoco.mj_kinematics(m, d)
        out[t] = min(mujoco.mj_geomDistance(m, d, g, ground, 1.0, None) for g in geoms)
    return out


def ground_offset(
    scene: Scene, humanoid_qpos: NDArray[np.floating], percentile: float = 10.0
) -> float:
    """Height (m) to subtract from the reference humanoid so that its lowest geom touches
    the ground, as the ``percentile`` of the per-frame clearance (a low percentile: the
    feet are on the ground most of a clip; frames in the air or a few penetrating ones
    do not decide). Positive lowers the humanoid, negative raises it."""
    hq = np.asarray(humanoid_qpos, np.float64)
    if len(hq) > MAX_FRAMES:
        hq = hq[np.linspace(0, len(hq) - 1, MAX_FRAMES).round().astype(np.int64)]
    clearance = lowest_clearance(scene, hq)
    return float(np.percentile(clearance, percentile))
