"""Hinge-angle conversions and batched FK (intermimic.motion.kinematics).

Synthetic tests always run; the sample tests (27 OMOMO clips) check the conversion and
the file's column order against the real data and skip when it is absent.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import mujoco
import numpy as np
import pytest
import torch

from intermimic.humanoid import build_model, build_spec, default_skeleton, fit_skeleton
from intermimic.humanoid.fit import measure_clip_bones
from intermimic.motion.clip import ClipMeta, HOIClip
from intermimic.motion.formats.interact_pt import fingers_shifted
from intermimic.motion.kinematics import (
    KinematicTree,
    clip_to_qpos,
    euler_xyz_to_quat,
    euler_xyz_to_rotvec,
    fk,
    fk_mujoco,
    quat_angle,
    quat_to_euler_xyz,
    rotvec_to_euler_xyz,
)
from intermimic.motion.load import read_clip
from intermimic.motion.skeleton import SMPLX_BODY_NAMES, SMPLX_PARENTS

PI = math.pi


def rx(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def ry(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rz(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def mat_of_rotvec(v: np.ndarray) -> np.ndarray:
    """Rodrigues' formula, written independently of the code under test."""
    th = np.linalg.norm(v)
    if th == 0:
        return np.eye(3)
    k = v / th
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(th) * kx + (1 - math.cos(th)) * kx @ kx


# ---- rotation vector <-> hinge angles ----------------------------------------------


@pytest.mark.parametrize(
    ("rotvec", "euler"),
    [
        # Single-axis rotations are their own hinge angle.
        ((0.3, 0.0, 0.0), (0.3, 0.0, 0.0)),
        ((0.0, -0.7, 0.0), (0.0, -0.7, 0.0)),
        ((0.0, 0.0, 2.5), (0.0, 0.0, 2.5)),
        # Rx(90) Rz(90) = 120 degrees about (1, -1, 1)/sqrt3 (quaternion (.5, .5, -.5, .5)).
        (tuple(2 * PI / 3 / math.sqrt(3) * np.array([1.0, -1.0, 1.0])), (PI / 2, 0.0, PI / 2)),
        # Rx(90) Ry(90) = 120 degrees about (1, 1, 1)/sqrt3: gimbal lock, reported as c = 0.
        (tuple(2 * PI / 3 / math.sqrt(3) * np.ones(3)), (PI / 2, PI / 2, 0.0)),
        # Rz(180) alone: the angle range is (-pi, pi], so +-pi both describe it.
        ((0.0, 0.0, PI), (0.0, 0.0, PI)),
    ],
)
def test_rotvec_to_euler_hand_computed(rotvec: tuple, euler: tuple) -> None:
    got = rotvec_to_euler_xyz(np.array(rotvec))
    # Compare as rotations and as numbers (mod 2 pi for the +-pi case).
    diff = (got - np.array(euler) + PI) % (2 * PI) - PI
    np.testing.assert_allclose(diff, 0.0, atol=1e-12)


def test_euler_matches_matrix_product() -> None:
    rng = np.random.default_rng(0)
    for a, b, c in rng.uniform(-3, 3, size=(20, 3)):
        expected = rx(a) @ ry(b) @ rz(c)
        rv = euler_xyz_to_rotvec(np.array([a, b, c]))
        np.testing.assert_allclose(mat_of_rotvec(rv), expected, atol=1e-12)


def test_round_trip_random() -> None:
    rng = np.random.default_rng(1)
    e = np.stack(
        [
            rng.uniform(-PI, PI, 5000),
            rng.uniform(-PI / 2, PI / 2, 5000),
            rng.uniform(-PI, PI, 5000),
        ],
        axis=-1,
    )
    np.testing.assert_allclose(quat_to_euler_xyz(euler_xyz_to_quat(e)), e, atol=1e-9)
    v = rng.normal(size=(5000, 3))
    v *= (rng.uniform(0, PI, 5000) / np.linalg.norm(v, axis=1))[:, None]
    back = euler_xyz_to_rotvec(rotvec_to_euler_xyz(v))
    np.testing.assert_allclose(back, v, atol=1e-9)


