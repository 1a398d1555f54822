"""PSI: the released rule (start frames, slot choice, admission, decay) and the confirm
rule (failure-rate starts, the state ring), hybrid starts, determinism, checkpoints
(the torch generator's state and the numpy one of older checkpoints), all on tensors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from intermimic.env.psi import PSIBuffer, best_per_frame
from intermimic.env.settings import PSISettings

F, S = 6, 3


def _t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def _f(*frames: int) -> torch.Tensor:
    return torch.tensor(frames, dtype=torch.long)


def _near(hits: torch.Tensor | np.ndarray, p: float) -> None:
    """The share of ``hits`` (bool) is ``p`` within 5 binomial standard errors (a
    fixed-seed draw; 5 sigma keeps it off the edge for any seed)."""
    h = np.asarray(hits, dtype=bool)
    se = np.sqrt(p * (1 - p) / len(h))
    assert abs(h.mean() - p) < 5 * se + 1e-12, (h.mean(), p, se)


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
    buf.admit(_f(1, 2), torch.full((2, S), 100.0, dtype=torch.float64), _t(0.5, 1.0))
    buf.admit(_f(1), torch.full((1, S), 101.0, dtype=torch.float64), _t(0.25))
    assert buf.score[1].tolist() == [1.0, 0.5, 0.25]
    assert buf.score[2].tolist() == [1.0, 1.0, 0.0]
    # Clip uniform (1/3 each), then 1 / (sum of the frame's slot scores) within it.
    w0 = np.array([1.0, 1 / 1.75, 1 / 2.0])
    expect = np.zeros(sum(LENS))
    expect[[0, 1, 2]] = w0 / w0.sum() / 3
    expect[6] = 1 / 3
    expect[[9, 10]] = 1 / 6
    np.testing.assert_allclose(buf.probabilities(), expect)
    frames, states, hybrid = buf.sample(200_000)
    assert frames.dtype == torch.long and hybrid.dtype == torch.bool
    assert not hybrid.any()
    for g in range(sum(LENS)):
        _near(frames == g, expect[g])
    # Slots proportional to their scores: at frame 1 MoCap 1/1.75, 0.5/1.75, 0.25/1.75.
    got = states[frames == 1, 0]
    for v, p in ((1.0, 1 / 1.75), (100.0, 0.5 / 1.75), (101.0, 0.25 / 1.75)):
        _near(got == v, p)
    # Frame 2's empty slot (score 0) is never drawn; frame 0 only has its MoCap state.
    assert set(states[frames == 2, 0].unique().tolist()) == {2.0, 100.0}
    assert (states[frames == 0, 0] == 0.0).all()


def test_released_clips_of_rollout_length_or_fewer_start_at_frame_0() -> None:
    mocap = np.zeros((10, S))
    startable = np.ones(10, bool)
    startable[[4, 9]] = False
    buf = PSIBuffer(mocap, startable, np.array([0, 5]), PSISettings(), rollout_length=5)
    np.testing.assert_allclose(buf.probabilities(), [0.5, 0, 0, 0, 0, 0.5, 0, 0, 0, 0])
    frames, _, _ = buf.sample(1000)
    assert set(frames.unique().tolist()) == {0, 5}


def test_released_hybrid_starts_at_frame_0_from_mocap() -> None:
    buf = _released(hybrid_prob=0.3)
    buf.admit(_f(1), torch.full((1, S), 100.0, dtype=torch.float64), _t(1.0))
    frames, states, hybrid = buf.sample(100_000)
    _near(hybrid, 0.3)
    assert set(frames[hybrid].unique().tolist()) == {0, 6, 9}
    for c in (0, 6, 9):
        _near(frames[hybrid] == c, 1 / 3)  # clips drawn uniformly
    assert (states[hybrid, 0] == frames[hybrid]).all()


def test_released_admission_replaces_the_lowest_scored_slot_and_decays() -> None:
    buf = _released()

    def admit(value: float, score: float) -> None:
        buf.admit(_f(1), torch.full((1, S), value, dtype=torch.float64), _t(score))

    admit(10.0, 0.6)  # empty slots: the first
    admit(11.0, 0.9)  # the other empty one
    assert buf.states[1, :, 0].tolist() == [1.0, 10.0, 11.0]
    admit(12.0, 0.55)  # replaces 0.6
    assert buf.states[1, :, 0].tolist() == [1.0, 12.0, 11.0]
    assert buf.score[1].tolist() == [1.0, 0.55, 0.9]
    # Whatever the lowest score is: a lower newcomer still replaces it (released).
    admit(13.0, 0.51)
    assert buf.states[1, :, 0].tolist() == [1.0, 13.0, 11.0]
    assert buf.filled[1].all() and not buf.filled[2, 1:].any()
    # Frames from the host are checked (a tensor is trusted: checking it would sync).
    with pytest.raises(ValueError, match="one state per frame"):
        buf.admit(np.array([2, 2]), np.zeros((2, S)), np.array([0.7, 0.8]))
    buf.decay()
    buf.decay(torch.tensor(True))
    buf.decay(torch.tensor(False))  # no episode of a long clip ended: no decay
    expect = [1.0, 0.51 * (1 - 1e-5) ** 2, 0.9 * (1 - 1e-5) ** 2]
    np.testing.assert_allclose(buf.score[1].numpy(), expect, rtol=1e-15)
    assert (buf.score[:, 0] == 1.0).all()


def test_released_masked_admission_ignores_unmarked_entries() -> None:
    buf = _released()
    frames, keep = _f(1, 1, 2, 10), torch.tensor([False, True, False, True])
    states = torch.arange(4, dtype=torch.float64)[:, None] * torch.ones(S) + 50
    buf.admit(frames, states, _t(0.6, 0.7, 0.8, 0.9), where=keep)
    assert buf.filled[:, 1:].sum() == 2 and buf.filled[1, 1] and buf.filled[10, 1]
    assert buf.states[1, 1, 0] == 51.0 and buf.states[10, 1, 0] == 53.0
    assert buf.score[1, 1] == 0.7 and buf.score[10, 1] == 0.9 and buf.score[2, 1] == 0.0
    # nothing marked, or nothing at all: nothing changes
    before = buf.score.clone()
    buf.admit(frames, states, _t(0.6, 0.7, 0.8, 0.9), where=torch.zeros(4, dtype=torch.bool))
    buf.admit(_f(), torch.zeros((0, S), dtype=torch.float64), _t())
    assert torch.equal(buf.score, before)


def test_best_per_frame_keeps_the_first_best_valid_entry() -> None:
    frames = _f(3, 1, 3, 1, 3, 0, 2)
    scores = _t(0.6, 0.9, 0.8, 0.9, 0.8, 0.99, 0.7)
    valid = torch.tensor([True, True, True, True, True, False, True])
    keep = best_per_frame(frames, scores, valid, n_frames=4)
    # frame 3: 0.8 twice, the first wins; frame 1: 0.9 twice, likewise; frame 0 only
    # has an invalid entry; frame 2 its one entry.
    assert keep.tolist() == [False, True, True, False, False, False, True]
    empty = best_per_frame(_f(), _t(), torch.zeros(0, dtype=torch.bool), n_frames=4)
    assert empty.shape == (0,)


def test_released_single_slot_keeps_only_mocap() -> None:
    buf = _released(slots_per_frame=1)
    buf.admit(_f(1), torch.full((1, S), 9.0, dtype=torch.float64), _t(1.0))
    assert buf.states[1, 0, 0] == 1.0 and tuple(buf.score.shape) == (sum(LENS), 1)


def test_released_state_dict_round_trip() -> None:
    buf = _released(seed=3)
    buf.admit(_f(1, 2), torch.full((2, S), 5.0, dtype=torch.float64), _t(0.7, 0.8))
    buf.decay()
    buf.sample(7)
    state = buf.state_dict()
    assert state["states"].dtype == np.float64 and state["score"].dtype == np.float64
    assert isinstance(state["rng"], np.ndarray) and state["rng"].dtype == np.uint8
    other = _released(seed=99)
    other.load_state_dict(state)
    assert other.states[1, 1, 0] == 5.0
    assert torch.equal(other.score, buf.score) and torch.equal(other.filled, buf.filled)
    a, b = buf.sample(20), other.sample(20)  # same generator state: same draws
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)
    legacy = {k: v for k, v in state.items() if k != "score"}
    with pytest.raises(ValueError, match="no slot scores"):
        _released().load_state_dict(legacy)
    with pytest.raises(ValueError, match="shape"):
        _released(slots_per_frame=2).load_state_dict(state)


def _numpy_era_state(buf: PSIBuffer, seed: int) -> dict[str, object]:
    """A state dict as buffers saved it before their draws moved to torch: numpy arrays
    and the ``bit_generator.state`` of a ``numpy.random.default_rng``."""
    state = buf.state_dict()
    state["rng"] = np.random.default_rng(seed).bit_generator.state
    return state


def test_numpy_era_state_dict_loads_and_reseeds_deterministically() -> None:
    buf = _released(seed=3)
    buf.admit(_f(1, 9), torch.full((2, S), 7.0, dtype=torch.float64), _t(0.6, 0.8))
    buf.decay()
    old = _numpy_era_state(buf, seed=11)
    assert isinstance(old["rng"], dict) and old["rng"]["bit_generator"] == "PCG64"
    a, b, c = _released(seed=1), _released(seed=2), _released(seed=1)
    a.load_state_dict(old)
    b.load_state_dict(old)
    c.load_state_dict(_numpy_era_state(buf, seed=12))
    for x in (a, b, c):  # every array restored
        assert torch.equal(x.states, buf.states) and torch.equal(x.score, buf.score)
        assert torch.equal(x.filled, buf.filled) and torch.equal(x.failure, buf.failure)
    # The same saved state gives the same draws whatever the buffer's own seed; another
    # saved state gives others.
    da, db, dc = a.sample(64), b.sample(64), c.sample(64)
    for x, y in zip(da, db, strict=True):
        assert torch.equal(x, y)
    assert not torch.equal(da[0], dc[0])
    # The confirm rule's older states (no scores) load as well.
    conf = _buffer()
    conf.report(_f(0, 1), torch.tensor([False, True]))
    state = _numpy_era_state(conf, seed=5)
    del state["score"]
    other = _buffer(seed=9)
    other.load_state_dict(state)
    assert torch.equal(other.failure, conf.failure)


def test_generator_state_of_another_device_reseeds_deterministically() -> None:
    """A CUDA generator's state (16 bytes) cannot go into a CPU one: a seed derived from
    it keeps the draws deterministic."""
    state = _released(seed=3).state_dict()
    state["rng"] = np.arange(16, dtype=np.uint8)
    a, b = _released(seed=1), _released(seed=2)
    a.load_state_dict(state)
    b.load_state_dict(state)
    assert torch.equal(a.sample(32)[0], b.sample(32)[0])


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
    buf.report(_f(0, 1, 2, 4), torch.tensor([True, False, True, True]))
    # failure = 1, 0 (floored to 0.01), 1, -, 1, -; frames 3 and 5 cannot start.
    expect = np.array([1.0, 0.01, 1.0, 0.0, 1.0, 0.0])
    expect /= expect.sum()
    np.testing.assert_allclose(buf.probabilities(), expect)
    frames, states, hybrid = buf.sample(200_000)
    assert not hybrid.any()
    for g in range(F):
        _near(frames == g, expect[g])
    assert (states[:, 0] == frames).all()  # only MoCap states so far


def test_hybrid_starts_at_clip_beginnings() -> None:
    buf = _buffer(hybrid_prob=0.3)
    frames, states, hybrid = buf.sample(100_000)
    _near(hybrid, 0.3)
    assert set(frames[hybrid].unique().tolist()) == {0, 4}
    _near(frames[hybrid] == 4, 0.5)  # clips drawn uniformly
    assert (states[hybrid, 0] == frames[hybrid]).all()  # always the MoCap state


def test_reached_starts_grow_with_the_rollouts() -> None:
    buf = _buffer(hybrid_prob=0.0, starts="reached")
    # Nothing reached yet: only the two clip starts can be drawn.
    np.testing.assert_allclose(buf.probabilities(), [0.5, 0, 0, 0, 0.5, 0])
    frames, states, _ = buf.sample(2_000)
    assert set(frames.unique().tolist()) == {0, 4}
    assert (states[:, 0] == frames).all()
    buf.add(_f(2), torch.full((1, S), 20.0, dtype=torch.float64))  # confirmed at frame 2
    np.testing.assert_allclose(buf.probabilities(), np.array([1, 0, 1, 0, 1, 0]) / 3)
    frames, states, _ = buf.sample(30_000)
    at2 = states[frames == 2, 0]
    assert set(at2.unique().tolist()) == {2.0, 20.0}  # MoCap and rollout state, half each
    _near(at2 == 20.0, 0.5)
    # Frame 1 was never reached: no draw starts there; 'all' would.
    assert not (frames == 1).any()
    assert _buffer(hybrid_prob=0.0).probabilities()[1] > 0


def test_ring_of_rollout_states_and_uniform_slot_draw() -> None:
    buf = _buffer(hybrid_prob=0.0, slots_per_frame=3)
    buf.add(_f(2, 2, 1), torch.tensor([[20.0] * S, [21.0] * S, [10.0] * S], dtype=torch.float64))
    assert buf.filled[2].tolist() == [True, True, True]
    assert buf.states[2, :, 0].tolist() == [2.0, 20.0, 21.0]
    buf.add(_f(2), torch.full((1, S), 22.0, dtype=torch.float64))  # overwrites the oldest
    assert buf.states[2, :, 0].tolist() == [2.0, 22.0, 21.0]
    assert buf.states[1, :, 0].tolist() == [1.0, 10.0, 0.0]
    buf.failure[:] = 0.0
    buf.failure[2] = 1.0  # frame 2 dominates the draws
    frames, states, _ = buf.sample(60_000)
    got = states[frames == 2, 0]
    for v in (2.0, 22.0, 21.0):
        _near(got == v, 1 / 3)
    # Frame 1 has two filled slots: MoCap and one rollout state, half each.
    got1 = states[frames == 1, 0]
    assert set(got1.unique().tolist()) == {1.0, 10.0}


def test_masked_add_takes_only_marked_entries_and_keeps_the_ring() -> None:
    buf = _buffer(slots_per_frame=3)
    states = torch.tensor([[30.0] * S, [20.0] * S, [21.0] * S], dtype=torch.float64)
    buf.add(_f(2, 2, 2), states, where=torch.tensor([False, True, True]))
    assert buf.states[2, :, 0].tolist() == [2.0, 20.0, 21.0]
    buf.add(_f(2), states[:1], where=torch.tensor([False]))
    assert buf.states[2, :, 0].tolist() == [2.0, 20.0, 21.0]  # the ring did not move
    buf.add(_f(2), states[:1])
    assert buf.states[2, :, 0].tolist() == [2.0, 30.0, 21.0]
    assert not buf.filled[[0, 1, 3, 4, 5], 1:].any()


def test_single_slot_keeps_only_mocap() -> None:
    buf = _buffer(slots_per_frame=1)
    buf.add(_f(0), torch.full((1, S), 9.0, dtype=torch.float64))
    assert buf.states[0, 0, 0] == 0.0


def test_score_is_a_running_failure_average() -> None:
    buf = _buffer(score_ema=0.5)
    buf.report(_f(0, 0), torch.tensor([True, False]))  # mean 0.5 -> 1*0.5 + 0.5*0.5
    assert float(buf.failure[0]) == pytest.approx(0.75)
    buf.report(_f(0), torch.tensor([False]))
    assert float(buf.failure[0]) == pytest.approx(0.375)
    buf.report(_f(), torch.zeros(0, dtype=torch.bool))  # nothing ended: nothing changes
    assert float(buf.failure[0]) == pytest.approx(0.375) and (buf.failure[1:] == 1.0).all()


def test_masked_report_counts_only_the_marked_entries() -> None:
    """``where`` (the masked reset's form: every world listed, the finished ones marked)
    gives what the marked entries alone give."""
    a, b = _buffer(score_ema=0.5), _buffer(score_ema=0.5)
    a.report(_f(0, 0, 2), torch.tensor([True, False, True]))
    b.report(
        _f(0, 1, 0, 2, 3), torch.tensor([True, True, False, True, False]),
        where=torch.tensor([True, False, True, True, False]),
    )  # fmt: skip
    torch.testing.assert_close(b.failure, a.failure, rtol=0, atol=0)
    assert float(b.failure[1]) == 1.0 and float(b.failure[3]) == 1.0  # unmarked: unchanged


def test_state_lives_on_the_device_in_float64() -> None:
    buf = _buffer()
    frames, states, hybrid = buf.sample(4)
    assert states.dtype == torch.float64 and states.device == buf.device
    for t in (frames, hybrid, buf.score, buf.filled, buf.failure, buf.clip_starts):
        assert t.device == buf.device
    assert buf.rng.device == buf.device
    state = buf.state_dict()
    assert isinstance(state["states"], np.ndarray) and state["states"].dtype == np.float64
    buf.add(_f(1), torch.full((1, S), 5.0, dtype=torch.float64))
    other = _buffer()
    other.load_state_dict(buf.state_dict())
    assert other.states[1, 1, 0] == 5.0


@pytest.mark.parametrize("make", [_buffer, _released])
def test_same_seed_same_draws(make: object) -> None:
    a = make(seed=7).sample(50)  # type: ignore[operator]
    b = make(seed=7).sample(50)  # type: ignore[operator]
    c = make(seed=8).sample(50)  # type: ignore[operator]
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)
    assert not torch.equal(a[0], c[0])


def _run(buf: PSIBuffer) -> list[torch.Tensor]:
    """Draws interleaved with every way the buffer changes, all from tensors."""
    out: list[torch.Tensor] = []
    for k in range(6):
        frames, states, hybrid = buf.sample(40)
        out += [frames, states, hybrid]
        bumped = states + 100 + k
        if buf.settings.rule == "released":
            scores = 0.5 + 0.5 * torch.arange(40, dtype=torch.float64) / 40
            keep = best_per_frame(frames, scores, ~hybrid, buf.n_frames)
            buf.admit(frames, bumped, scores, where=keep)
            buf.decay(hybrid.any())
        else:
            buf.add(frames, bumped, where=~hybrid)
            buf.report(frames, hybrid)
    out += [buf.score.clone(), buf.filled.clone(), buf.failure.clone(), buf.states.clone()]
    return out


@pytest.mark.parametrize("make", [_buffer, _released])
def test_tensor_api_same_seed_same_run(make: object) -> None:
    """sample / admit / decay / add / report on tensors: the same seed gives the same
    draws and the same buffer; another seed does not."""
    a = _run(make(seed=4))  # type: ignore[operator]
    b = _run(make(seed=4))  # type: ignore[operator]
    c = _run(make(seed=5))  # type: ignore[operator]
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)
    assert any(not torch.equal(x, y) for x, y in zip(a, c, strict=True))
    assert a[-3][:, 1:].any()  # the run stored rollout states
