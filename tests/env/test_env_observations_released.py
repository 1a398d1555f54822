"""The released observation layout's blocks by hand, the nearest-point search, and the
compact layout pinned to the values it had before the released layout existed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from intermimic.env.geometry import interaction_graph, object_points, quat_to_matrix
from intermimic.env.nearest import _argmin, _sq_by_components, nearest_vectors
from intermimic.env.observations import (
    Released,
    block_sizes,
    observation_dim,
    observe,
    spin_bodies,
)
from intermimic.humanoid.embodiment import SMPLX_BODY_NAMES, SMPLX_KEY_BODIES
from intermimic.sim.backend import BodyStates

E = np.exp


def _t(a: object, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, np.float64), dtype=dtype)


def _yaw(a: float) -> list[float]:
    return [np.cos(a / 2), 0.0, 0.0, np.sin(a / 2)]


# ---- nearest object points ------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_nearest_vectors_of_a_turned_moved_object(dtype: torch.dtype) -> None:
    # Object at (1, 2, 0) turned 90 deg about z: object x -> world y, object y -> world -x.
    local = _t([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, 0.5, 0.0]], dtype)  # world: (1, 2,
    # 0), (1, 2.5, 0), (0.5, 2, 0)
    rot = quat_to_matrix(_t([_yaw(np.pi / 2)], dtype))
    bodies = _t([[[1.0, 2.7, 0.1], [0.3, 1.9, 0.0], [1.0, 2.0, 0.05]]], dtype)
    got = nearest_vectors(bodies, _t([[1.0, 2.0, 0.0]], dtype), rot, local)
    want = [[[0.0, -0.2, -0.1], [0.2, 0.1, 0.0], [0.0, 0.0, -0.05]]]
    tol = 1e-12 if dtype == torch.float64 else 1e-6
    np.testing.assert_allclose(got.numpy(), want, atol=tol)
    assert got.dtype == dtype


def test_nearest_vectors_match_brute_force_over_1024_points() -> None:
    rng = np.random.default_rng(0)
    local = rng.standard_normal((1024, 3)) * 0.3
    pos = rng.standard_normal((5, 52, 3))
    obj = rng.standard_normal((5, 3)) * 0.5
    q = rng.standard_normal((5, 4))
    rot = quat_to_matrix(_t(q / np.linalg.norm(q, axis=1, keepdims=True)))
    world = np.einsum("nij,pj->npi", rot.numpy(), local) + obj[:, None]
    d = world[:, None, :, :] - pos[:, :, None, :]  # [N, B, P, 3]
    best = np.linalg.norm(d, axis=-1).argmin(-1)
    want = np.take_along_axis(d, best[..., None, None], axis=2)[:, :, 0]
    got = nearest_vectors(_t(pos), _t(obj), rot, _t(local))
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12)


def test_accelerator_distances_match_the_cpu_product() -> None:
    """The accelerator's elementwise squared distances, run here on the CPU, against the
    CPU's matrix product (the nearest point differs by the offset ``|b|^2`` only)."""
    rng = np.random.default_rng(1)
    b, pts = _t(rng.standard_normal((3, 52, 3))), _t(rng.standard_normal((300, 3)))
    sq = _sq_by_components(b, pts)
    want = ((b[:, :, None, :] - pts) ** 2).sum(-1)
    torch.testing.assert_close(sq, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("p", [64, 256, 1024, 1000])
def test_two_level_argmin_is_argmin_ties_included(p: int) -> None:
    g = torch.Generator().manual_seed(p)
    sq = torch.randint(0, 50, (3, 52, p), generator=g).float()  # many ties
    assert torch.equal(_argmin(sq), sq.argmin(dim=-1))
    sq[0, 0] = 7.0  # a whole row tied: the first point
    assert int(_argmin(sq)[0, 0]) == 0


# ---- the released blocks by hand ------------------------------------------------------


def _tiny() -> tuple[BodyStates, list, Released, torch.Tensor]:
    """One world, 4 bodies, key bodies 1 and 3, spin bodies 0, 1, 3, one future offset;
    the root faces +y (heading 90 deg), so world (x, y, z) reads (y, -x, z)."""
    z3 = np.zeros((1, 4, 3))
    lin, ang = z3.copy(), z3.copy()
    lin[0, 1], lin[0, 3] = [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]
    ang[0, 0] = [0.0, 1.0, 0.0]
    quat = np.tile([1.0, 0.0, 0.0, 0.0], (1, 4, 1))
    quat[0, 0] = _yaw(np.pi / 2)
    sim = BodyStates(
        pos=_t(np.arange(12.0).reshape(1, 4, 3) * 0.1),
        quat=_t(quat),
        linvel=_t(lin),
        angvel=_t(ang),
        obj_pos=_t([[0.5, 0.0, 0.3]]),
        obj_quat=_t([[1.0, 0.0, 0.0, 0.0]]),
        obj_linvel=_t([[1.0, 0.0, 0.0]]),
        obj_angvel=_t([[0.0, 0.0, 0.5]]),
    )
    contact = torch.ones((1, 4), dtype=torch.int8)
    future = [(sim.pos + 0.1, sim.quat, _t([[0.6, 0.0, 0.3]]), sim.obj_quat, contact)]
    key, spin = torch.tensor([1, 3]), torch.tensor([0, 1, 3])
    nearest = _t([[[0.0, 0.0, 2.0], [0.2, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, -0.1]]])
    motion = (
        _t([[[1.0, 2.0, 0.0], [0.0, 0.0, 0.0]]]),  # key bodies' reference linear velocity
        _t([[[0.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, 0.0, 2.0]]]),  # spin bodies' angular
        _t([[1.0, 1.0, 0.0]]),  # object linear
        _t([[0.0, 0.0, 0.5]]),  # object angular
        _t([[[0.0, 0.2, 0.0], [0.0, 0.0, -0.1]]]),  # key bodies' reference nearest vectors
    )
    touch = torch.tensor([[False, True, False, False]])
    return sim, future, Released(nearest, key, spin, [motion]), touch


def test_released_blocks_hand_computed() -> None:
    sim, future, rel, touch = _tiny()
    obs = observe(sim, None, touch, future, 5.0, rel)[0].numpy()
    head, fut, tail = block_sizes(4, 0, "released", 2, 3)
    assert (head, fut, tail) == (61, 50 + 6 + 9 + 3 + 3 + 6, 15 + 16)
    assert obs.shape == (observation_dim(4, 0, 1, "released", 2, 3),) == (head + fut + tail,)
    extra = obs[head + 50 : head + fut]
    # key bodies' velocity errors: (0, 2, 0) and (0, 0, -1), turned
    np.testing.assert_allclose(extra[0:6], [2, 0, 0, 0, 0, -1], atol=1e-12)
    # spin bodies' angular velocity errors: (0, -1, 0), (3, 0, 0), (0, 0, 2), turned
    np.testing.assert_allclose(extra[6:15], [-1, 0, 0, 0, -3, 0, 0, 0, 2], atol=1e-12)
    # object: linear (0, 1, 0) turned, angular 0
    np.testing.assert_allclose(extra[15:21], [1, 0, 0, 0, 0, 0], atol=1e-12)
    # nearest encodings, reference minus own, key bodies: body 1 reference (0.2, 0, 0)
    # turned -> e^-1 (1, 0, 0), own (0, -0.2, 0) -> e^-1 (0, -1, 0); body 3 the same
    np.testing.assert_allclose(extra[21:27], [E(-1), E(-1), 0, 0, 0, 0], atol=1e-12)
    # own tail: object (15), every body's encoded nearest vector, contacts
    near = obs[head + fut + 15 : head + fut + 27]
    want = [0, 0, E(-10.0), 0, -E(-1), 0, 0, 0, 0, 0, 0, -E(-0.5)]
    np.testing.assert_allclose(near, want, atol=1e-12)
    np.testing.assert_array_equal(obs[-4:], [0, 1, 0, 0])


def test_released_keeps_the_compact_blocks() -> None:
    sim, future, rel, touch = _tiny()
    pts = _t([[0.1, 0.0, 0.0], [0.0, 0.2, 0.0]])
    ig = interaction_graph(
        sim.pos[:, rel.key], object_points(sim.obj_pos, quat_to_matrix(sim.obj_quat), pts)
    )
    compact = observe(sim, ig, touch, future, 5.0)[0].numpy()
    released = observe(sim, None, touch, future, 5.0, rel)[0].numpy()
    head, fut, _ = block_sizes(4, 4, "compact")
    rhead, rfut, _ = block_sizes(4, 0, "released", 2, 3)
    np.testing.assert_array_equal(released[: head + fut], compact[: head + fut])
    np.testing.assert_array_equal(released[rhead + rfut :][:15], compact[head + fut :][:15])
    np.testing.assert_array_equal(released[-4:], compact[-4:])
    with pytest.raises(ValueError, match="interaction graph"):
        observe(sim, None, touch, future, 5.0)
    with pytest.raises(ValueError, match="future"):
        observe(sim, None, touch, future + future, 5.0, rel)


def test_spin_bodies_are_the_released_non_hand_bodies() -> None:
    key = np.array([SMPLX_BODY_NAMES.index(b) for b in SMPLX_KEY_BODIES])
    assert spin_bodies(key).tolist() == [*range(18), 33, 34, 35, 36]  # im:613-633


# ---- the compact layout, pinned ---------------------------------------------------------


def test_compact_observation_is_pinned() -> None:
    """Values of the compact observation computed by the code before the released layout
    existed (float64): the compact layout must not change."""
    rng = np.random.default_rng(2025)
    n, b = 2, 52

    def q(*s: int) -> np.ndarray:
        x = rng.standard_normal((*s, 4))
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    bs = BodyStates(
        pos=_t(rng.standard_normal((n, b, 3))), quat=_t(q(n, b)),
        linvel=_t(rng.standard_normal((n, b, 3))), angvel=_t(rng.standard_normal((n, b, 3))),
        obj_pos=_t(rng.standard_normal((n, 3))), obj_quat=_t(q(n)),
        obj_linvel=_t(rng.standard_normal((n, 3))), obj_angvel=_t(rng.standard_normal((n, 3))),
    )  # fmt: skip
    key = torch.tensor([3, 7, 17, 33, 13])
    pts = _t(rng.standard_normal((6, 3)) * 0.3)
    ig = interaction_graph(
        bs.pos[:, key], object_points(bs.obj_pos, quat_to_matrix(bs.obj_quat), pts)
    )
    future = [
        (_t(rng.standard_normal((n, b, 3))), _t(q(n, b)), _t(rng.standard_normal((n, 3))),
         _t(q(n)), torch.from_numpy(rng.integers(-1, 2, (n, b)).astype(np.int8)))
        for _ in range(2)
    ]  # fmt: skip
    touch = torch.from_numpy(rng.random((n, b)) < 0.3)
    obs = observe(bs, ig, touch, future, 5.0).numpy()
    assert obs.shape == (2, 1998)
    idx = [0, 1, 157, 500, 780, 781, 1000, 1250, 1300, 1310, 1311, 1500, 1840, 1841, 1850, 1855,
           1856, 1900, 1945, 1946, 1997]  # fmt: skip
    pinned = [
        [-0.5389690203529267, 0.0, 0.8749431395411083, 1.5841339222924413, 0.507267849959484,
         1.8724427761884652, -0.2828079371890876, -1.3677536814471043, -1.0, 1.0,
         -0.06614258784234701, 0.035194494772323254, 0.0, 0.2712397736981591,
         -0.22415984199775085, 0.15125300305075526, 6.172175679424994e-05,
         -4.2356668867216014e-05, -1.1253582629811166e-05, 1.0, 0.0],
        [0.5792355159215262, 0.0, 0.8104405979668544, 1.1994802192298224, 1.124467554623693,
         1.9863525828972084, -0.22415434963804642, -0.28391903873287955, 1.0, -1.0,
         -0.1574969969006834, 0.0380007541694245, 1.0, 2.640706110808685, -1.3399013335036616,
         -0.1267389376234124, 3.9620540856136753e-07, 6.257769502207284e-10,
         3.9321489664328994e-05, 0.0, 1.0],
    ]  # fmt: skip
    np.testing.assert_allclose(obs[:, idx], pinned, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(obs.sum(1), [-76.3979335276813, 73.84042846661549], rtol=1e-12)
