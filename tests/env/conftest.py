"""Fixtures for the environment tests: an actuated humanoid + box scene, and clips."""

from __future__ import annotations

import pytest
import trimesh

from intermimic.humanoid import HumanoidSettings, build_spec
from intermimic.motion.clip import HOIClip
from intermimic.motion.synthetic import synthetic_clip
from intermimic.objects import DecompositionSettings, ObjectSettings, SimObject, build_object
from intermimic.sim.scene import Scene, build_scene

BOX_EDGE = 0.3  # m


@pytest.fixture(scope="session")
def env_box(tmp_path_factory: pytest.TempPathFactory) -> SimObject:
    path = tmp_path_factory.mktemp("env_objects") / "box.obj"
    trimesh.creation.box(extents=[BOX_EDGE] * 3).export(path)
    settings = ObjectSettings(decomposition=DecompositionSettings(method="hull"), n_points=256)
    return build_object(path, settings, name="box")


@pytest.fixture(scope="session")
def env_scene(env_box: SimObject) -> Scene:
    """The project's humanoid with PD position actuators, a box and the ground."""
    return build_scene(build_spec(settings=HumanoidSettings(actuators="position")), env_box)


@pytest.fixture(scope="session")
def env_clip() -> HOIClip:
    return synthetic_clip(n_frames=40, seed=3)
