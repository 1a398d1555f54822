"""The environment end to end on the ``mujoco`` backend, and the reference buffer."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from intermimic.env import EnvSettings, ReferenceClipError, TrackingEnv
from intermimic.env.settings import ObservationSettings, PSISettings, TerminationSettings
from intermimic.motion.clip import HOIClip
from intermimic.motion.synthetic import synthetic_clip
from intermimic.sim.backend import BodyStates
from intermimic.sim.factory import make_backend
from intermimic.sim.mujoco_backend import MujocoBackend
from intermimic.sim.pd import ActionSettings, NonFiniteActionError
from intermimic.sim.scene import Scene

N = 4


def _env(scene: Scene, clips: list[HOIClip], **settings: object) -> TrackingEnv:
    backend = make_backend("mujoco", scene, N, n_threads=1)
    return TrackingEnv(scene, clips, backend, settings=EnvSettings(**settings))


def _tracking_actions(env: TrackingEnv) -> np.ndarray:
    """Actions whose PD targets are the reference's hinge angles one frame ahead."""
    idx = env.ref.global_index(env.clip, env.frame + 1)
    hinges = env.ref.qpos[idx][:, env.scene.humanoid_qpos_adr[7:]]
    return np.clip(env.action_map.actions(hinges), -1, 1)


def test_reset_starts_from_the_reference(env_scene: Scene, env_clip: HOIClip) -> None:
    env = _env(env_scene, [env_clip])
    obs = env.reset()
    assert obs.shape == (N, env.obs_dim) and obs.dtype == np.float32
    assert env.action_dim == 153
    bs = env.backend.body_states()
    idx = env.ref.global_index(env.clip, env.frame)
    # A fresh PSI buffer holds MoCap states only; the reference bodies are the model's
    # FK of the clip's angles, so the simulated bodies sit exactly on them.
    np.testing.assert_allclose(bs.pos, env.ref.body_pos[idx], atol=1e-9)
    np.testing.assert_allclose(bs.obj_pos, env.ref.obj_pos[idx], atol=1e-9)
    assert (env.frame < env_clip.n_frames - 1).all()


def test_steps_give_rewards_in_range(env_scene: Scene, env_clip: HOIClip) -> None:
    env = _env(env_scene, [env_clip])
    env.reset()
    for _ in range(5):
        frame_before = env.frame.copy()
        obs, reward, term, trunc, info = env.step(_tracking_actions(env))
        assert obs.shape == (N, env.obs_dim) and np.isfinite(obs).all()
        assert reward.shape == (N,) and ((reward >= 0) & (reward <= 1)).all()
        assert set(info["reward_terms"]) >= {"body_pos", "obj_pos", "energy"}
        np.testing.assert_allclose(reward, np.prod(list(info["reward_terms"].values()), axis=0))
        np.testing.assert_array_equal(info["frame"], frame_before + 1)
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
    assert trunc.all() and not term.any()
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
    assert env.n_nan_action_worlds == 1 and np.isfinite(obs).all()
    strict = _env(env_scene, [env_clip], action=ActionSettings(non_finite="raise"))
    strict.reset()
    with pytest.raises(NonFiniteActionError):
        strict.step(a)


class _BlowUp(MujocoBackend):
    """A mujoco backend whose world 1 reports NaN body states once."""

    armed = False

    def body_states(self) -> BodyStates:
        bs = super().body_states()
        if self.armed:
            self.armed = False
            bs.pos[1] = np.nan
        return bs


