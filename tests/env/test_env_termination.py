"""Every IET condition fires just past its threshold and not at it (float64 tensors, so
values exactly at a threshold stay exact)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from intermimic.env import termination as T
from intermimic.env.rewards import Comparison
from intermimic.env.settings import TerminationSettings

B, K, Q, P = 52, 5, 4, 8
LEFT = torch.tensor([17, 18])
RIGHT = torch.tensor([33, 34])
HANDS = (LEFT, RIGHT)


def _t(x: object) -> torch.Tensor:
    """A numpy array (or list) as a tensor: floats as float64, integers and bool kept."""
    if isinstance(x, torch.Tensor):
        return x
    a = np.asarray(x)
    return torch.from_numpy(a.astype(np.float64) if a.dtype.kind == "f" else a)


def _comparison(
    key_offset: np.ndarray, point_offset: np.ndarray, ig_offset: np.ndarray
) -> Comparison:
    """``N`` worlds whose key bodies, object points and graph edges are off by the given
    per-world offsets ``[N, 3]``; the reference edges have length 1 m (the graph enters
    as squared lengths, computed here from the vectors)."""
    n = key_offset.shape[0]
    rng = np.random.default_rng(0)
    pos = rng.standard_normal((n, B, 3))
    # Multiples of 1/4: adding and subtracting the offsets is exact in floating point.
    key = rng.integers(-8, 8, (n, K, 3)) / 4.0
    pts = rng.integers(-8, 8, (n, P, 3)) / 4.0
    ig_ref = np.zeros((n, K, Q, 3))
    ig_ref[..., 2] = 1.0  # every reference edge 1 m long
    ig_sim = ig_ref + ig_offset[:, None, None]
    q = np.tile([1.0, 0.0, 0.0, 0.0], (n, B, 1))
    fields = dict(
        body_pos_sim=pos, body_pos_ref=pos, body_quat_sim=q, body_quat_ref=q,
        body_weight=np.ones((n, B)), key_pos_sim=key + key_offset[:, None],
        key_pos_ref=key, points_sim=pts + point_offset[:, None], points_ref=pts,
        obj_local_pos_sim=np.zeros((n, 3)), obj_local_pos_ref=np.zeros((n, 3)),
        obj_local_quat_sim=q[:, 0], obj_local_quat_ref=q[:, 0],
        obj_linvel_sim=np.zeros((n, 3)), obj_linvel_ref=np.zeros((n, 3)),
        ig_err_sq=_sq(ig_sim - ig_ref), ig_sim_sq=_sq(ig_sim), ig_ref_sq=_sq(ig_ref),
        touch=np.zeros((n, B), bool), labels=np.zeros((n, B), np.int8),
        joint_acc=np.zeros((n, 153)),
    )  # fmt: skip
    return Comparison(**{k: _t(v) for k, v in fields.items()})


def _sq(v: np.ndarray) -> np.ndarray:
    return (v**2).sum(axis=-1)


def _x(*values: float) -> np.ndarray:
    return np.array([[v, 0.0, 0.0] for v in values])


def _check(c: Comparison, height: np.ndarray, missing: np.ndarray, s: TerminationSettings):
    return T.check_termination(c, _t(height), _t(missing), s)


def test_root_height_threshold() -> None:
    z = np.zeros((3, 3))
    done, why = _check(
        _comparison(z, z, z), np.array([0.3, 0.2999, 0.9]), np.zeros(3, np.int64),
        TerminationSettings(),
    )  # fmt: skip
    assert why["root_height"].tolist() == [False, True, False]
    assert done.tolist() == [False, True, False]


def test_key_body_error_threshold() -> None:
    z = np.zeros((3, 3))
    c = _comparison(_x(0.5, 0.5001, 0.2), z, z)
    np.testing.assert_allclose(T.key_body_error(c), [0.5, 0.5001, 0.2])
    done, why = _check(c, np.ones(3), np.zeros(3, np.int64), TerminationSettings())
    assert why["key_body_error"].tolist() == [False, True, False]
    assert done.tolist() == [False, True, False]


def test_object_error_threshold() -> None:
    z = np.zeros((3, 3))
    c = _comparison(z, _x(0.5, 0.5001, 0.0), z)
    done, why = _check(c, np.ones(3), np.zeros(3, np.int64), TerminationSettings())
    assert why["object_error"].tolist() == [False, True, False]
    assert done.tolist() == [False, True, False]


def test_ig_ratio_threshold() -> None:
    z = np.zeros((3, 3))
    # Reference edges are 1 m long and the sideways offsets make the simulated ones
    # longer, so the ratio is the edge error itself (m / 1 m): at 2 it does not terminate,
    # just past it does (released: > 2).
    c = _comparison(z, z, _x(2.0, 2.0001, 0.1))
    np.testing.assert_allclose(T.ig_ratio(c, 0.5), [2.0, 2.0001, 0.1], rtol=1e-12)
    s = TerminationSettings(max_object_error=None)
    assert (s.max_ig_ratio, s.ig_length_floor) == (2.0, 0.5)
    done, why = _check(c, np.ones(3), np.zeros(3, np.int64), s)
    assert why["ig_ratio"].tolist() == [False, True, False]
    assert done.tolist() == [False, True, False]


def _graph(err_sq: list[float], sim_sq: list[float], ref_sq: list[float]) -> Comparison:
    """One world, 2 key bodies x 2 object points, from squared lengths (m^2) per edge."""
    c = _comparison(np.zeros((1, 3)), np.zeros((1, 3)), np.zeros((1, 3)))

    def edges(v: list[float]) -> torch.Tensor:
        return _t(np.array(v, np.float64).reshape(1, 2, 2))

    graph = {"ig_err_sq": edges(err_sq), "ig_sim_sq": edges(sim_sq), "ig_ref_sq": edges(ref_sq)}
    return Comparison(**{**c.__dict__, **graph})


def test_ig_ratio_two_bodies_two_points_by_hand() -> None:
    """The largest edge ratio over both graphs' lengths, floored at 0.5 m."""
    s = TerminationSettings(max_object_error=None, max_key_body_error=None)

    def run(c: Comparison) -> tuple[float, bool]:
        return float(T.ig_ratio(c, 0.5)[0]), bool(_check(c, np.ones(1), np.zeros(1), s)[0][0])

    # Edge 3: error 1.2 m, reference 0.8 m, simulated 1.5 m: 1.5 by the reference; the
    # others smaller (edge 0: error 0.2 m of a 2 m edge).
    ratio, done = run(_graph([0.04, 0.0, 0.0, 1.44], [4.0, 1.0, 1.0, 2.25], [4.0, 1.0, 1.0, 0.64]))
    assert ratio == pytest.approx(1.5, rel=1e-12) and not done
    # The same edge 0.4 m long in the simulation: 1.2 / 0.5 (floored) = 2.4 by the
    # simulated length, though the reference's gives 1.5.
    ratio, done = run(_graph([0.04, 0.0, 0.0, 1.44], [4.0, 1.0, 1.0, 0.16], [4.0, 1.0, 1.0, 0.64]))
    assert ratio == pytest.approx(2.4, rel=1e-12) and done
    # Both edges short (0.1 m): floored at 0.5 m; an error of exactly 1 m is at the bound
    # (2, no termination), 1.0001 m (2.0002) just past it.
    ratio, done = run(_graph([0.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 0.01], [1.0, 1.0, 1.0, 0.01]))
    assert ratio == 2.0 and not done
    ratio, done = run(
        _graph([0.0, 0.0, 0.0, 1.0001**2], [1.0, 1.0, 1.0, 0.01], [1.0, 1.0, 1.0, 0.01])
    )
    assert ratio == pytest.approx(2.0002, rel=1e-12) and done
    # threshold and floor are settings
    c = _graph([0.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 0.01], [1.0, 1.0, 1.0, 0.01])
    assert float(T.ig_ratio(c, 0.25)[0]) == 4.0
    loose = TerminationSettings(max_object_error=None, max_key_body_error=None, max_ig_ratio=1.5)
    assert _check(c, np.ones(1), np.zeros(1), loose)[1]["ig_ratio"].tolist() == [True]
    # perfect tracking: rounding never makes the ratio negative or NaN
    assert float(T.ig_ratio(_graph([-1e-17, 0, 0, 0], [1] * 4, [1] * 4), 0.5)[0]) == 0.0


