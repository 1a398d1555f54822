"""Each kind of bad clip file, made from a good one. For tests of rejection.

``corrupt(kind, good, out_dir)`` writes a bad variant of the good InterAct ``.pt`` file
``good`` and returns its path. :data:`KINDS` lists every kind. The ``malicious_pickle``
kind holds an object that, if it were ever unpickled unsafely, would create the file
``<out>/PWNED`` (the marker a test checks is absent).
"""

from __future__ import annotations

import io
import os
import pathlib
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from intermimic.motion.formats.interact_pt import (
    BODY_QUAT,
    CONTACT,
    OBJ_QUAT,
    ROOT_QUAT,
)

MARKER = "PWNED"


def _load(good: Path) -> np.ndarray:
    import torch  # deferred: torch is heavy and only these paths need it

    return torch.load(good, weights_only=True).detach().numpy().copy()


def _save(obj: object, path: Path) -> Path:
    import torch  # deferred: torch is heavy and only these paths need it

    buf = io.BytesIO()
    torch.save(torch.from_numpy(obj) if isinstance(obj, np.ndarray) else obj, buf)
    path.write_bytes(buf.getvalue())
    return path


def _renamed(good: Path, out: Path, tag: str) -> Path:
    parts = good.stem.split("_")
    # Keep the name parseable: a distinct take number per kind.
    take = 900 + sorted(KINDS).index(tag)
    return out / f"{parts[0]}_{'_'.join(parts[1:-1])}_{take}.pt"


class _Trap:
    """Unpickling this runs ``Path.touch(marker)``: the canary of unsafe loading."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., object], tuple[object, ...]]:
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def _edit(fn: Callable[[np.ndarray], np.ndarray]) -> Callable[[Path, Path, str], Path]:
    def make(good: Path, out: Path, tag: str) -> Path:
        return _save(fn(_load(good)), _renamed(good, out, tag))

    return make


def _truncated(good: Path, out: Path, tag: str) -> Path:
    data = good.read_bytes()
    p = _renamed(good, out, tag)
    p.write_bytes(data[: len(data) // 2])
    return p


def _empty(good: Path, out: Path, tag: str) -> Path:
    p = _renamed(good, out, tag)
    p.write_bytes(b"")
    return p


def _not_a_tensor(good: Path, out: Path, tag: str) -> Path:
    import torch  # deferred: torch is heavy and only these paths need it

    return _save({"motion": torch.from_numpy(_load(good))}, _renamed(good, out, tag))


def _duplicate(good: Path, out: Path, tag: str) -> Path:
    p = _renamed(good, out, tag)
    shutil.copyfile(good, p)
    return p


def _unreadable(good: Path, out: Path, tag: str) -> Path:
    p = _renamed(good, out, tag)
    shutil.copyfile(good, p)
    os.chmod(p, 0)
    return p


def _malicious(good: Path, out: Path, tag: str) -> Path:
    return _save(_Trap(out / MARKER), _renamed(good, out, tag))


def _bad_name(good: Path, out: Path, tag: str) -> Path:
    p = out / "not-a-clip-name.pt"
    shutil.copyfile(good, p)
    return p


def _set(cols: slice | int, value: float, frame: int = 1) -> Callable[[np.ndarray], np.ndarray]:
    def fn(x: np.ndarray) -> np.ndarray:
        x[frame, cols] = value
        return x

    return fn


KINDS: dict[str, Callable[[Path, Path, str], Path]] = {
    "truncated": _truncated,
    "empty": _empty,
    "not_a_tensor": _not_a_tensor,
    "wrong_width": _edit(lambda x: x[:, :590]),
    "rank1": _edit(lambda x: x[0]),
    "rank3": _edit(lambda x: x[None]),
    "integer_dtype": _edit(lambda x: x.astype(np.int64)),
    "nan": _edit(_set(slice(162, 165), np.nan)),
    "inf": _edit(_set(318, np.inf)),
    "zero_quaternion": _edit(_set(ROOT_QUAT, 0.0)),
    "zero_object_quaternion": _edit(_set(OBJ_QUAT, 0.0)),
    "bad_body_quaternion": _edit(_set(slice(BODY_QUAT.start, BODY_QUAT.start + 4), 0.7)),
    "contact_label_2": _edit(_set(CONTACT.start + 5, 2.0)),
    "one_frame": _edit(lambda x: x[:1]),
    "duplicate": _duplicate,
    "unreadable": _unreadable,
    "malicious_pickle": _malicious,
    "bad_name": _bad_name,
}


def corrupt(kind: str, good: str | Path, out_dir: str | Path) -> Path:
    """Write the ``kind`` variant of ``good`` into ``out_dir``; return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return KINDS[kind](Path(good), out, kind)
