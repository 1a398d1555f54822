"""Loading an object's triangle mesh (metres, z up, object frame)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh
from numpy.typing import NDArray

from intermimic.objects.errors import MeshLoadError


@dataclass(frozen=True)
class ObjectMesh:
    """One object mesh as loaded from disk.

    ``vertices`` is ``[V, 3]`` float64 (m, object frame), ``faces`` is ``[F, 3]`` int32
    vertex indices. ``sha256`` is the hash of the file's bytes: the key of the convex
    decomposition cache.
    """

    name: str
    path: Path
    vertices: NDArray[np.float64]
    faces: NDArray[np.int32]
    sha256: str
    watertight: bool

    def to_trimesh(self) -> trimesh.Trimesh:
        """A trimesh copy of the mesh (processing off: keep the vertices as given)."""
        return trimesh.Trimesh(self.vertices.copy(), self.faces.copy(), process=False)

    @property
    def volume(self) -> float:
        """Enclosed volume (m^3); only meaningful when ``watertight``."""
        return float(abs(self.to_trimesh().volume))

    @property
    def bounds(self) -> NDArray[np.float64]:
        """``[2, 3]`` min and max corner of the axis-aligned bounding box (m)."""
        return np.stack([self.vertices.min(axis=0), self.vertices.max(axis=0)])


def load_mesh(path: str | Path, name: str | None = None) -> ObjectMesh:
    """Read a mesh file (any format trimesh reads: .obj, .stl, .ply, ...).

    Multi-part files are merged into one mesh. Raises :class:`MeshLoadError` naming the
    file when it is missing, does not decode or has no triangles.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise MeshLoadError("mesh file not found", p) from None
    except OSError as exc:
        raise MeshLoadError(f"cannot read mesh file: {exc.strerror or exc}", p) from None
    try:
        # force="mesh" merges scenes (an .obj with several groups) into one Trimesh.
        loaded = trimesh.load(
            trimesh.util.wrap_as_stream(data), file_type=p.suffix.lstrip(".").lower(), force="mesh"
        )
    except Exception as exc:  # trimesh raises many kinds of errors for bad files
        raise MeshLoadError(f"not a readable mesh ({type(exc).__name__}: {exc})", p) from None
    if not isinstance(loaded, trimesh.Trimesh):
        raise MeshLoadError(f"not a triangle mesh (got {type(loaded).__name__})", p)
    vertices = np.asarray(loaded.vertices, dtype=np.float64)
    faces = np.asarray(loaded.faces, dtype=np.int32)
    if len(faces) == 0 or len(vertices) < 4:
        raise MeshLoadError("mesh is empty (no triangles)", p)
    if not np.all(np.isfinite(vertices)):
        raise MeshLoadError("mesh has non-finite vertex coordinates", p)
    extent = vertices.max(axis=0) - vertices.min(axis=0)
    if np.count_nonzero(extent > 1e-9) < 3:
        raise MeshLoadError("mesh is flat or degenerate (no extent along some axis)", p)
    return ObjectMesh(
        name=name or p.stem,
        path=p,
        vertices=vertices,
        faces=faces,
        sha256=hashlib.sha256(data).hexdigest(),
        watertight=bool(loaded.is_watertight),
    )
