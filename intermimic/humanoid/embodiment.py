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

from intermimic.humanoid.builder import build_spec, weld_angles, welded_bodies
from intermimic.humanoid.embodiment_base import F64, I64, Embodiment, EmbodimentError
from intermimic.humanoid.g1 import G1Embodiment
from intermimic.humanoid.skeleton_model import HandsMode, HumanoidSettings
from intermimic.humanoid.smplx_offsets import default_skeleton
from intermimic.motion.clip import HOIClip
from intermimic.motion.kinematics import KinematicTree, clip_to_qpos
from intermimic.motion.skeleton import SMPLX_BODY_NAMES

__all__ = [
    "EMBODIMENTS",
    "SMPLX_FEET",
    "SMPLX_KEY_BODIES",
    "SMPLX_LEFT_HAND",
    "SMPLX_RIGHT_HAND",
    "VARIANTS",
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
    ``"position"``) go to :func:`~intermimic.humanoid.builder.build_spec`; ``hands``
    (None: the settings') replaces ``settings.hands``.

    With ``hands="body"`` (name ``smplx-body``) the 30 finger bodies are welded at the
    weld pose (``HumanoidSettings.finger_pose``, 0: the flat hand) and only the 63 body
    hinges are simulated and actuated; the 52 bodies, and with them every per-body
    observation, reward and contact array, stay. Its reference is the clip with the
    fingers at the weld pose (a pose the body can reach): :meth:`reference_smplx_qpos`.
    Its own qpos (``7 + 63``) and SMPL-X qpos (``160``) convert with
    :meth:`reference_qpos` and :meth:`smplx_qpos`.
    """

    name = "smplx"  # "smplx-body" with welded fingers (set per instance)
    released_action_map = True
    body_names = SMPLX_BODY_NAMES
    smplx_bodies = SMPLX_BODY_NAMES
    tracked_bodies = SMPLX_BODY_NAMES
    key_bodies = SMPLX_KEY_BODIES
    position_bodies = SMPLX_KEY_BODIES  # InterMimic: body positions of the key bodies only
    left_hand = SMPLX_LEFT_HAND
    right_hand = SMPLX_RIGHT_HAND
    feet = SMPLX_FEET

    def __init__(
        self, skeleton: Any = None, settings: Any = None, *, hands: HandsMode | None = None
    ) -> None:
        self.skeleton = skeleton
        s = settings or HumanoidSettings()
        if hands is not None:
            s = HumanoidSettings.model_validate({**s.model_dump(), "hands": hands})
        self.settings = s
        self.hands: HandsMode = s.hands
        self.name = "smplx" if s.hands == "full" else f"smplx-{s.hands}"
        #: [153] which of the SMPL-X hinges this body simulates (qpos[7:] columns).
        self._kept = np.repeat([n not in _welded(s.hands) for n in SMPLX_BODY_NAMES[1:]], 3)
        #: [153] SMPL-X hinge angles of the weld pose (0 on the simulated hinges).
        self._weld = np.zeros(3 * (len(SMPLX_BODY_NAMES) - 1))
        if s.hands != "full":
            self._weld[~self._kept] = weld_angles(skeleton or default_skeleton(), s).reshape(-1)

    def build_spec(self) -> mujoco.MjSpec:
        return build_spec(self.skeleton, self.settings.model_copy(update={"actuators": "position"}))

    @property
    def joint_names(self) -> tuple[str, ...]:
        return tuple(
            f"{n}_{a}" for n in SMPLX_BODY_NAMES[1:] if n not in _welded(self.hands) for a in "xyz"
        )

    def reference_tree(self, model: mujoco.MjModel, body_ids: I64) -> KinematicTree:
        # The simulated humanoid itself: the reference is what it can reach. Welded
        # bodies carry their weld rotation in the model; the reference's angles carry it
        # instead (reference_smplx_qpos), so their rest is the SMPL-X rest (aligned).
        tree = scene_tree(model, body_ids)
        if self.hands == "full":
            return tree
        rest = tree.rest_quat.copy()
        rest[[SMPLX_BODY_NAMES.index(n) for n in _welded(self.hands)]] = (1.0, 0.0, 0.0, 0.0)
        return KinematicTree.from_arrays(tree.parents, tree.offsets, rest)

    def reference_smplx_qpos(self, clip: HOIClip) -> F64:
        q = clip_to_qpos(clip)
        if self.hands != "full":
            q[:, 7:][:, ~self._kept] = self._weld[~self._kept]
        return q

    def reference_qpos(self, clip: HOIClip) -> F64:
        q = clip_to_qpos(clip)
        return q if self.hands == "full" else self.own_qpos(q)

    def own_qpos(self, smplx_qpos: F64) -> F64:
        """``[..., 160]`` SMPL-X qpos -> ``[..., 7 + J]`` this body's (welded hinges
        dropped)."""
        q = np.asarray(smplx_qpos, np.float64)
        if self.hands == "full":
            return q.copy()
        return np.concatenate([q[..., :7], q[..., 7:][..., self._kept]], axis=-1)

    def smplx_qpos(self, qpos: F64) -> F64:
        """``[..., 7 + J]`` this body's qpos -> ``[..., 160]`` SMPL-X qpos (welded
        hinges at the weld pose)."""
        q = np.asarray(qpos, np.float64)
        if self.hands == "full":
            return q.copy()
        out = np.empty((*q.shape[:-1], 7 + self._kept.size))
        out[..., :7] = q[..., :7]
        out[..., 7:] = self._weld
        out[..., 7:][..., self._kept] = q[..., 7:]
        return out


def _welded(hands: HandsMode) -> tuple[str, ...]:
    """SMPL-X bodies welded in a ``hands`` mode (the fingers for ``body``)."""
    return welded_bodies(SMPLX_BODY_NAMES, hands)


def scene_tree(model: mujoco.MjModel, body_ids: I64) -> KinematicTree:
    """The kinematic tree of the bodies ``body_ids`` of ``model`` (in that order)."""
    index = {int(b): i for i, b in enumerate(body_ids)}
    parents = np.array([index.get(int(model.body_parentid[b]), -1) for b in body_ids], np.int64)
    return KinematicTree.from_arrays(
        parents, model.body_pos[body_ids].copy(), model.body_quat[body_ids].copy()
    )


EMBODIMENTS: tuple[str, ...] = ("smplx", "g1")
#: Variants :func:`make_embodiment` also knows: the SMPL-X humanoid with welded fingers.
VARIANTS: tuple[str, ...] = ("smplx-body",)


def make_embodiment(name: str, **kwargs: Any) -> Embodiment:
    """An embodiment by name: ``smplx`` (kwargs: ``skeleton``, ``settings``, ``hands``),
    ``smplx-body`` (the same with ``hands="body"``) or ``g1`` (kwargs: ``settings``, a
    :class:`~intermimic.humanoid.g1.G1Settings`)."""
    key = name.strip().lower()
    if key == "smplx":
        return SmplxEmbodiment(**kwargs)
    if key == "smplx-body":
        return SmplxEmbodiment(**{**kwargs, "hands": "body"})
    if key == "g1":
        return G1Embodiment(**kwargs)
    known = ", ".join(EMBODIMENTS + VARIANTS)
    raise EmbodimentError(f"unknown embodiment {name!r}; known: {known}")
