"""The reference motion: every clip's frames, precomputed once, gathered per world.

:class:`ReferenceMotion` concatenates the clips along time (global frame index =
``clip_start[c] + frame``) and precomputes what every step would otherwise recompute:
body and object poses, their velocities (finite differences at the clip's fps), object
surface points, the object's pose in the humanoid's root-heading frame (the object
rewards), the reward's interaction graph (its object points and its squared edge
lengths, all the reward and termination need of the reference graph), each body's
distance to the object, the full simulator state (``qpos``, ``qvel``) that PSI seeds
its buffer with, and for the released observation layout each key body's vector to its
nearest object point (``key_nearest``). Everything is float64 numpy, the per-frame
``[F, K, Q]``-sized parts computed in chunks of frames.

Reference body poses are by default the simulated humanoid's own forward kinematics of
the clip's joint angles (``EnvSettings.reference_bodies = "fk"``): captured positions
come from a subject whose bone lengths differ from the model's, and a target the model
cannot reach by construction would cap every reward below 1. For the same reason an
embodiment picks the joint angles of that FK (``Embodiment.reference_smplx_qpos``): the
SMPL-X humanoid with welded fingers (``hands="body"``) follows the clip with its
fingers at the weld pose.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray

from intermimic.env import geometry
from intermimic.env.grounding import ground_offsets
from intermimic.env.nearest import nearest_vectors
from intermimic.env.object_rest import rest_on_floor
from intermimic.env.observations import spin_bodies
from intermimic.env.settings import EnvSettings
from intermimic.errors import InputError
from intermimic.motion.clip import HOIClip
from intermimic.motion.kinematics import KinematicTree, fk
from intermimic.motion.quat import quat_conj, quat_mul, quat_to_rotvec
from intermimic.sim.backend import BodyStates
from intermimic.sim.scene import Scene

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


class ReferenceClipError(InputError):
    """A clip cannot serve as a tracking reference (too short, no object, ...)."""


@dataclass(frozen=True)
class RefFrame:
    """Reference quantities at ``N`` gathered global frames (world frame, SI).

    ``states`` is a :class:`~intermimic.sim.backend.BodyStates` ``[N, ...]``;
    ``obj_rotmat`` ``[N,3,3]``, ``points`` ``[N,P,3]``, ``ig_points`` ``[N,Q,3]`` and
    ``ig_sq`` ``[N,K,Q]`` (m^2) the interaction graph's object points and squared edge
    lengths, ``body_obj_dist`` ``[N,B]`` (m), ``contact`` ``[N,B]`` labels.
    """

    states: BodyStates
    obj_rotmat: F64
    points: F64
    ig_points: F64
    ig_sq: F64
    body_obj_dist: F64
    contact: NDArray[np.int8]


def _scene_tree(scene: Scene) -> KinematicTree:
    """The SMPL-X humanoid whose FK is the reference: for the SMPL-X embodiment the
    simulated humanoid itself (bodies in SMPL-X order), else the embodiment's choice."""
    return scene.embodiment.reference_tree(scene.model, scene.humanoid_body_ids)


def _angvel(q: NDArray[np.floating], fps: float) -> F64:
    """World angular velocity ``[T, ..., 3]`` (rad/s) of orientations ``[T, ..., 4]``:
    central differences inside, one-sided at the ends (``T >= 2``)."""
    q = np.asarray(q, np.float64)
    nxt = np.concatenate([q[1:], q[-1:]])
    prv = np.concatenate([q[:1], q[:-1]])
    span = np.full(q.shape[0], 2.0)
    span[0] = span[-1] = 1.0
    w = quat_to_rotvec(quat_mul(nxt, quat_conj(prv)))
    return w * (fps / span.reshape(-1, *([1] * (w.ndim - 1))))


def _linvel(x: NDArray[np.floating], fps: float) -> F64:
    return np.gradient(np.asarray(x, np.float64), 1.0 / fps, axis=0)


