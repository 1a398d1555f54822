from __future__ import annotations

import warnings
from pathlib import Path

import mujoco
import numpy as np
import pytest
import trimesh
from pydantic import ValidationError

import intermimic.objects.decompose as decompose
from intermimic.errors import InputError
from intermimic.objects import (
    DecompositionSettings,
    MeshLoadError,
    NonWatertightMeshWarning,
    ObjectLibrary,
    ObjectSettings,
    SamplePointsError,
    UnknownObjectError,
    add_object,
    build_object,
    cache_path,
    convex_parts,
    load_mesh,
    load_sample_points,
    sample_surface_points,
)
from intermimic.objects.model import DEFAULT_DENSITY, DEFAULT_FRICTION, OBJECT_CONAFFINITY

HULL = ObjectSettings(decomposition=DecompositionSettings(method="hull"))
EXTENTS = (0.2, 0.3, 0.4)


@pytest.fixture()
def box_path(tmp_path: Path) -> Path:
    path = tmp_path / "box" / "box.obj"
    path.parent.mkdir()
    trimesh.creation.box(extents=EXTENTS).export(path)
    return path


@pytest.fixture()
def open_box_path(tmp_path: Path) -> Path:
    """A box with one triangle missing: not watertight."""
    box = trimesh.creation.box(extents=EXTENTS)
    path = tmp_path / "open.obj"
    trimesh.Trimesh(box.vertices, box.faces[1:], process=False).export(path)
    return path


def test_load_mesh(box_path: Path) -> None:
    mesh = load_mesh(box_path)
    assert mesh.name == "box"
    assert mesh.watertight
    assert mesh.vertices.shape == (8, 3) and mesh.faces.shape == (12, 3)
    assert mesh.volume == pytest.approx(np.prod(EXTENTS))
    assert len(mesh.sha256) == 64


@pytest.mark.parametrize(
    ("content", "match"),
    [(None, "not found"), (b"", "empty|not a readable"), (b"\x00\x01garbage\xff", "empty|not a")],
)
def test_bad_mesh_names_the_file(tmp_path: Path, content: bytes | None, match: str) -> None:
    path = tmp_path / "bad.obj"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(MeshLoadError, match=match) as info:
        load_mesh(path)
    assert isinstance(info.value, InputError)
    assert info.value.path == str(path)


def test_flat_mesh_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "flat.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv 1 1 0\nf 1 2 3\nf 2 4 3\n")
    with pytest.raises(MeshLoadError, match="flat|empty"):
        load_mesh(path)


def test_build_object_mass_and_points(box_path: Path) -> None:
    obj = build_object(box_path, HULL)
    assert obj.mass_from == "mesh"
    # InterMimic's objectDensity 200 kg/m^3: 200 * 0.2 * 0.3 * 0.4 = 4.8 kg
    assert obj.mass == pytest.approx(4.8)
    # InterMimic's object shape friction 0.6 (not the URDFs' 0.9)
    assert obj.friction == DEFAULT_FRICTION == 0.6
    np.testing.assert_allclose(obj.com, 0.0, atol=1e-9)
    _, b, c = EXTENTS
    assert obj.inertia[0, 0] == pytest.approx(obj.mass * (b * b + c * c) / 12)
    assert obj.points.shape == (1024, 3) and obj.points.dtype == np.float32
    # Every point is on the box surface: one coordinate at a face.
    on_face = np.isclose(np.abs(obj.points), np.array(EXTENTS) / 2, atol=1e-6).any(axis=1)
    assert on_face.all()


def test_default_density_is_the_released_one() -> None:
    assert ObjectSettings().density == DEFAULT_DENSITY == 200.0


@pytest.mark.parametrize("density", [0.0, -200.0])
def test_bad_density_names_the_setting(density: float) -> None:
    with pytest.raises(ValidationError, match="density"):
        ObjectSettings(density=density)


def test_points_are_seeded(box_path: Path) -> None:
    mesh = load_mesh(box_path)
    a = sample_surface_points(mesh, 64, seed=1)
    np.testing.assert_array_equal(a, sample_surface_points(mesh, 64, seed=1))
    assert not np.array_equal(a, sample_surface_points(mesh, 64, seed=2))


def test_provided_points(box_path: Path) -> None:
    pts = np.random.default_rng(0).uniform(-0.1, 0.1, (340, 3))
    np.save(box_path.with_name("sample_points.npy"), pts)
    obj = build_object(box_path, HULL.model_copy(update={"points": "provided"}))
    assert obj.points.shape == (340, 3) and obj.points.dtype == np.float32
    bad = box_path.with_name("bad.npy")
    np.save(bad, np.zeros((5, 2)))
    with pytest.raises(SamplePointsError, match=r"\[N, 3\]"):
        load_sample_points(bad)
    with pytest.raises(SamplePointsError, match="not found"):
        load_sample_points(box_path.with_name("missing.npy"))


