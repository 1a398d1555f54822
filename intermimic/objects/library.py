"""Finding objects by name under an objects folder (``<root>/<name>/<name>.obj``)."""

from __future__ import annotations

import os
from pathlib import Path

from intermimic.motion.clip import NAME_PATTERN
from intermimic.objects.errors import UnknownObjectError
from intermimic.objects.model import ObjectSettings, SimObject, build_object
from intermimic.paths import shared_data_dir

OBJECTS_ENV_VAR = "INTERMIMIC_OBJECTS"
MESH_SUFFIXES = (".obj", ".stl", ".ply", ".glb", ".off")


def default_objects_dir() -> Path | None:
    """``$INTERMIMIC_OBJECTS``, else ``objects/`` of the shared sample data, else None."""
    env = os.environ.get(OBJECTS_ENV_VAR)
    if env:
        return Path(env)
    root = shared_data_dir()
    return root / "objects" if root is not None and (root / "objects").is_dir() else None


class ObjectLibrary:
    """Objects stored one folder per name: ``<root>/<name>/<name>.obj`` (or .stl, .ply, ...)
    plus an optional ``sample_points.npy``. Built objects are kept in memory by name."""

    def __init__(
        self,
        root: str | Path | None = None,
        settings: ObjectSettings | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        resolved = Path(root) if root is not None else default_objects_dir()
        if resolved is None:
            raise UnknownObjectError(
                f"no objects folder configured: pass one or set ${OBJECTS_ENV_VAR}"
            )
        self.root = resolved
        self.settings = settings or ObjectSettings()
        self.cache_dir = cache_dir
        self._built: dict[str, SimObject] = {}

    def names(self) -> list[str]:
        """Sorted names of the objects that have a mesh file."""
        if not self.root.is_dir():
            return []
        return sorted(d.name for d in self.root.iterdir() if d.is_dir() and self._find(d.name))

    def _find(self, name: str) -> Path | None:
        folder = self.root / name
        for suffix in MESH_SUFFIXES:
            path = folder / f"{name}{suffix}"
            if path.is_file():
                return path
        return None

    def mesh_path(self, name: str) -> Path:
        """The mesh file of ``name``; raises :class:`UnknownObjectError` naming the folder."""
        # A plain name only: an object name comes from clip metadata and must not walk
        # out of the objects folder.
        if not NAME_PATTERN.match(name) or ".." in name:
            raise UnknownObjectError(f"{name!r} is not a plain object name", self.root)
        path = self._find(name)
        if path is None:
            known = ", ".join(self.names()) or "none"
            raise UnknownObjectError(
                f"no object named {name!r} (expected {name}/{name}.obj; known: {known})",
                self.root,
            )
        return path

    def get(self, name: str) -> SimObject:
        """The built object ``name`` (decomposition from the disk cache when present)."""
        if name not in self._built:
            path = self.mesh_path(name)
            self._built[name] = build_object(
                path, self.settings, name=name, cache_dir=self.cache_dir
            )
        return self._built[name]