def farthest_points(points: NDArray[np.floating], n: int) -> F64:
    """``n`` of ``points [M, 3]`` spread over the surface (farthest-point sampling from
    point 0; deterministic). All of them when ``n >= M``."""
    p = np.asarray(points, np.float64)
    if n >= len(p):
        return p.copy()
    chosen = [0]
    d = np.linalg.norm(p - p[0], axis=1)
    for _ in range(n - 1):
        i = int(np.argmax(d))
        chosen.append(i)
        d = np.minimum(d, np.linalg.norm(p - p[i], axis=1))
    return p[chosen]


def _f64(fn: object, *arrays: NDArray[np.floating]) -> F64:
    """A torch geometry function of :mod:`intermimic.env.geometry` on float64 arrays:
    the precomputation stays exact float64 numpy."""
    out = fn(*(torch.from_numpy(np.ascontiguousarray(a, np.float64)) for a in arrays))  # type: ignore[operator]
    return np.asarray(out.numpy(), np.float64)


@dataclass(frozen=True)
class ReleasedTensors:
    """What the released observation layout gathers besides :class:`ReferenceTensors`
    (``F`` global frames, world frame): ``key_linvel [F,K,3]`` (key bodies),
    ``spin_angvel [F,H,3]`` (:func:`~intermimic.env.observations.spin_bodies`),
    ``obj_angvel [F,3]``, ``key_nearest [F,K,3]`` (each key body's vector to its nearest
    object point)."""

    key_linvel: torch.Tensor
    spin_angvel: torch.Tensor
    obj_angvel: torch.Tensor
    key_nearest: torch.Tensor


