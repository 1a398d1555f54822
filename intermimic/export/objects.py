"""The objects of an export: their meshes copied in (or named with their sha256).

Object poses (``obj_pos``, ``obj_quat``) are of the object's mesh frame, the frame of
``<name>/<name>.obj`` in the objects folder the pipeline ran with
(:class:`~intermimic.objects.ObjectLibrary`: ``$INTERMIMIC_OBJECTS`` or the sample's
``objects``). :func:`export_objects` copies each exported object's mesh, its surface
points (``sample_points.npy``) and URDF when present into ``objects/<name>/``, and
records every file's sha256 and size so that a reader holding the meshes elsewhere
can check they are the same. An object whose mesh cannot be found is recorded with the
reason, never guessed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from intermimic.atomic import sha256_file
from intermimic.objects.errors import UnknownObjectError
from intermimic.objects.library import ObjectLibrary, default_objects_dir

FOLDER = "objects"
#: Files of an object's folder that travel with its mesh, besides the mesh itself.
COMPANIONS = ("sample_points.npy", "{name}.urdf")


def export_objects(
    names: Iterable[str],
    folder: Path,
    objects_dir: str | Path | None = None,
    *,
    copy: bool = True,
) -> dict[str, dict[str, Any]]:
    """Record (and with ``copy`` copy) the mesh files of each object in ``names``.

    Returns name -> ``source`` (the folder searched), ``files`` (file name -> sha256,
    bytes, and ``path`` in the export when copied) and ``note`` (why a mesh is missing).
    """
    root = Path(objects_dir) if objects_dir is not None else default_objects_dir()
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(set(names)):
        rec: dict[str, Any] = {"source": str(root) if root else None, "files": {}, "note": ""}
        out[name] = rec
        if root is None:
            rec["note"] = "no objects folder configured (set $INTERMIMIC_OBJECTS)"
            continue
        try:
            mesh = ObjectLibrary(root).mesh_path(name)
        except UnknownObjectError as exc:
            rec["note"] = f"mesh not found: {exc}"
            continue
        paths = [mesh, *(mesh.parent / c.format(name=name) for c in COMPANIONS)]
        for src in paths:
            if not src.is_file():
                continue
            digest, size = sha256_file(src)
            entry: dict[str, Any] = {"sha256": digest, "bytes": size}
            if copy:
                rel = f"{FOLDER}/{name}/{src.name}"
                (folder / FOLDER / name).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, folder / rel)  # contents only: no read-only modes
                entry["path"] = rel
            rec["files"][src.name] = entry
        rec["mesh"] = mesh.name
    return out
