"""The planner's per-step cost terms beyond the environment's reward.

The environment's reward (a product of ``exp(-k * error)`` terms) enters the cost as
``-log(reward)``; these terms add what a receding-horizon sampler needs that the reward
weighs too little or not at all: hands that should hold the object (and where the
capture holds it), the object's and the root's drift, balance (the centre of mass over
the feet) and feet that should stand still. Every term is computed on the host in
float64 from the states the planner records after each step, against reference frames
``idx``.
"""

from __future__ import annotations

import mujoco
import numpy as np
import torch
from numpy.typing import NDArray

from intermimic.contact.distances import HumanoidGeoms, geom_lowest_z, pose_geoms
from intermimic.contact.settings import ContactSettings
from intermimic.env import TrackingEnv
from intermimic.env.geometry import object_points, quat_to_matrix
from intermimic.plan.settings import PlannerSettings
from intermimic.sim.backend import BodyStates

F64 = NDArray[np.float64]

#: A hand labelled in contact costs nothing within this distance of the object (m): the
#: reference's own hands sit 1-3 cm from the sampled surface points in contact frames.
HAND_SLACK = 0.02
#: A reference foot slower than this (m/s, horizontal) is standing: the simulated one
#: should not slide.
STANDING_SPEED = 0.2
#: A labelled hand's bodies cost nothing within this mean distance (m) of where the
#: reference's are on the object: the captured hands sit up to 4-5 cm inside the object
#: (sub2_largetable_000's raw object penetration, 4.4 cm), where no simulated hand can be.
HAND_OBJECT_SLACK = 0.05
FOOT_WORDS = ("ankle", "toe", "foot")
#: The arms' hinges by name: SMPL-X's collar (thorax), shoulder, elbow and wrist; the
#: G1's shoulder, elbow and wrist joints.
ARM_WORDS = ("thorax", "shoulder", "elbow", "wrist")
#: A foot body within this of its floor level (m, its origin's height) is on the ground
#: for ``foot_slide_weight``; the weight falls linearly to 0 at twice this height: the
#: artifact report's contact height (:mod:`intermimic.contact.artifacts`), so the cost
#: and the figure it lowers count the same feet.
FOOT_LOW: float = ContactSettings.model_fields["foot_contact_height"].default
#: ``ground_depth_weight`` charges penetration below the ground beyond this (m): the
#: stiff ground (8.5 ms at 240 Hz) lets a foot that stands 2-6 mm in; the quality bar
#: on this figure is InterMimic's (0.3 cm on sub2_largetable_000) + 5 mm.
GROUND_SLACK = 0.004
#: Names of finger hinges' actuators (SMPL-X hands): the noise's ``finger_sigma``, and
#: left out of the pose term (fingers wrap around the object wherever it is).
FINGER_WORDS = ("index", "middle", "ring", "pinky", "thumb")


def _actuators_named(model: mujoco.MjModel, words: tuple[str, ...]) -> NDArray[np.bool_]:
    """``[nu]`` whether each actuator's name (lower case) contains one of ``words``."""
    names = [model.actuator(i).name.lower() for i in range(model.nu)]
    return np.array([any(w in n for w in words) for n in names], bool)


def finger_actuators(model: mujoco.MjModel) -> NDArray[np.bool_]:
    """``[nu]`` whether each actuator of ``model`` drives a finger hinge."""
    return _actuators_named(model, FINGER_WORDS)


def foot_actuators(model: mujoco.MjModel) -> NDArray[np.bool_]:
    """``[nu]`` whether each actuator of ``model`` drives a foot hinge (ankle, toe): the
    noise's ``foot_noise``."""
    return _actuators_named(model, FOOT_WORDS)


def arm_actuators(model: mujoco.MjModel) -> NDArray[np.bool_]:
    """``[nu]`` whether each actuator of ``model`` drives an arm hinge (collar, shoulder,
    elbow, wrist): the noise's ``arm_noise``."""
    return _actuators_named(model, ARM_WORDS)


def foot_bodies(names: tuple[str, ...] | list[str]) -> NDArray[np.int64]:
    """Indices of the bodies whose names say they are feet (ankles, toes)."""
    return np.array(
        [i for i, n in enumerate(names) if any(w in n.lower() for w in FOOT_WORDS)], np.int64
    )


