"""The vectorised motion-tracking environment (torch; ``N`` worlds stepped together).

One policy step (``TrackingEnv.step``)::

    actions [N, nu] --ActionMap--> PD targets --backend.step(substeps)--> new states
    frame += 1 -> compare with the reference frame -> rewards, IET, truncation
    -> PSI bookkeeping -> reset finished worlds (from PSI) -> observations (normalised)

What a step compares with the reference and what it observes (body indices, object
points, the reference motion) is :class:`~intermimic.env.view.TrackView`'s; how worlds
start and restart is :mod:`intermimic.env.resets`'; what a checkpoint holds is
:mod:`intermimic.env.checkpoint_state`'s. The environment keeps the episode loop.

Everything in the step path works on whole tensors, float32 on the backend's device
(:attr:`~intermimic.sim.backend.SimBackend.device`: the CPU for ``mujoco``, the GPU for
``warp``): one :meth:`~intermimic.sim.backend.SimBackend.read` per step hands the state
over, and observations, rewards, IET, PSI draws and resets work there, with no Python
loop over worlds or bodies. On the CPU float32 torch is no slower than float64 numpy at
64 worlds and faster from 256; on a GPU it is what keeps the step on the device. The
reference is precomputed in float64 and gathered in float32; PSI keeps float64 states.

Worlds that finish are reset inside ``step`` (auto-reset); the observation a
finished world ended with is in ``info["terminal_obs"]`` for bootstrapping truncated
episodes (terminated ones do not bootstrap, so their rows just repeat the returned
observation). How the finished worlds are found is ``TrackingEnv``'s ``reset_mode``: by
index (one host read per step, the CPU default) or by mask (none, the GPU default).

Episode bookkeeping: each world tracks one clip from a start frame drawn by PSI; it is
*terminated* by IET (or a physics blow-up) and *truncated* when it reaches the clip's
last frame or has run ``EnvSettings.rollout_length - 1`` steps (released: 299). With the
released PSI rule (``PSISettings.rule``) each world keeps the states of its episode a
later admission may need (``traj``, empty when no clip is longer than
``rollout_length`` + ``admit_margin`` frames) and PSI scores an episode's frames when it
ends (:class:`~intermimic.env.psi_feed.PSIFeed`, fed by ``_psi_bookkeeping``). On the
first ``TerminationSettings.grace_steps`` steps after a reset only the root-height
condition can terminate; the hand-contact counters are per hand.

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

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
from numpy.typing import NDArray

from intermimic.env import checkpoint_state, resets
from intermimic.env.base_actions import reference_base
from intermimic.env.feedforward import FeedForward
from intermimic.env.normalizer import RunningNormalizer
from intermimic.env.psi import PSIBuffer
from intermimic.env.psi_feed import Episodes, PSIFeed
from intermimic.env.rewards import Comparison, compute_rewards
from intermimic.env.settings import EnvSettings
from intermimic.env.termination import (
    check_termination,
    missing_hand_contact,
    update_missing_frames,
)
from intermimic.env.view import TrackView
from intermimic.motion.clip import HOIClip
from intermimic.sim.backend import BodyStates, SimBackend
from intermimic.sim.factory import make_backend
from intermimic.sim.pd import ActionMap
from intermimic.sim.scene import Scene

I64 = NDArray[np.int64]
Tensor = torch.Tensor


def _finite_rows(*arrays: Tensor) -> Tensor:
    """``[N]``: whether every value of world ``i`` in each ``[N, ...]`` array is finite.

    A row's float64 sum is finite iff its values are (float32 states cannot overflow a
    float64 sum; float64 ones near 1e308 count as bad, which they are): one reduction per
    array and one test, instead of an elementwise test per array, and no host read."""
    n = arrays[0].shape[0]
    sums = torch.stack([a.reshape(n, -1).sum(dim=1, dtype=torch.float64) for a in arrays], 1)
    return torch.isfinite(sums).all(dim=1)


class TrackingEnv:
    """Track ``clips`` with the humanoid of ``scene`` in ``backend``'s worlds.

    ``backend`` is a :class:`~intermimic.sim.backend.SimBackend` (its ``n_worlds`` is
    the environment's) or a backend name for :func:`intermimic.sim.factory.make_backend`
    (then ``n_worlds`` is required). Observations ``[N, obs_dim]`` float32 tensors on
    :attr:`device`; actions ``[N, action_dim]`` in ``[-1, 1]`` (tensor or array).

    ``reset_mode`` says how a step resets its finished worlds: ``"index"`` reads their
    indices back to the host (``done.nonzero()``, the step's one read) and observes and
    resets only them; ``"masked"`` reads nothing back: it observes every world before
    and after, and the backend resets the marked worlds in place
    (:meth:`~intermimic.sim.backend.SimBackend.reset_where`); ``"auto"`` (default) is
    masked on a non-CPU device, where a read waits for every queued kernel, and index on
    the CPU, where observing a few worlds instead of all is cheaper. Both draw every
    world's next start each step and give the same results.
    """

    dtype = torch.float32

    def __init__(
        self,
        scene: Scene,
        clips: Sequence[HOIClip],
        backend: SimBackend | str = "mujoco",
        n_worlds: int | None = None,
        settings: EnvSettings | None = None,
        reset_mode: Literal["auto", "index", "masked"] = "auto",
    ) -> None:
        self.settings = s = settings or EnvSettings()
        if reset_mode not in ("auto", "index", "masked"):
            raise ValueError(f"reset_mode must be auto, index or masked, not {reset_mode!r}")
        if isinstance(backend, str):
            if n_worlds is None:
                raise ValueError("n_worlds is required when the backend is given by name")
            backend = make_backend(backend, scene, n_worlds)
        self.backend = backend
        self.scene = scene
        self.n_worlds = n = backend.n_worlds
        self.device = dev = backend.device
        self.masked_resets = reset_mode == "masked" or (reset_mode == "auto" and dev.type != "cpu")
        m = scene.model
        action = s.action
        if not scene.embodiment.released_action_map and (
            "recentre_threshold" not in action.model_fields_set
        ):
            # the release's recentring is a rule of its SMPL-X humanoid (Embodiment docs)
            action = action.model_copy(update={"recentre_threshold": None})
        self.action_map = ActionMap(m, action)
        self.substeps = s.action.substeps(float(m.opt.timestep))
        self.policy_dt = self.substeps * float(m.opt.timestep)

        def long(a: Sequence[int] | NDArray[np.integer]) -> Tensor:
            return torch.as_tensor(np.asarray(a, np.int64), device=dev)

        # What the env compares with its reference and observes (indices, object points,
        # the reference motion); its fields also under the names other code reads.
        self.view = v = TrackView(scene, clips, s, dev, self.dtype)
        self.key_idx, self.hands, self.non_hand_idx = v.key_idx, v.hands, v.non_hand_idx
        self.tracked, self.pos_idx, self.pos_feet = v.tracked, v.pos_idx, v.pos_feet
        self.hinge_dof_adr = v.hinge_dof_adr
        self.points, self.ig_points, self.graph_points = v.points, v.ig_points, v.graph_points
        self._graph_prefix = v.graph_prefix
        self.offsets, self.obs_layout, self.spin_idx = v.offsets, v.obs_layout, v.spin_idx
        self.obs_dim = v.obs_dim
        self.ref, self.rt = v.ref, v.rt
        self._clip_of_frame = long(self.ref.clip_of_frame)
        self._frame_in_clip = long(self.ref.frame_in_clip)
        self.psi = PSIBuffer(
            self.ref.states(),
            self.ref.startable,
            self.ref.clip_start,
            s.psi,
            seed=s.seed,
            device=dev,
            rollout_length=s.rollout_length,
        )
        self.action_dim = self.action_map.nu
        self.normalizer = RunningNormalizer(self.obs_dim, clip=s.observation.clip, device=dev)
        self.feedforward: FeedForward | None = None  # see set_feedforward
        self._ref_base = reference_base(
            self.ref, scene, self.action_map, self.settings.gravity_compensation
        )
        self._base = self._ref_base
        self._base_t = torch.from_numpy(self._base).to(dev)

        # Per-world episode state (tensors on the device).
        self.clip = torch.zeros(n, dtype=torch.long, device=dev)
        self.frame = torch.zeros(n, dtype=torch.long, device=dev)
        self.start = torch.zeros(n, dtype=torch.long, device=dev)  # global start frame
        self.episode_len = torch.zeros(n, dtype=torch.long, device=dev)
        self.missing_hand = torch.zeros((n, 2), dtype=torch.long, device=dev)  # left, right
        self.prev_hinge_vel = torch.zeros((n, len(self.hinge_dof_adr)), device=dev)
        self.prev_obj_vel = torch.zeros((n, 6), device=dev)  # object lin, ang velocity
        # What the episodes give PSI: the confirm rule's candidates, the released rule's
        # kept states (``cand_*``, ``traj``: delegated below).
        self.psi_feed = PSIFeed(self.ref, self.rt, s, m.nq + m.nv, n, dev)
        # Counters of the failure modes the module docstring lists, kept on the device
        # (adding to a host int would wait for the step's kernels every step).
        self._n_nan = torch.zeros(2, dtype=torch.long, device=dev)
        self._all = torch.arange(n, device=dev)

    # ---- public API --------------------------------------------------------------------

    @property
    def n_nan_resets(self) -> int:
        """Worlds reset because their state went non-finite or bad (module docstring)."""
        return int(self._n_nan[0])

    @property
    def n_nan_action_worlds(self) -> int:
        """Worlds that received a non-finite action (module docstring)."""
        return int(self._n_nan[1])

    @property
    def nan_counters(self) -> Tensor:
        """``[2]`` long tensor on :attr:`device`, a copy: :attr:`n_nan_resets` and
        :attr:`n_nan_action_worlds` for per-step logs (the two ints each wait for the
        device)."""
        return self._n_nan.clone()

    def clip_frame(self) -> tuple[I64, I64]:
        """Each world's clip and frame in it ``([N], [N])`` as host arrays (copies)."""
        return self.clip.cpu().numpy().copy(), self.frame.cpu().numpy().copy()

    def reference_actions(self) -> NDArray[np.float64]:
        """``[N, action_dim]`` actions (host float64, in ``[-1, 1]``) whose PD targets are
        each world's next reference pose: the residual actions' base, and a zero-residual
        baseline. Where :meth:`set_feedforward` installed a plan, its action at the
        world's frame instead."""
        clip, frame = self.clip_frame()
        return self._base[self.ref.global_index(clip, frame)]

    def reference_actions_tensor(self) -> Tensor:
        """:meth:`reference_actions` as a float64 tensor on :attr:`device`, without
        leaving it (one gather of the per-frame base table)."""
        return self._base_t[self.rt.global_index(self.clip, self.frame)]

    @property
    def reference_base(self) -> NDArray[np.float64]:
        """``[F, action_dim]`` (read-only) the reference's own base action at every
        reference frame (:mod:`intermimic.env.base_actions`: its next frame's pose as PD
        targets, with ``gravity_compensation`` the holding offsets), whatever feed-forward
        plan is installed."""
        view = self._ref_base.view()
        view.flags.writeable = False
        return view

    def set_feedforward(
        self, actions: Mapping[str, Any] | None, *, truncate: bool = False
    ) -> FeedForward | None:
        """Make ``actions`` (clip id -> ``[n, action_dim]``, a plan's action at each clip
        frame ``0..n-1``) the base :meth:`reference_actions` returns at those frames
        (:class:`~intermimic.env.feedforward.FeedForward`: other clip ids are ignored, a
        plan must fit its clip unless ``truncate``); None or an empty mapping removes it."""
        ff = FeedForward.build(self.ref, self.action_dim, actions or {}, truncate=truncate)
        self.feedforward = None if ff.empty else ff
        base = self._ref_base
        if self.feedforward is not None:
            base = self.feedforward.apply(np.arange(self.ref.n_frames), base)
        self._base = base
        self._base_t = torch.from_numpy(base).to(self.device)
        return self.feedforward

    def reset(self) -> Tensor:
        """Start every world from a PSI draw; returns ``[N, obs_dim]`` observations."""
        resets.start_worlds(self, self._all, *resets.draw(self))
        return resets.observe_started(self, update_normaliser=True)

    def step(
        self, actions: Tensor | NDArray[np.floating]
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, dict[str, Any]]:
        """Apply ``actions [N, action_dim]`` for one policy step.

        Returns tensors ``(obs [N, obs_dim] float32, reward [N] float32, terminated [N]
        bool, truncated [N] bool, info)`` on :attr:`device`; ``info`` has
        ``reward_terms`` (name -> ``[N]``), ``terminated_by`` (IET reason -> ``[N]``
        bool), ``nan_reset`` and ``nan_action`` (``[N]`` bool), ``terminal_obs`` (``[N,
        obs_dim]``, the observation truncated worlds ended with; other rows repeat
        ``obs``), ``clip`` and ``frame`` (``[N]``, of the step's reference frame, before
        any reset), ``clip_end`` (``[N]`` bool: truncated at the clip's last frame, not
        by the ``rollout_length`` cap).
        """
        a = torch.as_tensor(actions, device=self.device)
        if tuple(a.shape) != (self.n_worlds, self.action_dim):
            raise ValueError(
                f"actions have shape {tuple(a.shape)}, expected {(self.n_worlds, self.action_dim)}"
            )
        nan_action = ~torch.isfinite(a).all(dim=1)
        self._n_nan[1] += nan_action.sum()
        self.backend.set_targets_tensor(self.action_map.targets_tensor(a))
        self.backend.step(self.substeps)
        self.frame += 1
        self.episode_len += 1

        st = self.backend.read(self.dtype)
        bs, qvel, forces = st.bodies, st.qvel, st.contact
        touch = self._touch(forces)
        # MuJoCo itself resets a world whose state went bad (NaN, inf, huge) to the model
        # defaults, which leaves finite numbers behind: the backend says so in ``bad``.
        finite = _finite_rows(bs.pos, bs.quat, bs.obj_pos, bs.obj_quat, qvel) & ~st.bad
        nan_reset = ~finite
        idx = self.rt.global_index(self.clip, self.frame)
        c, hinge_vel = self._compare(bs, qvel, touch, forces, idx)
        reward, terms = compute_rewards(c, self.settings.reward, self.hands, self.non_hand_idx)
        self.missing_hand = update_missing_frames(
            self.missing_hand, missing_hand_contact(c, self.hands)
        )
        terminated, reasons = check_termination(
            c, bs.pos[:, 0, 2], self.missing_hand, self.settings.termination, self.episode_len
        )
        self.prev_hinge_vel = hinge_vel
        reward = torch.where(finite, reward, torch.zeros_like(reward))
        terminated = terminated | nan_reset
        # Truncated (bootstrapped): the clip's last frame, or the episode cap (released:
        # progress - start >= rolloutLength - 1).
        clip_end = (self.frame >= self.rt.clip_len[self.clip] - 1) & ~terminated
        capped = self.episode_len >= self.settings.rollout_length - 1
        truncated = clip_end | (capped & ~terminated)
        self._n_nan[0] += nan_reset.sum()
        info: dict[str, Any] = {
            "reward_terms": terms,
            "terminated_by": reasons,
            "nan_reset": nan_reset,
            "nan_action": nan_action,
            "clip": self.clip.clone(),
            "frame": self.frame.clone(),
            "clip_end": clip_end,
        }

        done = terminated | truncated
        finish = self._finish_masked if self.masked_resets else self._finish_index
        obs, terminal = finish(bs, touch, done, terminated, truncated, idx, nan_reset)
        info["terminal_obs"] = terminal
        return obs, reward, terminated, truncated, info

    def _finish_index(
        self,
        bs: BodyStates,
        touch: Tensor,
        done: Tensor,
        terminated: Tensor,
        truncated: Tensor,
        idx: Tensor,
        bad: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """The step's end with the finished worlds' indices read back (``reset_mode``
        index): PSI bookkeeping (``bad``: worlds whose physics blew up), their terminal
        observations, their resets, then every world's observation; returns ``(obs,
        terminal_obs)`` (:func:`~intermimic.env.resets.reset_by_index`)."""
        ids = done.nonzero().flatten()  # the step's one host read
        self._psi_bookkeeping(terminated, truncated, idx, bad, done, ids)
        return resets.reset_by_index(self, ids, bs, touch, truncated)

    def _finish_masked(
        self,
        bs: BodyStates,
        touch: Tensor,
        done: Tensor,
        terminated: Tensor,
        truncated: Tensor,
        idx: Tensor,
        bad: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """:meth:`_finish_index` without reading anything back (``reset_mode`` masked):
        every world is observed before the resets and after, and the finished ones are
        reset in place by mask (:func:`~intermimic.env.resets.reset_by_mask`)."""
        self._psi_bookkeeping(terminated, truncated, idx, bad, done, None)
        return resets.reset_by_mask(self, bs, touch, done, truncated)

    # ---- exact checkpoint state ----------------------------------------------------

    #: Per-world episode tensors a resumed run needs exactly as they were.
    _EPISODE_FIELDS = checkpoint_state.EPISODE_FIELDS

    # The PSI feed's per-world state, under the names checkpoints and callers use.

    @property
    def cand_state(self) -> Tensor:
        """``[N, nq + nv]`` float64: each world's PSI candidate state (confirm rule)."""
        return self.psi_feed.cand_state

    @property
    def cand_frame(self) -> Tensor:
        """``[N]`` long: each candidate's global reference frame."""
        return self.psi_feed.cand_frame

    @property
    def cand_age(self) -> Tensor:
        """``[N]`` long: steps since each candidate was taken, -1 for none."""
        return self.psi_feed.cand_age

    @property
    def traj(self) -> Tensor:
        """``[N, traj_len, nq + nv]`` float64: the states each world keeps for the
        released rule's admission (a view: writes reach the feed)."""
        return self.psi_feed.traj

    @property
    def traj_len(self) -> int:
        """The episode steps :attr:`traj` keeps per world (0: none)."""
        return self.psi_feed.traj_len

    @property
    def exact_state(self) -> bool:
        """Whether :meth:`state_dict` captures everything the next step depends on (the
        backend can save its physics state)."""
        return checkpoint_state.can_save(self.backend)

    def state_dict(self) -> dict[str, Any]:
        """The worlds' physics and episode state as numpy arrays (the PSI buffer and the
        observation normaliser have their own, see ``TeacherEnv.stateful``). Raises
        ``TypeError`` when the backend cannot save its state (:attr:`exact_state`)."""
        return checkpoint_state.save(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (same scene, clips and number of worlds)."""
        checkpoint_state.load(self, state)

    def close(self) -> None:
        self.backend.close()

    # ---- internals ---------------------------------------------------------------------

    def _touch(self, forces: Tensor) -> Tensor:
        """``[N, B]``: which bodies push on the object harder than the settings'
        threshold (:meth:`TrackView.touch <intermimic.env.view.TrackView.touch>`)."""
        return self.view.touch(forces, self.settings.contact_force_threshold)

    def _normalise(self, raw: Tensor, update: bool = True) -> Tensor:
        if not self.settings.observation.normalize:
            return raw.to(torch.float32)
        if update:
            self.normalizer.update(raw)
        return self.normalizer.normalize(raw)

    def normalise(self, raw: Tensor) -> Tensor:
        """Raw observations ``[n, D]`` normalised as this step's own, the statistics
        left as they are (another state's observation beside the worlds')."""
        return self._normalise(raw, update=False)

    def _compare(
        self, bs: BodyStates, qvel: Tensor, touch: Tensor, forces: Tensor, idx: Tensor
    ) -> tuple[Comparison, Tensor]:
        """Simulated versus reference quantities at reference frames ``idx [N]``
        (:meth:`TrackView.compare <intermimic.env.view.TrackView.compare>` with the
        worlds' previous velocities and the current settings; a step calls it through
        here, where a benchmark can wrap it)."""
        return self.view.compare(
            bs, qvel, touch, forces, idx, self.prev_hinge_vel, self.prev_obj_vel,
            self.policy_dt, self.settings.reward.embodiment_aware,
        )  # fmt: skip

    def observe_raw(self, offsets: Sequence[int] | None = None) -> Tensor:
        """Unnormalised observations ``[N, D]`` of every world's current state, looking
        ``offsets`` frames ahead (default: the settings'). A student with other future
        frames than the teacher reads its observation here, from the same state."""
        st = self.backend.read(self.dtype)
        return self._observe(st.bodies, self._touch(st.contact), None, offsets)

    def _observe(
        self,
        bs: BodyStates,
        touch: Tensor,
        rows: Tensor | None,
        offsets: Sequence[int] | NDArray[np.integer] | None = None,
    ) -> Tensor:
        """Raw observations ``[len(rows), obs_dim]`` of worlds ``rows`` (None: all; ``bs``,
        ``touch`` cover all worlds); ``offsets`` overrides the settings' future frames
        (:meth:`TrackView.observe <intermimic.env.view.TrackView.observe>`)."""
        return self.view.observe(
            bs, touch, self.clip, self.frame, rows, self.settings.observation.ig_decay, offsets
        )

    def reset_to(
        self,
        frames: NDArray[np.integer],
        states: Tensor | NDArray[np.floating],
        missing_hand: Tensor | NDArray[np.integer] | None = None,
        elapsed: int = 0,
        update_normaliser: bool = False,
    ) -> Tensor:
        """Start every world from a given state instead of a PSI draw (a planner's
        samples, a scripted evaluation); returns ``[N, obs_dim]`` observations.

        ``frames [N]`` are global reference frames (``ref.global_index(clip, frame)``),
        ``states [N, nq + nv]`` full MuJoCo states (qpos then qvel) and
        ``missing_hand [N, 2]`` the frames each hand has already been off the object it
        should hold (default 0), so that a world continued from a committed state ends
        where the committed episode would have. ``elapsed`` is the policy steps the
        episode has already run: 0 (a fresh start) gives the first step the grace of
        :attr:`TerminationSettings.grace_steps`; a continued episode passes its length so
        that every termination condition applies at once. The observation normaliser's
        statistics are updated only with ``update_normaliser`` (fitting it to states a
        policy is cloned on)."""
        return resets.start_from(self, frames, states, missing_hand, elapsed, update_normaliser)

    def seed_psi(self, clip_id: str, states: Tensor | NDArray[np.floating]) -> int:
        """Fill every simulated PSI slot of clip ``clip_id``'s frames ``0..n-1`` with
        ``states [n, nq + nv]`` (physically valid states along the clip, such as a
        planner's committed motion), so that episodes can start from them anywhere the
        PSI rule draws; returns the frames seeded (0 when the clip is not this env's).

        Under the released rule they enter with score 1 (a rollout that survived its whole
        horizon). That rule starts only at frames ``< L - rollout_length``, i.e. at frame 0
        of clips shorter than ``rollout_length``; ``rule="confirm"`` starts anywhere."""
        return resets.seed_starts(self, clip_id, states)

    def _psi_bookkeeping(
        self,
        terminated: Tensor,
        truncated: Tensor,
        idx: Tensor,
        bad: Tensor,
        done: Tensor,
        ids: Tensor | None,
    ) -> None:
        """Feed PSI with this step's outcomes (before the finished worlds are reset), see
        :meth:`PSIFeed.after_step <intermimic.env.psi_feed.PSIFeed.after_step>`; ``ids``
        None works under the ``done`` mask (the masked reset)."""
        self.psi_feed.after_step(
            self.settings, self.psi, self.backend, self._episodes(),
            terminated, truncated, idx, bad, done, ids,
        )  # fmt: skip

    def _psi_released(self, bad: Tensor, done: Tensor, ids: Tensor | None) -> None:
        """The released rule's part of :meth:`_psi_bookkeeping` (:meth:`PSIFeed.released
        <intermimic.env.psi_feed.PSIFeed.released>`)."""
        self.psi_feed.released(
            self.settings, self.psi, self.backend, self._episodes(), bad, done, ids
        )

    def _episodes(self) -> Episodes:
        """The worlds' current episode tensors, as PSI's feed takes them."""
        return Episodes(self.clip, self.frame, self.start, self.episode_len)
