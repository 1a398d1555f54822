"""The environment's torch math against independent float64 references.

The step functions run on float32 tensors; here their results on random, realistic
inputs are compared with the same quantities computed another way in float64: rotations
by scipy, errors and rewards from their definitions written out in numpy. Batch sizes
are chosen to exercise every evaluation path of :mod:`intermimic.env.geometry` (the
few-kernel tables, components stacked, components written slot by slot), and the
accelerator branches are run on the CPU by pretending the tensors are on one.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from intermimic.env import geometry as G
from intermimic.env import rewards as R
from intermimic.env import termination as T
from intermimic.env.observations import observation_dim, observe
from intermimic.env.settings import RewardSettings, TerminationSettings
from intermimic.sim.backend import BodyStates

B, KEY, Q, P, J = 52, 21, 20, 64, 153
OFFSETS = 3
HANDS = (torch.arange(17, 33), torch.arange(33, 49))  # 16 bodies each, as SMPL-X
NON_HAND = torch.tensor([i for i in range(B) if not 17 <= i < 49])
UP = np.array([0.0, 0.0, 1.0])  # bodies about 1 m above the ground
# float32 against float64 of values of order 1 to 10
ATOL32, RTOL32 = 1e-5, 1e-5


def _quats(rng: np.random.Generator, *shape: int) -> np.ndarray:
    q = rng.standard_normal((*shape, 4))
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def _rot(q: np.ndarray) -> Rotation:
    """scipy rotations of w x y z quaternions ``[..., 4]`` (flattened)."""
    return Rotation.from_quat(q.reshape(-1, 4)[:, [1, 2, 3, 0]])


def _f32(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, np.float32))


def _close32(actual: torch.Tensor, expect: np.ndarray, atol: float = ATOL32) -> None:
    assert actual.dtype == torch.float32
    np.testing.assert_allclose(actual.double().numpy(), expect, atol=atol, rtol=RTOL32)


@pytest.fixture(params=[False, True], ids=["cpu-paths", "accelerator-paths"])
def paths(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[bool]:
    """Run a test with the CPU's choice of paths, then with the accelerator branches
    (fewest kernels everywhere) forced on the CPU tensors."""
    if request.param:
        monkeypatch.setattr(G, "_accelerator", lambda x: True)
    yield request.param


# ---- geometry -----------------------------------------------------------------------

# 7: few-kernel tables; 300: components, stacked; 3328 (64 worlds x 52 bodies):
# components written slot by slot
SIZES = (7, 300, 64 * B)


@pytest.mark.parametrize("n", SIZES)
def test_quaternion_functions_match_scipy(n: int, paths: bool) -> None:
    rng = np.random.default_rng(n)
    a, b = _quats(rng, n), _quats(rng, n)
    ra, rb = _rot(a), _rot(b)
    m = ra.as_matrix()
    _close32(G.quat_to_matrix(_f32(a)), m)
    _close32(G.quat_columns(_f32(a)), m[:, :, :2].transpose(0, 2, 1))
    rel = (ra.inv() * rb).as_matrix()
    _close32(G.rel_rot6d(_f32(a), _f32(b)), rel[:, :, :2].transpose(0, 2, 1).reshape(n, 6))
    # sign-blind; float32 angles near pi lose a little more
    _close32(G.quat_angle(_f32(a), _f32(-b)), (ra.inv() * rb).magnitude(), atol=1e-4)


def test_rel_rot6d_and_angle_broadcast_over_offsets(paths: bool) -> None:
    # The observation's form: own rotations [N, 1, B, 4] against [N, O, B, 4].
    rng = np.random.default_rng(1)
    own, ref = _quats(rng, 8, 1, B), _quats(rng, 8, OFFSETS, B)
    expect = np.empty((8, OFFSETS, B, 6))
    for i in range(OFFSETS):
        rel = (_rot(own[:, 0]).inv() * _rot(ref[:, i])).as_matrix()
        expect[:, i] = rel[:, :, :2].transpose(0, 2, 1).reshape(8, B, 6)
    _close32(G.rel_rot6d(_f32(own), _f32(ref)), expect)
    angle = G.quat_angle(_f32(own), _f32(ref))
    assert angle.shape == (8, OFFSETS, B)


def test_both_paths_give_the_same_matrix_bits() -> None:
    """The table reproduces the component formulas operation for operation."""
    q = torch.from_numpy(_quats(np.random.default_rng(2), 600))
    for f in (G.quat_to_matrix, G.quat_columns):
        few = f(q[: G._FEW_MAX])  # the few-kernel path
        components = f(q)[: G._FEW_MAX]
        assert torch.equal(few, components), f.__name__
    few_angle, angle = G.quat_angle(q[:100], q[100:200]), G.quat_angle(q[:300], q[100:400])
    np.testing.assert_allclose(few_angle, angle[:100], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("n", [3, 64])
def test_heading_functions_match_scipy(n: int, paths: bool) -> None:
    rng = np.random.default_rng(3)
    q = _quats(rng, n)
    x_axis = _rot(q).as_matrix()[:, :, 0]
    yaw = np.arctan2(x_axis[:, 1], x_axis[:, 0])
    c, s = G.heading(_f32(q))
    _close32(c, np.cos(yaw))
    _close32(s, np.sin(yaw))
    inverse = Rotation.from_euler("z", -yaw[:, None])
    _close32(G.heading_inverse(_f32(q)), inverse.as_matrix())
    v = rng.standard_normal((n, 850, 3)) * 3.0
    expect = np.stack([inverse[i].apply(v[i]) for i in range(n)])
    _close32(G.heading_rotate((c, s), _f32(v)), expect)


@pytest.mark.parametrize("n", [2, 64])
def test_object_points_graph_and_encoding_match_definitions(n: int, paths: bool) -> None:
    rng = np.random.default_rng(4)
    pos, q, local = rng.standard_normal((n, 3)), _quats(rng, n), rng.standard_normal((P, 3))
    rot = _rot(q)
    world = np.stack([rot[i].apply(local) + pos[i] for i in range(n)])
    pts = G.object_points(_f32(pos), G.quat_to_matrix(_f32(q)), _f32(local))
    _close32(pts, world)
    assert pts.is_contiguous()
    # points of each world's own ([N, P, 3])
    own = rng.standard_normal((n, Q, 3))
    expect_own = np.stack([rot[i].apply(own[i]) + pos[i] for i in range(n)])
    _close32(G.object_points(_f32(pos), G.quat_to_matrix(_f32(q)), _f32(own)), expect_own)
    bodies = rng.standard_normal((n, KEY, 3))
    graph = G.interaction_graph(_f32(bodies), pts[:, :Q])
    expect = world[:, None, :Q, :] - bodies[:, :, None, :]
    _close32(graph, expect)
    d = np.linalg.norm(expect, axis=-1, keepdims=True)
    _close32(G.encode_ig(graph, 5.0), expect / d * np.exp(-5.0 * d))
    # a zero vector encodes to zero, not NaN
    zero = torch.zeros((n, 4, 3))
    assert torch.equal(G.encode_ig(zero, 5.0), zero)


@pytest.mark.parametrize("n", [2, 64])
def test_graph_squared_lengths_match_the_vectors(n: int, paths: bool) -> None:
    """The graph's squared lengths and errors (batched dot products on the CPU, vectors
    on an accelerator) against float64 vectors, bodies and object metres from the
    origin (float32 rounding of the dot-product form stays at 1e-5 m^2)."""
    rng = np.random.default_rng(6)
    pos, q, local = rng.standard_normal((n, 3)) * 3, _quats(rng, n), rng.standard_normal((Q, 3))
    world = np.stack([_rot(q[i : i + 1]).apply(local) + pos[i] for i in range(n)])
    bodies = pos[:, None] + rng.standard_normal((n, KEY, 3))
    graph = world[:, None] - bodies[:, :, None]
    rot = G.quat_to_matrix(_f32(q))
    _close32(G.graph_sq_lengths(_f32(bodies), _f32(pos), rot, _f32(local)), (graph**2).sum(-1))
    bodies_ref = bodies + rng.standard_normal((n, KEY, 3)) * 0.05
    world_ref = world + rng.standard_normal((n, Q, 3)) * 0.05
    graph_ref = world_ref[:, None] - bodies_ref[:, :, None]
    err = G.graph_sq_errors(_f32(bodies), _f32(world), _f32(bodies_ref), _f32(world_ref))
    _close32(err, ((graph - graph_ref) ** 2).sum(-1), atol=1e-6)


@pytest.mark.parametrize("n", [3, 64])
def test_heading_local_object_matches_scipy(n: int, paths: bool) -> None:
    rng = np.random.default_rng(7)
    root_q, obj_q = _quats(rng, n), _quats(rng, n)
    root, obj = rng.standard_normal((n, 3)), rng.standard_normal((n, 3))
    x_axis = _rot(root_q).as_matrix()[:, :, 0]
    inverse = Rotation.from_euler("z", -np.arctan2(x_axis[:, 1], x_axis[:, 0])[:, None])
    rel = obj - root
    rel[:, 2] = obj[:, 2]  # xy relative to the root, height absolute (released)
    pos, quat = G.heading_local_object(_f32(obj), _f32(obj_q), _f32(root), _f32(root_q))
    _close32(pos, inverse.apply(rel))
    _close32(G.quat_to_matrix(quat), (inverse * _rot(obj_q)).as_matrix())


def test_float64_in_float64_out() -> None:
    q = torch.from_numpy(_quats(np.random.default_rng(5), 4, B))
    for out in (G.quat_to_matrix(q), G.quat_columns(q), G.quat_angle(q, q), G.rel_rot6d(q, q)):
        assert out.dtype == torch.float64
    np.testing.assert_allclose(G.quat_angle(q, q), 0.0, atol=1e-7)


# ---- rewards and termination --------------------------------------------------------


def _scenario(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A realistic step: simulated states a few cm / degrees off the reference."""
    rng = np.random.default_rng(seed)
    ref_pos = rng.standard_normal((n, B, 3)) * 0.5 + UP
    ref_quat = _quats(rng, n, B)
    turn = Rotation.from_rotvec(rng.standard_normal((n * B, 3)) * 0.1)
    sim_quat = (turn * _rot(ref_quat)).as_quat()[:, [3, 0, 1, 2]].reshape(n, B, 4)
    ref_oq = _quats(rng, n)
    sim_oq = (Rotation.from_rotvec(rng.standard_normal((n, 3)) * 0.05) * _rot(ref_oq)).as_quat()
    ref_pts = rng.standard_normal((n, P, 3)) * 0.3
    ref_ig = rng.standard_normal((n, KEY, Q, 3)) * 0.4
    sim_ig = ref_ig + rng.standard_normal((n, KEY, Q, 3)) * 0.05
    ref_local = rng.standard_normal((n, 3)) * 0.5
    return {
        "body_pos_sim": ref_pos + rng.standard_normal((n, B, 3)) * 0.05,
        "body_pos_ref": ref_pos,
        "body_quat_sim": sim_quat,
        "body_quat_ref": ref_quat,
        "body_weight": rng.uniform(0.0, 1.0, (n, B)),
        "body_rot_weight": rng.uniform(0.0, 1.0, (n, B)),
        "key_pos_sim": ref_pos[:, :KEY] + rng.standard_normal((n, KEY, 3)) * 0.05,
        "key_pos_ref": ref_pos[:, :KEY],
        "points_sim": ref_pts + rng.standard_normal((n, P, 3)) * 0.03,
        "points_ref": ref_pts,
        "obj_local_pos_sim": ref_local + rng.standard_normal((n, 3)) * 0.05,
        "obj_local_pos_ref": ref_local,
        "obj_local_quat_sim": sim_oq[:, [3, 0, 1, 2]],
        "obj_local_quat_ref": ref_oq,
        "obj_linvel_sim": rng.standard_normal((n, 3)),
        "obj_linvel_ref": rng.standard_normal((n, 3)),
        "ig_err_sq": np.sum((sim_ig - ref_ig) ** 2, axis=-1),
        "ig_sim_sq": np.sum(sim_ig**2, axis=-1),
        "ig_ref_sq": np.sum(ref_ig**2, axis=-1),
        "touch": rng.random((n, B)) < 0.3,
        "labels": rng.integers(-1, 2, (n, B)).astype(np.int8),
        "joint_acc": rng.standard_normal((n, J)) * 100.0,
        "obj_lin_acc": rng.standard_normal((n, 3)) * 30.0,
        "obj_ang_acc": rng.standard_normal((n, 3)) * 30.0,
        "contact_force": rng.uniform(0.0, 2000.0, n),
    }


