"""``make_backend(name, scene, n_worlds, **opts)``: the one place that knows the backends.

``mujoco`` is always there (the C engine on the CPU); ``warp`` needs the ``gpu`` extra
(``mujoco-warp``, ``warp-lang``), which :class:`~intermimic.sim.warp_backend.WarpBackend`
imports only when one is made, so the default install never loads it.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from intermimic.sim.backend import SimBackend, UnknownBackendError
from intermimic.sim.mujoco_backend import MujocoBackend, MujocoSettings
from intermimic.sim.scene import Scene
from intermimic.sim.warp_backend import WarpBackend, WarpSettings

BACKENDS: tuple[str, ...] = ("mujoco", "warp")
DEFAULT_BACKEND = "mujoco"


class BackendUnavailableError(RuntimeError):
    """The backend exists but its optional dependencies are not installed."""


def backend_name(name: str) -> str:
    """``name`` normalised (``" MuJoCo"`` -> ``"mujoco"``); ``ValueError`` naming the known
    backends for another (what settings validators raise)."""
    key = name.strip().lower()
    if key not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    return key


def warp_available() -> bool:
    """True when ``mujoco_warp`` and ``warp`` can be imported."""
    return all(importlib.util.find_spec(m) is not None for m in ("mujoco_warp", "warp"))


def make_backend(name: str, scene: Scene, n_worlds: int, **opts: Any) -> SimBackend:
    """A backend of ``scene`` with ``n_worlds`` worlds.

    ``opts`` are the fields of the backend's settings (``MujocoSettings`` for ``mujoco``,
    e.g. ``n_threads=2``; ``WarpSettings`` for ``warp``, e.g. ``device="cpu"``).
    Raises :class:`UnknownBackendError` (listing the known names) for another name and
    :class:`BackendUnavailableError` for ``warp`` without the ``gpu`` extra.
    """
    if n_worlds < 1:
        raise ValueError(f"n_worlds must be >= 1, got {n_worlds}")
    key = name.strip().lower()
    if key == "mujoco":
        return MujocoBackend(scene, n_worlds, MujocoSettings(**opts))
    if key == "warp":
        if not warp_available():
            raise BackendUnavailableError(
                "the 'warp' backend needs MuJoCo Warp, which is not installed: "
                "pip install 'intermimic[gpu]' (mujoco-warp, warp-lang)"
            )
        return WarpBackend(scene, n_worlds, WarpSettings(**opts))
    raise UnknownBackendError(f"unknown backend {name!r}; known backends: {', '.join(BACKENDS)}")
