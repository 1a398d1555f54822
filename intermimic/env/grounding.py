"""Put the reference humanoid's feet on the simulated ground.

Captured motion and the simulated body disagree on where the soles are: on the OMOMO
sample the SMPL-X ankle joints sit about 5 cm above the floor while the humanoid's foot
boxes end near the joints, so the reference, taken as it is, holds the simulated
humanoid 5-10 cm in the air. The first simulated steps then drop it to the ground and
every body-position error starts at that height (InterMimic's own refined files are
8-9 cm lower than the raw ones for the same reason). :func:`ground_offset` measures the
height of the humanoid's lowest geom above the ground over a clip; the reference
humanoid (root and bodies, not the object) is shifted down by it.

One offset per clip assumes the capture's floor is level in time, and it is not: on
``sub2_largetable_000`` the lowest foot joint sits 3.0 cm up over the first eighth of the
clip and 0.7-2.2 cm later, so with one offset the clip's first frames stand 3.4 cm in the
air, the simulated humanoid drops in its first steps and its feet drag. :func:`ground_offsets`
measures the same percentile over a sliding window instead (``EnvSettings.ground_window``),
smoothed, one offset per frame.
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
    return geoms_clearance(scene, scene.humanoid_qpos_adr, scene.humanoid_geom_ids, humanoid_qpos)


def geoms_clearance(
    scene: Scene,
    qpos_adr: NDArray[np.integer],
    geoms: NDArray[np.integer],
    qpos: NDArray[np.floating],
) -> NDArray[np.float64]:
    """``[T]`` the lowest of ``geoms``' signed distances to the ground (m) with the scene's
    ``qpos[qpos_adr]`` set to each row of ``qpos [T, len(qpos_adr)]`` (the rest of the
    state at its defaults; negative: penetration)."""
    m = scene.model
    d = mujoco.MjData(m)
    rows = np.asarray(qpos, np.float64)
    out = np.empty(len(rows))
    ground = int(scene.ground_geom_id)
    ids = [int(g) for g in geoms]
    for t, q in enumerate(rows):
        d.qpos[qpos_adr] = q
        mujoco.mj_kinematics(m, d)
        out[t] = min(mujoco.mj_geomDistance(m, d, g, ground, 1.0, None) for g in ids)
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


def ground_offsets(
    scene: Scene,
    humanoid_qpos: NDArray[np.floating],
    fps: float,
    window_s: float,
    percentile: float = 10.0,
) -> NDArray[np.float64]:
    """``[T]`` height (m) to subtract from the reference humanoid at each frame.

    ``window_s`` <= 0: :func:`ground_offset` at every frame (one offset per clip). Else the
    ``percentile`` of the clearance over a centred window of ``window_s`` seconds (cut at
    the clip's ends), then a moving average over the same window: the offset follows a
    drifting capture floor but moves slowly (a 2 cm drift over a 1 s window adds 2 cm/s of
    vertical velocity to the reference, well below a step's). The window must be longer
    than a step, so that a stance foot touches the ground in every window (on the OMOMO
    sample one second holds one to two steps)."""
    hq = np.asarray(humanoid_qpos, np.float64)
    n = len(hq)
    if window_s <= 0 or n < 2:
        return np.full(n, ground_offset(scene, hq, percentile))
    if fps <= 0:
        raise ValueError(f"fps must be > 0 for a windowed ground offset, got {fps}")
    width = max(round(window_s * fps), 1)
    # at least 8 clearance samples per window, every frame at most
    stride = max(width // 8, 1)
    idx = np.unique(np.r_[np.arange(0, n, stride), n - 1])
    clearance = lowest_clearance(scene, hq[idx])
    half = width / 2.0
    rolling = np.array([np.percentile(clearance[np.abs(idx - i) <= half], percentile) for i in idx])
    per_frame = np.interp(np.arange(n), idx, rolling)
    k = width | 1  # odd: centred
    padded = np.pad(per_frame, k // 2, mode="edge")
    return np.convolve(padded, np.full(k, 1.0 / k), mode="valid")
