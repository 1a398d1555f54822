"""Simulation: the MuJoCo scene (humanoid + object + ground) and kinematic replay."""

from __future__ import annotations

from intermimic.sim.replay import (
    PenetrationReport,
    ground_clearance,
    humanoid_qpos,
    penetration_depths,
    replay_clip,
    replay_states,
)
from intermimic.sim.scene import (
    FOOT_BODY_NAMES,
    HAND_BODY_NAMES,
    KEY_BODY_NAMES,
    PHYSICS_DT,
    Scene,
    SceneError,
    SceneSettings,
    build_scene,
)

__all__ = [
    "FOOT_BODY_NAMES",
    "HAND_BODY_NAMES",
    "KEY_BODY_NAMES",
    "PHYSICS_DT",
    "PenetrationReport",
    "Scene",
    "SceneError",
    "SceneSettings",
    "build_scene",
    "ground_clearance",
    "humanoid_qpos",
    "penetration_depths",
    "replay_clip",
    "replay_states",
]
