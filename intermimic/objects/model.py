"""A simulated rigid object: mesh, convex collision parts, mass, surface points.

:func:`build_object` turns a mesh file into a :class:`SimObject`;
:func:`add_object` puts it into an ``mujoco.MjSpec`` as a body with a free joint.

Mass: ``density`` times the mesh volume when the mesh is closed (watertight). Captured
meshes are often open surfaces whose "volume" means nothing; for those a
:class:`~intermimic.objects.errors.NonWatertightMeshWarning` is issued and the volume of
the convex collision parts is used instead, i.e. the solid the physics engine collides
with. Inertia is computed the same way and written explicitly on the body.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import mujoco
import numpy as np
import trimesh
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from intermimic.objects.decompose import ConvexPart, DecompositionSettings, convex_parts
from intermimic.objects.errors import NonWatertightMeshWarning, SamplePointsError
from intermimic.objects.mesh import ObjectMesh, load_mesh

# kg/m^3. InterMimic's base teacher config sets ``objectDensity: 200`` for the object
# assets (the OMOMO objects are hollow or light furniture); 1000 appears only in its
# high-fidelity variant config, which this project does not follow (docs/fidelity.md).
DEFAULT_DENSITY = 200.0
# Sliding friction of the object material. InterMimic sets 0.6 on every object shape
# when it creates the actor (env/tasks/intermimic.py, _build_target), overriding the 0.9
# of the OMOMO object URDFs. PhysX averages two shapes' frictions where MuJoCo takes the
# larger: intermimic.sim.scene (SceneSettings.friction_combine) makes the pairs average.
DEFAULT_FRICTION = 0.6
# InterMimic's torsion and rolling friction of the object shapes, written as the geoms'
# torsional and rolling coefficients. Our contacts are condim 3 (normal + 2 tangential),
# which uses the sliding coefficient only: torsion would need condim 4, rolling condim 6.
DEFAULT_TORSION_FRICTION = 0.01
DEFAULT_ROLLING_FRICTION = 0.01
N_SURFACE_POINTS = 1024
# Collision bits (MuJoCo: geoms a, b collide when contype_a & conaffinity_b or
# contype_b & conaffinity_a). Bit 0 (1) is the world's: ground and objects; bit 1 (2)
# is the humanoid's (``HumanoidSettings.contype``). Objects take both in conaffinity,
# so they collide with the ground, other objects and the humanoid, while humanoid geoms
# (contype 2, conaffinity 1) do not collide with each other, as in InterMimic.
OBJECT_CONTYPE = 1
OBJECT_CONAFFINITY = 3


class ObjectSettings(BaseModel):
    """How an object mesh becomes a simulated body."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    density: float = Field(
        default=DEFAULT_DENSITY, gt=0, description="kg/m^3; InterMimic's objectDensity 200"
    )
    friction: float = Field(
        default=DEFAULT_FRICTION,
        ge=0,
        description="sliding friction coefficient of the object material (InterMimic: 0.6)",
    )
    n_points: int = Field(default=N_SURFACE_POINTS, gt=0, description="surface points to sample")
    seed: int = 0
    points: Literal["sample", "provided"] = Field(
        default="sample",
        description="'sample': draw n_points with seed; 'provided': read sample_points.npy",
    )
    decomposition: DecompositionSettings = DecompositionSettings()


@dataclass(frozen=True)
class SimObject:
    """Everything the scene needs about one object, all in the object frame.

    ``parts`` are the convex collision parts (vertices ``[V,3]``, faces ``[F,3]``);
    ``points`` is ``[N,3]`` float32 surface points (m); ``com`` ``[3]`` and ``inertia``
    ``[3,3]`` (kg m^2, about the centre of mass) go on the body as its explicit inertial.
    """

    name: str
    mesh: ObjectMesh
    parts: list[ConvexPart]
    points: NDArray[np.float32]
    mass: float
    com: NDArray[np.float64]
    inertia: NDArray[np.float64]
    volume: float
    friction: float
    mass_from: Literal["mesh", "convex_parts"]


def sample_surface_points(
    mesh: ObjectMesh, n: int = N_SURFACE_POINTS, seed: int = 0
) -> NDArray[np.float32]:
    """``[n, 3]`` float32 points drawn uniformly by area on the mesh surface.

    Same seed, same points."""
    pts, _ = trimesh.sample.sample_surface(mesh.to_trimesh(), n, seed=seed)
    return np.asarray(pts, dtype=np.float32)


def load_sample_points(path: str | Path) -> NDArray[np.float32]:
    """A provided ``sample_points.npy`` as ``[N, 3]`` float32 (object frame, m).

    The OMOMO sample ships 340 float64 points per object, not 1024: any ``N`` is accepted.
    """
    p = Path(path)
    try:
        arr = np.load(p, allow_pickle=False)
    except FileNotFoundError:
        raise SamplePointsError("surface points file not found", p) from None
    except (OSError, ValueError) as exc:
        raise SamplePointsError(f"not a readable .npy array ({exc})", p) from None
    if arr.ndim != 2 or arr.shape[1] != 3 or arr.shape[0] == 0:
        raise SamplePointsError(f"expected shape [N, 3], got {list(arr.shape)}", p)
    if not np.all(np.isfinite(arr)):
        raise SamplePointsError("contains non-finite values", p)
    return arr.astype(np.float32)


