"""The environment end to end on the ``mujoco`` backend, and the reference buffer."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from intermimic.env import EnvSettings, ReferenceClipError, TrackingEnv
from intermimic.env.settings import ObservationSettings, PSISettings, TerminationSettings
from intermimic.motion.clip import HOIClip
from intermimic.motion.synthetic import synthetic_clip
from intermimic.sim.backend import SimTensors
from intermimic.sim.factory import make_backend
from intermimic.sim.mujoco_backend import MujocoBackend
from intermimic.sim.pd import ActionSettings, NonFiniteActionError
from intermimic.sim.scene import Scene
from tests.host_reads import HostRead, watch_host_reads

N = 4


def _env(
    scene: Scene, clips: list[HOIClip], reset_mode: str = "auto", **settings: object
) -> TrackingEnv:
    backend = make_backend("mujoco", scene, N, n_threads=1)
    return TrackingEnv(
        scene, clips, backend, settings=EnvSettings(**settings),  # type: ignore[arg-type]
        reset_mode=reset_mode,  # type: ignore[arg-type]
    )  # fmt: skip


def _tracking_actions(env: TrackingEnv) -> np.ndarray:
    """Actions whose PD targets are the reference's hinge angles one frame ahead."""
    clip, frame = env.clip_frame()
    idx = env.ref.global_index(clip, frame + 1)
    hinges = env.ref.qpos[idx][:, env.scene.humanoid_qpos_adr[7:]]
    return np.clip(env.action_map.actions(hinges), -1, 1)


def test_reset_starts_from_the_reference(env_scene: Scene, env_clip: HOIClip) -> None:
    env = _env(env_scene, [env_clip])
    obs = env.reset()
    assert obs.shape == (N, env.obs_dim) and obs.dtype == torch.float32
    assert obs.device == env.device == torch.device("cpu")
    assert env.action_dim == 153
    bs = env.backend.body_states()
    idx = env.ref.global_index(*env.clip_frame())
    # A fresh PSI buffer holds MoCap states only; the reference bodies are the model's
    # FK of the clip's angles, so the simulated bodies sit exactly on them.
    np.testing.assert_allclose(bs.pos, env.ref.body_pos[idx], atol=1e-9)
    np.testing.assert_allclose(bs.obj_pos, env.ref.obj_pos[idx], atol=1e-9)
    assert (env.frame < env_clip.n_frames - 1).all()


def test_reference_actions_target_the_next_reference_pose(
    env_scene: Scene, env_clip: HOIClip
) -> None:
    env = _env(env_scene, [env_clip])
    env.reset()
    a = env.reference_actions()
    assert a.shape == (N, env.action_dim) and a.dtype == np.float64
    np.testing.assert_array_equal(a, _tracking_actions(env))


def test_steps_give_rewards_in_range(env_scene: Scene, env_clip: HOIClip) -> None:
    env = _env(env_scene, [env_clip])
    env.reset()
    for _ in range(5):
        frame_before = env.frame.clone()
        obs, reward, term, trunc, info = env.step(_tracking_actions(env))
        assert obs.shape == (N, env.obs_dim) and torch.isfinite(obs).all()
        assert reward.shape == (N,) and ((reward >= 0) & (reward <= 1)).all()
        assert set(info["reward_terms"]) >= {"body_pos", "obj_pos", "energy"}
        terms = torch.stack(list(info["reward_terms"].values()))
        torch.testing.assert_close(reward, terms.prod(dim=0))
        torch.testing.assert_close(info["frame"], frame_before + 1)
        done = term | trunc
        assert (env.frame[~done] == frame_before[~done] + 1).all()
    assert env.normalizer.count == N * 6  # reset + 5 steps


def test_truncation_at_clip_end(env_scene: Scene) -> None:
    clip = synthetic_clip(n_frames=12, seed=1)
    env = _env(
        env_scene, [clip],
        observation=ObservationSettings(future_offsets=(1, 4)),
        termination=TerminationSettings(enabled=False),
        psi=PSISettings(hybrid_prob=1.0),  # every episode starts at frame 0
    )  # fmt: skip
    env.reset()
    assert (env.frame == 0).all()
    zeros = np.zeros((N, env.action_dim))
    for k in range(1, 11):
        _, _, term, trunc, _ = env.step(zeros)
        assert not trunc.any() and not term.any(), k
    obs, _, term, trunc, info = env.step(zeros)  # frame 11: the clip's last
    assert trunc.all() and not term.any() and info["clip_end"].all()
    assert (info["frame"] == 11).all() and (env.frame == 0).all()  # auto-reset
    # The returned observation starts the next episode; the terminal one ends this one.
    assert info["terminal_obs"].shape == obs.shape
    assert not np.allclose(info["terminal_obs"], obs)


def test_short_clip_is_rejected_by_name(env_scene: Scene) -> None:
    clip = synthetic_clip(n_frames=16, seed=2, subject="tiny")
    with pytest.raises(ReferenceClipError, match="tiny_box_000.*16 frames.*17"):
        _env(env_scene, [clip])  # default offsets look 16 frames ahead


def test_clip_of_another_object_or_rate_is_rejected(env_scene: Scene) -> None:
    with pytest.raises(ReferenceClipError, match="chair"):
        _env(env_scene, [synthetic_clip(n_frames=40, object_name="chair")])
    clip = synthetic_clip(n_frames=40)
    with pytest.raises(ReferenceClipError, match="60 fps"):
        _env(env_scene, [clip.with_meta(fps=60.0)])