@pytest.mark.parametrize("b", [PI / 2, -PI / 2, PI / 2 - 1e-12, PI / 2 - 1e-7, -PI / 2 + 1e-5])
def test_near_gimbal_lock_keeps_the_rotation(b: float) -> None:
    rng = np.random.default_rng(2)
    for a, c in rng.uniform(-3, 3, size=(50, 2)):
        q = euler_xyz_to_quat(np.array([a, b, c]))
        e = quat_to_euler_xyz(q)
        assert quat_angle(euler_xyz_to_quat(e), q) < 1e-7
        assert abs(e[1] - b) < 1e-6


def test_small_angles_are_first_order_equal() -> None:
    v = np.array([[1e-9, -2e-9, 3e-9], [0.0, 0.0, 0.0], [1e-5, 2e-5, -1e-5]])
    e = rotvec_to_euler_xyz(v)
    np.testing.assert_allclose(e[:2], v[:2], atol=1e-17)
    np.testing.assert_allclose(e[2], v[2], atol=1e-9)  # second-order terms at 1e-5
    np.testing.assert_allclose(euler_xyz_to_rotvec(e), v, atol=1e-15)


def test_vectorised_shapes() -> None:
    v = np.zeros((4, 51, 3))
    assert rotvec_to_euler_xyz(v).shape == (4, 51, 3)
    assert euler_xyz_to_quat(v).shape == (4, 51, 4)


# ---- FK ------------------------------------------------------------------------------