def _mass_properties(
    mesh: ObjectMesh, parts: list[ConvexPart], density: float
) -> tuple[float, float, NDArray[np.float64], NDArray[np.float64], Literal["mesh", "convex_parts"]]:
    if mesh.watertight:
        solid = mesh.to_trimesh()
        source: Literal["mesh", "convex_parts"] = "mesh"
    else:
        warnings.warn(
            f"{mesh.path}: mesh is not watertight; mass and inertia come from its "
            f"{len(parts)} convex collision part(s) instead of the mesh volume",
            NonWatertightMeshWarning,
            stacklevel=3,
        )
        # Each part is a closed convex mesh, so volume integrals over their union add up.
        merged = trimesh.util.concatenate([trimesh.Trimesh(v, f, process=False) for v, f in parts])
        assert isinstance(merged, trimesh.Trimesh)  # a list of meshes concatenates to one
        solid = merged
        source = "convex_parts"
    solid.density = density
    props = solid.mass_properties
    volume = float(abs(props.volume))
    if volume <= 1e-12:
        raise SamplePointsError("mesh encloses no volume; cannot derive a mass", mesh.path)
    mass = density * volume
    # trimesh's inertia is about the centre of mass already; flip sign if the winding is inverted.
    inertia = np.asarray(props.inertia, dtype=np.float64) * np.sign(props.volume)
    return mass, volume, np.asarray(props.center_mass, np.float64), inertia, source


def build_object(
    mesh_path: str | Path,
    settings: ObjectSettings | None = None,
    *,
    name: str | None = None,
    cache_dir: str | Path | None = None,
    points_path: str | Path | None = None,
) -> SimObject:
    """Load a mesh, decompose it (cached), compute mass and sample surface points.

    ``points_path`` is read when ``settings.points == "provided"`` (default: the
    ``sample_points.npy`` beside the mesh). Raises an :class:`~intermimic.errors.InputError`
    subclass naming the file for a bad mesh or points file.
    """
    s = settings or ObjectSettings()
    mesh = load_mesh(mesh_path, name=name)
    parts = convex_parts(mesh, s.decomposition, cache_dir)
    mass, volume, com, inertia, source = _mass_properties(mesh, parts, s.density)
    if s.points == "provided":
        points = load_sample_points(points_path or Path(mesh_path).with_name("sample_points.npy"))
    else:
        points = sample_surface_points(mesh, s.n_points, s.seed)
    return SimObject(
        name=mesh.name,
        mesh=mesh,
        parts=parts,
        points=points,
        mass=mass,
        com=com,
        inertia=inertia,
        volume=volume,
        friction=s.friction,
        mass_from=source,
    )


def add_object(
    spec: mujoco.MjSpec,
    obj: SimObject,
    *,
    body_name: str | None = None,
    visual: bool = True,
    rgba: tuple[float, float, float, float] = (0.7, 0.8, 0.9, 1.0),
) -> mujoco.MjsBody:
    """Add ``obj`` to ``spec``'s world as a body with a free joint; returns the body.

    Collision uses the convex parts (geom group 3, hidden in renders). With ``visual``
    the full mesh is added as a non-colliding, massless geom (group 2) for rendering.
    Names are prefixed with the body name, so several objects can share a spec.
    """
    bname = body_name or obj.name
    body = spec.worldbody.add_body(name=bname)
    body.add_freejoint(name=f"{bname}_root")
    # Explicit inertial: the mass rule above, not MuJoCo's per-geom volume sum (which
    # would double-count overlapping parts and the visual mesh).
    body.explicitinertial = True
    body.mass = obj.mass
    body.ipos = obj.com
    i = obj.inertia
    body.fullinertia = [i[0, 0], i[1, 1], i[2, 2], i[0, 1], i[0, 2], i[1, 2]]
    for k, (v, f) in enumerate(obj.parts):
        mesh_name = f"{bname}_part{k}"
        spec.add_mesh(name=mesh_name, uservert=v.ravel().tolist(), userface=f.ravel().tolist())
        body.add_geom(
            name=mesh_name,
            type=mujoco.mjtGeom.mjGEOM_MESH,
            meshname=mesh_name,
            friction=[obj.friction, DEFAULT_TORSION_FRICTION, DEFAULT_ROLLING_FRICTION],
            contype=OBJECT_CONTYPE,
            conaffinity=OBJECT_CONAFFINITY,
            condim=3,
            group=3,
            rgba=[*rgba[:3], 0.3],
        )
    if visual:
        mesh_name = f"{bname}_visual"
        m = spec.add_mesh(
            name=mesh_name,
            uservert=obj.mesh.vertices.ravel().tolist(),
            userface=obj.mesh.faces.ravel().tolist(),
        )
        # Open meshes have no volume; a shell inertia keeps MuJoCo's compiler from
        # rejecting them (the value is unused: this geom is massless).
        m.inertia = mujoco.mjtMeshInertia.mjMESH_INERTIA_SHELL
        body.add_geom(
            name=mesh_name,
            type=mujoco.mjtGeom.mjGEOM_MESH,
            meshname=mesh_name,
            contype=0,
            conaffinity=0,
            group=2,
            density=0.0,
            rgba=list(rgba),
        )
    return body