class PlanCost:
    """Extra cost ``[K]`` of ``K`` worlds' states after one step (see the module doc)."""

    def __init__(self, env: TrackingEnv, settings: PlannerSettings) -> None:
        self.s = settings
        self.env = env
        ref = env.ref
        scene = env.scene
        self.hands = [h.cpu().numpy() for h in env.hands]
        self.points = torch.from_numpy(np.asarray(env.points, np.float64))
        self.key = np.asarray(env.key_idx, np.int64)
        self.feet = foot_bodies(list(scene.embodiment.body_names))
        mass = np.asarray(scene.model.body_mass[scene.humanoid_body_ids], np.float64)
        self.mass = mass / mass.sum()
        # centre of mass of the body frames' origins: the same approximation on both
        # sides, so only its difference to the reference's counts
        self.ref_balance = self._balance(ref.body_pos)
        # each hand's bodies in the reference object's frame [F, n, 3] (hand_object_weight)
        self.ref_hand_local = [
            self._in_object_frame(ref.body_pos[:, hand], ref.obj_pos, ref.obj_rotmat)
            for hand in self.hands
        ]
        # the body hinges' qpos addresses, and their reference angles [F, J] (pose_weight)
        model = scene.model
        body = ~finger_actuators(model)
        self.hinge_adr = np.asarray(model.jnt_qposadr[model.actuator_trnid[body, 0]], np.int64)
        self.ref_hinges = np.asarray(ref.qpos, np.float64)[:, self.hinge_adr]
        self.ref_foot_standing = (
            np.linalg.norm(ref.body_linvel[:, self.feet, :2], axis=-1) < STANDING_SPEED
            if len(self.feet)
            else np.zeros((ref.n_frames, 0), bool)
        )
        # each foot body's reference origin height [F, f], and its floor level [f]: the
        # 5th percentile over the clip's captured frames (not a held tail), as the
        # artifact report's floor
        self.ref_foot_z = np.asarray(ref.body_pos, np.float64)[:, self.feet, 2]
        self.foot_floor = np.percentile(self.ref_foot_z[~ref.held], 5, axis=0)
        # the humanoid's collision geoms in their bodies' frames, built on first use
        # (ground_depth): a G1's mesh geoms have no analytic lowest point
        self.geoms: HumanoidGeoms | None = None

    @staticmethod
    def _in_object_frame(pos: F64, obj_pos: F64, obj_rot: F64) -> F64:
        """``[N, n, 3]`` world points ``pos [N, n, 3]`` in the object's frame: ``R^T (p - o)``."""
        return np.einsum("nji,nbj->nbi", obj_rot, pos - obj_pos[:, None, :])

    def _balance(self, pos: F64) -> F64:
        """``[N, 2]`` horizontal offset of the centre of mass from the feet's middle."""
        com = np.einsum("nbk,b->nk", pos[..., :2], self.mass)
        if not len(self.feet):
            return com - pos[:, 0, :2]
        return com - pos[:, self.feet, :2].mean(axis=1)

    def hinge_errors(self, qpos: F64, idx: NDArray[np.int64]) -> F64:
        """``[N, J]`` body-hinge angles of states ``qpos [N, nq]`` less the reference's at
        frames ``idx [N]``, wrapped to ``(-pi, pi]`` (a whole turn is the same pose)."""
        diff = np.asarray(qpos, np.float64)[:, self.hinge_adr] - self.ref_hinges[idx]
        return np.angle(np.exp(1j * diff))

    def _hand_object_error(
        self, h: int, pos: F64, obj_pos: F64, obj_rot: F64, idx: NDArray[np.int64]
    ) -> F64:
        """``[N]`` hand ``h``'s bodies' mean distance (m) from where the reference's are on
        the object at frames ``idx``, both in their object's frame (``obj_rot [N, 3, 3]``)."""
        local = self._in_object_frame(pos[:, self.hands[h]], obj_pos, obj_rot)
        return np.linalg.norm(local - self.ref_hand_local[h][idx], axis=-1).mean(axis=1)

    def labelled(self, idx: NDArray[np.int64]) -> list[NDArray[np.bool_]]:
        """Per hand, ``[N]`` whether the labels put it in contact at frames ``idx`` (read
        at each call: the reference's labels may be edited)."""
        labels = np.asarray(self.env.ref.contact[idx]) > 0
        return [np.asarray(labels[:, hand].any(axis=1), bool) for hand in self.hands]

    def held_hand_errors(
        self, pos: F64, obj_pos: F64, obj_quat: F64, idx: NDArray[np.int64]
    ) -> F64:
        """``[N]`` mean over the hands the labels put in contact at frames ``idx`` of each
        one's distance (m) from where the reference's hand is on the object (its bodies'
        mean, in the object's frame; ``hand_object_weight``'s error before its slack), from
        states ``pos [N, B, 3]``, ``obj_pos [N, 3]``, ``obj_quat [N, 4]``; NaN where no
        hand is labelled. A hand that holds the object elsewhere than the capture's moves
        the arm and the torso with it (on ``sub2_woodchair_003`` the right hand 25 cm
        down the chair's back, the torso 30-40 degrees more bent)."""
        rot = quat_to_matrix(torch.from_numpy(np.asarray(obj_quat, np.float64))).numpy()
        total, count = np.zeros(len(idx)), np.zeros(len(idx))
        for h, n in enumerate(self.labelled(idx)):
            if n.any():
                err = self._hand_object_error(h, pos, obj_pos, rot, idx)
                total += np.where(n, err, 0.0)
                count += n
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    def __call__(
        self,
        bs: BodyStates,
        idx: NDArray[np.int64],
        forces: F64 | None = None,
        qpos: F64 | None = None,
    ) -> F64:
        """Cost ``[K]`` of states ``bs`` against reference frames ``idx [K]``; ``forces
        [K, 52, 3]`` (the backend's contact forces) for the grasp term, ``qpos [K, nq]``
        for the pose term."""
        s, ref = self.s, self.env.ref
        k = bs.pos.shape[0]
        cost = np.zeros(k)
        # per hand, [K]: the labels put it in contact (the grasp and hand terms use it)
        need = self.labelled(idx)
        if s.grasp_weight > 0 and forces is not None:
            for hand, n in zip(self.hands, need, strict=True):
                pressed = forces[:, hand, 0].sum(axis=1)  # partner 0: the object
                short = np.clip(1.0 - pressed / s.grasp_force, 0.0, 1.0)
                cost += s.grasp_weight * n * short
        # the object's rotation, once for both hand terms ([K, 3, 3], cheap)
        rot = quat_to_matrix(torch.from_numpy(bs.obj_quat))
        pts: F64 | None = None
        if s.hand_weight > 0 or s.object_points_weight > 0:
            pts = object_points(torch.from_numpy(bs.obj_pos), rot, self.points).numpy()
        if s.object_points_weight > 0 and pts is not None:
            err = np.linalg.norm(pts - ref.points[idx], axis=-1).mean(axis=1)
            cost += s.object_points_weight * err
        if s.hand_weight > 0 and pts is not None:
            for hand, n in zip(self.hands, need, strict=True):
                if not n.any():
                    continue
                d2 = ((bs.pos[:, hand, None, :] - pts[:, None, :, :]) ** 2).sum(-1)
                d = np.sqrt(d2.min(axis=(1, 2)))
                cost += s.hand_weight * n * np.maximum(d - HAND_SLACK, 0.0)
        if s.hand_object_weight > 0:
            for h, n in enumerate(need):
                if not n.any():
                    continue
                err = self._hand_object_error(h, bs.pos, bs.obj_pos, rot.numpy(), idx)
                cost += s.hand_object_weight * n * np.maximum(err - HAND_OBJECT_SLACK, 0.0)
        if s.object_weight > 0:
            cost += s.object_weight * np.linalg.norm(bs.obj_pos - ref.obj_pos[idx], axis=-1)
        if s.object_velocity_weight > 0:
            cost += s.object_velocity_weight * np.linalg.norm(
                bs.obj_linvel - ref.obj_linvel[idx], axis=-1
            )
        if s.body_weight > 0:
            err = np.linalg.norm(bs.pos[:, self.key] - ref.body_pos[idx][:, self.key], axis=-1)
            cost += s.body_weight * err.mean(axis=1)
        if s.root_weight > 0:
            cost += s.root_weight * np.linalg.norm(
                bs.pos[:, 0, :2] - ref.body_pos[idx, 0, :2], axis=-1
            )
        if s.root_height_weight > 0:
            cost += s.root_height_weight * np.abs(bs.pos[:, 0, 2] - ref.body_pos[idx, 0, 2])
        if s.com_weight > 0:
            cost += s.com_weight * np.linalg.norm(
                self._balance(bs.pos) - self.ref_balance[idx], axis=-1
            )
        if s.pose_weight > 0 and qpos is not None:
            cost += s.pose_weight * np.abs(self.hinge_errors(qpos, idx)).mean(axis=1)
        if s.foot_weight > 0 and len(self.feet):
            speed = np.linalg.norm(bs.linvel[:, self.feet, :2], axis=-1)
            cost += s.foot_weight * (speed * self.ref_foot_standing[idx]).sum(axis=1)
        if s.foot_height_weight > 0 and len(self.feet):
            dz = np.abs(bs.pos[:, self.feet, 2] - self.ref_foot_z[idx])
            cost += s.foot_height_weight * dz.sum(axis=1)
        if s.ground_depth_weight > 0:
            excess = self.ground_depth(bs.pos, bs.quat) - GROUND_SLACK
            cost += s.ground_depth_weight * np.maximum(excess, 0.0)
        if s.foot_slide_weight > 0 and len(self.feet):
            cost += s.foot_slide_weight * self.foot_slide(bs.pos, bs.linvel).sum(axis=1)
        return cost

    def ground_depth(self, pos: F64, quat: F64) -> F64:
        """``[K]`` how deep (m, 0 above it) the lowest point of any humanoid collision geom
        is below the ground plane, from body poses ``pos [K, B, 3]``, ``quat [K, B, 4]``:
        the artifact report's ground penetration, per state."""
        if self.geoms is None:
            self.geoms = HumanoidGeoms.from_scene(self.env.scene)
        wpos, wrot = pose_geoms(
            self.geoms, np.asarray(pos, np.float64), np.asarray(quat, np.float64)
        )
        return np.maximum(-geom_lowest_z(self.geoms, wpos, wrot).min(axis=1), 0.0)

    def foot_slide(self, pos: F64, linvel: F64) -> F64:
        """``[K, f]`` horizontal speed of each foot body, weighted by how low it is: 1 up to
        :data:`FOOT_LOW` above its floor, falling linearly to 0 at twice that (the
        artifact report's skating, made smooth in height)."""
        above = pos[:, self.feet, 2] - self.foot_floor
        low = np.clip(2.0 - above / FOOT_LOW, 0.0, 1.0)
        return low * np.linalg.norm(linvel[:, self.feet, :2], axis=-1)