def test_nan_actions_are_zeroed_and_counted(env_scene: Scene, env_clip: HOIClip) -> None:
    env = _env(env_scene, [env_clip])
    env.reset()
    a = np.zeros((N, env.action_dim))
    a[2, 5] = np.nan
    obs, _, *_, info = env.step(a)
    assert info["nan_action"].tolist() == [False, False, True, False]
    assert env.n_nan_action_worlds == 1 and torch.isfinite(obs).all()
    strict = _env(env_scene, [env_clip], action=ActionSettings(non_finite="raise"))
    strict.reset()
    with pytest.raises(NonFiniteActionError):
        strict.step(a)


class _BlowUp(MujocoBackend):
    """A mujoco backend whose world 1 reports NaN body states once."""

    armed = False

    def read(self, dtype: torch.dtype = torch.float32) -> SimTensors:
        st = super().read(dtype)
        if self.armed:
            self.armed = False
            st.bodies.pos[1] = float("nan")
        return st


def test_nan_physics_resets_the_world_and_goes_on(env_scene: Scene, env_clip: HOIClip) -> None:
    backend = _BlowUp(env_scene, N)
    env = TrackingEnv(env_scene, [env_clip], backend)
    env.reset()
    backend.armed = True
    obs, reward, term, _, info = env.step(np.zeros((N, env.action_dim)))
    assert info["nan_reset"].tolist() == [False, True, False, False]
    assert term[1] and reward[1] == 0.0 and env.n_nan_resets == 1
    assert torch.isfinite(obs).all() and env.episode_len[1] == 0
    obs, *_ = env.step(np.zeros((N, env.action_dim)))  # training goes on
    assert torch.isfinite(obs).all() and env.n_nan_resets == 1


class _Diverged(MujocoBackend):
    """A mujoco backend that reports world 0 as diverged (MuJoCo reset it) once."""

    armed = False

    def bad_worlds(self) -> np.ndarray:
        out = super().bad_worlds()
        if self.armed:
            self.armed = False
            out[0] = True
        return out


def test_backend_reported_blow_up_resets_the_world(env_scene: Scene, env_clip: HOIClip) -> None:
    backend = _Diverged(env_scene, N)
    env = TrackingEnv(env_scene, [env_clip], backend)
    env.reset()
    backend.armed = True
    _, reward, term, _, info = env.step(np.zeros((N, env.action_dim)))
    assert info["nan_reset"].tolist() == [True, False, False, False]
    assert term[0] and reward[0] == 0.0 and env.n_nan_resets == 1


def test_same_seed_same_rollout(env_scene: Scene, env_clip: HOIClip) -> None:
    def run(seed: int) -> tuple[np.ndarray, np.ndarray]:
        # A short rollout length opens start frames past 0 (clips of 40 and 30 frames).
        clips = [env_clip, synthetic_clip(n_frames=30, seed=9)]
        env = _env(env_scene, clips, seed=seed, rollout_length=10)
        env.reset()
        starts = env.start.numpy().copy()
        rewards = [env.step(_tracking_actions(env))[1].numpy() for _ in range(3)]
        return starts, np.stack(rewards)

    a, b, c = run(5), run(5), run(6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_confirm_rule_collects_rollout_states(env_scene: Scene, env_clip: HOIClip) -> None:
    env = _env(
        env_scene, [env_clip], termination=TerminationSettings(enabled=False),
        psi=PSISettings(rule="confirm", add_every=1, confirm_frames=2),
    )  # fmt: skip
    env.reset()
    for _ in range(4):
        env.step(_tracking_actions(env))
    filled = env.psi.filled[:, 1:].sum()
    assert filled >= N  # every world confirmed at least one state
    # Stored states are simulator states: finite, humanoid upright-ish.
    rows = env.psi.states[env.psi.filled[:, 1]][:, 1]
    assert rows.dtype == torch.float64 and torch.isfinite(rows).all()


def test_reference_velocities_of_uniform_motion(env_scene: Scene, env_clip: HOIClip) -> None:
    t = np.arange(env_clip.n_frames) / 30.0
    root = env_clip.root_pos.copy()
    root[:, 0] = 0.6 * t  # 0.6 m/s forward
    rotvec = np.zeros_like(env_clip.joint_rotvec)
    rotvec[:, 1, 0] = 0.9 * t  # joint 1 drives body 2 (L_Knee): hinge x at 0.9 rad/s
    clip = env_clip.with_arrays(
        root_pos=root.astype(np.float32), joint_rotvec=rotvec.astype(np.float32)
    )
    env = _env(env_scene, [clip])
    sc = env_scene
    np.testing.assert_allclose(env.ref.qvel[:, sc.humanoid_dof_adr[0]], 0.6, atol=1e-5)
    knee_x = sc.humanoid_dof_adr[6 + 3 * (2 - 1)]  # after the free joint's 6 dofs
    np.testing.assert_allclose(env.ref.qvel[:, knee_x], 0.9, atol=1e-5)
    others = np.delete(env.ref.qvel[:, sc.humanoid_dof_adr[6:]], 3, axis=1)
    np.testing.assert_allclose(others, 0.0, atol=1e-9)
    # gather() hands out the same arrays, per world.
    g = env.ref.gather(np.array([3, 5]))
    np.testing.assert_array_equal(g.states.pos, env.ref.body_pos[[3, 5]])
    np.testing.assert_array_equal(g.contact, clip.contact[[3, 5]])
    # Future frames past a clip's end repeat the last frame.
    last = env.ref.global_index(np.array([0]), np.array([10_000]))
    assert last.tolist() == [clip.n_frames - 1]


@pytest.fixture(scope="module")
def sample_clip_and_scene(shared_data: Path) -> tuple[HOIClip, Scene]:
    from intermimic.humanoid import HumanoidSettings, build_spec
    from intermimic.motion.load import read_clip
    from intermimic.objects import DecompositionSettings, ObjectSettings, build_object
    from intermimic.sim.scene import build_scene

    clip_path = shared_data / "omomo" / "raw" / "sub2_largetable_000.pt"
    mesh = shared_data / "objects" / "largetable" / "largetable.obj"
    if not clip_path.is_file() or not mesh.is_file():
        pytest.skip("sample clip or object missing")
    settings = ObjectSettings(decomposition=DecompositionSettings(method="hull"), points="provided")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        obj = build_object(mesh, settings, name="largetable")
    spec = build_spec(settings=HumanoidSettings(actuators="position"))
    return read_clip(clip_path), build_scene(spec, obj)


def test_sample_clip_steps(sample_clip_and_scene: tuple[HOIClip, Scene]) -> None:
    clip, scene = sample_clip_and_scene
    env = _env(scene, [clip])
    obs = env.reset()
    assert torch.isfinite(obs).all()
    for _ in range(3):
        obs, reward, *_ = env.step(_tracking_actions(env))
        assert torch.isfinite(obs).all() and ((reward >= 0) & (reward <= 1)).all()


@pytest.mark.parametrize("layout", ["compact", "released"])
def test_env_observation_is_heading_invariant(
    env_scene: Scene, env_clip: HOIClip, layout: str
) -> None:
    """The same clip turned by 1 rad about z and moved on the ground: the environment's
    first observation (reference buffer, simulator state, observation) is the same, in
    both observation layouts."""
    from intermimic.motion.quat import quat_mul

    yaw, shift = 1.0, np.array([2.0, -3.0, 0.0])
    qz = np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])
    rz = np.array([[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0, 0, 1]])
    f32 = np.float32
    turned = env_clip.with_arrays(
        root_pos=(env_clip.root_pos @ rz.T + shift).astype(f32),
        root_quat=quat_mul(qz, env_clip.root_quat.astype(np.float64)).astype(f32),
        obj_pos=(env_clip.obj_pos @ rz.T + shift).astype(f32),
        obj_quat=quat_mul(qz, env_clip.obj_quat.astype(np.float64)).astype(f32),
    )
    settings = {
        "observation": ObservationSettings(normalize=False, layout=layout),
        "psi": PSISettings(hybrid_prob=1.0),
        "seed": 4,
    }
    a = _env(env_scene, [env_clip], **settings).reset()
    b = _env(env_scene, [turned], **settings).reset()
    assert a.shape[1] == (2460 if layout == "released" else 2916)
    # float32 clip storage rounds the turned copy differently: compare at 1e-4.
    torch.testing.assert_close(b, a, atol=1e-4, rtol=0)


