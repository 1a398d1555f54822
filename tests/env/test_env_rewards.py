"""Every reward term on constructed states: perfect tracking gives 1, a known error the
exact hand-computed value. Inputs are built in numpy float64 and passed as float64
tensors (the functions compute in their inputs' dtype), so the exact values hold."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from intermimic.env import geometry as G
from intermimic.env import rewards as R
from intermimic.env.settings import (
    EmbodimentAgnosticRewards,
    EmbodimentAwareRewards,
    RewardSettings,
)
from intermimic.motion.quat import quat_mul, rotvec_to_quat

N, B, K, Q, P = 3, 52, 5, 4, 10
LEFT = torch.tensor([17, 18, 19])
RIGHT = torch.tensor([33, 34, 35])
HANDS = (LEFT, RIGHT)
NON_HAND = torch.from_numpy(np.setdiff1d(np.arange(B), np.concatenate(HANDS)))


def _t(x: object) -> torch.Tensor:
    """A numpy array (or number) as a tensor: floats as float64, bool and int8 kept."""
    a = np.asarray(x)
    return torch.from_numpy(a.astype(np.float64) if a.dtype.kind == "f" else a)


def _unit_quats(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    q = rng.standard_normal((*shape, 4))
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def _comparison(rng: np.random.Generator, **changes: np.ndarray) -> R.Comparison:
    """A perfectly tracking comparison (sim == ref), with ``changes`` applied."""
    pos = rng.standard_normal((N, B, 3))
    quat = _unit_quats(rng, (N, B))
    pts = rng.standard_normal((N, P, 3))
    op = rng.standard_normal((N, 3))
    oq = _unit_quats(rng, (N,))
    ov = rng.standard_normal((N, 3))
    ig_sq = rng.uniform(0.0, 2.0, (N, K, Q))
    labels = np.zeros((N, B), np.int8)
    touch = np.zeros((N, B), bool)
    base = dict(
        body_pos_sim=pos, body_pos_ref=pos.copy(), body_quat_sim=quat,
        body_quat_ref=quat.copy(), body_weight=rng.uniform(0.2, 1.2, (N, B)),
        key_pos_sim=pos[:, :K], key_pos_ref=pos[:, :K].copy(), points_sim=pts,
        points_ref=pts.copy(), obj_local_pos_sim=op, obj_local_pos_ref=op.copy(),
        obj_local_quat_sim=oq, obj_local_quat_ref=oq.copy(), obj_linvel_sim=ov,
        obj_linvel_ref=ov.copy(), ig_err_sq=np.zeros((N, K, Q)), ig_sim_sq=ig_sq,
        ig_ref_sq=ig_sq.copy(), touch=touch, labels=labels, joint_acc=np.zeros((N, 153)),
    )  # fmt: skip
    base.update(changes)
    return R.Comparison(**{k: _t(v) for k, v in base.items()})


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
        R.body_pos_reward(_t(pos + d), _t(pos), 30.0, _t(w)), np.exp(-30 * 0.0025 * w.mean(axis=1))
    )
    np.testing.assert_allclose(
        R.body_pos_reward(_t(pos + d), _t(pos), 30.0), math.exp(-30 * 0.0025)
    )


def test_body_pos_weighted_single_body() -> None:
    pos = np.zeros((1, 4, 3))
    sim = pos.copy()
    sim[0, 2, 0] = 0.1  # body 2 off by 0.1 m
    w = np.array([[1.0, 1.0, 3.0, 1.0]])
    # mean over the 4 bodies of w |dp|^2 = 3 * 0.01 / 4 = 0.0075
    sim, pos, w = _t(sim), _t(pos), _t(w)
    np.testing.assert_allclose(R.body_pos_reward(sim, pos, 30.0, w), math.exp(-30 * 0.0075))
    np.testing.assert_allclose(R.body_pos_reward(sim, pos, 30.0), math.exp(-30 * 0.0025))


def test_closeness_weights() -> None:
    d = _t([[0.0, 0.5, 1.0]])
    np.testing.assert_allclose(
        R.closeness_weights(d, 0.5, 0.2), [[1.2, 0.2 + math.exp(-1), 0.2 + math.exp(-2)]]
    )
    # Released defaults: exp(-5 d) (scale 0.2 m, floor 0), the feet (here column 2) at 1.
    a = EmbodimentAwareRewards()
    assert (a.closeness_scale, a.closeness_floor, a.feet_full_weight) == (0.2, 0.0, True)
    full = torch.tensor([2])
    np.testing.assert_allclose(
        R.closeness_weights(d, a.closeness_scale, a.closeness_floor, full),
        [[1.0, math.exp(-2.5), 1.0]],
    )
    np.testing.assert_allclose(R.far_weights(d, 0.2), [[0.0, 1 - math.exp(-2.5), 1 - math.exp(-5)]])


def test_body_rot_far_weights() -> None:
    # Two bodies turned by 0.4 rad and 0.2 rad at reference distances 0 and 0.2 m from
    # the object: weights 1 - exp(-5 d) = 0 and 1 - e^-1, mean over both bodies.
    q = _t(np.tile([1.0, 0.0, 0.0, 0.0], (1, 2, 1)))
    sim = _t(rotvec_to_quat(np.array([[[0.4, 0.0, 0.0], [0.0, 0.2, 0.0]]])))
    w = R.far_weights(_t([[0.0, 0.2]]), 0.2)
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
    np.testing.assert_allclose(
        R.body_rot_reward(_t(sim), _t(q), 2.5), math.exp(-2.5 * theta), rtol=1e-9
    )
    # Half the bodies turned: mean angle 0.15 rad.
    half = sim.copy()
    half[:, ::2] = q[:, ::2]
    np.testing.assert_allclose(
        R.body_rot_reward(_t(half), _t(q), 2.5), math.exp(-2.5 * theta / 2), rtol=1e-9
    )


def test_energy_known_acceleration() -> None:
    acc = np.full((2, 153), 100.0)  # rad/s^2
    acc[1, :51] = 0.0  # mean of squares 2/3 * 1e4
    np.testing.assert_allclose(
        R.energy_reward(_t(acc), 2e-5), [math.exp(-2e-5 * 1e4), math.exp(-2e-5 * 1e4 * 2 / 3)]
    )


def test_object_terms_known_offsets() -> None:
    rng = np.random.default_rng(3)
    # Centre (released): the mean over x, y, z of the squared difference, |dp|^2 / 3.
    c = rng.standard_normal((N, 3))
    np.testing.assert_allclose(
        R.obj_pos_reward(_t(c + np.array([0.0, 0.0, 0.1])), _t(c), 5.0),
        math.exp(-5 * 0.01 / 3),
        rtol=1e-12,
    )
    # Surface points (the earlier term): the mean over points of |dx|^2.
    pts = rng.standard_normal((N, P, 3))
    np.testing.assert_allclose(
        R.obj_points_reward(_t(pts + np.array([0.0, 0.0, 0.1])), _t(pts), 5.0),
        math.exp(-5 * 0.01),
    )
    q = _unit_quats(rng, (N,))
    turned = quat_mul(rotvec_to_quat(np.array([0.0, 0.0, 0.7])), q)
    np.testing.assert_allclose(R.obj_rot_reward(_t(turned), _t(q), 0.1), math.exp(-0.07), rtol=1e-9)
    v = rng.standard_normal((N, 3))
    dv = _t(v + np.array([0.3, 0.4, 0.0]))
    v = _t(v)
    # mean over x, y, z of dv^2 = (0.09 + 0.16 + 0) / 3
    np.testing.assert_allclose(
        R.obj_vel_reward(dv, v, 1.0),
        math.exp(-0.25 / 3),
        rtol=1e-12,
    )
    k = EmbodimentAgnosticRewards().obj_vel
    assert k == 0.1
    np.testing.assert_allclose(
        R.obj_vel_reward(dv, v, k),
        math.exp(-0.1 * 0.25 / 3),
        rtol=1e-12,
    )


def test_energy_terms_known_values() -> None:
    g = EmbodimentAgnosticRewards()
    assert (g.obj_energy, g.contact_energy) == (2e-5, 1e-9)
    # object: linear acceleration (30, 0, 0) m/s^2 (1 m/s gained in a 30 Hz step), angular
    # (0, 60, 60) rad/s^2: exp(-2e-5 * 900/3) * exp(-2e-5 * 7200/3)
    lin = _t([[30.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    ang = _t([[0.0, 60.0, 60.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(
        R.obj_energy_reward(lin, ang, g.obj_energy),
        [math.exp(-2e-5 * 300) * math.exp(-2e-5 * 2400), 1.0],
        rtol=1e-12,
    )
    # contact: 740 N (a 75 kg humanoid standing) and 10 kN
    np.testing.assert_allclose(
        R.contact_energy_reward(_t([740.0, 1e4]), g.contact_energy),
        [math.exp(-1e-9 * 740.0**2), math.exp(-0.1)],
        rtol=1e-12,
    )


def test_interaction_graph_known_offsets() -> None:
    rng = np.random.default_rng(4)
    sim_sq, ref_sq = rng.uniform(0.0, 2.0, (N, K, Q)), rng.uniform(0.0, 2.0, (N, K, Q))
    # Each graph's weights sum to 1, so the same error on every edge comes back doubled
    # and halved: exp(-k 0.5 (1 + 1) e).
    e = np.full((N, K, Q), 0.01)
    np.testing.assert_allclose(
        R.ig_reward(_t(e), _t(sim_sq), _t(ref_sq), 5.0), math.exp(-5 * 0.01), rtol=1e-12
    )
    # One edge off: e_edge (w_sim + w_ref) / 2.
    e = np.zeros((N, K, Q))
    e[:, 1, 2] = 0.04
    w1 = R.ig_weights(_t(sim_sq), 0.01).numpy()
    w2 = R.ig_weights(_t(ref_sq), 0.01).numpy()
    expect = np.exp(-5 * 0.5 * 0.04 * (w1[:, 1, 2] + w2[:, 1, 2]))
    np.testing.assert_allclose(R.ig_reward(_t(e), _t(sim_sq), _t(ref_sq), 5.0), expect, rtol=1e-12)


def test_ig_weights_sum_to_one_and_floor() -> None:
    rng = np.random.default_rng(6)
    sq = rng.uniform(0.0, 2.0, (N, K, Q))
    sq[0, 0, 0] = 0.0  # an edge of zero length weighs as one of 0.1 m
    w = R.ig_weights(_t(sq), 0.01).numpy()
    np.testing.assert_allclose(w.reshape(N, -1).sum(axis=1), 1.0, rtol=1e-12)
    u = 1 / np.maximum(sq, 0.01)
    np.testing.assert_allclose(w, u / u.reshape(N, -1).sum(axis=1)[:, None, None], rtol=1e-12)
    assert w[0, 0, 0] == pytest.approx(100 / u[0].sum(), rel=1e-12)


def test_interaction_graph_two_bodies_two_points_by_hand() -> None:
    """One world, 2 key bodies, 2 object points, the vectors written out.

    Reference: bodies at (0, 0, 0) and (1, 0, 0), points at (0, 0, 0.5) and (0, 0, 2):
    edges b0p0 = (0, 0, 0.5), b0p1 = (0, 0, 2), b1p0 = (-1, 0, 0.5), b1p1 = (-1, 0, 2),
    squared lengths 0.25, 4, 1.25, 5. Simulated: body 0 moved by (0.1, 0, 0), so only
    its two edges change, by 0.01 m^2 each: squared lengths 0.26, 4.01, 1.25, 5."""
    ref_b = np.array([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])
    pts = np.array([[[0.0, 0.0, 0.5], [0.0, 0.0, 2.0]]])
    sim_b = ref_b + np.array([[[0.1, 0.0, 0.0], [0.0, 0.0, 0.0]]])
    err = G.graph_sq_errors(_t(sim_b), _t(pts), _t(ref_b), _t(pts))
    np.testing.assert_allclose(err, [[[0.01, 0.01], [0.0, 0.0]]], atol=1e-15)
    # graph_sq_lengths takes the points in the object frame: object at the origin, no turn
    eye, zero = _t(np.eye(3)[None]), _t(np.zeros((1, 3)))
    sim_sq = G.graph_sq_lengths(_t(sim_b), zero, eye, _t(pts[0]))
    ref_sq = G.graph_sq_lengths(_t(ref_b), zero, eye, _t(pts[0]))
    np.testing.assert_allclose(sim_sq, [[[0.26, 4.01], [1.25, 5.0]]], rtol=1e-12)
    np.testing.assert_allclose(ref_sq, [[[0.25, 4.0], [1.25, 5.0]]], rtol=1e-12)
    # weights 1/max(|g|^2, 0.01), normalised over the 4 edges
    u_sim = np.array([1 / 0.26, 1 / 4.01, 1 / 1.25, 1 / 5.0])
    u_ref = np.array([1 / 0.25, 1 / 4.0, 1 / 1.25, 1 / 5.0])
    w = u_sim / u_sim.sum() + u_ref / u_ref.sum()
    expect = math.exp(-5 * 0.5 * (0.01 * w[0] + 0.01 * w[1]))
    np.testing.assert_allclose(R.ig_reward(err, sim_sq, ref_sq, 5.0), [expect], rtol=1e-12)
    # Edges shorter than 0.1 m weigh as 0.1 m: put point 0 on body 0 in both graphs.
    near = pts.copy()
    near[0, 0] = [0.0, 0.0, 0.0]
    near_sq = G.graph_sq_lengths(_t(ref_b), zero, eye, _t(near[0]))
    np.testing.assert_allclose(near_sq, [[[0.0, 4.0], [1.0, 5.0]]], atol=1e-15)
    u = np.array([100.0, 0.25, 1.0, 0.2])
    np.testing.assert_allclose(R.ig_weights(near_sq, 0.01).flatten(), u / u.sum(), rtol=1e-12)


def _turn_z(angle: float, v: np.ndarray) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return v @ np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]).T


def test_object_pose_terms_by_hand() -> None:
    """One world. Simulated root at (1, 2, 0.9) facing +y (heading 90 degrees), object at
    (1, 3, 0.4), unturned: in the heading frame the object is 1 m ahead, x = 1, y = 0,
    at height z = 0.4 (absolute). Reference root at the origin facing +x, object at (1.1,
    0.2, 0.5): local (1.1, 0.2, 0.5). Difference (0.1, 0.2, 0.1): mean of squares 0.02.
    The simulated object's local rotation is minus 90 degrees about z, the reference's
    none: angle pi/2."""
    yaw90 = np.array([[math.cos(math.pi / 4), 0.0, 0.0, math.sin(math.pi / 4)]])
    one = np.array([[1.0, 0.0, 0.0, 0.0]])
    sim_pos, sim_quat = G.heading_local_object(
        _t([[1.0, 3.0, 0.4]]), _t(one), _t([[1.0, 2.0, 0.9]]), _t(yaw90)
    )
    ref_pos, ref_quat = G.heading_local_object(
        _t([[1.1, 0.2, 0.5]]), _t(one), _t([[0.0, 0.0, 0.9]]), _t(one)
    )
    np.testing.assert_allclose(sim_pos, [[1.0, 0.0, 0.4]], atol=1e-15)
    np.testing.assert_allclose(ref_pos, [[1.1, 0.2, 0.5]], atol=1e-15)
    np.testing.assert_allclose(
        R.obj_pos_reward(sim_pos, ref_pos, 5.0), [math.exp(-5 * 0.02)], rtol=1e-12
    )
    np.testing.assert_allclose(
        R.obj_rot_reward(sim_quat, ref_quat, 0.1), [math.exp(-0.1 * math.pi / 2)], rtol=1e-12
    )


def test_object_terms_ignore_the_scene_heading() -> None:
    """Turning a whole scene (root and object, about the vertical through the origin)
    leaves the object terms of every world unchanged, whether both scenes turn or only
    the simulated one (each side is read in its own root's heading frame); turning the
    object alone about its humanoid changes them, as it does the world-frame
    surface-point term."""
    rng = np.random.default_rng(7)
    root_pos, obj_pos = rng.standard_normal((N, 3)), rng.standard_normal((N, 3))
    root_q, obj_q = _unit_quats(rng, (N,)), _unit_quats(rng, (N,))
    ref_root, ref_obj = root_pos + 0.1, obj_pos + 0.2
    ref_root_q = quat_mul(rotvec_to_quat(np.array([0.0, 0.0, 0.3])), root_q)
    ref_obj_q = quat_mul(rotvec_to_quat(np.array([0.2, 0.0, 0.0])), obj_q)

    def local(angle: float, o: np.ndarray, oq: np.ndarray, r: np.ndarray, rq: np.ndarray):
        turn = rotvec_to_quat(np.array([0.0, 0.0, angle]))
        return G.heading_local_object(
            _t(_turn_z(angle, o)), _t(quat_mul(turn, oq)),
            _t(_turn_z(angle, r)), _t(quat_mul(turn, rq)),
        )  # fmt: skip

    def terms(sim_angle: float, ref_angle: float) -> tuple[np.ndarray, np.ndarray]:
        sim = local(sim_angle, obj_pos, obj_q, root_pos, root_q)
        ref = local(ref_angle, ref_obj, ref_obj_q, ref_root, ref_root_q)
        return (
            R.obj_pos_reward(sim[0], ref[0], 5.0).numpy(),
            R.obj_rot_reward(sim[1], ref[1], 0.1).numpy(),
        )

    base = terms(0.0, 0.0)
    assert (base[0] < 0.99).all() and (base[1] < 0.99).all()  # there is an error
    for angles in ((0.7, 0.7), (-2.0, -2.0), (math.pi, math.pi), (1.3, 0.0)):
        for a, b in zip(terms(*angles), base, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-12)
    # the object alone turned about its root: the terms change
    turned_obj = root_pos + _turn_z(0.5, obj_pos - root_pos)
    turn = rotvec_to_quat(np.array([0.0, 0.0, 0.5]))
    sim = G.heading_local_object(
        _t(turned_obj), _t(quat_mul(turn, obj_q)), _t(root_pos), _t(root_q)
    )
    ref = local(0.0, ref_obj, ref_obj_q, ref_root, ref_root_q)
    assert not np.allclose(R.obj_pos_reward(sim[0], ref[0], 5.0).numpy(), base[0])
    assert not np.allclose(R.obj_rot_reward(sim[1], ref[1], 0.1).numpy(), base[1])
    pts = rng.standard_normal((N, P, 3))
    assert not np.allclose(R.obj_points_reward(_t(_turn_z(0.7, pts)), _t(pts), 5.0), 1.0)


def test_object_position_error_is_a_setting() -> None:
    """``obj_pos_error`` picks the released centre term or the surface-point one."""
    rng = np.random.default_rng(8)
    c0 = _comparison(rng)
    c = R.Comparison(
        **{
            **c0.__dict__,
            "obj_local_pos_sim": c0.obj_local_pos_ref + _t([0.0, 0.3, 0.0]),
            "points_sim": c0.points_ref + _t([0.0, 0.0, 0.1]),
        }
    )
    g = EmbodimentAgnosticRewards()
    assert g.obj_pos_error == "centre_heading"
    _, terms = R.compute_rewards(c, RewardSettings(), HANDS, NON_HAND)
    np.testing.assert_allclose(terms["obj_pos"], math.exp(-5 * 0.09 / 3), rtol=1e-12)
    s = RewardSettings(embodiment_agnostic=EmbodimentAgnosticRewards(obj_pos_error="points"))
    _, terms = R.compute_rewards(c, s, HANDS, NON_HAND)
    np.testing.assert_allclose(terms["obj_pos"], math.exp(-5 * 0.01), rtol=1e-12)


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
        R.hand_contact_reward(_t(touch), _t(labels), HANDS, k, dtype=torch.float64),
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
    touch, labels = _t(touch), _t(labels)
    np.testing.assert_allclose(
        R.body_contact_reward(touch, labels, NON_HAND, g.body_contact, dtype=torch.float64),
        [math.exp(-5 / 46), 1.0],
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        R.penalised_contact_reward(touch, labels, g.penalised_contact, dtype=torch.float64),
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
        (EmbodimentAgnosticRewards, "obj_pos_error", "world"),
        (EmbodimentAgnosticRewards, "ig_weight_floor", 0.0),
        (EmbodimentAgnosticRewards, "ig_points", 0),
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
        obj_local_pos_sim=c0.obj_local_pos_sim + _t([0.05, 0.0, 0.0]),
        joint_acc=np.full((N, 153), 30.0),
        body_pos_ref=c0.body_pos_sim,
        obj_local_pos_ref=c0.obj_local_pos_sim,
    )
    s = RewardSettings(
        embodiment_aware=EmbodimentAwareRewards(body_pos=10.0, energy=1e-3),
        embodiment_agnostic=EmbodimentAgnosticRewards(obj_pos=2.0),
    )
    total, terms = R.compute_rewards(c, s, HANDS, NON_HAND)
    # mean over bodies of w |dp|^2, every body off by 0.02 m on each axis
    np.testing.assert_allclose(
        terms["body_pos"], np.exp(-10 * 3 * 0.02**2 * c.body_weight.numpy().mean(axis=1))
    )
    np.testing.assert_allclose(terms["obj_pos"], math.exp(-2 * 0.05**2 / 3))
    np.testing.assert_allclose(terms["energy"], math.exp(-1e-3 * 900))
    np.testing.assert_allclose(
        total, np.prod(np.stack([v.numpy() for v in terms.values()]), axis=0)
    )
    assert (total <= 1.0).all() and (total > 0).all()
    # every term and the total in the comparison's dtype, contact terms included
    assert total.dtype == torch.float64 and {v.dtype for v in terms.values()} == {torch.float64}


@pytest.mark.parametrize("k", [0.0, 1.0])
def test_zero_coefficient_turns_a_term_off(k: float) -> None:
    pts = torch.zeros((1, 2, 3), dtype=torch.float64)
    r = R.obj_points_reward(pts + 1.0, pts, k)
    assert float(r[0]) == pytest.approx(math.exp(-3 * k))
    r = R.obj_pos_reward(pts[:, 0] + 1.0, pts[:, 0], k)
    assert float(r[0]) == pytest.approx(math.exp(-k))
