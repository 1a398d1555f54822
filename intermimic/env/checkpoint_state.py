"""The tracking environment's exact checkpoint state: what a resumed run restores so
that its next step is the one the saved run would have taken.

That is the per-world episode tensors (:data:`EPISODE_FIELDS`), the backend's physics
state and the environment's failure counters; the PSI buffer and the observation
normaliser save their own (see ``TeacherEnv.stateful``). A backend without
``state_dict``/``load_state_dict`` cannot be saved exactly (:func:`can_save`).

It is separate from :mod:`intermimic.env.tracking_env` so that the environment keeps
the episode loop and this module the list of what a checkpoint holds and how a loaded
one is checked: every field is validated before anything is written, so a state that
does not fit the environment changes nothing. ``TrackingEnv.state_dict`` and
``load_state_dict`` call :func:`save` and :func:`load`.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch

from intermimic.sim.backend import SimBackend

Tensor = torch.Tensor


class TrackingEnv(Protocol):
    """What a checkpoint reads and writes of :class:`intermimic.env.tracking_env.
    TrackingEnv` besides :data:`EPISODE_FIELDS` (a protocol, not an import: that module
    imports this one)."""

    backend: SimBackend
    device: torch.device
    _n_nan: Tensor

    @property
    def exact_state(self) -> bool: ...


#: Per-world episode tensors a resumed run needs exactly as they were: attributes of
#: the environment (the ``cand_*`` and ``traj`` ones its PSI feed's, under its names).
EPISODE_FIELDS = (
    "clip",
    "frame",
    "start",
    "episode_len",
    "missing_hand",
    "prev_hinge_vel",
    "prev_obj_vel",
    "cand_state",
    "cand_frame",
    "cand_age",
    "traj",
)


def can_save(backend: SimBackend) -> bool:
    """Whether ``backend`` can save and restore its physics state."""
    return hasattr(backend, "state_dict") and hasattr(backend, "load_state_dict")


def save(env: TrackingEnv) -> dict[str, Any]:
    """``env``'s physics and episode state as numpy arrays; ``TypeError`` when its
    backend cannot save its state."""
    if not env.exact_state:
        raise TypeError(f"the {env.backend.name} backend cannot save its state")
    out: dict[str, Any] = {k: getattr(env, k).cpu().numpy().copy() for k in EPISODE_FIELDS}
    out["backend"] = env.backend.state_dict()  # type: ignore[attr-defined]
    out["counters"] = env._n_nan.cpu().numpy().astype(np.int64)
    return out


def load(env: TrackingEnv, state: dict[str, Any]) -> None:
    """Restore :func:`save`'s ``state`` into ``env`` (same scene, clips and number of
    worlds); ``ValueError`` naming the first field whose shape does not fit."""
    values = {}
    for k in EPISODE_FIELDS:
        cur = getattr(env, k)
        v = torch.as_tensor(np.asarray(state[k]), device=env.device).to(cur.dtype)
        if v.shape != cur.shape:
            raise ValueError(
                f"env state {k!r} has shape {tuple(v.shape)}, expected {tuple(cur.shape)}"
            )
        values[k] = v
    # validated first, so a state that does not fit changes nothing
    env.backend.load_state_dict(state["backend"])  # type: ignore[attr-defined]
    for k, v in values.items():
        getattr(env, k).copy_(v)
    env._n_nan = torch.as_tensor(np.asarray(state["counters"], np.int64), device=env.device).clone()
