"""What the tracking environment compares and observes: the body indices, the object's
sample points and the reference motion built on them.

:class:`TrackView` holds the geometry (which bodies the rewards and IET compare with
their reference, which object points they measure, which the policy observes) and turns
a step's simulated states into the two things the environment needs from them: a
:class:`~intermimic.env.rewards.Comparison` with the reference (:meth:`TrackView.compare`)
and raw observations (:meth:`TrackView.observe`).

It is separate from :mod:`intermimic.env.tracking_env` so that the environment keeps
the episode loop (stepping, PSI; its resets in :mod:`intermimic.env.resets`, its
checkpoint state in :mod:`intermimic.env.checkpoint_state`) and this module the geometry.
The view keeps no episode state: each world's clip, frame and previous velocities come
in as arguments, and so do the settings a call reads, because a caller may swap the
environment's settings between steps (the planner does). Its methods compute exactly
what the environment's did, in the same order, so the numbers are unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from numpy.typing import NDArray

from intermimic.env.geometry import (
    graph_sq_errors,
    graph_sq_lengths,
    heading_local_object,
    interaction_graph,
    object_points,
    quat_to_matrix,
)
from intermimic.env.nearest import nearest_vectors
from intermimic.env.observations import FutureMotion, Released, observation_dim, observe
from intermimic.env.reference import ReferenceMotion, farthest_points
from intermimic.env.rewards import Comparison, closeness_weights, far_weights
from intermimic.env.settings import EmbodimentAwareRewards, EnvSettings
from intermimic.motion.clip import HOIClip
from intermimic.sim.backend import BodyStates
from intermimic.sim.scene import Scene

Tensor = torch.Tensor


def _rows(bs: BodyStates, rows: Tensor) -> BodyStates:
    return BodyStates(*(getattr(bs, f)[rows] for f in BodyStates.__dataclass_fields__))


class TrackView:
    """The indices, object points and reference of ``clips`` tracked in ``scene``, as
    numpy arrays and as tensors on ``device`` (floats in ``dtype``).

    Body indices are into the humanoid's bodies (52 for SMPL-X), not MuJoCo body ids:
    ``key_idx`` the key bodies (the interaction graph's), ``hands`` the left and right
    hand bodies, ``non_hand_idx`` the others, ``tracked`` the bodies the
    embodiment-aware terms compare (a slice when every body), ``pos_idx`` the
    body-position term's and ``pos_feet`` the feet among them; ``hinge_dof_adr`` the
    hinge dofs (``hinge`` on the device). Object points (body frame): ``points`` the
    error points, ``ig_points`` the observed graph's, ``graph_points`` the reward's and
    termination's graph's. ``ref`` and ``rt`` are the reference motion and its tensors;
    ``offsets`` the observed future frames, ``obs_dim`` the observation's length.
    """

    def __init__(
        self,
        scene: Scene,
        clips: Sequence[HOIClip],
        settings: EnvSettings,
        device: torch.device,
        dtype: torch.dtype,
    ) -> None:
        s, dev = settings, device

        def long(a: Sequence[int] | NDArray[np.integer]) -> Tensor:
            return torch.as_tensor(np.asarray(a, np.int64), device=dev)

        # Indices into the 52 SMPL-X bodies (not MuJoCo body ids).
        where = {int(b): i for i, b in enumerate(scene.humanoid_body_ids)}
        self.key_idx = np.array([where[int(b)] for b in scene.key_body_ids], np.int64)
        hands = (
            np.array([where[int(b)] for b in scene.left_hand_body_ids], np.int64),
            np.array([where[int(b)] for b in scene.right_hand_body_ids], np.int64),
        )
        self.hands = (long(hands[0]), long(hands[1]))
        n_bodies = len(scene.humanoid_body_ids)
        self.non_hand_idx = long(np.setdiff1d(np.arange(n_bodies), np.concatenate(hands)))
        # Bodies the embodiment-aware terms compare with their reference (the key-body
        # map of the embodiment; every body for the SMPL-X humanoid).
        tracked = scene.embodiment.tracked_index
        self.tracked: slice | Tensor = (
            slice(None) if np.array_equal(tracked, np.arange(n_bodies)) else long(tracked)
        )
        # The body-position term's bodies (the SMPL-X humanoid: its 21 key bodies) and,
        # among them, the feet, which weigh 1 (EmbodimentAwareRewards.feet_full_weight).
        pos_idx = scene.embodiment.position_index
        feet = set(scene.embodiment.index(scene.embodiment.feet).tolist())
        self.pos_idx = long(pos_idx)
        self.pos_feet = long([i for i, b in enumerate(pos_idx) if int(b) in feet])
        self._key = long(self.key_idx)
        # Hinge dofs: the humanoid's dofs after the free joint's 6.
        self.hinge_dof_adr = scene.humanoid_dof_adr[6:]
        self.hinge = long(self.hinge_dof_adr)

        if scene.object is None:
            raise ValueError("the tracking environment needs a scene with an object")
        pts = scene.object.points
        self.points = farthest_points(pts, s.n_object_points)
        self.ig_points = farthest_points(pts, s.observation.n_ig_points)
        self._points = torch.as_tensor(self.points, device=dev, dtype=dtype)
        self._ig_points = torch.as_tensor(self.ig_points, device=dev, dtype=dtype)
        # The reward's and termination's interaction graph has its own object points
        # (EmbodimentAgnosticRewards.ig_points); farthest-point samples share their
        # prefixes, so when it is a prefix of the object's error points, those serve.
        self.graph_points = farthest_points(pts, s.reward.embodiment_agnostic.ig_points)
        self._graph_points = torch.as_tensor(self.graph_points, device=dev, dtype=dtype)
        q = len(self.graph_points)
        self.graph_prefix = q <= len(self.points) and np.array_equal(
            self.points[:q], self.graph_points
        )
        self.ref = ReferenceMotion(clips, scene, self.points, self.graph_points, self.key_idx, s)
        self.rt = self.ref.tensors(dev, dtype)
        self.offsets = np.asarray(s.observation.future_offsets, np.int64)
        # Released observation layout: the root and key bodies' angular velocities, and
        # the nearest-point search's object points (the reference's, so both sides
        # search the same points).
        self.obs_layout = s.observation.layout
        self.spin_idx = self.ref.spin_bodies
        self._spin = long(self.spin_idx)
        near = self.ref.nearest_points_local
        self._nearest_points = (
            None if near is None else torch.as_tensor(near, device=dev, dtype=dtype)
        )
        self.obs_dim = observation_dim(
            n_bodies,
            len(self.key_idx) * len(self.ig_points),
            len(self.offsets),
            self.obs_layout,
            len(self.key_idx),
            len(self.spin_idx),
        )

    @staticmethod
    def touch(forces: Tensor, threshold: float) -> Tensor:
        """``[N, B]``: which bodies push on the object harder than ``threshold``
        (``forces``: the backend's contact forces)."""
        return forces[:, :, 0] > threshold

    def compare(
        self,
        bs: BodyStates,
        qvel: Tensor,
        touch: Tensor,
        forces: Tensor,
        idx: Tensor,
        prev_hinge_vel: Tensor,
        prev_obj_vel: Tensor,
        dt: float,
        aware: EmbodimentAwareRewards,
    ) -> tuple[Comparison, Tensor]:
        """Simulated versus reference quantities at reference frames ``idx [N]``
        (``forces`` ``[N, B, partners]`` the backend's contact normal forces), with
        accelerations from the previous step's ``prev_hinge_vel [N, H]`` and
        ``prev_obj_vel [N, 6]`` (object linear, angular) over the policy step ``dt``;
        returns the comparison and this step's hinge velocities ``[N, H]``."""
        rt = self.rt
        obj_rot = quat_to_matrix(bs.obj_quat)
        pts = object_points(bs.obj_pos, obj_rot, self._points)
        ref_pts = rt.points[idx]
        q = self._graph_points.shape[0]
        if self.graph_prefix:
            graph_sim, graph_ref = pts[:, :q], ref_pts[:, :q]
        else:
            graph_sim = object_points(bs.obj_pos, obj_rot, self._graph_points)
            graph_ref = rt.ig_points[idx]
        hinge_vel = qvel[:, self.hinge]
        a = aware
        tr, pi, key = self.tracked, self.pos_idx, self._key
        dist = rt.body_obj_dist[idx]
        ref_pos = rt.body_pos[idx]
        full = self.pos_feet if a.feet_full_weight else None
        rot_w = far_weights(dist[:, tr], a.closeness_scale) if a.rot_weighting == "far" else None
        key_sim, key_ref = bs.pos[:, key], ref_pos[:, key]
        # The object in the simulated root's heading frame (the reference's is precomputed).
        local_pos, local_quat = heading_local_object(
            bs.obj_pos, bs.obj_quat, bs.pos[:, 0], bs.quat[:, 0]
        )
        c = Comparison(
            body_pos_sim=bs.pos[:, pi],
            body_pos_ref=ref_pos[:, pi],
            body_quat_sim=bs.quat[:, tr],
            body_quat_ref=rt.body_quat[idx][:, tr],
            body_weight=closeness_weights(dist[:, pi], a.closeness_scale, a.closeness_floor, full),
            key_pos_sim=key_sim,
            key_pos_ref=key_ref,
            points_sim=pts,
            points_ref=ref_pts,
            obj_local_pos_sim=local_pos,
            obj_local_pos_ref=rt.obj_local_pos[idx],
            obj_local_quat_sim=local_quat,
            obj_local_quat_ref=rt.obj_local_quat[idx],
            obj_linvel_sim=bs.obj_linvel,
            obj_linvel_ref=rt.obj_linvel[idx],
            ig_err_sq=graph_sq_errors(key_sim, graph_sim, key_ref, graph_ref),
            ig_sim_sq=graph_sq_lengths(key_sim, bs.obj_pos, obj_rot, self._graph_points),
            ig_ref_sq=rt.ig_sq[idx],
            touch=touch,
            labels=rt.contact[idx],
            joint_acc=(hinge_vel - prev_hinge_vel) / dt,
            body_rot_weight=rot_w,
            obj_lin_acc=(bs.obj_linvel - prev_obj_vel[:, :3]) / dt,
            obj_ang_acc=(bs.obj_angvel - prev_obj_vel[:, 3:]) / dt,
            contact_force=forces.reshape(forces.shape[0], -1).sum(dim=1),
        )
        return c, hinge_vel

    def observe(
        self,
        bs: BodyStates,
        touch: Tensor,
        clip: Tensor,
        frame: Tensor,
        rows: Tensor | None,
        decay: float,
        offsets: Sequence[int] | NDArray[np.integer] | None = None,
    ) -> Tensor:
        """Raw observations ``[len(rows), obs_dim]`` of worlds ``rows`` (None: all; ``bs``,
        ``touch`` and each world's ``clip``, ``frame [N]`` cover all worlds), with the
        graph's encoding ``decay``; ``offsets`` overrides :attr:`offsets`."""
        if rows is not None:
            bs, touch, clip, frame = _rows(bs, rows), touch[rows], clip[rows], frame[rows]
        rt, rr = self.rt, self.rt.released
        obj_rot = quat_to_matrix(bs.obj_quat)
        future, motion = [], []
        for k in self.offsets if offsets is None else offsets:
            j = rt.global_index(clip, frame + int(k))
            future.append(
                (rt.body_pos[j], rt.body_quat[j], rt.obj_pos[j], rt.obj_quat[j], rt.contact[j])
            )
            if rr is not None:
                m: FutureMotion = (
                    rr.key_linvel[j],
                    rr.spin_angvel[j],
                    rt.obj_linvel[j],
                    rr.obj_angvel[j],
                    rr.key_nearest[j],
                )
                motion.append(m)
        if rr is None or self._nearest_points is None:
            ig = interaction_graph(
                bs.pos[:, self._key], object_points(bs.obj_pos, obj_rot, self._ig_points)
            )
            return observe(bs, ig, touch, future, decay)
        nearest = nearest_vectors(bs.pos, bs.obj_pos, obj_rot, self._nearest_points)
        return observe(
            bs, None, touch, future, decay, Released(nearest, self._key, self._spin, motion)
        )
