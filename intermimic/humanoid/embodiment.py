"""The SMPL-X humanoid as an :class:`~intermimic.humanoid.embodiment_base.Embodiment`, and
embodiments by name (:func:`make_embodiment`).

The interface itself (what the environment needs from a body) is in
:mod:`intermimic.humanoid.embodiment_base`; :class:`Embodiment` and
:class:`EmbodimentError` are importable from here too. :class:`SmplxEmbodiment` maps one
to one with ratio 1; :class:`~intermimic.humanoid.g1.G1Embodiment` is the Unitree G1 with
hands.
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

from intermimic.humanoid.builder import build_spec
from intermimic.humanoid.embodiment_base import F64, I64, Embodiment, EmbodimentError
from intermimic.humanoid.g1 import G1Embodiment
from intermimic.humanoid.skeleton_model import HumanoidSettings
from intermimic.motion.clip import HOIClip
from intermimic.motion.kinematics import KinematicTree, clip_to_qpos
from intermimic.motion.skeleton import SMPLX_BODY_NAMES

__all__ = [
    "EMBODIMENTS",
    "SMPLX_FEET",
    "SMPLX_KEY_BODIES",
    "SMPLX_LEFT_HAND",
    "SMPLX_RIGHT_HAND",
    "Embodiment",
    "EmbodimentError",
    "SmplxEmbodiment",
    "make_embodiment",
    "scene_tree",
]

_FINGERS = ("Index", "Middle", "Pinky", "Ring", "Thumb")
#: InterMimic's 21 key bodies (``keyBodies`` of its teacher config): early termination
#: (mean error), the body-position reward and the interaction graph use them.
SMPLX_KEY_BODIES: tuple[str, ...] = (
    "L_Hip", "L_Knee", "L_Ankle", "L_Toe", "R_Hip", "R_Knee", "R_Ankle", "R_Toe",
    "Torso", "Spine", "Chest", "Neck", "Head",
    "L_Thorax", "L_Shoulder", "L_Elbow", "L_Wrist", "R_Thorax", "R_Shoulder", "R_Elbow", "R_Wrist",
)  # fmt: skip
SMPLX_LEFT_HAND: tuple[str, ...] = ("L_Wrist", *(f"L_{f}{i}" for f in _FINGERS for i in (1, 2, 3)))
SMPLX_RIGHT_HAND: tuple[str, ...] = ("R_Wrist", *(f"R_{f}{i}" for f in _FINGERS for i in (1, 2, 3)))
SMPLX_FEET: tuple[str, ...] = ("L_Ankle", "L_Toe", "R_Ankle", "R_Toe")


class SmplxEmbodiment(Embodiment):
    """The SMPL-X humanoid of :mod:`intermimic.humanoid.builder`: 52 bodies that are
    their own reference, three hinges per body, ratio 1.

    ``skeleton`` (None: the mean adult) and ``settings`` (its actuators are forced to
    ``"position"``) go to :func:`~intermimic.humanoid.builder.build_spec`.
    """

    name = "smplx"
    body_names = SMPLX_BODY_NAMES
    smplx_bodies = SMPLX_BODY_NAMES
    tracked_bodies = SMPLX_BODY_NAMES
    key_bodies = SMPLX_KEY_BODIES
    position_bodies = SMPLX_KEY_BODIES  # InterMimic: body positions of the key bodies only
    left_hand = SMPLX_LEFT_HAND
    right_hand = SMPLX_RIGHT_HAND
    feet = SMPLX_FEET

    def __init__(self, skeleton: Any = None, settings: Any = None) -> None:
        self.skeleton = skeleton
        self.settings = settings

    def build_spec(self) -> mujoco.MjSpec:
        s = self.settings or HumanoidSettings()
        return build_spec(self.skeleton, s.model_copy(update={"actuators": "position"}))

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(f"{n}_{a}" for n in SMPLX_BODY_NAMES[1:] for a in "xyz")

    def reference_tree(self, model: mujoco.MjModel, body_ids: I64) -> KinematicTree:
        # The simulated humanoid itself: the reference is what it can reach.
        return scene_tree(model, body_ids)

    def reference_qpos(self, clip: HOIClip) -> F64:
        return clip_to_qpos(clip)


def scene_tree(model: mujoco.MjModel, body_ids: I64) -> KinematicTree:
    """The kinematic tree of the bodies ``body_ids`` of ``model`` (in that order)."""
    index = {int(b): i for i, b in enumerate(body_ids)}
    parents = np.array([index.get(int(model.body_parentid[b]), -1) for b in body_ids], np.int64)
    return KinematicTree.from_arrays(
        parents, model.body_pos[body_ids].copy(), model.body_quat[body_ids].copy()
    )


EMBODIMENTS: tuple[str, ...] = ("smplx", "g1")


def make_embodiment(name: str, **kwargs: Any) -> Embodiment:
    """An embodiment by name: ``smplx`` (kwargs: ``skeleton``, ``settings``) or ``g1``
    (kwargs: ``settings``, a :class:`~intermimic.humanoid.g1.G1Settings`)."""
    key = name.strip().lower()
    if key == "smplx":
        return SmplxEmbodiment(**kwargs)
    if key == "g1":
        return G1Embodiment(**kwargs)
    raise EmbodimentError(f"unknown embodiment {name!r}; known: {', '.join(EMBODIMENTS)}")
