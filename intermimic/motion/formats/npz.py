"""``npz``: the project's own canonical clip format, one ``numpy.savez`` file per clip.

Other tools can write it to feed us. Keys (all arrays; strings as 0-d unicode arrays):

===================  =========================================================
key                  content
===================  =========================================================
``subject``          subject name (plain name), required
``object_name``      object name, required
``clip_id``          clip id; defaults to the file name without ``.npz``
``fps``              frame rate of the arrays, required (resampled to 30 on ingest)
every HOIClip field  ``root_pos``, ``root_quat`` (w x y z), ``joint_rotvec``,
                     ``body_pos``, ``body_quat`` (w x y z), ``obj_pos``,
                     ``obj_quat`` (w x y z), ``contact``, ``obj_contact``;
                     shapes as in :mod:`intermimic.motion.clip`
===================  =========================================================

Loaded with ``allow_pickle=False``: object arrays are refused.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from intermimic.errors import ReadError
from intermimic.motion.clip import FIELDS, HOIClip
from intermimic.motion.formats.registry import ClipFormat, Decoded, register_format

META_KEYS = ("subject", "object_name", "clip_id", "fps")


def _scalar(z: np.lib.npyio.NpzFile, key: str, path: Path) -> object:
    a = z[key]
    if a.ndim != 0:
        raise ReadError(f"key {key!r} must be a scalar, has shape {list(a.shape)}", path)
    return a.item()


class Npz(ClipFormat):
    name = "npz"
    suffixes = (".npz",)

    def identify(self, path: Path) -> dict[str, str]:
        """Subject, object and clip id from the archive's small scalar members only."""
        try:
            with np.load(path, allow_pickle=False) as z:
                names = {
                    k: str(z[k].item())
                    for k in ("subject", "object_name", "clip_id")
                    if k in z.files
                }
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise ReadError(f"not a readable .npz archive: {exc}", path) from None
        names.setdefault("clip_id", path.name.removesuffix(".npz"))
        return names

    def decode(self, data: bytes, path: Path) -> Decoded:
        if not data:
            raise ReadError("empty file (0 bytes)", path)
        try:
            z = np.load(io.BytesIO(data), allow_pickle=False)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise ReadError(
                f"not a readable .npz archive (truncated or damaged?): {exc}", path
            ) from None
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise ReadError("holds a single array, expected an .npz archive of named arrays", path)
        with z:
            try:
                keys = set(z.files)
                for key in ("subject", "object_name", "fps"):
                    if key not in keys:
                        raise ReadError(f"missing key {key!r}", path)
                meta: dict[str, object] = {
                    "subject": str(_scalar(z, "subject", path)),
                    "object_name": str(_scalar(z, "object_name", path)),
                    "clip_id": str(_scalar(z, "clip_id", path))
                    if "clip_id" in keys
                    else path.name.removesuffix(".npz"),
                    "fps": float(_scalar(z, "fps", path)),  # type: ignore[arg-type]
                }
                arrays = {k: z[k] for k in FIELDS if k in keys}
            except ValueError as exc:  # object arrays under allow_pickle=False, bad scalars
                raise ReadError(f"unreadable array: {exc}", path) from None
            except (zipfile.BadZipFile, EOFError, OSError) as exc:
                raise ReadError(f"damaged .npz member: {exc}", path) from None
        return Decoded(meta=meta, arrays=arrays)

    def write(self, clip: HOIClip, path: Path) -> None:
        write_npz(clip, path)


def write_npz(clip: HOIClip, path: Path | io.BytesIO, *, compressed: bool = False) -> None:
    """Write ``clip`` in the canonical npz layout."""
    payload: dict[str, np.ndarray] = {
        "subject": np.array(clip.meta.subject),
        "object_name": np.array(clip.meta.object_name),
        "clip_id": np.array(clip.meta.clip_id),
        "fps": np.array(clip.meta.fps, dtype=np.float64),
        **clip.arrays(),
    }
    save: Any = np.savez_compressed if compressed else np.savez
    save(path, **payload)


register_format(Npz())
