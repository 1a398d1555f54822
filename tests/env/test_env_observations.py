"""Observation layout and heading-frame invariance (float64 tensors), both layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from intermimic.env.geometry import (
    encode_ig,
    heading_inverse,
    interaction_graph,
    object_points,
    quat_angle,
    quat_columns,
    quat_to_matrix,
    rot6d,
)
from intermimic.env.nearest import nearest_vectors
from intermimic.env.observations import Released, observation_dim, observe, spin_bodies
from intermimic.motion.kinematics import quat_angle as kin_quat_angle
from intermimic.motion.kinematics import quat_to_matrix as kin_quat_to_matrix
from intermimic.motion.quat import quat_mul
from intermimic.sim.backend import BodyStates

N, B, K, Q = 4, 52, 5, 6
KEY = torch.tensor([3, 7, 17, 33, 13])
SPIN = torch.from_numpy(spin_bodies(KEY.numpy()))
OFFSETS = (1, 16)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, np.float64))


def _quats(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    q = rng.standard_normal((*shape, 4))
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def _world(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "pos": rng.standard_normal((N, B, 3)), "quat": _quats(rng, (N, B)),
        "linvel": rng.standard_normal((N, B, 3)), "angvel": rng.standard_normal((N, B, 3)),
        "obj_pos": rng.standard_normal((N, 3)), "obj_quat": _quats(rng, (N,)),
        "obj_linvel": rng.standard_normal((N, 3)), "obj_angvel": rng.standard_normal((N, 3)),
        "ref_pos": rng.standard_normal((len(OFFSETS), N, B, 3)),
        "ref_quat": _quats(rng, (len(OFFSETS), N, B)),
        "ref_obj_pos": rng.standard_normal((len(OFFSETS), N, 3)),
        "ref_obj_quat": _quats(rng, (len(OFFSETS), N)),
        # the released layout's reference velocities
        "ref_linvel": rng.standard_normal((len(OFFSETS), N, B, 3)),
        "ref_angvel": rng.standard_normal((len(OFFSETS), N, B, 3)),
        "ref_obj_linvel": rng.standard_normal((len(OFFSETS), N, 3)),
        "ref_obj_angvel": rng.standard_normal((len(OFFSETS), N, 3)),
    }  # fmt: skip


def _turn(w: dict[str, np.ndarray], yaw: float, shift: np.ndarray) -> dict[str, np.ndarray]:
    """The whole world turned by ``yaw`` about z and moved by ``shift`` on the ground."""
    qz = np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])
    rz = kin_quat_to_matrix(qz)
    out = {}
    for k, v in w.items():
        if "quat" in k:
            out[k] = quat_mul(qz, v)
        else:
            out[k] = v @ rz.T + (shift if k.endswith("pos") else 0.0)
    return out


def _released(tw: dict[str, torch.Tensor], bs: BodyStates, points: torch.Tensor) -> Released:
    """The released layout's inputs as the environment forms them (nearest points of the
    simulated and of the reference-posed object)."""
    obj_rot = quat_to_matrix(bs.obj_quat)
    motion = []
    for i in range(len(OFFSETS)):
        ref_rot = quat_to_matrix(tw["ref_obj_quat"][i])
        near = nearest_vectors(tw["ref_pos"][i][:, KEY], tw["ref_obj_pos"][i], ref_rot, points)
        motion.append(
            (tw["ref_linvel"][i][:, KEY], tw["ref_angvel"][i][:, SPIN], tw["ref_obj_linvel"][i],
             tw["ref_obj_angvel"][i], near)
        )  # fmt: skip
    return Released(nearest_vectors(bs.pos, bs.obj_pos, obj_rot, points), KEY, SPIN, motion)


def _observe(w: dict[str, np.ndarray], points: np.ndarray, layout: str = "compact") -> np.ndarray:
    tw = {k: _t(v) for k, v in w.items()}
    bs = BodyStates(**{k: tw[k] for k in (
        "pos", "quat", "linvel", "angvel", "obj_pos", "obj_quat", "obj_linvel", "obj_angvel"
    )})  # fmt: skip
    obj_rot = quat_to_matrix(bs.obj_quat)
    ig = interaction_graph(bs.pos[:, KEY], object_points(bs.obj_pos, obj_rot, _t(points)))
    released = _released(tw, bs, _t(points)) if layout == "released" else None
    contact = torch.zeros((N, B), dtype=torch.int8)
    contact[:, 17] = 1
    future = [
        (tw["ref_pos"][i], tw["ref_quat"][i], tw["ref_obj_pos"][i], tw["ref_obj_quat"][i], contact)
        for i in range(len(OFFSETS))
    ]
    touch = torch.zeros((N, B), dtype=torch.bool)
    touch[:, 33] = True
    obs = observe(bs, None if released else ig, touch, future, 5.0, released)
    assert obs.dtype == torch.float64
    return obs.numpy()


@pytest.mark.parametrize("layout", ["compact", "released"])
def test_shape_matches_observation_dim(layout: str) -> None:
    rng = np.random.default_rng(0)
    obs = _observe(_world(rng), rng.standard_normal((Q, 3)), layout)
    dim = observation_dim(B, K * Q, len(OFFSETS), layout, len(KEY), len(SPIN))  # type: ignore[arg-type]
    assert obs.shape == (N, dim)
    assert np.isfinite(obs).all()
    # released: 781 own + 2 x (530 + 6 K + 3 H + 6) + 15 + 4 B, H = root + key bodies
    assert observation_dim(B, K * Q, 2, "released", 5, 6) == 781 + 2 * (530 + 30 + 18 + 6) + 223
    assert observation_dim(52, 21 * 16, 2) == 2916  # compact as before
    assert observation_dim(52, 21 * 16, 2, "released", 21, 22) == 2460


@pytest.mark.parametrize("layout", ["compact", "released"])
def test_turning_and_moving_the_world_leaves_the_observation_unchanged(layout: str) -> None:
    rng = np.random.default_rng(1)
    w = _world(rng)
    pts = rng.standard_normal((Q, 3))
    obs = _observe(w, pts, layout)
    for yaw in (0.4, -2.0, np.pi):
        turned = _observe(_turn(w, yaw, np.array([3.0, -1.5, 0.0])), pts, layout)
        np.testing.assert_allclose(turned, obs, atol=1e-9)
    # Lifting the world is not a symmetry: the root height is observed.
    lifted = _observe(_turn(w, 0.0, np.array([0.0, 0.0, 0.5])), pts, layout)
    assert not np.allclose(lifted, obs)


def test_heading_inverse_and_encodings() -> None:
    yaw = 0.7
    q = _t([[np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]])
    h = heading_inverse(q)
    np.testing.assert_allclose(h[0] @ quat_to_matrix(q)[0], np.eye(3), atol=1e-12)
    # column 0, column 1
    np.testing.assert_allclose(rot6d(torch.eye(3, dtype=torch.float64)), [1, 0, 0, 0, 1, 0])
    rng = np.random.default_rng(3)
    qs = rng.standard_normal((5, 4))
    qs /= np.linalg.norm(qs, axis=1, keepdims=True)
    tq = _t(qs)
    np.testing.assert_allclose(quat_columns(tq).reshape(5, 6), rot6d(quat_to_matrix(tq)))
    np.testing.assert_allclose(quat_to_matrix(tq), kin_quat_to_matrix(qs), atol=1e-15)
    np.testing.assert_allclose(quat_angle(tq, -tq.flip(0)), kin_quat_angle(qs, qs[::-1]))
    d = _t([[0.0, 0.0, 0.2], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(encode_ig(d, 5.0), [[0.0, 0.0, np.exp(-1.0)], [0.0, 0.0, 0.0]])