@dataclass(frozen=True)
class ReferenceTensors:
    """What the environment gathers every step, as tensors on its device (``F`` global
    frames): ``body_pos [F,B,3]``, ``body_quat [F,B,4]``, ``obj_pos [F,3]``, ``obj_quat
    [F,4]``, ``obj_local_pos [F,3]``, ``obj_local_quat [F,4]``, ``obj_linvel [F,3]``,
    ``points [F,P,3]``, ``ig_points [F,Q,3]``, ``ig_sq [F,K,Q]``, ``body_obj_dist [F,B]``
    in the float dtype; ``contact [F,B]`` int8; ``clip_start``, ``clip_len`` ``[C]``
    long; ``released`` the released observation layout's (None for the compact one)."""

    body_pos: torch.Tensor
    body_quat: torch.Tensor
    obj_pos: torch.Tensor
    obj_quat: torch.Tensor
    obj_local_pos: torch.Tensor
    obj_local_quat: torch.Tensor
    obj_linvel: torch.Tensor
    points: torch.Tensor
    ig_points: torch.Tensor
    ig_sq: torch.Tensor
    body_obj_dist: torch.Tensor
    contact: torch.Tensor
    clip_start: torch.Tensor
    clip_len: torch.Tensor
    released: ReleasedTensors | None = None

    def global_index(self, clip: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        """As :meth:`ReferenceMotion.global_index`, on tensors."""
        return self.clip_start[clip] + torch.minimum(frame, self.clip_len[clip] - 1)


class ReferenceMotion:
    """All reference frames of ``clips`` for ``scene`` (see the module docstring).

    Arrays, ``F`` total frames: ``body_pos [F,B,3]``, ``body_quat [F,B,4]``,
    ``body_linvel``/``body_angvel [F,B,3]``, ``obj_pos``,
    ``obj_quat``, ``obj_linvel``, ``obj_angvel``, ``obj_rotmat``, ``obj_local_pos [F,3]``
    and ``obj_local_quat [F,4]`` (the object in the root-heading frame of body 0, the
    root: :func:`~intermimic.env.geometry.heading_local_object`), ``points [F,P,3]``,
    ``ig_points [F,Q,3]`` (world positions of the graph's object points ``ig_points``,
    given in the object frame) and ``ig_sq [F,K,Q]`` (squared lengths of the edges from
    bodies ``ig_bodies`` to them), ``body_obj_dist [F,B]``, ``contact [F,B]``, ``qpos
    [F,nq]``, ``qvel [F,nv]``; per clip ``clip_start``, ``clip_len`` ``[C]``,
    ``clip_ids``. The bodies ``ig_bodies`` are the key bodies.

    With ``settings.observation.layout == "released"`` also ``nearest_points_local
    [M,3]`` (the ``nearest_points`` farthest of the scene object's surface points) and
    ``key_nearest [F,K,3]``: the world vector from each key body to its nearest of them
    on the reference-posed object (None otherwise).
    """

    def __init__(
        self,
        clips: Sequence[HOIClip],
        scene: Scene,
        points: NDArray[np.floating],
        ig_points: NDArray[np.floating],
        ig_bodies: I64,
        settings: EnvSettings | None = None,
    ) -> None:
        s = settings or EnvSettings()
        if not clips:
            raise ReferenceClipError("no reference clips given")
        if not scene.has_object:
            raise ReferenceClipError("the scene has no object to track")
        need = max(s.observation.future_offsets)
        obj_name = scene.object.name if scene.object is not None else ""
        for c in clips:
            where = c.meta.source_path or None
            if c.meta.object_name != obj_name:
                raise ReferenceClipError(
                    f"clip {c.meta.clip_id!r} shows object {c.meta.object_name!r}, the scene "
                    f"holds {obj_name!r}",
                    where,
                )
            if abs(c.meta.fps - s.action.policy_hz) > 1e-6:
                # One policy step advances the reference by one frame.
                raise ReferenceClipError(
                    f"clip {c.meta.clip_id!r} is at {c.meta.fps:g} fps, the policy runs at "
                    f"{s.action.policy_hz:g} Hz; resample the clip",
                    where,
                )
            if c.n_frames <= need:
                raise ReferenceClipError(
                    f"clip {c.meta.clip_id!r} has {c.n_frames} frames; the environment looks "
                    f"{need} frames ahead and needs at least {need + 1}",
                    where,
                )
        self.clip_ids = tuple(c.meta.clip_id for c in clips)
        self.clip_len = np.array([c.n_frames for c in clips], np.int64)
        self.clip_start = np.concatenate([[0], np.cumsum(self.clip_len)[:-1]]).astype(np.int64)
        self.n_frames = int(self.clip_len.sum())
        self.points_local = np.asarray(points, np.float64)
        self.ig_points_local = np.asarray(ig_points, np.float64)
        self.ig_bodies = np.asarray(ig_bodies, np.int64)
        tree = _scene_tree(scene) if s.reference_bodies == "fk" else None
        self.ground, self.ground_percentile = s.ground_reference, s.ground_percentile
        self.ground_window = s.ground_window
        self.object_rest, self.object_rest_blend = s.object_rest, s.object_rest_blend
        #: Per clip, the ``(start, stop)`` frame runs ``object_rest`` set on the floor.
        self.object_rest_runs: list[list[tuple[int, int]]] = []
        #: Per clip, the mean metres the reference humanoid was lowered by
        #: (``ground_reference``; per frame with ``ground_window``).
        self.ground_offsets: list[float] = []
        parts = [self._one_clip(c, scene, tree) for c in clips]
        for name in parts[0]:
            setattr(self, name, np.concatenate([p[name] for p in parts]))
        self.obj_rotmat = _f64(geometry.quat_to_matrix, self.obj_quat)
        self.points = _f64(geometry.object_points, self.obj_pos, self.obj_rotmat, self.points_local)
        # Body 0 is the root, as the environment's simulated side reads it.
        local = geometry.heading_local_object(
            *(
                torch.from_numpy(np.ascontiguousarray(a, np.float64))
                for a in (self.obj_pos, self.obj_quat, self.body_pos[:, 0], self.body_quat[:, 0])
            )
        )
        self.obj_local_pos, self.obj_local_quat = (x.numpy().astype(np.float64) for x in local)
        self.ig_points = _f64(
            geometry.object_points, self.obj_pos, self.obj_rotmat, self.ig_points_local
        )
        # [F, K, Q] in chunks of frames: the [F, K, Q, 3] vectors at once would be large.
        self.ig_sq = np.empty((self.n_frames, len(self.ig_bodies), len(self.ig_points_local)))
        for a in range(0, self.n_frames, 512):
            self.ig_sq[a : a + 512] = _f64(
                geometry.graph_sq_lengths,
                self.body_pos[a : a + 512, self.ig_bodies],
                self.obj_pos[a : a + 512],
                self.obj_rotmat[a : a + 512],
                self.ig_points_local,
            )
        # Each body's distance to the nearest object point, in chunks: [F, B, P] at once
        # would be large for long datasets.
        self.body_obj_dist = np.empty(self.body_pos.shape[:2])
        for a in range(0, self.n_frames, 512):
            d = self.body_pos[a : a + 512, :, None, :] - self.points[a : a + 512, None, :, :]
            self.body_obj_dist[a : a + 512] = np.sqrt(np.einsum("...i,...i->...", d, d)).min(-1)
        self.spin_bodies = spin_bodies(self.ig_bodies)
        self.nearest_points_local: F64 | None = None
        self.key_nearest: F64 | None = None
        if s.observation.layout == "released":
            assert scene.object is not None  # checked above (has_object)
            self._nearest(farthest_points(scene.object.points, s.observation.nearest_points))
        self.root_height = self.body_pos[:, 0, 2].copy()
        frame = np.arange(self.n_frames) - np.repeat(self.clip_start, self.clip_len)
        self.frame_in_clip = frame.astype(np.int64)
        self.clip_of_frame = np.repeat(np.arange(len(clips)), self.clip_len).astype(np.int64)
        #: ``[F]`` frames that repeat their clip's last captured one (``hold_last_frame``).
        self.held = frame >= np.repeat(
            self.clip_len - np.array([c.held_frames for c in clips], np.int64), self.clip_len
        )
        # An episode can start anywhere but at a clip's last frame (nothing to track).
        self.startable = frame < np.repeat(self.clip_len - 1, self.clip_len)

    def _nearest(self, local: F64) -> None:
        """``key_nearest`` against object points ``local [M,3]``, in chunks of frames (the
        search forms ``[frames, K, M]`` squared distances)."""
        self.nearest_points_local = local
        self.key_nearest = np.empty((self.n_frames, len(self.ig_bodies), 3))
        for a in range(0, self.n_frames, 512):
            sl = slice(a, a + 512)
            self.key_nearest[sl] = _f64(
                nearest_vectors,
                self.body_pos[sl][:, self.ig_bodies],
                self.obj_pos[sl],
                self.obj_rotmat[sl],
                local,
            )

    def _one_clip(
        self, clip: HOIClip, scene: Scene, tree: KinematicTree | None
    ) -> dict[str, np.ndarray]:
        fps = float(clip.meta.fps)
        emb = scene.embodiment
        # The embodiment's own pose per frame ([T, 7 + J]; the SMPL-X humanoid: the
        # clip's joint angles) and the SMPL-X reference mapped onto its bodies (scaled).
        hq = emb.reference_qpos(clip)
        if tree is not None:
            body_pos, body_quat = fk(tree, emb.reference_smplx_qpos(clip))
        else:
            body_pos = np.asarray(clip.body_pos, np.float64)
            body_quat = np.asarray(clip.body_quat, np.float64)
        body_pos, body_quat = emb.map_reference(body_pos, body_quat)
        if self.ground:
            # measured on the captured frames: a held tail (hold_last_frame) is no motion
            real = max(clip.n_frames - clip.held_frames, 1)
            off = ground_offsets(scene, hq[:real], fps, self.ground_window, self.ground_percentile)
            off = np.concatenate([off, np.repeat(off[-1:], len(hq) - real)])
            hq = hq.copy()
            hq[:, 2] -= off
            body_pos = body_pos.copy()
            body_pos[..., 2] -= off[:, None]
            self.ground_offsets.append(float(off[:real].mean()))
        obj_pos = emb.map_object(clip.obj_pos)
        obj_quat = np.asarray(clip.obj_quat, np.float64)
        if self.object_rest:
            obj_pos, obj_quat, runs = rest_on_floor(
                scene, obj_pos, obj_quat, fps, self.object_rest_blend
            )
            self.object_rest_runs.append(runs)
        root_quat = hq[:, 3:7]
        # qvel of a free joint: linear velocity in the world, angular in the body frame.
        root_w = _angvel(root_quat, fps)
        obj_w = _angvel(obj_quat, fps)
        hinge_v = _linvel(np.unwrap(hq[:, 7:], axis=0), fps)
        t, m = clip.n_frames, scene.model
        qpos = np.zeros((t, m.nq))
        qvel = np.zeros((t, m.nv))
        qpos[:, scene.humanoid_qpos_adr] = hq
        qpos[:, scene.object_qpos_adr] = np.concatenate([obj_pos, obj_quat], axis=1)
        root_lin = _linvel(hq[:, 0:3], fps)
        root_loc = np.einsum("tji,tj->ti", _f64(geometry.quat_to_matrix, root_quat), root_w)
        qvel[:, scene.humanoid_dof_adr] = np.concatenate([root_lin, root_loc, hinge_v], axis=1)
        obj_loc = np.einsum("tji,tj->ti", _f64(geometry.quat_to_matrix, obj_quat), obj_w)
        qvel[:, scene.object_dof_adr] = np.concatenate([_linvel(obj_pos, fps), obj_loc], axis=1)
        return {
            "body_pos": body_pos,
            "body_quat": body_quat,
            "body_linvel": _linvel(body_pos, fps),
            "body_angvel": _angvel(body_quat, fps),
            "obj_pos": obj_pos,
            "obj_quat": obj_quat,
            "obj_linvel": _linvel(obj_pos, fps),
            "obj_angvel": obj_w,
            "contact": emb.map_contact(clip.contact),
            "qpos": qpos,
            "qvel": qvel,
        }

    # ---- indexing ---------------------------------------------------------------------

    def global_index(self, clip: I64, frame: I64) -> I64:
        """Global frame ``[N]`` of ``frame`` in ``clip``, clamped to the clip's last frame
        (future frames past the end repeat the last one)."""
        return self.clip_start[clip] + np.minimum(frame, self.clip_len[clip] - 1)

    def gather(self, idx: I64) -> RefFrame:
        """The reference at global frames ``idx [N]``."""
        return RefFrame(
            states=BodyStates(
                pos=self.body_pos[idx],
                quat=self.body_quat[idx],
                linvel=self.body_linvel[idx],
                angvel=self.body_angvel[idx],
                obj_pos=self.obj_pos[idx],
                obj_quat=self.obj_quat[idx],
                obj_linvel=self.obj_linvel[idx],
                obj_angvel=self.obj_angvel[idx],
            ),
            obj_rotmat=self.obj_rotmat[idx],
            points=self.points[idx],
            ig_points=self.ig_points[idx],
            ig_sq=self.ig_sq[idx],
            body_obj_dist=self.body_obj_dist[idx],
            contact=self.contact[idx],
        )

    def tensors(
        self, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
    ) -> ReferenceTensors:
        """The arrays a step gathers, once, as tensors on ``device`` (floats in ``dtype``)."""

        def t(a: NDArray[np.generic], as_dtype: torch.dtype = dtype) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a)).to(device, as_dtype)

        released = None
        if self.key_nearest is not None:
            released = ReleasedTensors(
                key_linvel=t(self.body_linvel[:, self.ig_bodies]),
                spin_angvel=t(self.body_angvel[:, self.spin_bodies]),
                obj_angvel=t(self.obj_angvel),
                key_nearest=t(self.key_nearest),
            )
        return ReferenceTensors(
            body_pos=t(self.body_pos),
            body_quat=t(self.body_quat),
            obj_pos=t(self.obj_pos),
            obj_quat=t(self.obj_quat),
            obj_local_pos=t(self.obj_local_pos),
            obj_local_quat=t(self.obj_local_quat),
            obj_linvel=t(self.obj_linvel),
            points=t(self.points),
            ig_points=t(self.ig_points),
            ig_sq=t(self.ig_sq),
            body_obj_dist=t(self.body_obj_dist),
            contact=t(np.asarray(self.contact, np.int8), torch.int8),
            clip_start=t(self.clip_start, torch.long),
            clip_len=t(self.clip_len, torch.long),
            released=released,
        )

    def states(self) -> F64:
        """``[F, nq + nv]`` the MoCap state of every frame (qpos then qvel)."""
        return np.concatenate([self.qpos, self.qvel], axis=1)

    # Attributes set from the per-clip parts (declared for readers and type checkers).
    body_pos: F64
    body_quat: F64
    body_linvel: F64
    body_angvel: F64
    obj_pos: F64
    obj_quat: F64
    obj_linvel: F64
    obj_angvel: F64
    contact: NDArray[np.int8]
    qpos: F64
    qvel: F64
