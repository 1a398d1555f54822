"""Convex decomposition of object meshes for collision, cached on disk.

MuJoCo collides meshes through their convex hulls, so a table (a top on four legs)
needs several convex parts or the person's legs would hit its hull. CoACD (PyPI
``coacd``) makes the parts; it takes tens of seconds per mesh, so the result is cached
under ``<cache_dir>/convex/<mesh sha256>-<settings hash>.npz`` and a second build only
reads the file. ``method="hull"`` skips decomposition (one convex hull, instant), which
tests and quick looks use.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np
import trimesh
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from intermimic.objects.mesh import ObjectMesh

# One convex part: vertices [V, 3] float64 and faces [F, 3] int32.
ConvexPart = tuple[NDArray[np.float64], NDArray[np.int32]]

CACHE_ENV_VAR = "INTERMIMIC_CACHE_DIR"
_FORMAT_VERSION = 1  # bump when the cached file layout changes


class DecompositionSettings(BaseModel):
    """How to split a mesh into convex collision parts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Literal["coacd", "hull"] = "coacd"
    threshold: float = Field(
        default=0.05, gt=0, description="CoACD concavity threshold (lower: finer)"
    )
    max_convex_hull: int = Field(default=32, ge=-1, description="CoACD part limit (-1: no limit)")
    seed: int = 0

    def key(self) -> str:
        """Short hash of the settings, part of the cache file name."""
        text = f"v{_FORMAT_VERSION}:{self.model_dump_json()}"
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def default_cache_dir() -> Path:
    """``$INTERMIMIC_CACHE_DIR``, else ``$XDG_CACHE_HOME/intermimic``, else
    ``~/.cache/intermimic``."""
    env = os.environ.get(CACHE_ENV_VAR)
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "intermimic"


def cache_path(mesh: ObjectMesh, settings: DecompositionSettings, cache_dir: Path) -> Path:
    """Where the parts of ``mesh`` decomposed with ``settings`` are cached."""
    return Path(cache_dir) / "convex" / f"{mesh.sha256}-{settings.key()}.npz"


def _hull(vertices: NDArray[np.float64], faces: NDArray[np.int32]) -> ConvexPart:
    hull = trimesh.Trimesh(vertices, faces, process=False).convex_hull
    return np.asarray(hull.vertices, np.float64), np.asarray(hull.faces, np.int32)


def _run_coacd(mesh: ObjectMesh, s: DecompositionSettings) -> list[ConvexPart]:
    try:
        import coacd
    except ImportError as exc:  # pragma: no cover - coacd is a declared dependency
        raise RuntimeError(
            "convex decomposition needs the 'coacd' package (pip install coacd), "
            "or use DecompositionSettings(method='hull')"
        ) from exc
    coacd.set_log_level("error")
    parts = coacd.run_coacd(
        coacd.Mesh(mesh.vertices, mesh.faces),
        threshold=s.threshold,
        max_convex_hull=s.max_convex_hull,
        seed=s.seed,
    )
    # Re-hull each part: CoACD's parts are convex up to rounding; a clean hull keeps
    # MuJoCo's own hull computation and the volume (mass) consistent.
    return [_hull(np.asarray(v, np.float64), np.asarray(f, np.int32)) for v, f in parts]


def _write_atomic(path: Path, parts: list[ConvexPart]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    verts = np.concatenate([v for v, _ in parts]) if parts else np.zeros((0, 3))
    faces = np.concatenate([f for _, f in parts]) if parts else np.zeros((0, 3), np.int32)
    arrays = {
        "vertices": verts,
        "faces": faces,
        "n_vertices": np.array([len(v) for v, _ in parts], np.int64),
        "n_faces": np.array([len(f) for _, f in parts], np.int64),
    }
    # Write beside, then rename: a reader never sees a half-written cache file, and two
    # processes decomposing the same mesh at once both end with a valid file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(path: Path) -> list[ConvexPart] | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            verts, faces = z["vertices"], z["faces"]
            nv, nf = z["n_vertices"], z["n_faces"]
    except (OSError, KeyError, ValueError):
        return None  # unreadable or stale cache file: decompose again
    parts: list[ConvexPart] = []
    v0 = f0 = 0
    for a, b in zip(nv.tolist(), nf.tolist(), strict=True):
        parts.append((verts[v0 : v0 + a].astype(np.float64), faces[f0 : f0 + b].astype(np.int32)))
        v0, f0 = v0 + a, f0 + b
    return parts or None


def convex_parts(
    mesh: ObjectMesh,
    settings: DecompositionSettings | None = None,
    cache_dir: str | Path | None = None,
) -> list[ConvexPart]:
    """Convex collision parts of ``mesh`` in the object frame, from the cache when present.

    ``cache_dir=None`` uses :func:`default_cache_dir`. Part vertices are in the mesh's
    own frame and units; each part's faces index its own vertices.
    """
    s = settings or DecompositionSettings()
    if s.method == "hull":
        return [_hull(mesh.vertices, mesh.faces)]
    path = cache_path(mesh, s, Path(cache_dir) if cache_dir is not None else default_cache_dir())
    cached = _read(path) if path.is_file() else None
    if cached is not None:
        return cached
    parts = _run_coacd(mesh, s) or [_hull(mesh.vertices, mesh.faces)]
    # A read-only cache costs time on the next build, not correctness.
    with contextlib.suppress(OSError):
        _write_atomic(path, parts)
    return parts
