"""PSI: the released rule (start frames, slot choice, admission, decay) and the confirm
rule (failure-rate starts, the state ring), hybrid starts, determinism, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from intermimic.env.psi import PSIBuffer
from intermimic.env.settings import PSISettings

F, S = 6, 3


def _buffer(seed: int = 0, **settings: object) -> PSIBuffer:
    """Confirm rule on two clips of 4 and 2 frames; the state of frame f is f."""
    mocap = np.arange(F, dtype=np.float64)[:, None] * np.ones(S)
    startable = np.array([True, True, True, False, True, False])
    s = PSISettings(**{"rule": "confirm", **settings})  # type: ignore[arg-type]
    return PSIBuffer(mocap, startable, np.array([0, 4]), s, seed)


# Released rule: rollout length R = 3 on clips of 6, 3 and 5 frames, so the draw ranges
# are [0, 3), [0, 1) (a clip of R frames or fewer starts at 0) and [0, 2).
R = 3
LENS = (6, 3, 5)


def _released(seed: int = 0, **settings: object) -> PSIBuffer:
    n = sum(LENS)
    starts = np.concatenate([[0], np.cumsum(LENS)[:-1]])
    startable = np.ones(n, bool)
    startable[starts + np.array(LENS) - 1] = False  # a clip's last frame
    mocap = np.arange(n, dtype=np.float64)[:, None] * np.ones(S)
    return PSIBuffer(mocap, startable, starts, PSISettings(**settings), seed, rollout_length=R)


def test_released_start_frames_weighted_by_inverse_score_sums() -> None:
    buf = _released(hybrid_prob=0.0)
    np.testing.assert_array_equal(np.flatnonzero(buf.drawable()), [0, 1, 2, 6, 9, 10])
    # Frame 1 holds two simulated states (scores 0.5, 0.25), frame 2 one (1.0).
    buf.admit(np.array([1, 2]), np.full((2, S), 100.0), np.array([0.5, 1.0]))
    buf.admit(np.array([1]), np.full((1, S), 101.0), np.array([0.25]))
    np.testing.assert_array_equal(buf.score[1], [1.0, 0.5, 0.25])
    np.testing.assert_array_equal(buf.score[2], [1.0, 1.0, 0.0])
    # Clip uniform (1/3 each), then 1 / (sum of the frame's slot scores) within it.
    w0 = np.array([1.0, 1 / 1.75, 1 / 2.0])
    expect = np.zeros(sum(LENS))
    expect[[0, 1, 2]] = w0 / w0.sum() / 3
    expect[6] = 1 / 3
    expect[[9, 10]] = 1 / 6
    np.testing.assert_allclose(buf.probabilities(), expect)
    frames, states, hybrid = buf.sample(200_000)
    assert not hybrid.any()
    freq = np.bincount(frames, minlength=sum(LENS)) / len(frames)
    np.testing.assert_allclose(freq, expect, atol=5e-3)
    # Slots proportional to their scores: at frame 1 MoCap 1/1.75, 0.5/1.75, 0.25/1.75.
    got = states[torch.from_numpy(frames == 1), 0].numpy()
    for v, p in ((1.0, 1 / 1.75), (100.0, 0.5 / 1.75), (101.0, 0.25 / 1.75)):
        assert abs((got == v).mean() - p) < 1e-2, v
    # Frame 2's empty slot (score 0) is never drawn; frame 0 only has its MoCap state.
    assert set(np.unique(states[torch.from_numpy(frames == 2), 0].numpy())) == {2.0, 100.0}
    assert (states[torch.from_numpy(frames == 0), 0] == 0.0).all()


def test_released_clips_of_rollout_length_or_fewer_start_at_frame_0() -> None:
    mocap = np.zeros((10, S))
    startable = np.ones(10, bool)
    startable[[4, 9]] = False
    buf = PSIBuffer(mocap, startable, np.array([0, 5]), PSISettings(), rollout_length=5)
    np.testing.assert_allclose(buf.probabilities(), [0.5, 0, 0, 0, 0, 0.5, 0, 0, 0, 0])
    frames, _, _ = buf.sample(1000)
    assert set(np.unique(frames).tolist()) == {0, 5}


def test_released_hybrid_starts_at_frame_0_from_mocap() -> None:
    buf = _released(hybrid_prob=0.3)
    buf.admit(np.array([1]), np.full((1, S), 100.0), np.array([1.0]))
    frames, states, hybrid = buf.sample(100_000)
    assert abs(hybrid.mean() - 0.3) < 5e-3
    assert set(np.unique(frames[hybrid]).tolist()) == {0, 6, 9}
    for c in (0, 6, 9):
        assert abs((frames[hybrid] == c).mean() - 1 / 3) < 1e-2  # clips drawn uniformly
    assert (states[torch.from_numpy(hybrid), 0].numpy() == frames[hybrid]).all()


def test_released_admission_replaces_the_lowest_scored_slot_and_decays() -> None:
    buf = _released()
    buf.admit(np.array([1]), np.full((1, S), 10.0), np.array([0.6]))  # empty slots: 1st
    buf.admit(np.array([1]), np.full((1, S), 11.0), np.array([0.9]))  # the other empty one
    assert buf.states[1, :, 0].tolist() == [1.0, 10.0, 11.0]
    buf.admit(np.array([1]), np.full((1, S), 12.0), np.array([0.55]))  # replaces 0.6
    assert buf.states[1, :, 0].tolist() == [1.0, 12.0, 11.0]
    assert buf.score[1].tolist() == [1.0, 0.55, 0.9]
    # Whatever the lowest score is: a lower newcomer still replaces it (released).
    buf.admit(np.array([1]), np.full((1, S), 13.0), np.array([0.51]))
    assert buf.states[1, :, 0].tolist() == [1.0, 13.0, 11.0]
    assert buf.filled[1].all() and not buf.filled[2, 1:].any()
    with pytest.raises(ValueError, match="one state per frame"):
        buf.admit(np.array([2, 2]), np.zeros((2, S)), np.array([0.7, 0.8]))
    buf.decay()
    buf.decay()
    np.testing.assert_allclose(buf.score[1], [1.0, 0.51 * (1 - 1e-5) ** 2, 0.9 * (1 - 1e-5) ** 2])
    assert buf.score[0, 0] == 1.0 and (buf.score[:, 0] == 1.0).all()


def test_released_single_slot_keeps_only_mocap() -> None:
    buf = _released(slots_per_frame=1)
    buf.admit(np.array([1]), np.full((1, S), 9.0), np.array([1.0]))
    assert buf.states[1, 0, 0] == 1.0 and buf.score.shape == (sum(LENS), 1)


def test_released_state_dict_round_trip() -> None:
    buf = _released(seed=3)
    buf.admit(np.array([1, 2]), torch.full((2, S), 5.0, dtype=torch.float64), np.array([0.7, 0.8]))
    buf.decay()
    buf.sample(7)
    state = buf.state_dict()
    assert state["states"].dtype == np.float64 and state["score"].dtype == np.float64
    other = _released(seed=99)
    other.load_state_dict(state)
    assert other.states[1, 1, 0] == 5.0
    np.testing.assert_array_equal(other.score, buf.score)
    a, b = buf.sample(20), other.sample(20)  # same RNG state: same draws
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    legacy = {k: v for k, v in state.items() if k != "score"}
    with pytest.raises(ValueError, match="no slot scores"):
        _released().load_state_dict(legacy)
    with pytest.raises(ValueError, match="shape"):
        _released(slots_per_frame=2).load_state_dict(state)


def test_released_defaults_and_confirm_only_settings() -> None:
    s = PSISettings()
    assert (s.rule, s.admit_margin, s.min_rollout, s.admit_score, s.score_decay) == (
        "released",
        10,
        30,
        0.5,
        1e-5,
    )
    with pytest.raises(ValidationError, match="starts: used only by rule='confirm'"):
        PSISettings(starts="reached")
    with pytest.raises(ValidationError, match="confirm_frames"):
        PSISettings(confirm_frames=2)
    assert PSISettings(rule="confirm", starts="reached").starts == "reached"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("admit_margin", -1),
        ("min_rollout", -1),
        ("admit_score", 1.5),
        ("admit_score", -0.1),
        ("score_decay", 2.0),
        ("hybrid_prob", 1.1),
        ("rule", "sometimes"),
    ],
)
def test_bad_psi_settings_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        PSISettings(**{field: value})  # type: ignore[arg-type]


# ---- confirm rule -------------------------------------------------------------------


def test_start_frames_follow_scores() -> None:
    buf = _buffer(hybrid_prob=0.0, score_ema=1.0, min_score=0.01)
    buf.report(np.array([0, 1, 2, 4]), np.array([True, False, True, True]))
    # failure = 1, 0 (floored to 0.01), 1, -, 1, -; frames 3 and 5 cannot start.
    expect = np.array([1.0, 0.01, 1.0, 0.0, 1.0, 0.0])
    expect /= expect.sum()
    np.testing.assert_allclose(buf.probabilities(), expect)
    frames, states, hybrid = buf.sample(200_000)
    states = states.numpy()
    assert not hybrid.any()
    freq = np.bincount(frames, minlength=F) / len(frames)
    # Binomial standard error at p = 1/3 and n = 2e5 is about 1e-3.
    np.testing.assert_allclose(freq, expect, atol=5e-3)
    assert (states[:, 0] == frames).all()  # only MoCap states so far


def test_hybrid_starts_at_clip_beginnings() -> None:
    buf = _buffer(hybrid_prob=0.3)
    frames, states, hybrid = buf.sample(100_000)
    states = states.numpy()
    assert abs(hybrid.mean() - 0.3) < 5e-3
    assert set(np.unique(frames[hybrid]).tolist()) == {0, 4}
    assert abs((frames[hybrid] == 4).mean() - 0.5) < 1e-2  # clips drawn uniformly
    assert (states[hybrid, 0] == frames[hybrid]).all()  # always the MoCap state


def test_reached_starts_grow_with_the_rollouts() -> None:
    buf = _buffer(hybrid_prob=0.0, starts="reached")
    # Nothing reached yet: only the two clip starts can be drawn.
    np.testing.assert_allclose(buf.probabilities(), [0.5, 0, 0, 0, 0.5, 0])
    frames, states, _ = buf.sample(2_000)
    states = states.numpy()
    assert set(np.unique(frames).tolist()) == {0, 4}
    assert (states[:, 0] == frames).all()
    buf.add(np.array([2]), np.full((1, S), 20.0))  # a rollout confirmed a state at frame 2
    np.testing.assert_allclose(buf.probabilities(), np.array([1, 0, 1, 0, 1, 0]) / 3)
    frames, states, _ = buf.sample(30_000)
    states = states.numpy()
    at2 = states[frames == 2, 0]
    assert set(np.unique(at2).tolist()) == {2.0, 20.0}  # MoCap and rollout state, half each
    assert abs((at2 == 20.0).mean() - 0.5) < 2e-2
    # Frame 1 was never reached: no draw starts there; 'all' would.
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
    states = states.numpy()
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


def test_states_live_on_the_device_in_float64() -> None:
    buf = _buffer()
    _, states, _ = buf.sample(4)
    assert states.dtype == torch.float64 and states.device == buf.device
    state = buf.state_dict()
    assert isinstance(state["states"], np.ndarray) and state["states"].dtype == np.float64
    buf.add(np.array([1]), torch.full((1, S), 5.0, dtype=torch.float64))
    other = _buffer()
    other.load_state_dict(buf.state_dict())
    assert other.states[1, 1, 0] == 5.0


@pytest.mark.parametrize("make", [_buffer, _released])
def test_same_seed_same_draws(make: object) -> None:
    a = make(seed=7).sample(50)  # type: ignore[operator]
    b = make(seed=7).sample(50)  # type: ignore[operator]
    c = make(seed=8).sample(50)  # type: ignore[operator]
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert not np.array_equal(a[0], c[0])
