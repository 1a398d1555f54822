"""Fixtures for contact tests: a box object, its scene, a clean carry clip, the sample."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import trimesh

from intermimic.contact.inject import clean_carry_clip
from intermimic.humanoid import build_spec
from intermimic.motion.clip import HOIClip
from intermimic.objects import (
    DecompositionSettings,
    ObjectLibrary,
    ObjectSettings,
    SimObject,
    build_object,
)
from intermimic.sim import Scene, build_scene

BOX_EDGE = 0.3  # m


@pytest.fixture(scope="session")
def contact_box(tmp_path_factory: pytest.TempPathFactory) -> SimObject:
    folder = tmp_path_factory.mktemp("contact_objects") / "box"
    folder.mkdir()
    trimesh.creation.box(extents=[BOX_EDGE] * 3).export(folder / "box.obj")
    settings = ObjectSettings(decomposition=DecompositionSettings(method="hull"))
    return build_object(folder / "box.obj", settings, name="box")


@pytest.fixture(scope="session")
def box_scene(contact_box: SimObject) -> Scene:
    return build_scene(build_spec(), contact_box)


@pytest.fixture(scope="session")
def clean_clip(box_scene: Scene) -> HOIClip:
    return clean_carry_clip(box_scene, n_frames=90, seed=0)


@pytest.fixture(scope="session")
def sample_clips(sample_raw: Path) -> list[HOIClip]:
    from intermimic.motion.load import read_clip

    return [read_clip(p) for p in sorted(sample_raw.glob("*.pt"))]


@pytest.fixture(scope="session")
def sample_scenes(shared_data: Path) -> dict[str, Scene]:
    lib = ObjectLibrary(shared_data / "objects")
    spec = build_spec()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the sample meshes are open (non-watertight)
        return {n: build_scene(spec, lib.get(n)) for n in lib.names()}