def test_nan_physics_resets_the_world_and_goes_on(env_scene: Scene, env_clip: HOIClip) -> None:
    backend = _BlowUp(env_scene, N)
    env = TrackingEnv(env_scene, [env_clip], backend)
    env.reset()
    backend.armed = True
    obs, reward, term, _, info = env.step(np.zeros((N, env.action_dim)))
    assert info["nan_reset"].tolist() == [False, True, False, False]
    assert term[1] and reward[1] == 0.0 and env.n_nan_resets == 1
    assert np.isfinite(obs).all() and env.episode_len[1] == 0
    obs, *_ = env.step(np.zeros((N, env.action_dim)))  # training goes on
    assert np.isfinite(obs).all() and env.n_nan_resets == 1


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
        env = _env(env_scene, [env_clip, synthetic_clip(n_frames=30, seed=9)], seed=seed)
        env.reset()
        starts = env.start.copy()
        rewards = [env.step(_tracking_actions(env))[1] for _ in range(3)]
        return starts, np.stack(rewards)

    a, b, c = run(5), run(5), run(6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_psi_collects_rollout_states(env_scene: Scene, env_clip: HOIClip) -> None:
    env = _env(
        env_scene, [env_clip], termination=TerminationSettings(enabled=False),
        psi=PSISettings(add_every=1, confirm_frames=2),
    )  # fmt: skip
    env.reset()
    for _ in range(4):
        env.step(_tracking_actions(env))
    filled = env.psi.filled[:, 1:].sum()
    assert filled >= N  # every world confirmed at least one state
    # Stored states are simulator states: finite, humanoid upright-ish.
    rows = env.psi.states[env.psi.filled[:, 1]][:, 1]
    assert np.isfinite(rows).all()


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
    assert np.isfinite(obs).all()
    for _ in range(3):
        obs, reward, *_ = env.step(_tracking_actions(env))
        assert np.isfinite(obs).all() and ((reward >= 0) & (reward <= 1)).all()


def test_env_observation_is_heading_invariant(env_scene: Scene, env_clip: HOIClip) -> None:
    """The same clip turned by 1 rad about z and moved on the ground: the environment's
    first observation (reference buffer, simulator state, observation) is the same."""
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
        "observation": ObservationSettings(normalize=False),
        "psi": PSISettings(hybrid_prob=1.0),
        "seed": 4,
    }
    a = _env(env_scene, [env_clip], **settings).reset()
    b = _env(env_scene, [turned], **settings).reset()
    # float32 clip storage rounds the turned copy differently: compare at 1e-4.
    np.testing.assert_allclose(b, a, atol=1e-4)


def test_released_defaults_are_pinned() -> None:
    """Settings matched to InterMimic's released teacher (docs/fidelity.md)."""
    s = EnvSettings()
    assert s.contact_force_threshold == 0.1  # N
    assert s.psi.slots_per_frame == 3  # MoCap slot + 2 simulated
    assert s.termination.grace_steps == 1


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        (EnvSettings, "contact_force_threshold", -0.1),
        (PSISettings, "slots_per_frame", 0),
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
    np.testing.assert_array_equal(env.pos_idx, env.key_idx)
    assert [names[i] for i in env.pos_feet] == ["L_Ankle", "L_Toe", "R_Ankle", "R_Toe"]
    assert env.ref.ig.shape[1] == 21
    env.reset()
    bs = env.backend.body_states()
    forces = env.backend.contact_forces()
    idx = env.ref.global_index(env.clip, env.frame)
    c, _ = env._compare(bs, env.backend.qvel(), env._touch(forces), forces, idx)
    d = env.ref.body_obj_dist[idx]
    expect = np.exp(-5 * d[:, env.key_idx])
    expect[:, env.pos_feet] = 1.0
    np.testing.assert_allclose(c.body_weight, expect, rtol=1e-12)
    assert c.body_rot_weight is not None
    np.testing.assert_allclose(c.body_rot_weight, 1 - np.exp(-5 * d), rtol=1e-12)
    assert c.body_pos_sim.shape == (N, 21, 3) and c.body_quat_sim.shape == (N, 52, 4)
    # At the start state the object has not moved: no acceleration, energy terms 1.
    np.testing.assert_allclose(c.obj_lin_acc, 0.0, atol=1e-9)


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