def test_released_defaults_are_pinned() -> None:
    """Settings matched to InterMimic's released teacher (docs/fidelity.md)."""
    s = EnvSettings()
    assert s.contact_force_threshold == 0.1  # N
    assert s.psi.slots_per_frame == 3  # MoCap slot + 2 simulated
    assert s.termination.grace_steps == 1
    # object terms (op, or): the centre in each root-heading frame, heading-local rotation
    g = s.reward.embodiment_agnostic
    assert (g.obj_pos, g.obj_pos_error, g.obj_rot) == (5.0, "centre_heading", 0.1)
    # interaction graph (ig): inverse-square weights floored at 0.01 m^2, k = 5; 64
    # farthest points, a documented subset of the released 1024 (bench/ig_points.py)
    assert (g.interaction_graph, g.ig_weight_floor, g.ig_points) == (5.0, 0.01, 64)
    # IG termination: some edge off by more than 2x its length floored at 0.5 m
    assert (s.termination.max_ig_ratio, s.termination.ig_length_floor) == (2.0, 0.5)
    assert s.rollout_length == 300  # rolloutLength: cap and PSI horizon
    assert s.psi.rule == "released"
    assert s.psi.hybrid_prob == 0.1  # hybridInitProb
    assert (s.psi.admit_margin, s.psi.min_rollout) == (10, 30)  # frames
    assert (s.psi.admit_score, s.psi.score_decay) == (0.5, 1e-5)


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        (EnvSettings, "contact_force_threshold", -0.1),
        (EnvSettings, "rollout_length", -300),
        (EnvSettings, "rollout_length", 0),
        (PSISettings, "slots_per_frame", 0),
        (PSISettings, "admit_score", 1.5),
        (PSISettings, "score_decay", -1e-5),
        (ObservationSettings, "nearest_points", 0),
        (ObservationSettings, "layout", "full"),
    ],
)
def test_bad_env_settings_name_the_field(model: type, field: str, value: object) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=field):
        model(**{field: value})


def test_key_bodies_and_position_weights(env_scene: Scene, env_clip: HOIClip) -> None:
    """The 21 released key bodies drive termination, the interaction graph and the
    body-position term (feet at weight 1, the others exp(-5 d)); rotations use all 52
    bodies with weights 1 - exp(-5 d)."""
    from intermimic.humanoid.embodiment import SMPLX_KEY_BODIES
    from intermimic.motion.skeleton import SMPLX_BODY_NAMES

    env = _env(env_scene, [env_clip])
    names = [SMPLX_BODY_NAMES[i] for i in env.key_idx]
    assert names == list(SMPLX_KEY_BODIES) and len(names) == 21
    assert "Pelvis" not in names and "L_Index1" not in names
    np.testing.assert_array_equal(env.pos_idx.numpy(), env.key_idx)
    feet = env.pos_feet.tolist()
    assert [names[i] for i in feet] == ["L_Ankle", "L_Toe", "R_Ankle", "R_Toe"]
    assert env.ref.ig_sq.shape[1:] == (21, 64)
    env.reset()
    st = env.backend.read()
    idx = env.rt.global_index(env.clip, env.frame)
    c, _ = env._compare(st.bodies, st.qvel, env._touch(st.contact), st.contact, idx)
    # float32 on the device, against float64 hand computation from the reference
    d = env.ref.body_obj_dist[idx.numpy()]
    expect = np.exp(-5 * d[:, env.key_idx])
    expect[:, feet] = 1.0
    assert c.body_weight.dtype == torch.float32
    np.testing.assert_allclose(c.body_weight.numpy(), expect, rtol=1e-5)
    assert c.body_rot_weight is not None
    np.testing.assert_allclose(c.body_rot_weight.numpy(), 1 - np.exp(-5 * d), rtol=1e-5, atol=1e-6)
    assert c.body_pos_sim.shape == (N, 21, 3) and c.body_quat_sim.shape == (N, 52, 4)
    # At the start state the object has not moved: no acceleration, energy terms 1.
    np.testing.assert_allclose(c.obj_lin_acc.numpy(), 0.0, atol=1e-5)