def test_open_mesh_warns_and_uses_convex_parts(open_box_path: Path) -> None:
    with pytest.warns(NonWatertightMeshWarning, match="not watertight"):
        obj = build_object(open_box_path, HULL)
    assert obj.mass_from == "convex_parts"
    assert obj.mass == pytest.approx(200.0 * np.prod(EXTENTS), rel=1e-6)


def test_decomposition_cache(
    box_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mesh = load_mesh(box_path)
    settings = DecompositionSettings()
    calls: list[int] = []

    def fake_coacd(m: object, s: object) -> list[tuple[np.ndarray, np.ndarray]]:
        calls.append(1)
        # Two halves of the box, as a decomposition would give.
        lo = trimesh.creation.box(extents=(0.1, 0.3, 0.4))
        lo.apply_translation((-0.05, 0, 0))
        hi = lo.copy()
        hi.apply_translation((0.1, 0, 0))
        return [(lo.vertices, lo.faces), (hi.vertices, hi.faces)]

    monkeypatch.setattr(decompose, "_run_coacd", fake_coacd)
    cache = tmp_path / "cache"
    first = convex_parts(mesh, settings, cache)
    assert cache_path(mesh, settings, cache).is_file()
    second = convex_parts(mesh, settings, cache)
    assert calls == [1]  # the second call read the cache
    assert len(second) == 2
    for (v1, f1), (v2, f2) in zip(first, second, strict=True):
        np.testing.assert_array_equal(v1, v2)
        np.testing.assert_array_equal(f1, f2)
    # Other settings, other cache entry.
    convex_parts(mesh, settings.model_copy(update={"threshold": 0.1}), cache)
    assert calls == [1, 1]
    # A corrupt cache file is rebuilt, not trusted.
    cache_path(mesh, settings, cache).write_bytes(b"junk")
    assert len(convex_parts(mesh, settings, cache)) == 2
    assert len(calls) == 3


def test_add_object_compiles(box_path: Path) -> None:
    obj = build_object(box_path, HULL)
    spec = mujoco.MjSpec()
    add_object(spec, obj)
    model = spec.compile()
    body = model.body("box")
    assert model.body_mass[body.id] == pytest.approx(obj.mass)
    assert model.jnt_type[body.jntadr[0]] == mujoco.mjtJoint.mjJNT_FREE
    colliding = [g for g in range(model.ngeom) if model.geom_contype[g]]
    assert len(colliding) == len(obj.parts)
    # conaffinity 3: the world's bit and the humanoid's (contype 2), see HumanoidSettings
    assert (model.geom_conaffinity[colliding] == OBJECT_CONAFFINITY).all()
    assert OBJECT_CONAFFINITY == 3
    # The material's sliding, torsion and rolling friction (InterMimic: 0.6, 0.01, 0.01);
    # condim 3 contacts use the sliding value only.
    np.testing.assert_allclose(model.geom_friction[colliding], [[0.6, 0.01, 0.01]] * len(colliding))
    assert (model.geom_condim[colliding] == 3).all()


def test_library(box_path: Path) -> None:
    lib = ObjectLibrary(box_path.parent.parent, settings=HULL)
    assert lib.names() == ["box"]
    assert lib.get("box") is lib.get("box")
    with pytest.raises(UnknownObjectError, match="'chair'.*known: box") as info:
        lib.get("chair")
    assert isinstance(info.value, InputError)
    with pytest.raises(UnknownObjectError, match="plain"):
        lib.mesh_path("../box")


def test_sample_objects_load(shared_data: Path) -> None:
    lib = ObjectLibrary(shared_data / "objects", settings=HULL)
    assert {"largetable", "woodchair"} <= set(lib.names())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = lib.get("largetable")
    assert any(issubclass(w.category, NonWatertightMeshWarning) for w in caught)
    assert table.points.shape == (1024, 3)
    pts = load_sample_points(shared_data / "objects" / "largetable" / "sample_points.npy")
    assert pts.shape[1] == 3


@pytest.mark.slow
def test_coacd_decomposition_of_the_table(shared_data: Path, tmp_path: Path) -> None:
    """Real CoACD run (tens of seconds): several parts, then an instant cached rebuild."""
    path = shared_data / "objects" / "largetable" / "largetable.obj"
    mesh = load_mesh(path)
    parts = convex_parts(mesh, DecompositionSettings(), tmp_path)
    assert len(parts) >= 5  # top and four legs at least
    assert len(convex_parts(mesh, DecompositionSettings(), tmp_path)) == len(parts)
