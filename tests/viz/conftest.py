"""Fixtures for rendering tests: toy humanoid, a box object library, a working GL context."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import mujoco
import pytest
import trimesh

from intermimic.objects import DecompositionSettings, ObjectLibrary, ObjectSettings
from intermimic.viz.render import OffscreenRenderer, RendererUnavailableError


def _toy_spec() -> mujoco.MjSpec:
    # The toy humanoid lives beside the scene tests; test folders are not packages.
    path = Path(__file__).parent.parent / "sim" / "toy_humanoid.py"
    spec = importlib.util.spec_from_file_location("intermimic_tests_toy_humanoid", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.toy_humanoid_spec()


@pytest.fixture()
def humanoid_spec() -> mujoco.MjSpec:
    return _toy_spec()


@pytest.fixture(scope="session")
def box_library(tmp_path_factory: pytest.TempPathFactory) -> ObjectLibrary:
    root = tmp_path_factory.mktemp("objects")
    (root / "box").mkdir()
    trimesh.creation.box(extents=(0.3, 0.3, 0.3)).export(root / "box" / "box.obj")
    settings = ObjectSettings(decomposition=DecompositionSettings(method="hull"))
    return ObjectLibrary(root, settings=settings)


@pytest.fixture(scope="session")
def gl() -> None:
    """Skip when this machine cannot create an offscreen OpenGL context."""
    model = mujoco.MjModel.from_xml_string("<mujoco><worldbody/></mujoco>")
    try:
        OffscreenRenderer(model, 32, 32).close()
    except RendererUnavailableError as exc:
        pytest.skip(f"no offscreen renderer: {exc}")