@pytest.mark.parametrize("graph_points", [64, 20, 100])
def test_compare_object_and_graph_terms(
    env_scene: Scene, env_clip: HOIClip, graph_points: int
) -> None:
    """At a MoCap start the simulated state is the reference frame: the heading-frame
    object pose and the graph's lengths agree with the reference's precomputed ones and
    the graph's error is 0. The graph's points are the object's farthest-point subset
    (a prefix of the 64 error points for 20 or 64 of them, separate points for 100), and
    its float32 lengths match float64 vectors."""
    from intermimic.env.geometry import quat_angle
    from intermimic.env.reference import farthest_points
    from intermimic.env.settings import EmbodimentAgnosticRewards, RewardSettings

    reward = RewardSettings(embodiment_agnostic=EmbodimentAgnosticRewards(ig_points=graph_points))
    env = _env(env_scene, [env_clip], reward=reward)
    assert env._graph_prefix == (graph_points <= 64)
    surface = env_scene.object.points  # 256 in the test box
    np.testing.assert_array_equal(env.graph_points, farthest_points(surface, graph_points))
    env.reset()
    st = env.backend.read()
    idx = env.rt.global_index(env.clip, env.frame)
    c, _ = env._compare(st.bodies, st.qvel, env._touch(st.contact), st.contact, idx)
    assert c.ig_err_sq.shape == c.ig_sim_sq.shape == (N, 21, graph_points)
    assert c.ig_err_sq.dtype == torch.float32
    np.testing.assert_allclose(c.ig_err_sq.numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(c.ig_sim_sq.numpy(), c.ig_ref_sq.numpy(), atol=2e-5)
    np.testing.assert_allclose(c.obj_local_pos_sim.numpy(), c.obj_local_pos_ref.numpy(), atol=1e-5)
    angle = quat_angle(c.obj_local_quat_sim, c.obj_local_quat_ref)
    np.testing.assert_allclose(angle.numpy(), 0.0, atol=1e-4)
    # the reference's lengths from float64 vectors
    i = idx.numpy()
    rot = env.ref.obj_rotmat[i]
    world = np.einsum("nij,pj->npi", rot, env.graph_points) + env.ref.obj_pos[i][:, None]
    graph = world[:, None] - env.ref.body_pos[i][:, env.key_idx][:, :, None]
    np.testing.assert_allclose(env.ref.ig_sq[i], (graph**2).sum(-1), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(env.ref.ig_points[i], world, atol=1e-12)
    ig = env.step(_tracking_actions(env))[4]["reward_terms"]["interaction_graph"]
    assert ((ig > 0) & (ig <= 1)).all()


def test_env_grace_step_and_hand_counters(env_scene: Scene, env_clip: HOIClip) -> None:
    """A key-body error far above its threshold does not terminate the first step after
    a reset, only the second; hand counters are kept per hand."""
    env = _env(env_scene, [env_clip], termination=TerminationSettings(max_key_body_error=0.0))
    env.reset()
    assert env.missing_hand.shape == (N, 2)
    _, _, term, _, info = env.step(_tracking_actions(env))
    assert not info["terminated_by"]["key_body_error"].any() and not term.any()
    _, _, term, _, info = env.step(_tracking_actions(env))
    assert info["terminated_by"]["key_body_error"].all() and term.all()


# ---- episode cap and the released PSI rule -------------------------------------------


def test_episode_cap_truncates_at_rollout_length(env_scene: Scene, env_clip: HOIClip) -> None:
    """Released: reset once progress - start >= rolloutLength - 1, a truncation (it
    bootstraps), not at the clip's end."""
    env = _env(
        env_scene, [env_clip], rollout_length=5,
        termination=TerminationSettings(enabled=False),
        psi=PSISettings(hybrid_prob=1.0),  # every episode starts at frame 0
    )  # fmt: skip
    env.reset()
    zeros = np.zeros((N, env.action_dim))
    for k in range(1, 4):
        _, _, term, trunc, _ = env.step(zeros)
        assert not trunc.any() and not term.any(), k
    _, _, term, trunc, info = env.step(zeros)  # 4 = rollout_length - 1 steps
    assert trunc.all() and not term.any() and not info["clip_end"].any()
    assert (info["frame"] == 4).all() and (env.frame == 0).all() and (env.episode_len == 0).all()


# Released admission on two 60-frame clips with R = 20, margin 2, min rollout 5: the
# states of episode steps k in [2, min(R - 1 - 2, 60 - R)) = [2, 17) are kept, 15 of them.
R_ADMIT = 20


def _admission_env(
    scene: Scene, *clips: HOIClip, reset_mode: str = "auto", **psi: object
) -> TrackingEnv:
    settings = {"admit_margin": 2, "min_rollout": 5, "hybrid_prob": 0.0, **psi}
    return _env(
        scene, list(clips) or [synthetic_clip(n_frames=60, seed=s, take=s) for s in (1, 2)],
        reset_mode,
        rollout_length=R_ADMIT, termination=TerminationSettings(enabled=False),
        psi=PSISettings(**settings),  # type: ignore[arg-type]
    )  # fmt: skip


def _episode(env: TrackingEnv, w: int, clip: int, start: int, end: int) -> None:
    """World ``w`` started at frame ``start`` of ``clip`` and is now at frame ``end``."""
    env.clip[w] = clip
    env.start[w] = int(env.ref.clip_start[clip]) + start
    env.frame[w] = end
    env.episode_len[w] = end - start


def _mark_traj(env: TrackingEnv) -> None:
    """``traj[w, j]`` = 1000 w + j in every value, to tell the admitted states apart."""
    w = torch.arange(N, dtype=torch.float64)[:, None, None]
    j = torch.arange(env.traj_len, dtype=torch.float64)[None, :, None]
    env.traj[:] = 1000 * w + j


def _done(*worlds: int) -> torch.Tensor:
    out = torch.zeros(N, dtype=torch.bool)
    out[list(worlds)] = True
    return out


def _ids(*worlds: int) -> torch.Tensor:
    """The worlds whose episodes ended, as ``step`` hands them to the PSI bookkeeping."""
    return torch.tensor(worlds, dtype=torch.long)


def _release(env: TrackingEnv, ended: tuple[int, ...], bad: tuple[int, ...], masked: bool) -> None:
    """The released admission of the episodes of worlds ``ended`` (``bad``: blown up), as
    the index reset hands them over (their indices) or the masked one (every row under
    the ``done`` mask); both must give the same buffer."""
    env._psi_released(_done(*bad), _done(*ended), None if masked else _ids(*ended))


@pytest.mark.parametrize("masked", [False, True])
def test_released_admission_scores_hand_computed(env_scene: Scene, masked: bool) -> None:
    env = _admission_env(env_scene)
    assert env.traj_len == 15 and env.traj.shape == (N, 15, 332)
    assert env.traj.dtype == torch.float64
    env.reset()
    _episode(env, 0, clip=0, start=0, end=19)  # reached its horizon (capped)
    _episode(env, 1, clip=1, start=3, end=16)  # failed after 13 of 19 frames
    _episode(env, 2, clip=0, start=0, end=18)  # failed one frame before w0's end
    _episode(env, 3, clip=1, start=0, end=5)  # still running
    _mark_traj(env)
    _release(env, (0, 1, 2), (), masked)
    psi, decay = env.psi, 1 - 1e-5
    filled = {int(g) for g in np.flatnonzero(psi.filled[:, 1:].any(axis=1))}
    # w0: every frame t in [0 + 2, 19 - 2) qualifies, (19 - t) / (20 - t) > 0.5, and beats
    # w2's (18 - t) / (20 - t). w1: t in [5, 14), horizon min(60, 3 + 20) = 23: (16 - t) /
    # (23 - t) > 0.5 only for t < 9; at t = 9 it is exactly 0.5 (not admitted).
    assert filled == set(range(2, 17)) | {60 + t for t in range(5, 9)}
    for t in range(2, 17):
        assert psi.states[t, 1, 0] == 1000 * 0 + (t - 0 - 2)  # w0's state at t
        assert psi.score[t, 1] == pytest.approx((19 - t) / (20 - t) * decay, rel=1e-12)
    for t in range(5, 9):
        assert psi.states[60 + t, 1, 0] == 1000 * 1 + (t - 3 - 2)
        assert psi.score[60 + t, 1] == pytest.approx((16 - t) / (23 - t) * decay, rel=1e-12)
    assert not psi.filled[:, 2].any()  # one state per frame per reset batch
    # The next batch's states go to the other (empty, lowest-scored) slot; the rest decay.
    _mark_traj(env)
    env.traj[2] += 0.5
    _episode(env, 2, clip=0, start=0, end=19)
    _release(env, (2,), (), masked)
    assert psi.filled[2:17, 2].all() and psi.states[2, 2, 0] == 2000.5
    assert psi.score[2, 1] == pytest.approx(17 / 18 * decay**2, rel=1e-12)


@pytest.mark.parametrize("masked", [False, True])
def test_released_admission_conditions(env_scene: Scene, masked: bool) -> None:
    # min_rollout: w0 ran 13 frames, which is not more than 13.
    env = _admission_env(env_scene, min_rollout=13)
    env.reset()
    _episode(env, 0, clip=1, start=3, end=16)
    _mark_traj(env)
    _release(env, (0,), (), masked)
    assert not env.psi.filled[:, 1:].any()
    assert (env.psi.score[:, 1:] == 0).all()
    env = _admission_env(env_scene, min_rollout=12)
    env.reset()
    _episode(env, 0, clip=1, start=3, end=16)
    _release(env, (0,), (), masked)
    assert env.psi.filled[:, 1:].sum() == 4
    # A blown-up rollout is no evidence; the others still count.
    env = _admission_env(env_scene)
    env.reset()
    _episode(env, 0, clip=0, start=0, end=19)
    _episode(env, 2, clip=0, start=0, end=18)
    _mark_traj(env)
    _release(env, (0, 2), (0,), masked)
    assert env.psi.states[2, 1, 0] == 2000 and env.psi.filled[:, 1].sum() == 14  # t in [2, 16)
    # Frames t >= L - R = 40 (no draw starts there) take nothing: a capped episode from
    # frame 30 of a 60-frame clip gives t in [32, 40) only (not up to 49 - 2).
    env = _admission_env(env_scene)
    env.reset()
    _episode(env, 0, clip=0, start=30, end=49)
    _release(env, (0,), (), masked)
    assert np.flatnonzero(env.psi.filled[:, 1]).tolist() == list(range(32, 40))


@pytest.mark.parametrize("masked", [False, True])
def test_released_clips_of_rollout_length_or_fewer_admit_nothing(
    env_scene: Scene, masked: bool
) -> None:
    """Clips of R frames or fewer: no state, no decay, nothing kept per world. A clip of
    R + 1 frames: nothing admissible (t >= start + 2 > L - R - 1), but its ended episodes
    decay the scores (released)."""
    short = _admission_env(env_scene, synthetic_clip(n_frames=R_ADMIT, seed=1))
    assert short.traj_len == 0 and not short.psi_feed._any_long_clip
    env = _admission_env(
        env_scene,
        synthetic_clip(n_frames=60, seed=1, take=1),
        synthetic_clip(n_frames=R_ADMIT, seed=2, take=2),
        synthetic_clip(n_frames=R_ADMIT + 1, seed=3, take=3),
    )
    env.reset()
    env.psi.score[5, 1] = 0.8
    _episode(env, 0, clip=1, start=0, end=R_ADMIT - 1)  # the clip end
    _release(env, (0,), (), masked)
    assert env.psi.score[5, 1] == 0.8 and not env.psi.filled[:, 1:].any()
    _episode(env, 0, clip=2, start=0, end=R_ADMIT - 1)
    _release(env, (0,), (), masked)
    assert env.psi.score[5, 1] == 0.8 * (1 - 1e-5) and not env.psi.filled[:, 1:].any()


def _released_reference(
    rollouts: list[tuple[int, int, int]], clip_len: np.ndarray, r: int, margin: int, least: int
) -> dict[tuple[int, int], tuple[int, float]]:
    """InterMimic's released admission loop (``intermimic.py`` 824-871), transliterated:
    ``(clip, t) -> (world, score)`` of the states it stores, ``rollouts[w] = (clip,
    start, end)`` of the episodes ending in one step."""
    best: dict[tuple[int, int], tuple[int, float]] = {}
    for w, (c, s, e) in enumerate(rollouts):
        if clip_len[c] <= r or e <= s + least:
            continue
        hz = min(clip_len[c], s + r)
        for t in range(s + margin, e - margin):
            sc = (e - t) / (hz - t)
            if (c, t) not in best or sc > best[(c, t)][1]:
                best[(c, t)] = (w, sc)
    return {
        (c, t): (w, sc)
        for (c, t), (w, sc) in best.items()
        if sc > 0.5 and clip_len[c] - t > r and 0 < t - rollouts[w][1] < r
    }


def test_released_psi_admits_the_states_rollouts_reached(env_scene: Scene) -> None:
    """Step four worlds until the cap ends their episodes together; PSI then holds, per
    frame, the state the best-scored world had there (the released loop's choice)."""
    env = _admission_env(env_scene)
    env.reset()
    assert (env.frame < 60 - R_ADMIT).all()  # starts only where a rollout can fit
    clip0, start0 = env.clip_frame()
    seen: dict[tuple[int, int, int], np.ndarray] = {}  # (world, clip, frame) -> state
    for _ in range(R_ADMIT - 2):
        env.step(_tracking_actions(env))
        qpos, qvel = env.backend.qpos(), env.backend.qvel()
        for w, (c, f) in enumerate(zip(*env.clip_frame(), strict=True)):
            seen[(w, int(c), int(f))] = np.concatenate([qpos[w], qvel[w]])
    _, _, term, trunc, info = env.step(_tracking_actions(env))
    assert trunc.all() and not term.any() and not info["clip_end"].any()
    rollouts = [(int(c), int(s), int(s) + R_ADMIT - 1) for c, s in zip(clip0, start0, strict=True)]
    expect = _released_reference(rollouts, env.ref.clip_len, R_ADMIT, 2, 5)
    assert expect  # the case exercises admission
    got = {
        (int(env.ref.clip_of_frame[g]), int(env.ref.frame_in_clip[g]))
        for g in np.flatnonzero(env.psi.filled[:, 1:].any(axis=1))
    }
    assert got == set(expect)
    for (c, t), (w, sc) in expect.items():
        g = int(env.ref.clip_start[c]) + t
        np.testing.assert_array_equal(env.psi.states[g, 1].numpy(), seen[(w, c, t)])
        assert env.psi.score[g, 1] == pytest.approx(sc * (1 - 1e-5), rel=1e-12)


def test_released_state_resumes_bit_exact(env_scene: Scene) -> None:
    """Env (with its kept rollout states), PSI and normaliser state saved mid-episode
    give the same continuation, admissions included."""

    def save(env: TrackingEnv) -> tuple[dict, dict, dict]:
        return env.state_dict(), env.psi.state_dict(), env.normalizer.state_dict()

    def run(env: TrackingEnv, k: int) -> list[np.ndarray]:
        return [env.step(_tracking_actions(env))[1].numpy().copy() for _ in range(k)]

    a = _admission_env(env_scene)
    a.reset()
    run(a, 7)
    state = save(a)
    assert state[0]["traj"].shape == (N, 15, 332) and state[0]["traj"].dtype == np.float64
    ra = run(a, 25)
    b = _admission_env(env_scene)
    b.reset()
    b.load_state_dict(state[0])
    b.psi.load_state_dict(state[1])
    b.normalizer.load_state_dict(state[2])
    rb = run(b, 25)
    np.testing.assert_array_equal(np.stack(ra), np.stack(rb))
    assert a.psi.filled[:, 1:].any()
    np.testing.assert_array_equal(a.psi.score, b.psi.score)
    torch.testing.assert_close(a.psi.states, b.psi.states, rtol=0, atol=0)
    torch.testing.assert_close(a.traj, b.traj, rtol=0, atol=0)


@pytest.mark.parametrize("masked", [False, True])
def test_released_default_margins_skip_10_frames_at_both_ends(
    env_scene: Scene, masked: bool
) -> None:
    """Default margin 10 (released): a capped rollout from frame 0 with R = 40 on a
    100-frame clip gives frames [10, 39 - 10) only."""
    env = _env(
        env_scene, [synthetic_clip(n_frames=100, seed=1, take=1)], rollout_length=40,
        termination=TerminationSettings(enabled=False),
    )  # fmt: skip
    assert env.traj_len == min(40 - 1 - 10, 100 - 40) - 10
    env.reset()
    _episode(env, 0, clip=0, start=0, end=39)
    _release(env, (0,), (), masked)
    assert np.flatnonzero(env.psi.filled[:, 1]).tolist() == list(range(10, 29))


def test_released_layout_env_steps_with_its_reference_blocks(
    env_scene: Scene, env_clip: HOIClip
) -> None:
    """The released observation layout: its size, its reference nearest-point vectors
    (brute force over the box's points), its velocity blocks gathered from the
    reference's finite differences, and steps that stay finite."""
    from intermimic.env.geometry import quat_to_matrix
    from intermimic.env.observations import block_sizes, observation_dim

    obs_s = ObservationSettings(layout="released", normalize=False, future_offsets=(1, 4))
    env = _env(env_scene, [env_clip], observation=obs_s, psi=PSISettings(hybrid_prob=1.0))
    assert env.obs_layout == "released" and env.spin_idx.tolist() == [*range(18), 33, 34, 35, 36]
    assert (
        env.obs_dim
        == observation_dim(52, 21 * 16, 2, "released", 21, 22)
        == 781 + 2 * (530 + 198) + 15 + 156 + 52
    )
    ref = env.ref
    assert ref.nearest_points_local is not None and ref.key_nearest is not None
    assert env_scene.object is not None
    assert len(ref.nearest_points_local) == len(env_scene.object.points)  # 256 < 1024: all
    # brute force: reference key bodies against every posed point
    rot = quat_to_matrix(torch.from_numpy(ref.obj_quat)).numpy()
    world = np.einsum("fij,pj->fpi", rot, ref.nearest_points_local) + ref.obj_pos[:, None]
    d = world[:, None] - ref.body_pos[:, env.key_idx, None]  # [F, K, P, 3]
    best = np.linalg.norm(d, axis=-1).argmin(-1)
    want = np.take_along_axis(d, best[..., None, None], axis=2)[:, :, 0]
    np.testing.assert_allclose(ref.key_nearest, want, atol=1e-12)
    rr = env.rt.released
    assert rr is not None and rr.key_nearest.dtype == torch.float32
    np.testing.assert_allclose(rr.key_linvel.numpy(), ref.body_linvel[:, env.key_idx], atol=1e-5)
    np.testing.assert_allclose(rr.spin_angvel.numpy(), ref.body_angvel[:, env.spin_idx], atol=1e-4)
    obs = env.reset()
    assert obs.shape == (N, env.obs_dim) and torch.isfinite(obs).all()
    # From the MoCap state (hybrid_prob 1): the simulated bodies sit on the reference, so
    # the own nearest-point block is the reference's at the current frame (key bodies).
    head, fut, _ = block_sizes(52, 0, "released", 21, 22)
    own = obs[:, head + 2 * fut + 15 : head + 2 * fut + 15 + 156].reshape(N, 52, 3)
    n = np.linalg.norm(ref.key_nearest[ref.global_index(*env.clip_frame())], axis=-1)
    np.testing.assert_allclose(own[:, env.key_idx].norm(dim=-1).numpy(), np.exp(-5 * n), atol=1e-5)
    for _ in range(3):
        obs = env.step(_tracking_actions(env))[0]
        assert obs.shape == (N, env.obs_dim) and torch.isfinite(obs).all()
    assert env.observe_raw([1, 2, 4, 16]).shape == (
        N,
        observation_dim(52, 336, 4, "released", 21, 22),
    )
    compact = _env(env_scene, [env_clip])
    assert compact.rt.released is None and compact.ref.key_nearest is None
    assert compact.obs_dim == 2916


# ---- PSI reads nothing back to the host ------------------------------------------------

#: Where the PSI path runs: the buffer's module, the episodes' feed into it, the
#: environment's PSI methods and the starts that draw from PSI (``env/resets.py``).
_PSI_FILES = ("env/psi.py", "env/psi_feed.py")
_PSI_CODE = {"_psi_bookkeeping", "_psi_released", "_episodes", "draw", "start_worlds"}


def _psi_reads(reads: list[HostRead]) -> list[HostRead]:
    return [r for r in reads if r.file.endswith(_PSI_FILES) or r.function in _PSI_CODE]


def _env_reads(reads: list[HostRead]) -> list[HostRead]:
    """The environment's own code's (``intermimic/env``), not the backend's (``sim``)."""
    return [r for r in reads if "/intermimic/env/" in r.file]


def test_released_psi_step_reads_nothing_back(
    env_scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step in which episodes end, states are admitted, scores decay and worlds are
    reset from PSI draws: the PSI code reads no tensor back to the host (the step's one
    read, ``done.nonzero()`` for the resets, is in ``step`` itself)."""
    env = _admission_env(env_scene)
    env.reset()
    _episode(env, 0, clip=0, start=0, end=18)  # capped at the next step: admits
    _episode(env, 1, clip=1, start=3, end=10)
    actions = torch.as_tensor(_tracking_actions(env))
    reads = watch_host_reads(monkeypatch)
    trunc = env.step(actions)[3]
    monkeypatch.undo()
    assert "cpu" in {r.name for r in reads}  # the watch works: the backend copies to host
    assert _psi_reads(reads) == []
    assert bool(trunc[0]) and int(env.episode_len[0]) == 0  # ended and reset from PSI
    assert bool(env.psi.filled[:, 1].any())  # and admitted its states


def test_confirm_psi_steps_read_nothing_back(
    env_scene: Scene, env_clip: HOIClip, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _env(
        env_scene, [env_clip], rollout_length=4, termination=TerminationSettings(enabled=False),
        psi=PSISettings(rule="confirm", add_every=1, confirm_frames=1),
    )  # fmt: skip
    env.reset()
    actions = torch.as_tensor(_tracking_actions(env))
    reads = watch_host_reads(monkeypatch)
    for _ in range(4):  # candidates taken, confirmed, episodes capped and reported
        env.step(actions)
    monkeypatch.undo()
    assert _psi_reads(reads) == []
    assert bool(env.psi.filled[:, 1:].any()) and bool((env.psi.failure < 1).any())


def test_env_step_reads_back_only_the_finished_worlds(
    env_scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A whole step of the environment's own code (observations, rewards, termination,
    PSI, resets, terminal observations, the normaliser) reads one thing back to the
    host: ``done.nonzero()``, the worlds to reset."""
    env = _admission_env(env_scene)
    env.reset()
    _episode(env, 0, clip=0, start=0, end=18)  # truncated at the next step
    _episode(env, 1, clip=1, start=3, end=10)
    actions = torch.as_tensor(_tracking_actions(env))
    reads = watch_host_reads(monkeypatch)
    obs, _, _, trunc, info = env.step(actions)
    first = _env_reads(reads)
    env.step(actions)
    monkeypatch.undo()
    env_reads = _env_reads(reads)
    assert bool(trunc[0])  # a step with a truncated world, observed before its reset
    # its terminal observation is the one before the reset; every other world's is its obs
    term = info["terminal_obs"]
    assert not torch.equal(term[0], obs[0])
    assert torch.equal(term[~trunc], obs[~trunc])
    # terminated worlds (every one: the root is below 10 m) bootstrap nothing
    env.settings = env.settings.model_copy(
        update={"termination": TerminationSettings(min_root_height=10.0)}
    )
    obs, _, terminated, trunc, info = env.step(actions)
    assert bool(terminated.all()) and not bool(trunc.any())
    assert torch.equal(info["terminal_obs"], obs)
    assert [r.name for r in first] == ["nonzero"]
    assert [r.name for r in env_reads] == ["nonzero", "nonzero"]
    assert all(r.function == "_finish_index" for r in env_reads)


def test_masked_reset_step_reads_nothing_back(
    env_scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``reset_mode="masked"`` (the default on a GPU): a step that truncates a world,
    admits its states and resets it from PSI reads nothing back in the environment's
    code; the truncated world's terminal observation is still its last one."""
    env = _admission_env(env_scene, reset_mode="masked")
    assert env.masked_resets and not _admission_env(env_scene).masked_resets  # auto on CPU
    env.reset()
    _episode(env, 0, clip=0, start=0, end=18)
    _episode(env, 1, clip=1, start=3, end=10)
    actions = torch.as_tensor(_tracking_actions(env))
    reads = watch_host_reads(monkeypatch)
    obs, _, _, trunc, info = env.step(actions)
    monkeypatch.undo()
    assert bool(trunc[0]) and int(env.episode_len[0]) == 0 and bool(env.psi.filled[:, 1].any())
    assert _env_reads(reads) == []
    term = info["terminal_obs"]
    assert not torch.equal(term[0], obs[0]) and torch.equal(term[~trunc], obs[~trunc])
    with pytest.raises(ValueError, match="reset_mode"):
        _admission_env(env_scene, reset_mode="lazy")


@pytest.mark.parametrize("rule", ["released", "confirm"])
def test_masked_and_index_resets_give_the_same_run(
    env_scene: Scene, env_clip: HOIClip, rule: str
) -> None:
    """The two reset modes draw the same starts and reset the same worlds: 40 steps with
    terminations, truncations, admissions and resets give equal observations, rewards,
    flags, terminal observations, episode state and PSI buffers."""
    clips = [synthetic_clip(n_frames=60, seed=s, take=s) for s in (1, 2)]
    extra = {"rule": "confirm", "add_every": 2, "confirm_frames": 3} if rule == "confirm" else {}

    def make(mode: str) -> TrackingEnv:
        return _env(
            env_scene, clips, mode, rollout_length=R_ADMIT,
            termination=TerminationSettings(
                max_key_body_error=0.25, max_object_error=None, max_ig_ratio=None,
                max_missing_hand_frames=None,
            ),
            psi=PSISettings(admit_margin=2, min_rollout=5, hybrid_prob=0.3, **extra),
        )  # fmt: skip

    a, b = make("index"), make("masked")
    rng = np.random.default_rng(0)
    outs: list[list[torch.Tensor]] = [[a.reset()], [b.reset()]]
    ended = truncated = 0
    for _ in range(40):
        noise = rng.normal(0, 0.02, (N, a.action_dim))
        act = np.clip(_tracking_actions(a) + noise, -1, 1)
        for env, out in zip((a, b), outs, strict=True):
            obs, rew, term, trunc, info = env.step(act)
            out += [obs, rew, term, trunc, info["terminal_obs"]]
        ended += int((outs[0][-3] | outs[0][-2]).sum())
        truncated += int(outs[0][-2].sum())
    assert ended >= 8 and truncated >= 1  # the case exercises both kinds of reset
    for i, (x, y) in enumerate(zip(*outs, strict=True)):
        # The index mode observes the finished worlds alone for their terminal
        # observation: a smaller batch, whose float sums may round differently.
        tol = 1e-5 if i and i % 5 == 0 else 0.0
        torch.testing.assert_close(x, y, rtol=tol, atol=tol)
    for k in TrackingEnv._EPISODE_FIELDS:
        torch.testing.assert_close(getattr(a, k), getattr(b, k), rtol=0, atol=0)
    for k in ("states", "score", "filled", "failure"):
        torch.testing.assert_close(getattr(a.psi, k), getattr(b.psi, k), rtol=0, atol=0)
    assert a.psi.filled[:, 1:].any()
