"""Fixtures for scene and replay tests: a toy humanoid and a box object."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import mujoco
import pytest
import trimesh

from intermimic.objects import DecompositionSettings, ObjectSettings, SimObject, build_object

BOX_HALF = 0.2  # m, half edge of the test box


def load_toy_humanoid() -> ModuleType:
    """tests/sim/toy_humanoid.py as a module (test folders are not packages)."""
    path = Path(__file__).with_name("toy_humanoid.py")
    spec = importlib.util.spec_from_file_location("intermimic_tests_toy_humanoid", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOY = load_toy_humanoid()


@pytest.fixture(scope="session")
def toy() -> ModuleType:
    """The toy humanoid module: ``toy_humanoid_spec()``, ``BODY_RADIUS``, ``TOE_DROP``."""
    return TOY


@pytest.fixture(scope="session")
def box_half() -> float:
    return BOX_HALF


@pytest.fixture()
def humanoid_spec() -> mujoco.MjSpec:
    return TOY.toy_humanoid_spec()


@pytest.fixture(scope="session")
def box_object(tmp_path_factory: pytest.TempPathFactory) -> SimObject:
    path = tmp_path_factory.mktemp("objects") / "box.obj"
    trimesh.creation.box(extents=[2 * BOX_HALF] * 3).export(path)
    settings = ObjectSettings(decomposition=DecompositionSettings(method="hull"))
    return build_object(path, settings, name="box")


@pytest.fixture()
def reference_mjcf(shared_data: Path) -> Path:
    path = shared_data / "humanoid" / "smplx_humanoid_intermimic.xml"
    if not path.is_file():
        pytest.skip("reference humanoid MJCF not in the sample data")
    return path
