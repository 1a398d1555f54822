"""Training checkpoints: safetensors + weights-only torch + JSON, written atomically.

One checkpoint is one folder ``<root>/iter_<NNNNNN>/`` (``NNNNNN`` = learning iterations
completed) holding

* ``model.safetensors``: actor and critic state dicts (keys ``actor.*`` / ``critic.*``;
  rsl-rl's observation normaliser and the Gaussian's log-std live in them);
* ``optimizer.pt``: the optimiser's state dict, ``torch.save``d and read back with
  ``weights_only=True`` (tensors, numbers and lists only; never unpickled code);
* ``state.safetensors`` + ``state.json``: everything else as a nested tree: env and
  adapter state, PSI buffer and any other registered object's ``state_dict()``, the RNG
  states of python, numpy and torch, counters. Arrays go to the safetensors file; the JSON
  keeps the tree with ``{"__array__": key}`` placeholders, so tuples, big ints (numpy
  ``Generator`` states) and ``None`` survive exactly;
* ``meta.json``: format version, iteration, and the SHA-256 of every other file.

The folder is built beside its final name and renamed into place
(:func:`intermimic.atomic.staged_dir`), so a SIGKILL mid-write leaves either the
previous checkpoints or the new one, never half of one. Loading verifies the hashes; a
checkpoint that fails to verify or parse is skipped with a warning and the next older one
is used (:func:`load_latest`).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.numpy import load as st_load
from safetensors.numpy import save as st_save
from safetensors.torch import load as st_torch_load
from safetensors.torch import save as st_torch_save

from intermimic.atomic import staged_dir
from intermimic.errors import InterMimicError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_PREFIX = "iter_"


class CheckpointError(InterMimicError):
    """A checkpoint folder is missing, incomplete or fails its integrity check."""


@dataclass
class Checkpoint:
    """A loaded checkpoint: model tensors, optimiser state and the rest of the state tree."""

    path: Path
    iteration: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    state: dict[str, Any]
    meta: dict[str, Any]


# -- state tree <-> (arrays, JSON) ---------------------------------------------------------
def _encode(obj: Any, arrays: dict[str, np.ndarray], path: str) -> Any:
    if isinstance(obj, torch.Tensor):
        arrays[path] = obj.detach().cpu().numpy().copy()
        # the shape is kept here because safetensors widens 0-d arrays to shape (1,)
        return {"__array__": path, "kind": "torch", "shape": list(obj.shape)}
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            raise TypeError(f"state at {path!r}: object arrays cannot be saved safely")
        arrays[path] = np.ascontiguousarray(obj)
        return {"__array__": path, "kind": "numpy", "shape": list(obj.shape)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"state at {path!r}: keys must be str, got {k!r}")
            out[k] = _encode(v, arrays, f"{path}/{k}" if path else k)
        return {"__dict__": out}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, arrays, f"{path}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, arrays, f"{path}[{i}]") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"state at {path!r}: cannot save a {type(obj).__name__}")


def _decode(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(obj, dict):
        if "__array__" in obj:
            arr = arrays[obj["__array__"]].reshape(obj["shape"])
            return torch.from_numpy(arr.copy()) if obj["kind"] == "torch" else arr.copy()
        if "__tuple__" in obj:
            return tuple(_decode(v, arrays) for v in obj["__tuple__"])
        return {k: _decode(v, arrays) for k, v in obj["__dict__"].items()}
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    return obj


def encode_state(state: dict[str, Any]) -> tuple[bytes, bytes]:
    """A nested state tree -> (safetensors bytes, JSON bytes)."""
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(state, arrays, "")
    return st_save(arrays), json.dumps(tree, indent=1).encode()


def decode_state(tensors: bytes, tree: bytes) -> dict[str, Any]:
    """Inverse of :func:`encode_state`."""
    return _decode(json.loads(tree), st_load(tensors))


# -- RNG ------------------------------------------------------------------------------------
def capture_rng() -> dict[str, Any]:
    """The global RNG states of python, numpy (legacy) and torch (CPU)."""
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


# -- save / load ----------------------------------------------------------------------------
def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def checkpoint_sha256(path: Path) -> str:
    """A content hash of a checkpoint folder (its ``meta.json`` lists every file's hash)."""
    return hashlib.sha256((Path(path) / "meta.json").read_bytes()).hexdigest()


def checkpoint_name(iteration: int) -> str:
    return f"{_PREFIX}{iteration:06d}"


def list_checkpoints(root: Path) -> list[Path]:
    """Finished checkpoint folders under ``root``, oldest first (staged ones are hidden)."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(_PREFIX)]
    return sorted(found, key=lambda p: p.name)


def save_checkpoint(
    root: Path,
    iteration: int,
    model: dict[str, torch.Tensor],
    optimizer: dict[str, Any],
    state: dict[str, Any],
    keep: int = 3,
) -> Path:
    """Write checkpoint ``iteration`` under ``root`` atomically; keep the newest ``keep``."""
    files: dict[str, bytes] = {}
    files["model.safetensors"] = st_torch_save(
        {k: v.detach().cpu().contiguous() for k, v in model.items()}
    )
    buf = io.BytesIO()
    torch.save(optimizer, buf)
    files["optimizer.pt"] = buf.getvalue()
    files["state.safetensors"], files["state.json"] = encode_state(state)
    meta = {
        "format": FORMAT_VERSION,
        "iteration": iteration,
        "files": {name: _sha256(data) for name, data in files.items()},
    }
    target = root / checkpoint_name(iteration)
    if target.exists():
        # same iteration written again (a resumed run redoing work): replace it
        shutil.rmtree(target)
    with staged_dir(target) as tmp:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        # meta last: it vouches for the files above
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    for old in list_checkpoints(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def load_checkpoint(path: Path) -> Checkpoint:
    """Read and verify one checkpoint folder; raise :class:`CheckpointError` if it is bad."""
    try:
        meta = json.loads((path / "meta.json").read_text())
        if meta.get("format") != FORMAT_VERSION:
            raise CheckpointError(f"{path}: unknown checkpoint format {meta.get('format')!r}")
        data = {}
        for name, digest in meta["files"].items():
            blob = (path / name).read_bytes()
            if _sha256(blob) != digest:
                raise CheckpointError(f"{path / name}: SHA-256 does not match meta.json")
            data[name] = blob
        model = st_torch_load(data["model.safetensors"])
        optimizer = torch.load(io.BytesIO(data["optimizer.pt"]), weights_only=True)
        state = decode_state(data["state.safetensors"], data["state.json"])
    except CheckpointError:
        raise
    except Exception as exc:  # any parse error means the folder is unusable
        raise CheckpointError(
            f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc})"
        ) from exc
    return Checkpoint(path, int(meta["iteration"]), model, optimizer, state, meta)


def load_latest(root: Path) -> Checkpoint | None:
    """The newest checkpoint under ``root`` that verifies; older ones are fallbacks.

    A bad checkpoint is logged as a warning naming it and the reason, and skipped.
    Returns ``None`` when there is no usable checkpoint.
    """
    for path in reversed(list_checkpoints(root)):
        try:
            return load_checkpoint(path)
        except CheckpointError as exc:
            log.warning(
                "checkpoint %s is corrupted, falling back to an older one: %s", path.name, exc
            )
    return None


def remove_stale_staging(root: Path) -> None:
    """Delete staging folders a killed writer left behind (hidden ``.iter_*.tmp-*``)."""
    if root.is_dir():
        for p in root.iterdir():
            if p.name.startswith(f".{_PREFIX}") and ".tmp-" in p.name:
                shutil.rmtree(p, ignore_errors=True)
