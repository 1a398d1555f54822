"""PSI: sampling proportions, hybrid starts, the state ring, scores, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from intermimic.env.psi import PSIBuffer
from intermimic.env.settings import PSISettings

F, S = 6, 3


def _buffer(seed: int = 0, **settings: object) -> PSIBuffer:
    mocap = np.arange(F, dtype=np.float64)[:, None] * np.ones(S)  # state of frame f: f
    startable = np.array([True, True, True, False, True, False])  # two clips of 4 and 2
    return PSIBuffer(mocap, startable, np.array([0, 4]), PSISettings(**settings), seed)


def test_start_frames_follow_scores() -> None:
    buf = _buffer(hybrid_prob=0.0, score_ema=1.0, min_score=0.01)
    buf.report(np.array([0, 1, 2, 4]), np.array([True, False, True, True]))
    # failure = 1, 0 (floored to 0.01), 1, -, 1, -; frames 3 and 5 cannot start.
    expect = np.array([1.0, 0.01, 1.0, 0.0, 1.0, 0.0])
    expect /= expect.sum()
    np.testing.assert_allclose(buf.probabilities(), expect)
    frames, states, hybrid = buf.sample(200_000)
    assert not hybrid.any()
    freq = np.bincount(frames, minlength=F) / len(frames)
    # Binomial standard error at p = 1/3 and n = 2e5 is about 1e-3.
    np.testing.assert_allclose(freq, expect, atol=5e-3)
    assert (states[:, 0] == frames).all()  # only MoCap states so far


def test_hybrid_starts_at_clip_beginnings() -> None:
    buf = _buffer(hybrid_prob=0.3)
    frames, states, hybrid = buf.sample(100_000)
    assert abs(hybrid.mean() - 0.3) < 5e-3
    assert set(np.unique(frames[hybrid]).tolist()) == {0, 4}
    assert abs((frames[hybrid] == 4).mean() - 0.5) < 1e-2  # clips drawn uniformly
    assert (states[hybrid, 0] == frames[hybrid]).all()  # always the MoCap state


def test_reached_starts_grow_with_the_rollouts() -> None:
    buf = _buffer(hybrid_prob=0.0, starts="reached")
    # Nothing reached yet: only the two clip starts can be drawn.
    np.testing.assert_allclose(buf.probabilities(), [0.5, 0, 0, 0, 0.5, 0])
    frames, states, _ = buf.sample(2_000)
    assert set(np.unique(frames).tolist()) == {0, 4}
    assert (states[:, 0] == frames).all()
    buf.add(np.array([2]), np.full((1, S), 20.0))  # a rollout confirmed a state at frame 2
    np.testing.assert_allclose(buf.probabilities(), np.array([1, 0, 1, 0, 1, 0]) / 3)
    frames, states, _ = buf.sample(30_000)
    at2 = states[frames == 2, 0]
    assert set(np.unique(at2).tolist()) == {2.0, 20.0}  # MoCap and rollout state, half each
    assert abs((at2 == 20.0).mean() - 0.5) < 2e-2
    # Frame 1 was never reached: no draw starts there; 'all' would (the method).
    assert not (frames == 1).any()
    assert _buffer(hybrid_prob=0.0).probabilities()[1] > 0


def test_ring_of_rollout_states_and_uniform_slot_draw() -> None:
    buf = _buffer(hybrid_prob=0.0, slots_per_frame=3)
    buf.add(np.array([2, 2, 1]), np.array([[20.0] * S, [21.0] * S, [10.0] * S]))
    assert buf.filled[2].tolist() == [True, True, True]
    assert buf.states[2, :, 0].tolist() == [2.0, 20.0, 21.0]
    buf.add(np.array([2]), np.full((1, S), 22.0))  # overwrites the oldest rollout state
    assert buf.states[2, :, 0].tolist() == [2.0, 22.0, 21.0]
    assert buf.states[1, :, 0].tolist() == [1.0, 10.0, 0.0]
    buf.failure[:] = 0.0
    buf.failure[2] = 1.0  # frame 2 dominates the draws
    frames, states, _ = buf.sample(60_000)
    got = states[frames == 2, 0]
    for v in (2.0, 22.0, 21.0):
        assert abs((got == v).mean() - 1 / 3) < 1e-2
    # Frame 1 has two filled slots: MoCap and one rollout state, half each.
    got1 = states[frames == 1, 0]
    assert set(np.unique(got1).tolist()) == {1.0, 10.0}


def test_single_slot_keeps_only_mocap() -> None:
    buf = _buffer(slots_per_frame=1)
    buf.add(np.array([0]), np.full((1, S), 9.0))
    assert buf.states[0, 0, 0] == 0.0


def test_score_is_a_running_failure_average() -> None:
    buf = _buffer(score_ema=0.5)
    buf.report(np.array([0, 0]), np.array([True, False]))  # mean 0.5 -> 1*0.5 + 0.5*0.5
    assert buf.failure[0] == pytest.approx(0.75)
    buf.report(np.array([0]), np.array([False]))
    assert buf.failure[0] == pytest.approx(0.375)


def test_same_seed_same_draws() -> None:
    a = _buffer(seed=7).sample(50)
    b = _buffer(seed=7).sample(50)
    c = _buffer(seed=8).sample(50)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
