"""Every reward term on constructed states: perfect tracking gives 1, a known error the
exact hand-computed value."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from intermimic.env import rewards as R
from intermimic.env.settings import (
    EmbodimentAgnosticRewards,
    EmbodimentAwareRewards,
    RewardSettings,
)
from intermimic.motion.quat import quat_mul, rotvec_to_quat

N, B, K, Q, P = 3, 52, 5, 4, 10
LEFT = np.array([17, 18, 19], np.int64)
RIGHT = np.array([33, 34, 35], np.int64)
HANDS = (LEFT, RIGHT)
NON_HAND = np.setdiff1d(np.arange(B), np.concatenate(HANDS))


def _unit_quats(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    q = rng.standard_normal((*shape, 4))
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def _comparison(rng: np.random.Generator, **changes: np.ndarray) -> R.Comparison:
    """A perfectly tracking comparison (sim == ref), with ``changes`` applied."""
    pos = rng.standard_normal((N, B, 3))
    quat = _unit_quats(rng, (N, B))
    pts = rng.standard_normal((N, P, 3))
    oq = _unit_quats(rng, (N,))
    ov = rng.standard_normal((N, 3))
    ig = rng.standard_normal((N, K, Q, 3))
    labels = np.zeros((N, B), np.int8)
    touch = np.zeros((N, B), bool)
    base = dict(
        body_pos_sim=pos, body_pos_ref=pos.copy(), body_quat_sim=quat,
        body_quat_ref=quat.copy(), body_weight=rng.uniform(0.2, 1.2, (N, B)),
        key_pos_sim=pos[:, :K], key_pos_ref=pos[:, :K].copy(), points_sim=pts,
        points_ref=pts.copy(), obj_quat_sim=oq, obj_quat_ref=oq.copy(), obj_linvel_sim=ov,
        obj_linvel_ref=ov.copy(), ig_sim=ig, ig_ref=ig.copy(), touch=touch, labels=labels,
        joint_acc=np.zeros((N, 153)),
    )  # fmt: skip
    base.update(changes)
    return R.Comparison(**base)


def test_perfect_tracking_gives_one() -> None:
    c = _comparison(np.random.default_rng(0))
    total, terms = R.compute_rewards(c, RewardSettings(), HANDS, NON_HAND)
    assert set(terms) == set(R.TERMS)
    for name, v in terms.items():
        np.testing.assert_allclose(v, 1.0, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(total, 1.0, atol=1e-12)


def test_term_groups_match_settings() -> None:
    # The two groups of terms are the two groups of coefficients.
    assert set(R.EMBODIMENT_AWARE_TERMS) <= set(EmbodimentAwareRewards.model_fields)
    assert set(R.EMBODIMENT_AGNOSTIC_TERMS) <= set(EmbodimentAgnosticRewards.model_fields)
    assert not set(R.EMBODIMENT_AWARE_TERMS) & set(R.EMBODIMENT_AGNOSTIC_TERMS)


def test_body_pos_uniform_offset() -> None:
    rng = np.random.default_rng(1)
    pos = rng.standard_normal((N, B, 3))
    d = np.array([0.03, -0.04, 0.0])  # |d| = 0.05 m
    w = rng.uniform(0.2, 1.2, (N, B))
    # Every body has the same error 0.0025 m^2: the error is mean(w) * 0.0025 (the mean
    # over bodies of w |dp|^2, not normalised by the weights, as released).
    np.testing.assert_allclose(
        R.body_pos_reward(pos + d, pos, 30.0, w), np.exp(-30 * 0.0025 * w.mean(axis=1))
    )
    np.testing.assert_allclose(R.body_pos_reward(pos + d, pos, 30.0), math.exp(-30 * 0.0025))


def test_body_pos_weighted_single_body() -> None:
    pos = np.zeros((1, 4, 3))
    sim = pos.copy()
    sim[0, 2, 0] = 0.1  # body 2 off by 0.1 m
    w = np.array([[1.0, 1.0, 3.0, 1.0]])
    # mean over the 4 bodies of w |dp|^2 = 3 * 0.01 / 4 = 0.0075
    np.testing.assert_allclose(R.body_pos_reward(sim, pos, 30.0, w), math.exp(-30 * 0.0075))
    np.testing.assert_allclose(R.body_pos_reward(sim, pos, 30.0), math.exp(-30 * 0.0025))


def test_closeness_weights() -> None:
    d = np.array([[0.0, 0.5, 1.0]])
    np.testing.assert_allclose(
        R.closeness_weights(d, 0.5, 0.2), [[1.2, 0.2 + math.exp(-1), 0.2 + math.exp(-2)]]
    )
    # Released defaults: exp(-5 d) (scale 0.2 m, floor 0), the feet (here column 2) at 1.
    a = EmbodimentAwareRewards()
    assert (a.closeness_scale, a.closeness_floor, a.feet_full_weight) == (0.2, 0.0, True)
    full = np.array([2], np.int64)
    np.testing.assert_allclose(
        R.closeness_weights(d, a.closeness_scale, a.closeness_floor, full),
        [[1.0, math.exp(-2.5), 1.0]],
    )
    np.testing.assert_allclose(R.far_weights(d, 0.2), [[0.0, 1 - math.exp(-2.5), 1 - math.exp(-5)]])


def test_body_rot_far_weights() -> None:
    # Two bodies turned by 0.4 rad and 0.2 rad at reference distances 0 and 0.2 m from
    # the object: weights 1 - exp(-5 d) = 0 and 1 - e^-1, mean over both bodies.
    q = np.tile([1.0, 0.0, 0.0, 0.0], (1, 2, 1))
    sim = rotvec_to_quat(np.array([[[0.4, 0.0, 0.0], [0.0, 0.2, 0.0]]]))
    w = R.far_weights(np.array([[0.0, 0.2]]), 0.2)
    expect = math.exp(-2.5 * (0.0 * 0.4 + (1 - math.exp(-1)) * 0.2) / 2)
    np.testing.assert_allclose(R.body_rot_reward(sim, q, 2.5, w), expect, rtol=1e-12)
    assert EmbodimentAwareRewards().rot_weighting == "far"


def test_body_rot_known_angle() -> None:
    rng = np.random.default_rng(2)
    q = _unit_quats(rng, (N, B))
    theta = 0.3
    # Every body turned by 0.3 rad (about arbitrary axes, in the world frame).
    axes = rng.standard_normal((N, B, 3))
    axes /= np.linalg.norm(axes, axis=-1, keepdims=True)
    sim = quat_mul(rotvec_to_quat(theta * axes), q)
    np.testing.assert_allclose(R.body_rot_reward(sim, q, 2.5), math.exp(-2.5 * theta), rtol=1e-9)
    # Half the bodies turned: mean angle 0.15 rad.
    half = sim.copy()
    half[:, ::2] = q[:, ::2]
    np.testing.assert_allclose(
        R.body_rot_reward(half, q, 2.5), math.exp(-2.5 * theta / 2), rtol=1e-9
    )


def test_energy_known_acceleration() -> None:
    acc = np.full((2, 153), 100.0)  # rad/s^2
    acc[1, :51] = 0.0  # mean of squares 2/3 * 1e4
    np.testing.assert_allclose(
        R.energy_reward(acc, 2e-5), [math.exp(-2e-5 * 1e4), math.exp(-2e-5 * 1e4 * 2 / 3)]
    )


def test_object_terms_known_offsets() -> None:
    rng = np.random.default_rng(3)
    pts = rng.standard_normal((N, P, 3))
    np.testing.assert_allclose(
        R.obj_pos_reward(pts + np.array([0.0, 0.0, 0.1]), pts, 5.0), math.exp(-5 * 0.01)
    )
    q = _unit_quats(rng, (N,))
    turned = quat_mul(rotvec_to_quat(np.array([0.0, 0.0, 0.7])), q)
    np.testing.assert_allclose(R.obj_rot_reward(turned, q, 0.1), math.exp(-0.07), rtol=1e-9)
    v = rng.standard_normal((N, 3))
    # mean over x, y, z of dv^2 = (0.09 + 0.16 + 0) / 3
    np.testing.assert_allclose(
        R.obj_vel_reward(v + np.array([0.3, 0.4, 0.0]), v, 1.0),
        math.exp(-0.25 / 3),
        rtol=1e-12,
    )
    k = EmbodimentAgnosticRewards().obj_vel
    assert k == 0.1
    np.testing.assert_allclose(
        R.obj_vel_reward(v + np.array([0.3, 0.4, 0.0]), v, k),
        math.exp(-0.1 * 0.25 / 3),
        rtol=1e-12,
    )


def test_energy_terms_known_values() -> None:
    g = EmbodimentAgnosticRewards()
    assert (g.obj_energy, g.contact_energy) == (2e-5, 1e-9)
    # object: linear acceleration (30, 0, 0) m/s^2 (1 m/s gained in a 30 Hz step), angular
    # (0, 60, 60) rad/s^2: exp(-2e-5 * 900/3) * exp(-2e-5 * 7200/3)
    lin = np.array([[30.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    ang = np.array([[0.0, 60.0, 60.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(
        R.obj_energy_reward(lin, ang, g.obj_energy),
        [math.exp(-2e-5 * 300) * math.exp(-2e-5 * 2400), 1.0],
        rtol=1e-12,
    )
    # contact: 740 N (a 75 kg humanoid standing) and 10 kN
    np.testing.assert_allclose(
        R.contact_energy_reward(np.array([740.0, 1e4]), g.contact_energy),
        [math.exp(-1e-9 * 740.0**2), math.exp(-0.1)],
        rtol=1e-12,
    )


def test_interaction_graph_known_offsets() -> None:
    rng = np.random.default_rng(4)
    ig = rng.standard_normal((N, K, Q, 3))
    d = np.array([0.1, 0.0, 0.0])
    w = R.ig_weights(ig, 0.5, 0.2)
    # The same error on every edge: any weighting gives it back.
    np.testing.assert_allclose(R.ig_reward(ig + d, ig, 5.0, w), math.exp(-5 * 0.01))
    # One edge off by 0.2 m: weighted mean = w_e * 0.04 / sum(w).
    sim = ig.copy()
    sim[:, 1, 2] += [0.0, 0.2, 0.0]
    expect = np.exp(-5 * w[:, 1, 2] * 0.04 / w.reshape(N, -1).sum(axis=1))
    np.testing.assert_allclose(R.ig_reward(sim, ig, 5.0, w), expect)
    np.testing.assert_allclose(R.ig_reward(sim, ig, 5.0), math.exp(-5 * 0.04 / (K * Q)))


def test_hand_contact() -> None:
    # Hands of 3 bodies here; per required hand 0.5 (1 + exp(-k e)), e the fraction of
    # its bodies not touching; product over hands.
    labels = np.zeros((5, B), np.int8)
    touch = np.zeros((5, B), bool)
    labels[0, LEFT[1]] = 1  # left required (one finger labelled), not touching: e = 1
    labels[0, RIGHT[0]] = 1  # right required, one of its 3 bodies touching: e = 2/3
    touch[0, RIGHT[2]] = True
    labels[1, LEFT[0]] = labels[1, RIGHT[0]] = 1  # both required, none touching
    touch[2, LEFT] = True  # nothing required: touching is not punished here
    labels[3, LEFT[0]] = 1
    touch[3, LEFT] = True  # required and every body touching: e = 0
    labels[4, LEFT[0]] = 1
    touch[4, LEFT[2]] = True  # required, 1 of 3 touching: e = 2/3
    k = EmbodimentAgnosticRewards().hand_contact
    assert k == 5.0

    def half(e: float) -> float:
        return 0.5 * (1 + math.exp(-5 * e))

    np.testing.assert_allclose(
        R.hand_contact_reward(touch, labels, HANDS, k),
        [half(1.0) * half(2 / 3), half(1.0) ** 2, 1.0, 1.0, half(2 / 3)],
        rtol=1e-12,
    )


def test_body_and_penalised_contact() -> None:
    labels = np.zeros((2, B), np.int8)
    touch = np.zeros((2, B), bool)
    labels[0, [0, 1, 2, 3]] = 1  # four non-hand bodies required
    touch[0, [0, 1, 2]] = True  # one missing: 1 over the 46 non-hand bodies here
    labels[1, :10] = -1  # ten forbidden
    touch[1, [0, 1]] = True  # two touching: 2 over the 52 bodies
    g = EmbodimentAgnosticRewards()
    assert (g.body_contact, g.penalised_contact) == (5.0, 3.0)
    assert len(NON_HAND) == 46
    np.testing.assert_allclose(
        R.body_contact_reward(touch, labels, NON_HAND, g.body_contact),
        [math.exp(-5 / 46), 1.0],
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        R.penalised_contact_reward(touch, labels, g.penalised_contact),
        [1.0, math.exp(-3 * 2 / 52)],
        rtol=1e-12,
    )


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        (EmbodimentAgnosticRewards, "obj_energy", -1e-5),
        (EmbodimentAgnosticRewards, "contact_energy", -1.0),
        (EmbodimentAgnosticRewards, "hand_contact", -5.0),
        (EmbodimentAgnosticRewards, "obj_vel", -0.1),
        (EmbodimentAwareRewards, "closeness_scale", 0.0),
        (EmbodimentAwareRewards, "closeness_floor", -0.1),
        (EmbodimentAwareRewards, "rot_weighting", "near"),
    ],
)
def test_bad_reward_settings_name_the_field(model: type, field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        model(**{field: value})


def test_total_is_the_product_and_coefficients_are_settings() -> None:
    rng = np.random.default_rng(5)
    c0 = _comparison(rng)
    c = _comparison(
        rng,
        body_pos_sim=c0.body_pos_sim + 0.02,
        points_sim=c0.points_sim + np.array([0.05, 0.0, 0.0]),
        joint_acc=np.full((N, 153), 30.0),
        body_pos_ref=c0.body_pos_sim,
        points_ref=c0.points_sim,
    )
    s = RewardSettings(
        embodiment_aware=EmbodimentAwareRewards(body_pos=10.0, energy=1e-3),
        embodiment_agnostic=EmbodimentAgnosticRewards(obj_pos=2.0),
    )
    total, terms = R.compute_rewards(c, s, HANDS, NON_HAND)
    # mean over bodies of w |dp|^2, every body off by 0.02 m on each axis
    np.testing.assert_allclose(
        terms["body_pos"], np.exp(-10 * 3 * 0.02**2 * c.body_weight.mean(axis=1))
    )
    np.testing.assert_allclose(terms["obj_pos"], math.exp(-2 * 0.05**2))
    np.testing.assert_allclose(terms["energy"], math.exp(-1e-3 * 900))
    np.testing.assert_allclose(total, np.prod(np.stack(list(terms.values())), axis=0))
    assert (total <= 1.0).all() and (total > 0).all()


@pytest.mark.parametrize("k", [0.0, 1.0])
def test_zero_coefficient_turns_a_term_off(k: float) -> None:
    pts = np.zeros((1, 2, 3))
    r = R.obj_pos_reward(pts + 1.0, pts, k)
    assert r[0] == pytest.approx(math.exp(-3 * k))
