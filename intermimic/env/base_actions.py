"""The reference's base actions: per reference frame, the action a zero residual applies.

Its PD targets are the clip's next frame's pose (its own at a clip's last frame, where the
episode ends), plus, scaled by ``EnvSettings.gravity_compensation``, the holding offsets of
that pose (:mod:`intermimic.env.gravity`). Tabled once per environment so that a step's
base is one gather (a feed-forward plan, :mod:`intermimic.env.feedforward`, replaces rows
of this table where it applies).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from intermimic.env.gravity import holding_offsets
from intermimic.env.reference import ReferenceMotion
from intermimic.sim.pd import ActionMap
from intermimic.sim.scene import Scene

F64 = NDArray[np.float64]


def next_frames(ref: ReferenceMotion) -> NDArray[np.int64]:
    """``[F]`` each global reference frame's successor in its clip (itself at the last)."""
    g = np.arange(ref.n_frames)
    last = np.zeros(ref.n_frames, bool)
    last[np.asarray(ref.clip_start) + np.asarray(ref.clip_len) - 1] = True
    return np.where(last, g, g + 1)


def holding_table(ref: ReferenceMotion, scene: Scene) -> F64:
    """``[F, H]`` the holding offsets of every reference frame, computed per clip."""
    out = np.zeros((ref.n_frames, len(scene.humanoid_dof_adr) - 6))
    for a, n in zip(ref.clip_start, ref.clip_len, strict=True):
        sl = slice(int(a), int(a + n))
        out[sl] = holding_offsets(scene, ref.qpos[sl], ref.obj_pos[sl, 2])
    return out


def reference_base(
    ref: ReferenceMotion, scene: Scene, action_map: ActionMap, gravity_compensation: float = 0.0
) -> F64:
    """``[F, A]`` the base action (in ``[-1, 1]``) at every reference frame: the module
    docstring."""
    nxt = next_frames(ref)
    hinges = ref.qpos[nxt][:, scene.humanoid_qpos_adr[7:]]
    if gravity_compensation > 0:
        hinges = hinges + gravity_compensation * holding_table(ref, scene)[nxt]
    return np.clip(action_map.actions(hinges), -1.0, 1.0)
