"""Rigid objects: meshes, convex collision parts (cached), mass, surface points, library."""

from __future__ import annotations

from intermimic.objects.decompose import (
    DecompositionSettings,
    cache_path,
    convex_parts,
    default_cache_dir,
)
from intermimic.objects.errors import (
    MeshLoadError,
    NonWatertightMeshWarning,
    ObjectError,
    SamplePointsError,
    UnknownObjectError,
)
from intermimic.objects.library import ObjectLibrary, default_objects_dir
from intermimic.objects.mesh import ObjectMesh, load_mesh
from intermimic.objects.model import (
    ObjectSettings,
    SimObject,
    add_object,
    build_object,
    load_sample_points,
    sample_surface_points,
)

__all__ = [
    "DecompositionSettings",
    "MeshLoadError",
    "NonWatertightMeshWarning",
    "ObjectError",
    "ObjectLibrary",
    "ObjectMesh",
    "ObjectSettings",
    "SamplePointsError",
    "SimObject",
    "UnknownObjectError",
    "add_object",
    "build_object",
    "cache_path",
    "convex_parts",
    "default_cache_dir",
    "default_objects_dir",
    "load_mesh",
    "load_sample_points",
    "sample_surface_points",
]
