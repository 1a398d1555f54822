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
from pathlib import Path
from typing import Any

import numpy as np

from intermimic.errors import ReadError
from intermimic.motion.clip import FIELDS, HOIClip
from intermimic.motion.formats.bounded import load_member, name_of, open_npz_path, plain, scalar
from intermimic.motion.formats.bounded import open_npz as _open
from intermimic.motion.formats.registry import ClipFormat, Decoded, register_format

META_KEYS = ("subject", "object_name", "clip_id", "fps")


class Npz(ClipFormat):
    name = "npz"
    suffixes = (".npz",)

    def identify(self, path: Path) -> dict[str, str]:
        """Subject, object and clip id from the archive's small scalar members only."""
        with open_npz_path(path) as z:
            names: dict[str, str] = {
                k: name_of(z, k, path)
                for k in ("subject", "object_name", "clip_id")
                if k in z.files
            }
        names.setdefault("clip_id", plain(path.name.removesuffix(".npz"), "clip_id", path))
        return names

    def decode(self, data: bytes, path: Path) -> Decoded:
        with _open(data, path) as z:
            keys = set(z.files)
            for key in ("subject", "object_name", "fps"):
                if key not in keys:
                    raise ReadError(f"missing key {key!r}", path)
            meta: dict[str, object] = {
                "subject": name_of(z, "subject", path),
                "object_name": name_of(z, "object_name", path),
                "clip_id": name_of(z, "clip_id", path)
                if "clip_id" in keys
                else plain(path.name.removesuffix(".npz"), "clip_id", path),
                "fps": _number(scalar(z, "fps", path), "fps", path),
            }
            arrays = {k: load_member(z, k, path) for k in FIELDS if k in keys}
        return Decoded(meta=meta, arrays=arrays)

    def write(self, clip: HOIClip, path: Path) -> None:
        write_npz(clip, path)


def _number(value: object, key: str, path: Path) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise ReadError(f"key {key!r} must be a number, is {value!r}", path) from None


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
