"""Simulation: the MuJoCo scene (humanoid + object + ground) and kinematic replay."""

from __future__ import annotations

from intermimic.sim.backend import (
    PARTNERS,
    BodyStates,
    SimBackend,
    SimTensors,
    UnknownBackendError,
)
from intermimic.sim.factory import (
    BACKENDS,
    DEFAULT_BACKEND,
    BackendUnavailableError,
    make_backend,
    warp_available,
)
from intermimic.sim.mujoco_backend import (
    MujocoBackend,
    MujocoSettings,
    PhysicsSettings,
    standing_qpos,
)
from intermimic.sim.pd import (
    ActionMap,
    ActionSettings,
    ActuatorError,
    NonFiniteActionError,
    require_position_actuators,
)
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
    "BACKENDS",
    "DEFAULT_BACKEND",
    "FOOT_BODY_NAMES",
    "HAND_BODY_NAMES",
    "KEY_BODY_NAMES",
    "PARTNERS",
    "PHYSICS_DT",
    "ActionMap",
    "ActionSettings",
    "ActuatorError",
    "BackendUnavailableError",
    "BodyStates",
    "MujocoBackend",
    "MujocoSettings",
    "NonFiniteActionError",
    "PenetrationReport",
    "PhysicsSettings",
    "Scene",
    "SceneError",
    "SceneSettings",
    "SimBackend",
    "SimTensors",
    "UnknownBackendError",
    "build_scene",
    "ground_clearance",
    "humanoid_qpos",
    "make_backend",
    "penetration_depths",
    "replay_clip",
    "replay_states",
    "require_position_actuators",
    "standing_qpos",
    "warp_available",
]