def random_qpos(model: mujoco.MjModel, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    q = np.zeros((n, model.nq))
    q[:, :3] = rng.normal(size=(n, 3))
    quat = rng.normal(size=(n, 4))
    q[:, 3:7] = quat / np.linalg.norm(quat, axis=1, keepdims=True)
    q[:, 7:] = rng.uniform(-PI, PI, size=(n, model.nq - 7))
    return q


def test_fk_matches_mujoco() -> None:
    model = build_model()
    q = random_qpos(model, 40, 3)
    pos, quat = fk(model, q)
    ref_pos, ref_quat = fk_mujoco(model, q)
    assert pos.shape == (40, 52, 3) and quat.shape == (40, 52, 4)
    np.testing.assert_allclose(pos, ref_pos, atol=1e-12)
    assert quat_angle(quat, ref_quat).max() < 1e-9
    p1, q1 = fk(model, q[5])
    np.testing.assert_allclose(p1, pos[5])
    np.testing.assert_allclose(q1, quat[5])


def test_fk_with_rotated_rest_frames_matches_mujoco() -> None:
    spec = build_spec()
    tilt = np.array([0.9, 0.3, -0.2, 0.1])
    spec.body("L_Knee").quat = tilt / np.linalg.norm(tilt)
    spec.body("R_Wrist").quat = np.array([0.0, 0.0, 0.0, 1.0])
    model = spec.compile()
    q = random_qpos(model, 10, 4)
    pos, quat = fk(model, q)
    ref_pos, ref_quat = fk_mujoco(model, q)
    np.testing.assert_allclose(pos, ref_pos, atol=1e-12)
    assert quat_angle(quat, ref_quat).max() < 1e-9


def test_fk_rejects_other_joint_layouts() -> None:
    model = mujoco.MjModel.from_xml_string(
        "<mujoco><worldbody><body><freejoint/><geom size='.1'/>"
        "<body pos='0 0 1'><joint type='ball'/><geom size='.1'/></body></body></worldbody></mujoco>"
    )
    with pytest.raises(ValueError, match="nq"):
        KinematicTree.from_model(model)
    with pytest.raises(ValueError, match="width"):
        fk(build_model(), np.zeros((2, 10)))


def synthetic_clip(qpos: np.ndarray, model: mujoco.MjModel) -> HOIClip:
    """A clip whose arrays come from FK of ``qpos`` on ``model``."""
    t = qpos.shape[0]
    pos, quat = fk(model, qpos)
    rotvec = euler_xyz_to_rotvec(qpos[:, 7:].reshape(t, 51, 3))
    meta = ClipMeta(dataset="synthetic", subject="s1", clip_id="c1", object_name="box")
    return HOIClip(
        meta=meta,
        root_pos=qpos[:, :3].astype(np.float32),
        root_quat=qpos[:, 3:7].astype(np.float32),
        joint_rotvec=rotvec.astype(np.float32),
        body_pos=pos.astype(np.float32),
        body_quat=quat.astype(np.float32),
        obj_pos=np.zeros((t, 3), np.float32),
        obj_quat=np.tile(np.float32([1, 0, 0, 0]), (t, 1)),
        contact=np.zeros((t, 52), np.int8),
        obj_contact=np.zeros(t, np.int8),
    )


def test_clip_to_qpos_round_trips_through_fk() -> None:
    model = build_model()
    q = random_qpos(model, 8, 5)
    q[:, 7:] = np.clip(q[:, 7:], -1.4, 1.4)  # away from gimbal lock, so angles come back equal
    clip = synthetic_clip(q, model)
    q2 = clip_to_qpos(clip)
    assert q2.shape == (8, 160)
    np.testing.assert_allclose(q2, q, atol=2e-6)  # float32 storage


# ---- the real sample ---------------------------------------------------------------

INDEX_BODIES = tuple(f"{s}_Index{i}" for s in "LR" for i in (1, 2, 3))
FINGERS = ("Index", "Middle", "Pinky", "Ring", "Thumb")


@functools.lru_cache(maxsize=1)
def _sample_clips(raw: Path) -> tuple[HOIClip, ...]:
    return tuple(read_clip(p) for p in sorted(raw.glob("*.pt")))


@pytest.fixture(scope="module")
def clips(sample_raw: Path) -> tuple[HOIClip, ...]:
    cs = _sample_clips(sample_raw)
    assert len(cs) == 27
    return cs


def test_fk_reproduces_file_orientations(clips: tuple[HOIClip, ...], record_property) -> None:
    tree = KinematicTree.from_model(build_model())
    worst = 0.0
    for c in clips:
        _, quat = fk(tree, clip_to_qpos(c))
        err = quat_angle(quat, c.body_quat)  # [T, 52]
        assert err.shape[1] == 52
        assert err.max() < 1e-3, f"{c.meta.clip_id}: {err.max():.2e} rad"
        worst = max(worst, float(err.max()))
    record_property("orientation_max_err_rad", worst)
    print(f"FK orientation max error over the sample: {worst:.2e} rad")


def test_orientation_columns_detect_a_permutation(clips: tuple[HOIClip, ...]) -> None:
    """Swapping two orientation columns breaks FK agreement: the test above would see it."""
    c = clips[0]
    tree = KinematicTree.from_model(build_model())
    _, quat = fk(tree, clip_to_qpos(c))
    i, j = SMPLX_BODY_NAMES.index("L_Elbow"), SMPLX_BODY_NAMES.index("R_Elbow")
    swapped = c.body_quat.copy()
    swapped[:, [i, j]] = swapped[:, [j, i]]
    assert quat_angle(quat, swapped)[:, [i, j]].max() > 0.1


def test_position_columns_follow_the_tree(clips: tuple[HOIClip, ...]) -> None:
    """As read (the reader repairs InterAct's shifted finger columns, see
    test_finger_position_columns_are_shifted), every body is rigid in its parent's frame.
    """
    for c in clips:
        meas = measure_clip_bones(c, SMPLX_PARENTS, tol=1e-3)
        bad = {SMPLX_BODY_NAMES[i] for i in np.flatnonzero(~meas.consistent)}
        assert not bad, f"{c.meta.clip_id}: not rigid: {sorted(bad)}"


def test_position_check_detects_a_permutation(clips: tuple[HOIClip, ...]) -> None:
    c = clips[0]
    i, j = SMPLX_BODY_NAMES.index("L_Knee"), SMPLX_BODY_NAMES.index("R_Knee")
    pos = c.body_pos.copy()
    pos[:, [i, j]] = pos[:, [j, i]]
    meas = measure_clip_bones(c.with_arrays(body_pos=pos), SMPLX_PARENTS, tol=1e-3)
    bad = {SMPLX_BODY_NAMES[k] for k in np.flatnonzero(~meas.consistent)}
    assert {"L_Knee", "R_Knee"} <= bad


def _raw_positions(c: HOIClip) -> HOIClip:
    """The clip with the file's position columns as they are, before the reader's repair."""
    x = torch.load(c.meta.source_path, weights_only=True).detach().numpy()
    return c.with_arrays(body_pos=x[:, 162:318].reshape(-1, 52, 3))


def test_finger_position_columns_are_shifted(clips: tuple[HOIClip, ...]) -> None:
    """Documents the sample's defect, which the interact-pt reader detects and repairs.

    Columns L_Index1..3 hold points fixed to the head (SMPL-X jaw and eyes); the column
    of every later finger joint holds the same joint of the previous finger in SMPL-X
    order (L_Middle* = left index, ..., R_Index* = left thumb, R_Middle* = right index,
    ..., R_Thumb* = right ring): each is rigid to the wrist of that hand, nearest the
    mean adult's position of that joint. The right thumb is not in the file.
    """
    clips = tuple(_raw_positions(c) for c in clips)
    meas = measure_clip_bones(clips[0], SMPLX_PARENTS, tol=1e-3)
    assert not any(meas.consistent[SMPLX_BODY_NAMES.index(n)] for n in INDEX_BODIES)
    assert all(fingers_shifted(c.body_pos, c.body_quat) for c in clips)
    fingers = [f"{s}_{f}{j}" for s in "LR" for f in FINGERS for j in (1, 2, 3)]
    sk = default_skeleton()
    rest = np.zeros((52, 3))  # mean adult body positions at zero angles
    for i in range(1, 52):
        rest[i] = rest[SMPLX_PARENTS[i]] + sk.offsets()[i]
    parents = list(SMPLX_PARENTS)
    head = SMPLX_BODY_NAMES.index("Head")
    for n in fingers[:3]:
        parents[SMPLX_BODY_NAMES.index(n)] = head
    for col, true in zip(fingers[3:], fingers[:-3], strict=True):
        parents[SMPLX_BODY_NAMES.index(col)] = SMPLX_BODY_NAMES.index(f"{true[0]}_Wrist")
    for c in clips:
        m = measure_clip_bones(c, parents, tol=1e-3)
        assert m.consistent.all(), c.meta.clip_id
        for n in fingers[:3]:
            assert np.linalg.norm(m.offsets[SMPLX_BODY_NAMES.index(n)]) < 0.12
        for col, true in zip(fingers[3:], fingers[:-3], strict=True):
            k, wrist = SMPLX_BODY_NAMES.index(col), parents[SMPLX_BODY_NAMES.index(col)]
            same_hand = [n for n in fingers if n[0] == true[0]]
            dist = {
                n: np.linalg.norm(m.offsets[k] - (rest[SMPLX_BODY_NAMES.index(n)] - rest[wrist]))
                for n in same_hand
            }
            assert min(dist, key=dist.__getitem__) == true, (c.meta.clip_id, col)


def test_fitted_humanoid_reproduces_positions(clips: tuple[HOIClip, ...], record_property) -> None:
    generic = KinematicTree.from_model(build_model())
    errs_fit, errs_gen, errs_fit_all = [], [], []
    for c in clips:
        fitted = fit_skeleton(c)
        assert set(fitted.fallback) <= set(INDEX_BODIES)
        trusted = fitted.measurement.consistent
        q = clip_to_qpos(c)
        pos_fit, _ = fk(build_model(fitted.skeleton), q)
        pos_gen, _ = fk(generic, q)
        e_fit = np.linalg.norm(pos_fit - c.body_pos, axis=-1)
        e_gen = np.linalg.norm(pos_gen - c.body_pos, axis=-1)
        errs_fit.append(e_fit[:, trusted].mean())
        errs_gen.append(e_gen[:, trusted].mean())
        errs_fit_all.append(e_fit.mean())
        assert e_fit[:, trusted].mean() < 0.01, c.meta.clip_id
    fit_cm, gen_cm = 100 * float(np.mean(errs_fit)), 100 * float(np.mean(errs_gen))
    record_property("fitted_mean_pos_err_cm", fit_cm)
    record_property("generic_mean_pos_err_cm", gen_cm)
    print(
        f"mean body position error over trusted bodies: fitted {fit_cm:.2e} cm, "
        f"generic {gen_cm:.2f} cm (fitted, all 52 columns: {100 * np.mean(errs_fit_all):.2f} cm)"
    )
    assert gen_cm > fit_cm