def _comparison(d: dict[str, np.ndarray], dtype: torch.dtype = torch.float32) -> R.Comparison:
    def t(v: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(v)
        return x.to(dtype) if x.is_floating_point() else x

    return R.Comparison(**{k: t(v) for k, v in d.items()})


def _expected_terms(d: dict[str, np.ndarray], s: RewardSettings) -> dict[str, np.ndarray]:
    """Every term from its definition (settings.py, rewards.py), float64 numpy + scipy."""
    a, g = s.embodiment_aware, s.embodiment_agnostic
    n = d["body_pos_sim"].shape[0]

    def sq(x: np.ndarray) -> np.ndarray:
        return np.sum(x**2, axis=-1)

    angles = (_rot(d["body_quat_sim"]).inv() * _rot(d["body_quat_ref"])).magnitude()
    obj_angle = (_rot(d["obj_local_quat_sim"]).inv() * _rot(d["obj_local_quat_ref"])).magnitude()
    w_sim = 1 / np.maximum(d["ig_sim_sq"], g.ig_weight_floor).reshape(n, -1)
    w_ref = 1 / np.maximum(d["ig_ref_sq"], g.ig_weight_floor).reshape(n, -1)
    ig_w = w_sim / w_sim.sum(-1, keepdims=True) + w_ref / w_ref.sum(-1, keepdims=True)
    touch, labels = d["touch"], d["labels"]
    hand = np.ones(n)
    for h in HANDS:
        idx = h.numpy()
        e = 1.0 - touch[:, idx].mean(axis=1)
        hand *= np.where(
            (labels[:, idx] > 0).any(axis=1), 0.5 * (1 + np.exp(-g.hand_contact * e)), 1
        )
    nh = NON_HAND.numpy()
    missing = ((labels[:, nh] > 0) & ~touch[:, nh]).sum(axis=1)
    bad = ((labels < 0) & touch).sum(axis=1)
    return {
        "body_pos": np.exp(
            -a.body_pos * np.mean(d["body_weight"] * sq(d["body_pos_sim"] - d["body_pos_ref"]), -1)
        ),
        "body_rot": np.exp(
            -a.body_rot * np.mean(d["body_rot_weight"] * angles.reshape(n, B), axis=-1)
        ),
        "energy": np.exp(-a.energy * np.mean(d["joint_acc"] ** 2, axis=-1)),
        "obj_pos": np.exp(-g.obj_pos * sq(d["obj_local_pos_sim"] - d["obj_local_pos_ref"]) / 3),
        "obj_rot": np.exp(-g.obj_rot * obj_angle),
        "obj_vel": np.exp(-g.obj_vel * sq(d["obj_linvel_sim"] - d["obj_linvel_ref"]) / 3),
        "obj_energy": np.exp(-g.obj_energy * sq(d["obj_lin_acc"]) / 3)
        * np.exp(-g.obj_energy * sq(d["obj_ang_acc"]) / 3),
        "interaction_graph": np.exp(
            -g.interaction_graph * 0.5 * (ig_w * d["ig_err_sq"].reshape(n, -1)).sum(-1)
        ),
        "hand_contact": hand,
        "body_contact": np.exp(-g.body_contact * missing / len(nh)),
        "penalised_contact": np.exp(-g.penalised_contact * bad / B),
        "contact_energy": np.exp(-g.contact_energy * d["contact_force"] ** 2),
    }


@pytest.mark.parametrize("n", [5, 64])
def test_float32_rewards_match_their_definitions(n: int, paths: bool) -> None:
    d = _scenario(n)
    s = RewardSettings()
    total, terms = R.compute_rewards(_comparison(d), s, HANDS, NON_HAND)
    expect = _expected_terms(d, s)
    assert set(terms) == set(R.TERMS)
    for k, v in terms.items():
        assert v.shape == (n,), k
        _close32(v, expect[k], atol=1e-6)
    _close32(total, np.prod(np.stack(list(expect.values())), axis=0), atol=1e-6)
    # the scenario is near tracking: the terms are not all 0 or 1
    assert float(total.min()) > 1e-3 and float(total.max()) < 0.99


@pytest.mark.parametrize("n", [5, 64])
def test_float32_termination_matches_definitions(n: int, paths: bool) -> None:
    d = _scenario(n, seed=1)
    c = _comparison(d)
    err_key = np.linalg.norm(d["key_pos_sim"] - d["key_pos_ref"], axis=-1).mean(-1)
    err_obj = np.linalg.norm(d["points_sim"] - d["points_ref"], axis=-1).mean(-1)
    e = np.sqrt(d["ig_err_sq"]).reshape(n, -1)
    ratio = np.maximum(
        (e / np.maximum(np.sqrt(d["ig_ref_sq"]).reshape(n, -1), 0.5)).max(-1),
        (e / np.maximum(np.sqrt(d["ig_sim_sq"]).reshape(n, -1), 0.5)).max(-1),
    )
    _close32(T.key_body_error(c), err_key)
    _close32(T.object_error(c), err_obj)
    _close32(T.ig_ratio(c, 0.5), ratio)
    # thresholds between the worlds' errors: each fires where the float64 value is above
    rng = np.random.default_rng(2)
    height = torch.from_numpy(rng.uniform(0.1, 1.0, n)).float()
    frames = torch.from_numpy(rng.integers(0, 20, (n, 2)))
    s = TerminationSettings(
        max_key_body_error=float(np.median(err_key)),
        max_object_error=float(np.median(err_obj)),
        max_ig_ratio=float(np.median(ratio)),
    )
    done, why = T.check_termination(c, height, frames, s)
    assert done.dtype == torch.bool and all(v.dtype == torch.bool for v in why.values())
    for k, v in (("key_body_error", err_key), ("object_error", err_obj), ("ig_ratio", ratio)):
        clear = np.abs(v - np.median(v)) > 1e-5  # float32 can flip a tie
        assert (why[k].numpy() == (v > np.median(v)))[clear].all(), k
    assert why["root_height"].tolist() == (height.numpy() < 0.3).tolist()
    assert why["hand_contact"].tolist() == (frames.numpy().max(axis=1) > 10).tolist()
    missing = T.missing_hand_contact(c, HANDS)
    assert missing.shape == (n, 2) and missing.dtype == torch.bool
    count = T.update_missing_frames(frames.to(torch.int32), missing)
    assert count.dtype == torch.int32
    expect = np.where(missing.numpy(), frames.numpy() + 1, 0)
    np.testing.assert_array_equal(count.numpy(), expect)


def test_hands_of_different_sizes() -> None:
    """Hands with as many bodies are gathered together (the other tests); others one at
    a time, with the same definition."""
    rng = np.random.default_rng(6)
    touch = torch.from_numpy(rng.random((40, B)) < 0.4)
    labels = torch.from_numpy(rng.integers(-1, 2, (40, B)).astype(np.int8))
    hands = (torch.arange(17, 33), torch.arange(33, 48))  # 16 and 15 bodies
    reward = R.hand_contact_reward(touch, labels, hands, 5.0, dtype=torch.float64)
    req, tch = R.hand_required_and_touching(touch, labels, hands)
    expect, t, lab = np.ones(40), touch.numpy(), labels.numpy()
    for i, h in enumerate(hands):
        idx = h.numpy()
        required = (lab[:, idx] > 0).any(axis=1)
        e = 1.0 - t[:, idx].mean(axis=1)
        expect *= np.where(required, 0.5 * (1 + np.exp(-5.0 * e)), 1.0)
        assert req[:, i].tolist() == required.tolist()
        assert tch[:, i].tolist() == t[:, idx].any(axis=1).tolist()
    np.testing.assert_allclose(reward, expect, rtol=1e-12)


def test_closeness_weights_without_full_columns() -> None:
    d = torch.tensor([[0.0, 0.2]])
    np.testing.assert_allclose(R.closeness_weights(d, 0.2, 0.1), [[1.1, 0.1 + np.exp(-1.0)]])
    empty = torch.zeros(0, dtype=torch.long)
    assert torch.equal(R.closeness_weights(d, 0.2, 0.1, empty), R.closeness_weights(d, 0.2, 0.1))


def test_no_worlds() -> None:
    d = _scenario(0)
    c = _comparison(d)
    total, _ = R.compute_rewards(c, RewardSettings(), HANDS, NON_HAND)
    assert total.shape == (0,)
    done, _ = T.check_termination(
        c, torch.zeros(0), torch.zeros((0, 2), dtype=torch.long), TerminationSettings()
    )
    assert done.shape == (0,)


def test_nan_world_stays_in_its_row(paths: bool) -> None:
    """A broken world's NaN reaches its own rewards, not the other worlds'."""
    d = _scenario(8, seed=3)
    clean_total, _ = R.compute_rewards(_comparison(d), RewardSettings(), HANDS, NON_HAND)
    for k in (
        "body_pos_sim", "body_quat_sim", "ig_err_sq", "ig_sim_sq", "points_sim",
        "obj_local_pos_sim", "obj_local_quat_sim",
    ):  # fmt: skip
        d[k] = d[k].copy()
        d[k][2] = np.nan
    c = _comparison(d)
    total, _ = R.compute_rewards(c, RewardSettings(), HANDS, NON_HAND)
    assert torch.isnan(total[2])
    keep = torch.arange(8) != 2
    assert torch.equal(total[keep], clean_total[keep])
    assert not torch.isnan(T.key_body_error(c)).any()  # untouched key positions
    assert torch.isnan(T.object_error(c)[2]) and torch.isnan(T.ig_ratio(c, 0.5)[2])


# ---- observation --------------------------------------------------------------------


def _world(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "pos": rng.standard_normal((n, B, 3)) + UP,
        "quat": _quats(rng, n, B),
        "linvel": rng.standard_normal((n, B, 3)),
        "angvel": rng.standard_normal((n, B, 3)) * 3.0,
        "obj_pos": rng.standard_normal((n, 3)),
        "obj_quat": _quats(rng, n),
        "obj_linvel": rng.standard_normal((n, 3)),
        "obj_angvel": rng.standard_normal((n, 3)),
        "ref_pos": rng.standard_normal((OFFSETS, n, B, 3)) + UP,
        "ref_quat": _quats(rng, OFFSETS, n, B),
        "ref_obj_pos": rng.standard_normal((OFFSETS, n, 3)),
        "ref_obj_quat": _quats(rng, OFFSETS, n),
        "ref_contact": rng.integers(-1, 2, (OFFSETS, n, B)).astype(np.int8),
        "ig": rng.standard_normal((n, KEY, Q, 3)) * 0.5,
        "touch": rng.random((n, B)) < 0.3,
    }


def _observe(
    w: dict[str, np.ndarray], dtype: torch.dtype, device: str | torch.device = "cpu"
) -> torch.Tensor:
    t = {k: torch.from_numpy(v).to(device) for k, v in w.items()}
    f = {k: v.to(dtype) if v.is_floating_point() else v for k, v in t.items()}
    sim = BodyStates(**{k: f[k] for k in BodyStates.__dataclass_fields__})
    future = [
        (f["ref_pos"][i], f["ref_quat"][i], f["ref_obj_pos"][i], f["ref_obj_quat"][i],
         f["ref_contact"][i])
        for i in range(OFFSETS)
    ]  # fmt: skip
    return observe(sim, f["ig"], f["touch"], future, 5.0)


def _expected_observation(w: dict[str, np.ndarray]) -> np.ndarray:
    """The module docstring's blocks built from scratch with scipy, float64."""
    n = w["pos"].shape[0]
    out = np.empty((n, observation_dim(B, KEY * Q, OFFSETS)))
    for i in range(n):
        x_axis = _rot(w["quat"][i, 0]).as_matrix()[0, :, 0]
        h = Rotation.from_euler("z", -np.arctan2(x_axis[1], x_axis[0]))
        root = w["pos"][i, 0]

        def turn(v: np.ndarray, h: Rotation = h) -> np.ndarray:
            return h.apply(v.reshape(-1, 3)).ravel()

        def cols(q: np.ndarray, h: Rotation = h) -> np.ndarray:
            m = (h * _rot(q)).as_matrix()
            return m[:, :, :2].transpose(0, 2, 1).ravel()

        own = _rot(w["quat"][i])
        blocks = [
            [root[2]],
            turn(w["pos"][i] - root),
            cols(w["quat"][i]),
            turn(w["linvel"][i]),
            turn(w["angvel"][i]),
        ]
        for k in range(OFFSETS):
            rel = (own.inv() * _rot(w["ref_quat"][k, i])).as_matrix()
            blocks += [
                turn(w["ref_pos"][k, i] - w["pos"][i]),
                rel[:, :, :2].transpose(0, 2, 1).ravel(),
                [w["ref_pos"][k, i, 0, 2]],
                turn(w["ref_obj_pos"][k, i] - w["obj_pos"][i]),
                cols(w["ref_obj_quat"][k, i]),
                w["ref_contact"][k, i],
            ]
        ig = turn(w["ig"][i]).reshape(-1, 3)
        dist = np.linalg.norm(ig, axis=-1, keepdims=True)
        blocks += [
            turn(w["obj_pos"][i] - root),
            cols(w["obj_quat"][i]),
            turn(w["obj_linvel"][i]),
            turn(w["obj_angvel"][i]),
            (ig / dist * np.exp(-5.0 * dist)).ravel(),
            w["touch"][i],
        ]
        out[i] = np.concatenate([np.asarray(b, np.float64).ravel() for b in blocks])
    return out


@pytest.mark.parametrize("n", [2, 64])
def test_float32_observation_matches_an_independent_construction(n: int, paths: bool) -> None:
    w = _world(n, seed=n)
    obs = _observe(w, torch.float32)
    assert obs.shape == (n, observation_dim(B, KEY * Q, OFFSETS))
    _close32(obs, _expected_observation(w), atol=2e-5)
    # float64 in: float64 out, to float64 rounding
    obs64 = _observe(w, torch.float64)
    assert obs64.dtype == torch.float64
    np.testing.assert_allclose(obs64.numpy(), _expected_observation(w), atol=1e-12)


def test_nan_world_observation_stays_in_its_row(paths: bool) -> None:
    w = _world(64, seed=9)
    clean = _observe(w, torch.float32)
    w["pos"] = w["pos"].copy()
    w["pos"][5, 3] = np.nan
    obs = _observe(w, torch.float32)
    assert torch.isnan(obs[5]).any()
    keep = torch.arange(64) != 5
    assert torch.equal(obs[keep], clean[keep])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    w = _world(64, seed=11)
    d = _scenario(64, seed=11)
    cpu_obs = _observe(w, torch.float32)
    cpu_total, _ = R.compute_rewards(_comparison(d), RewardSettings(), HANDS, NON_HAND)
    cuda = torch.device("cuda")
    obs = _observe(w, torch.float32, cuda)
    assert obs.device.type == "cuda"
    torch.testing.assert_close(obs.cpu(), cpu_obs, atol=1e-5, rtol=1e-5)
    c = R.Comparison(**{k: v.to(cuda) for k, v in _comparison(d).__dict__.items()})
    hands = (HANDS[0].to(cuda), HANDS[1].to(cuda))
    total, terms = R.compute_rewards(c, RewardSettings(), hands, NON_HAND.to(cuda))
    assert all(v.device.type == "cuda" for v in terms.values())
    torch.testing.assert_close(total.cpu(), cpu_total, atol=1e-6, rtol=1e-5)