def test_missing_hand_contact_counts_consecutive_frames() -> None:
    z = np.zeros((1, 3))
    c = _comparison(z, z, z)
    labels = c.labels.clone()
    labels[0, LEFT[0]] = 1  # left hand required, nothing touching
    missing_c = Comparison(**{**c.__dict__, "labels": labels})
    # per hand (left, right)
    assert T.missing_hand_contact(missing_c, HANDS).tolist() == [[True, False]]
    assert T.missing_hand_contact(c, HANDS).tolist() == [[False, False]]
    touch = c.touch.clone()
    touch[0, LEFT[1]] = True
    ok_c = Comparison(**{**c.__dict__, "labels": labels, "touch": touch})
    assert T.missing_hand_contact(ok_c, HANDS).tolist() == [[False, False]]

    s = TerminationSettings()
    count = torch.zeros((1, 2), dtype=torch.long)
    fired = []
    for _ in range(11):
        count = T.update_missing_frames(count, T.missing_hand_contact(missing_c, HANDS))
        fired.append(bool(_check(missing_c, np.ones(1), count, s)[1]["hand_contact"][0]))
    # Missing for 10 frames is tolerated; the 11th consecutive frame terminates.
    assert fired == [False] * 10 + [True]
    assert count.tolist() == [[11, 0]]
    # One frame with contact restarts the count.
    count = T.update_missing_frames(count, T.missing_hand_contact(ok_c, HANDS))
    assert count.tolist() == [[0, 0]]


