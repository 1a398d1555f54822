"""Feed-forward base actions: a plan's actions in place of the reference's at its frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from intermimic.env import EnvSettings, TrackingEnv
from intermimic.env.feedforward import FeedForward, FeedForwardError
from intermimic.errors import InputError
from intermimic.motion.synthetic import synthetic_clip
from intermimic.sim.factory import make_backend
from intermimic.sim.scene import Scene

N = 4


@pytest.fixture(scope="module")
def env(env_scene: Scene) -> TrackingEnv:
    """Two clips (30 and 24 frames) in one env of 4 worlds."""
    clips = [synthetic_clip("s", "box", 0, 30, seed=1), synthetic_clip("s", "box", 1, 24, seed=2)]
    backend = make_backend("mujoco", env_scene, N, n_threads=1)
    e = TrackingEnv(env_scene, clips, backend, settings=EnvSettings())
    yield e
    e.close()


def _place(env: TrackingEnv, clip: list[int], frame: list[int]) -> None:
    """Put world ``i`` at ``frame[i]`` of clip ``clip[i]`` (the MoCap state there)."""
    g = env.ref.global_index(np.array(clip), np.array(frame))
    env.reset_to(g, env.ref.states()[g])


def test_reference_actions_take_the_plan_at_its_frames(env: TrackingEnv) -> None:
    a_dim = env.action_dim
    ids = env.ref.clip_ids
    rng = np.random.default_rng(0)
    plan0 = rng.uniform(-1, 1, (5, a_dim))  # clip 0: frames 0..4 of 30
    plan1 = rng.uniform(-1, 1, (23, a_dim))  # clip 1: every frame with a successor
    env.set_feedforward(None)
    _place(env, [0, 0, 1, 1], [4, 5, 22, 0])
    reference = env.reference_actions()
    ff = env.set_feedforward({ids[0]: plan0, ids[1]: plan1, "not_here": plan0})
    assert ff is not None and ff.covered == {ids[0]: 5, ids[1]: 23}
    assert ff.ignored == ("not_here",)
    assert ff.table.shape == (env.ref.n_frames, a_dim) and ff.mask.sum() == 28
    a = env.reference_actions()
    assert a.dtype == np.float64 and a.shape == (N, a_dim)
    np.testing.assert_array_equal(a[0], plan0[4])  # the plan's last frame
    np.testing.assert_array_equal(a[1], reference[1])  # beyond the plan: the reference
    np.testing.assert_array_equal(a[2], plan1[22])
    np.testing.assert_array_equal(a[3], plan1[0])
    # after a step every world is one frame on: world 0 leaves its plan, world 3 follows
    env.step(a)
    _, frame = env.clip_frame()
    np.testing.assert_array_equal(frame[[0, 3]], [5, 1])
    np.testing.assert_array_equal(env.reference_actions()[3], plan1[1])
    # removed: the reference everywhere again
    assert env.set_feedforward({}) is None and env.feedforward is None
    _place(env, [0, 0, 1, 1], [4, 5, 22, 0])
    np.testing.assert_array_equal(env.reference_actions(), reference)


def test_bad_feedforward_names_the_clip(env: TrackingEnv) -> None:
    ids, a_dim = env.ref.clip_ids, env.action_dim
    with pytest.raises(FeedForwardError, match=rf"clip '{ids[1]}'.*24 frames, so at most 23"):
        env.set_feedforward({ids[1]: np.zeros((24, a_dim))})
    with pytest.raises(InputError, match=rf"clip '{ids[0]}'.*shape \[n, {a_dim}\]"):
        env.set_feedforward({ids[0]: np.zeros((3, a_dim - 1))})
    with pytest.raises(FeedForwardError, match=rf"clip '{ids[0]}'.*NaN"):
        env.set_feedforward({ids[0]: np.full((3, a_dim), np.nan)})
    assert env.feedforward is None  # a failed install leaves the env as it was
    # truncate: a plan longer than a clip of the same id is cut to it
    ff = FeedForward.build(env.ref, a_dim, {ids[1]: np.ones((40, a_dim))}, truncate=True)
    assert ff.covered == {ids[1]: 23}


def test_base_table_is_the_next_pose_and_the_tensor_path_agrees(env: TrackingEnv) -> None:
    """The tabled base equals the PD-target actions of each world's next reference pose
    (its own at a clip's last frame), computed here directly; the device path gives the
    same values, with and without a plan."""
    env.set_feedforward(None)
    _place(env, [0, 0, 1, 1], [0, 29, 10, 23])  # 29 and 23: the clips' last frames
    clip, frame = env.clip_frame()
    nxt = env.ref.global_index(clip, frame + 1)  # clamped to the last frame
    hinges = env.ref.qpos[nxt][:, env.scene.humanoid_qpos_adr[7:]]
    expected = np.clip(env.action_map.actions(hinges), -1.0, 1.0)
    np.testing.assert_array_equal(env.reference_actions(), expected)
    t = env.reference_actions_tensor()
    assert t.dtype == torch.float64 and t.device == env.device
    np.testing.assert_array_equal(t.cpu().numpy(), expected)
    plan = np.full((11, env.action_dim), 0.5)
    env.set_feedforward({env.ref.clip_ids[1]: plan})
    np.testing.assert_array_equal(env.reference_actions_tensor().cpu().numpy()[2], plan[10])
    np.testing.assert_array_equal(env.reference_actions_tensor().cpu().numpy()[:2], expected[:2])
    env.set_feedforward(None)
