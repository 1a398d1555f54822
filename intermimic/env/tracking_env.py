"""The vectorised motion-tracking environment (numpy; ``N`` worlds stepped together).

One policy step (``TrackingEnv.step``)::

    actions [N, nu] --ActionMap--> PD targets --backend.step(substeps)--> new states
    frame += 1 -> compare with the reference frame -> rewards, IET, truncation
    -> PSI bookkeeping -> reset finished worlds (from PSI) -> observations (normalised)

Everything in the step path works on whole arrays: no Python loop over worlds or
bodies. Worlds that finish are reset inside ``step`` (auto-reset); the observation a
finished world ended with is in ``info["terminal_obs"]`` for bootstrapping truncated
episodes (terminated ones do not bootstrap, so their rows just repeat the returned
observation).

Episode bookkeeping: each world tracks one clip from a start frame drawn by PSI; it is
*terminated* by IET (or a physics blow-up) and *truncated* when it reaches the clip's
last frame. On the first ``TerminationSettings.grace_steps`` steps after a reset only
the root-height condition can terminate; the hand-contact counters are per hand.

Bad input and failures:

* a clip with no more frames than the largest future offset raises
  :class:`~intermimic.env.reference.ReferenceClipError` naming the clip;
* non-finite actions: with the default ``EnvSettings.action.non_finite = "zero"`` they
  are replaced by 0 (the middle of the joint range) and the worlds counted in
  ``n_nan_action_worlds`` (``info["nan_action"]`` per step); ``"raise"`` raises
  :class:`~intermimic.sim.pd.NonFiniteActionError` instead;
* non-finite physics state after a step (or a world the backend reports in its optional
  ``bad_worlds()``, as :class:`~intermimic.sim.mujoco_backend.MujocoBackend` does for
  worlds MuJoCo reset after a blow-up): the world gets reward 0, counts as terminated,
  is reset from PSI, and the event is counted in ``n_nan_resets``
  (``info["nan_reset"]``); training goes on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from intermimic.env.geometry import interaction_graph, object_points, quat_to_matrix
from intermimic.env.normalizer import RunningNormalizer
from intermimic.env.observations import observation_dim, observe
from intermimic.env.psi import PSIBuffer
from intermimic.env.reference import ReferenceMotion, farthest_points
from intermimic.env.rewards import Comparison, closeness_weights, compute_rewards, far_weights
from intermimic.env.settings import EnvSettings
from intermimic.env.termination import (
    check_termination,
    missing_hand_contact,
    update_missing_frames,
)
from intermimic.motion.clip import HOIClip
from intermimic.sim.backend import BodyStates, SimBackend
from intermimic.sim.factory import make_backend
from intermimic.sim.pd import ActionMap
from intermimic.sim.scene import Scene

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
BoolArr = NDArray[np.bool_]


def _rows(bs: BodyStates, rows: I64) -> BodyStates:
    return BodyStates(*(getattr(bs, f)[rows] for f in BodyStates.__dataclass_fields__))


def _finite_rows(*arrays: NDArray[np.floating]) -> BoolArr:
    ok = np.ones(arrays[0].shape[0], dtype=bool)
    for a in arrays:
        ok &= np.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)
    return ok


class TrackingEnv:
    """Track ``clips`` with the humanoid of ``scene`` in ``backend``'s worlds.

    ``backend`` is a :class:`~intermimic.sim.backend.SimBackend` (its ``n_worlds`` is
    the environment's) or a backend name for :func:`intermimic.sim.factory.make_backend`
    (then ``n_worlds`` is required). Observations ``[N, obs_dim]`` float32, actions
    ``[N, action_dim]`` in ``[-1, 1]``.
    """

    def __init__(
        self,
        scene: Scene,
        clips: Sequence[HOIClip],
        backend: SimBackend | str = "mujoco",
        n_worlds: int | None = None,
        settings: EnvSettings | None = None,
    ) -> None:
        self.settings = s = settings or EnvSettings()
        if isinstance(backend, str):
            if n_worlds is None:
                raise ValueError("n_worlds is required when the backend is given by name")
            backend = make_backend(backend, scene, n_worlds)
        self.backend = backend
        self.scene = scene
        self.n_worlds = n = backend.n_worlds
        m = scene.model
        self.action_map = ActionMap(m, s.action)
        self.substeps = s.action.substeps(float(m.opt.timestep))
        self.policy_dt = self.substeps * float(m.opt.timestep)

        # Indices into the 52 SMPL-X bodies (not MuJoCo body ids).
        where = {int(b): i for i, b in enumerate(scene.humanoid_body_ids)}
        self.key_idx = np.array([where[int(b)] for b in scene.key_body_ids], np.int64)
        self.hands = (
            np.array([where[int(b)] for b in scene.left_hand_body_ids], np.int64),
            np.array([where[int(b)] for b in scene.right_hand_body_ids], np.int64),
        )
        n_bodies = len(scene.humanoid_body_ids)
        self.non_hand_idx = np.setdiff1d(np.arange(n_bodies), np.concatenate(self.hands))
        # Bodies the embodiment-aware terms compare with their reference (the key-body
        # map of the embodiment; every body for the SMPL-X humanoid).
        tracked = scene.embodiment.tracked_index
        self.tracked: slice | I64 = (
            slice(None) if np.array_equal(tracked, np.arange(n_bodies)) else tracked
        )
        # The body-position term's bodies (the SMPL-X humanoid: its 21 key bodies) and,
        # among them, the feet, which weigh 1 (EmbodimentAwareRewards.feet_full_weight).
        self.pos_idx = scene.embodiment.position_index
        feet = set(scene.embodiment.index(scene.embodiment.feet).tolist())
        self.pos_feet = np.array(
            [i for i, b in enumerate(self.pos_idx) if int(b) in feet], np.int64
        )
        # Hinge dofs: the humanoid's dofs after the free joint's 6.
        self.hinge_dof_adr = scene.humanoid_dof_adr[6:]

        if scene.object is None:
            raise ValueError("the tracking environment needs a scene with an object")
        pts = scene.object.points
        self.points = farthest_points(pts, s.n_object_points)
        self.ig_points = farthest_points(pts, s.observation.n_ig_points)
        self.ref = ReferenceMotion(clips, scene, self.points, self.ig_points, self.key_idx, s)
        self.psi = PSIBuffer(
            self.ref.states(), self.ref.startable, self.ref.clip_start, s.psi, seed=s.seed
        )
        self.offsets = np.asarray(s.observation.future_offsets, np.int64)
        self.obs_dim = observation_dim(
            n_bodies, len(self.key_idx) * len(self.ig_points), len(self.offsets)
        )
        self.action_dim = self.action_map.nu
        self.normalizer = RunningNormalizer(self.obs_dim, clip=s.observation.clip)

        # Per-world episode state.
        self.clip = np.zeros(n, np.int64)
        self.frame = np.zeros(n, np.int64)
        self.start = np.zeros(n, np.int64)  # global start frame (PSI reports on it)
        self.episode_len = np.zeros(n, np.int64)
        self.missing_hand = np.zeros((n, 2), np.int64)  # per hand (left, right)
        self.prev_hinge_vel = np.zeros((n, len(self.hinge_dof_adr)))
        self.prev_obj_vel = np.zeros((n, 6))  # object linear, angular velocity (world)
        # A PSI candidate per world: a state awaiting confirmation by its rollout.
        self.cand_state = np.zeros((n, m.nq + m.nv))
        self.cand_frame = np.zeros(n, np.int64)
        self.cand_age = np.full(n, -1, np.int64)  # -1: no candidate
        # Counters of the failure modes the module docstring lists.
        self.n_nan_resets = 0
        self.n_nan_action_worlds = 0

    # ---- public API --------------------------------------------------------------------

    def reset(self) -> NDArray[np.float32]:
        """Start every world from a PSI draw; returns ``[N, obs_dim]`` observations."""
        ids = np.arange(self.n_worlds)
        self._reset_worlds(ids)
        bs = self.backend.body_states()
        self.prev_obj_vel = np.concatenate([bs.obj_linvel, bs.obj_angvel], axis=1)
        raw = self._observe(bs, self._touch(), ids)
        return self._normalise(raw)

    def step(
        self, actions: NDArray[np.floating]
    ) -> tuple[NDArray[np.float32], F64, BoolArr, BoolArr, dict[str, Any]]:
        """Apply ``actions [N, action_dim]`` for one policy step.

        Returns ``(obs [N, obs_dim] float32, reward [N], terminated [N], truncated [N],
        info)``; ``info`` has ``reward_terms`` (name -> ``[N]``), ``terminated_by``
        (IET reason -> ``[N]`` bool), ``nan_reset`` and ``nan_action`` (``[N]`` bool),
        ``terminal_obs`` (``[N, obs_dim]``, the observation truncated worlds ended with;
        other rows repeat ``obs``), ``clip`` and ``frame`` (``[N]``, of the step's
        reference frame, before any reset).
        """
        a = np.asarray(actions, np.float64)
        if a.shape != (self.n_worlds, self.action_dim):
            raise ValueError(
                f"actions have shape {a.shape}, expected {(self.n_worlds, self.action_dim)}"
            )
        nan_action = ~np.isfinite(a).all(axis=1)
        self.n_nan_action_worlds += int(nan_action.sum())
        self.backend.set_targets(self.action_map.targets(a))
        self.backend.step(self.substeps)
        self.frame += 1
        self.episode_len += 1

        bs = self.backend.body_states()
        qvel = self.backend.qvel()
        forces = self.backend.contact_forces()
        touch = self._touch(forces)
        finite = _finite_rows(bs.pos, bs.quat, bs.obj_pos, bs.obj_quat, qvel)
        # MuJoCo itself resets a world whose state went bad (NaN, inf, huge) to the model
        # defaults, which leaves finite numbers behind: a backend that tracks such worlds
        # says so through ``bad_worlds()`` (optional, not in the SimBackend interface).
        bad_worlds = getattr(self.backend, "bad_worlds", None)
        if callable(bad_worlds):
            finite &= ~np.asarray(bad_worlds(), dtype=bool)
        nan_reset = ~finite
        with np.errstate(invalid="ignore", over="ignore"):
            idx = self.ref.global_index(self.clip, self.frame)
            c, hinge_vel = self._compare(bs, qvel, touch, forces, idx)
            reward, terms = compute_rewards(c, self.settings.reward, self.hands, self.non_hand_idx)
            self.missing_hand = update_missing_frames(
                self.missing_hand, missing_hand_contact(c, self.hands)
            )
            terminated, reasons = check_termination(
                c, bs.pos[:, 0, 2], self.missing_hand, self.settings.termination, self.episode_len
            )
        self.prev_hinge_vel = hinge_vel
        reward = np.where(finite, reward, 0.0)
        terminated = terminated | nan_reset
        truncated = (self.frame >= self.ref.clip_len[self.clip] - 1) & ~terminated
        self.n_nan_resets += int(nan_reset.sum())
        info: dict[str, Any] = {
            "reward_terms": terms,
            "terminated_by": reasons,
            "nan_reset": nan_reset,
            "nan_action": nan_action,
            "clip": self.clip.copy(),
            "frame": self.frame.copy(),
        }

        self._psi_bookkeeping(terminated, truncated, idx)
        done = terminated | truncated
        # Only truncated episodes bootstrap from their last observation, so only those
        # are observed before the reset; every world is then observed once, after it.
        term_rows = np.flatnonzero(truncated)
        term_raw = self._observe(bs, touch, term_rows) if term_rows.size else None
        if done.any():
            ids = np.flatnonzero(done)
            self.psi.report(self.start[ids], terminated[ids])
            self._reset_worlds(ids)
            bs, touch = self.backend.body_states(), self._touch()
        # The next step's previous object velocity: this state's (a reset world's start).
        self.prev_obj_vel = np.concatenate([bs.obj_linvel, bs.obj_angvel], axis=1)
        with np.errstate(invalid="ignore", over="ignore"):
            obs = self._normalise(self._observe(bs, touch, np.arange(self.n_worlds)))
        terminal = obs
        if term_raw is not None:
            terminal = obs.copy()
            terminal[term_rows] = self._normalise(term_raw, update=False)
        info["terminal_obs"] = terminal
        return obs, reward, terminated, truncated, info

    # ---- exact checkpoint state ----------------------------------------------------

    #: Per-world episode arrays a resumed run needs exactly as they were.
    _EPISODE_FIELDS = (
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
    )

    @property
    def exact_state(self) -> bool:
        """Whether :meth:`state_dict` captures everything the next step depends on (the
        backend can save its physics state)."""
        return hasattr(self.backend, "state_dict") and hasattr(self.backend, "load_state_dict")

    def state_dict(self) -> dict[str, Any]:
        """The worlds' physics and episode state (the PSI buffer and the observation
        normaliser have their own, see ``TeacherEnv.stateful``). Raises ``TypeError``
        when the backend cannot save its state (:attr:`exact_state`)."""
        if not self.exact_state:
            raise TypeError(f"the {self.backend.name} backend cannot save its state")
        out: dict[str, Any] = {k: getattr(self, k).copy() for k in self._EPISODE_FIELDS}
        out["backend"] = self.backend.state_dict()  # type: ignore[attr-defined]
        out["counters"] = np.array([self.n_nan_resets, self.n_nan_action_worlds], np.int64)
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (same scene, clips and number of worlds)."""
        values = {}
        for k in self._EPISODE_FIELDS:
            cur = getattr(self, k)
            v = np.asarray(state[k], dtype=cur.dtype)
            if v.shape != cur.shape:
                raise ValueError(f"env state {k!r} has shape {v.shape}, expected {cur.shape}")
            values[k] = v
        # validated first, so a state that does not fit changes nothing
        self.backend.load_state_dict(state["backend"])  # type: ignore[attr-defined]
        for k, v in values.items():
            getattr(self, k)[...] = v
        self.n_nan_resets, self.n_nan_action_worlds = (int(x) for x in state["counters"])

    def close(self) -> None:
        self.backend.close()

    # ---- internals ---------------------------------------------------------------------

    def _touch(self, forces: F64 | None = None) -> BoolArr:
        """``[N, B]``: which bodies push on the object harder than the threshold
        (``forces``: the backend's contact forces, when already read)."""
        f = self.backend.contact_forces() if forces is None else forces
        return f[:, :, 0] > self.settings.contact_force_threshold

    def _normalise(self, raw: F64, update: bool = True) -> NDArray[np.float32]:
        if not self.settings.observation.normalize:
            return raw.astype(np.float32)
        if update:
            self.normalizer.update(raw)
        return self.normalizer.normalize(raw).astype(np.float32)

    def _compare(
        self, bs: BodyStates, qvel: F64, touch: BoolArr, forces: F64, idx: I64
    ) -> tuple[Comparison, F64]:
        """Simulated versus reference quantities at reference frames ``idx [N]``
        (``forces`` ``[N, B, partners]`` the backend's contact normal forces)."""
        ref, s = self.ref, self.settings
        obj_rot = quat_to_matrix(bs.obj_quat)
        pts = object_points(bs.obj_pos, obj_rot, self.points)
        ig_pts = object_points(bs.obj_pos, obj_rot, self.ig_points)
        hinge_vel = qvel[:, self.hinge_dof_adr]
        a = s.reward.embodiment_aware
        tr, pi = self.tracked, self.pos_idx
        dist = ref.body_obj_dist[idx]
        full = self.pos_feet if a.feet_full_weight else None
        rot_w = far_weights(dist[:, tr], a.closeness_scale) if a.rot_weighting == "far" else None
        c = Comparison(
            body_pos_sim=bs.pos[:, pi],
            body_pos_ref=ref.body_pos[idx][:, pi],
            body_quat_sim=bs.quat[:, tr],
            body_quat_ref=ref.body_quat[idx][:, tr],
            body_weight=closeness_weights(dist[:, pi], a.closeness_scale, a.closeness_floor, full),
            key_pos_sim=bs.pos[:, self.key_idx],
            key_pos_ref=ref.body_pos[idx][:, self.key_idx],
            points_sim=pts,
            points_ref=ref.points[idx],
            obj_quat_sim=bs.obj_quat,
            obj_quat_ref=ref.obj_quat[idx],
            obj_linvel_sim=bs.obj_linvel,
            obj_linvel_ref=ref.obj_linvel[idx],
            ig_sim=interaction_graph(bs.pos[:, self.key_idx], ig_pts),
            ig_ref=ref.ig[idx],
            touch=touch,
            labels=ref.contact[idx],
            joint_acc=(hinge_vel - self.prev_hinge_vel) / self.policy_dt,
            body_rot_weight=rot_w,
            obj_lin_acc=(bs.obj_linvel - self.prev_obj_vel[:, :3]) / self.policy_dt,
            obj_ang_acc=(bs.obj_angvel - self.prev_obj_vel[:, 3:]) / self.policy_dt,
            contact_force=forces.reshape(forces.shape[0], -1).sum(axis=1),
        )
        return c, hinge_vel

    def observe_raw(self, offsets: Sequence[int] | None = None) -> F64:
        """Unnormalised observations ``[N, D]`` of every world's current state, looking
        ``offsets`` frames ahead (default: the settings'). A student with other future
        frames than the teacher reads its observation here, from the same state."""
        offs = None if offsets is None else np.asarray(offsets, np.int64)
        rows = np.arange(self.n_worlds)
        return self._observe(self.backend.body_states(), self._touch(), rows, offs)

    def _observe(
        self, bs: BodyStates, touch: BoolArr, rows: I64, offsets: I64 | None = None
    ) -> F64:
        """Raw observations ``[len(rows), obs_dim]`` of worlds ``rows`` (``bs``, ``touch``
        cover all worlds); ``offsets`` overrides the settings' future frames."""
        if len(rows) != self.n_worlds:
            bs, touch = _rows(bs, rows), touch[rows]
        ref = self.ref
        obj_rot = quat_to_matrix(bs.obj_quat)
        ig = interaction_graph(
            bs.pos[:, self.key_idx], object_points(bs.obj_pos, obj_rot, self.ig_points)
        )
        future = []
        for k in self.offsets if offsets is None else offsets:
            j = ref.global_index(self.clip[rows], self.frame[rows] + k)
            future.append(
                (ref.body_pos[j], ref.body_quat[j], ref.obj_pos[j], ref.obj_quat[j], ref.contact[j])
            )
        return observe(bs, ig, touch, future, self.settings.observation.ig_decay)

    def _reset_worlds(self, ids: I64) -> None:
        """Start worlds ``ids`` from PSI draws and clear their episode state."""
        frames, states, _ = self.psi.sample(len(ids))
        nq = self.scene.model.nq
        self.backend.reset(ids, states[:, :nq], states[:, nq:])
        self.clip[ids] = self.ref.clip_of_frame[frames]
        self.frame[ids] = self.ref.frame_in_clip[frames]
        self.start[ids] = frames
        self.episode_len[ids] = 0
        self.missing_hand[ids] = 0
        self.prev_hinge_vel[ids] = states[:, nq + self.hinge_dof_adr]
        self.cand_age[ids] = -1

    def _psi_bookkeeping(self, terminated: BoolArr, truncated: BoolArr, idx: I64) -> None:
        """Confirm candidates whose rollout ran ``confirm_frames`` more frames (or reached
        the clip's end) without early termination; drop those of failed rollouts; take
        new candidates every ``add_every`` steps."""
        s = self.settings.psi
        if not s.enabled:
            return
        has = self.cand_age >= 0
        self.cand_age = np.where(has, self.cand_age + 1, -1)
        ok = has & ~terminated & ((self.cand_age >= s.confirm_frames) | truncated)
        if ok.any():
            self.psi.add(self.cand_frame[ok], self.cand_state[ok])
        self.cand_age[ok | terminated] = -1
        take = (self.cand_age < 0) & ~terminated & ~truncated
        take &= self.episode_len % s.add_every == 0
        if take.any():
            state = np.concatenate([self.backend.qpos(), self.backend.qvel()], axis=1)
            self.cand_state[take] = state[take]
            self.cand_frame[take] = idx[take]
            self.cand_age[take] = 0