def test_hand_counters_are_per_hand() -> None:
    """Left and right missing on alternating frames: each hand's run is 1 frame long, so
    nothing terminates (a single counter of "some hand missing" would reach 11)."""
    z = np.zeros((1, 3))
    c = _comparison(z, z, z)
    labels = c.labels.clone()
    labels[0, LEFT[0]] = labels[0, RIGHT[0]] = 1  # both hands required
    frames = []
    for hand in (LEFT, RIGHT):
        touch = c.touch.clone()
        touch[0, hand[1]] = True  # this hand touches, the other misses
        frames.append(Comparison(**{**c.__dict__, "labels": labels, "touch": touch}))
    count = torch.zeros((1, 2), dtype=torch.long)
    for i in range(30):
        count = T.update_missing_frames(count, T.missing_hand_contact(frames[i % 2], HANDS))
        assert not _check(frames[i % 2], np.ones(1), count, TerminationSettings())[0][0]
    assert count.max() == 1


def test_first_step_after_a_reset_only_checks_height() -> None:
    """On the first policy step after a reset (episode_len 1) key-body, object, IG and
    hand conditions wait (released: progress > start + 1); the height one does not."""
    z = np.zeros((3, 3))
    c = _comparison(_x(0.9, 0.9, 0.9), _x(0.9, 0.9, 0.9), _x(2.5, 2.5, 2.5))
    height = np.array([0.9, 0.1, 0.9])
    missing = np.full((3, 2), 20)
    s = TerminationSettings()
    assert s.grace_steps == 1
    done, why = _check_len(c, height, missing, s, np.array([1, 1, 2]))
    assert done.tolist() == [False, True, True]
    assert why["root_height"].tolist() == [False, True, False]
    for k in ("key_body_error", "object_error", "ig_ratio", "hand_contact"):
        assert why[k].tolist() == [False, False, True], k
    # grace_steps 0: every condition from the first step
    done, _ = _check_len(c, height, missing, TerminationSettings(grace_steps=0), np.ones(3))
    assert done.all()
    # without episode lengths nothing is gated
    assert _check(_comparison(z, z, _x(0.0, 0.0, 9.0)), np.ones(3), missing, s)[0].all()


def _check_len(
    c: Comparison, height: np.ndarray, missing: np.ndarray, s: TerminationSettings, n: np.ndarray
):
    return T.check_termination(c, _t(height), _t(missing), s, _t(n))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("min_root_height", -0.3),
        ("max_key_body_error", -0.5),
        ("max_object_error", -1.0),
        ("max_ig_ratio", -1.0),
        ("ig_length_floor", 0.0),
        ("max_missing_hand_frames", -1),
        ("grace_steps", -1),
    ],
)
def test_negative_thresholds_are_rejected_by_name(field: str, value: float) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=field):
        TerminationSettings(**{field: value})


@pytest.mark.parametrize("n", [0, 3])
def test_threshold_is_a_setting(n: int) -> None:
    s = TerminationSettings(max_missing_hand_frames=n)
    z = np.zeros((2, 3))
    _, why = _check(_comparison(z, z, z), np.ones(2), np.array([n, n + 1]), s)
    assert why["hand_contact"].tolist() == [False, True]


def test_disabled_conditions() -> None:
    z = np.zeros((1, 3))
    c = _comparison(_x(9.0), _x(9.0), _x(9.0))
    done, _ = _check(c, np.zeros(1), np.array([99]), TerminationSettings(enabled=False))
    assert not done.any()
    s = TerminationSettings(
        min_root_height=None, max_key_body_error=None, max_object_error=None,
        max_ig_ratio=None, max_missing_hand_frames=None,
    )  # fmt: skip
    done, why = _check(c, np.zeros(1), np.array([99]), s)
    assert not done.any() and set(why) == set(T.REASONS)
    assert _check(_comparison(z, z, z), np.ones(1), np.zeros(1, np.int64), TerminationSettings())[
        0
    ].tolist() == [False]
