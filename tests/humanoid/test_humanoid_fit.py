"""Subject-fitted humanoids: from clips (synthetic and the sample) and from SMPL-X files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from intermimic.humanoid import (
    BoneLengthError,
    SmplxModelError,
    build_model,
    default_skeleton,
    fit_skeleton,
    skeleton_from_smplx,
    skeleton_with_offsets,
    smplx_joints,
)
from intermimic.humanoid.fit import measure_bones
from intermimic.motion.clip import ClipMeta, HOIClip
from intermimic.motion.kinematics import clip_to_qpos, euler_xyz_to_rotvec, fk
from intermimic.motion.load import read_clip
from intermimic.motion.skeleton import SMPLX_BODY_NAMES, SMPLX_PARENTS
from intermimic.motion.smplx import SMPLX_JOINT_OF_BODY, SMPLX_JOINT_PARENTS, SMPLX_TO_HUMANOID


def subject_offsets(seed: int = 0) -> np.ndarray:
    """The default offsets, each bone stretched and turned a little: a made-up subject."""
    rng = np.random.default_rng(seed)
    off = default_skeleton().offsets()
    off[1:] *= rng.uniform(0.85, 1.15, size=(51, 1))
    off[1:] += rng.normal(scale=0.01, size=(51, 3)) * np.linalg.norm(off[1:], axis=1, keepdims=True)
    return off


def clip_of(model, t: int = 60, seed: int = 1) -> HOIClip:
    rng = np.random.default_rng(seed)
    q = np.zeros((t, model.nq))
    q[:, 2] = 0.9
    q[:, 3] = 1.0
    q[:, 7:] = rng.uniform(-1.2, 1.2, size=(t, model.nq - 7))
    pos, quat = fk(model, q)
    meta = ClipMeta(dataset="synthetic", subject="s7", clip_id="c1", object_name="box")
    return HOIClip(
        meta=meta,
        root_pos=q[:, :3].astype(np.float32),
        root_quat=q[:, 3:7].astype(np.float32),
        joint_rotvec=euler_xyz_to_rotvec(q[:, 7:].reshape(t, 51, 3)).astype(np.float32),
        body_pos=pos.astype(np.float32),
        body_quat=quat.astype(np.float32),
        obj_pos=np.zeros((t, 3), np.float32),
        obj_quat=np.tile(np.float32([1, 0, 0, 0]), (t, 1)),
        contact=np.zeros((t, 52), np.int8),
        obj_contact=np.zeros(t, np.int8),
    )


@pytest.fixture(scope="module")
def subject():
    truth, _ = skeleton_with_offsets(default_skeleton(), subject_offsets())
    return truth, clip_of(build_model(truth))


def test_vector_fit_recovers_offsets(subject) -> None:
    truth, clip = subject
    fitted = fit_skeleton(clip)
    assert fitted.fallback == ()
    assert fitted.skeleton.name.endswith("_s7")
    np.testing.assert_allclose(fitted.skeleton.offsets()[1:], truth.offsets()[1:], atol=1e-5)
    np.testing.assert_allclose(fitted.measurement.lengths[1:], truth.bone_lengths()[1:], atol=1e-5)
    build_model(fitted.skeleton)  # compiles


def test_length_fit_scales_default_directions(subject) -> None:
    truth, clip = subject
    fitted = fit_skeleton(clip, mode="length")
    default = default_skeleton()
    np.testing.assert_allclose(
        fitted.skeleton.bone_lengths()[1:], truth.bone_lengths()[1:], atol=1e-5
    )
    off, d = fitted.skeleton.offsets()[1:], default.offsets()[1:]
    cos = np.sum(off * d, axis=1) / np.linalg.norm(off, axis=1) / np.linalg.norm(d, axis=1)
    np.testing.assert_allclose(cos, 1.0, atol=1e-9)
    with pytest.raises(ValueError, match="mode"):
        fit_skeleton(clip, mode="sideways")  # type: ignore[arg-type]


def test_geoms_follow_the_bone(subject) -> None:
    _, clip = subject
    sk = fit_skeleton(clip).skeleton
    default = default_skeleton()
    # A shin capsule: scaled by the shin ratio and turned onto the fitted knee-ankle bone.
    knee, ankle = sk.index("L_Knee"), sk.index("L_Ankle")
    ratio = sk.bone_lengths()[ankle] / default.bone_lengths()[ankle]
    ft = np.array(sk.body("L_Knee").geoms[0].fromto).reshape(2, 3)
    ft0 = np.array(default.body("L_Knee").geoms[0].fromto).reshape(2, 3)
    np.testing.assert_allclose(
        np.linalg.norm(ft[1] - ft[0]), ratio * np.linalg.norm(ft0[1] - ft0[0])
    )
    axis, bone = ft[1] - ft[0], np.array(sk.bodies[ankle].offset)
    cos0 = np.dot(ft0[1] - ft0[0], default.offsets()[ankle])
    cos0 /= np.linalg.norm(ft0[1] - ft0[0]) * default.bone_lengths()[ankle]
    cos1 = np.dot(axis, bone) / np.linalg.norm(axis) / np.linalg.norm(bone)
    assert cos1 == pytest.approx(cos0, abs=1e-9)  # same angle to the bone as before
    assert sk.body("L_Knee").geoms[0].size == default.body("L_Knee").geoms[0].size
    assert knee + 1 == ankle
    # The foot box stays axis-aligned.
    assert sk.body("L_Ankle").geoms[0].quat == (1.0, 0.0, 0.0, 0.0)


def test_untrusted_column_falls_back(subject) -> None:
    _, clip = subject
    pos = clip.body_pos.copy()
    k = SMPLX_BODY_NAMES.index("R_Elbow")
    pos[:, k] += np.random.default_rng(3).normal(scale=0.05, size=pos[:, k].shape)
    fitted = fit_skeleton(clip.with_arrays(body_pos=pos))
    # A noisy column spoils both bones that touch it: into the elbow and out to the wrist.
    assert fitted.fallback == ("R_Elbow", "R_Wrist")
    default = default_skeleton()
    for j in (k, k + 1):
        got = np.array(fitted.skeleton.bodies[j].offset)
        d = default.offsets()[j]
        assert np.dot(got, d) / np.linalg.norm(got) / np.linalg.norm(d) == pytest.approx(1.0)


def test_absurd_measured_bone_raises(subject) -> None:
    _, clip = subject
    pos = clip.body_pos.copy()
    k = SMPLX_BODY_NAMES.index("L_Middle3")
    par = SMPLX_PARENTS[k]
    pos[:, k] = pos[:, par] + 20.0 * (pos[:, k] - pos[:, par])  # a 0.5 m fingertip
    with pytest.raises(BoneLengthError, match="L_Middle3"):
        fit_skeleton(clip.with_arrays(body_pos=pos))


def test_measure_bones_shapes() -> None:
    rng = np.random.default_rng(0)
    pos = rng.normal(size=(5, 3, 3))
    quat = np.tile([1.0, 0, 0, 0], (5, 3, 1))
    m = measure_bones(pos, quat, [-1, 0, 1])
    assert m.offsets.shape == (3, 3) and m.spread.shape == (3,) and m.n_frames == 5
    assert m.consistent[0] and not m.consistent[1:].all()


# ---- the real sample ----------------------------------------------------------------


def test_sample_subject_fit(sample_raw: Path, record_property) -> None:
    clips = [read_clip(p) for p in sorted(sample_raw.glob("*.pt"))]
    fitted = fit_skeleton(clips)
    # The reader repairs InterAct's shifted finger columns, so every bone is rigid.
    assert set(fitted.fallback) == set()
    assert fitted.measurement.consistent.all()
    model = build_model(fitted.skeleton)
    errs = [
        np.linalg.norm(fk(model, clip_to_qpos(c))[0] - c.body_pos, axis=-1).mean() for c in clips
    ]
    record_property("subject_fit_mean_err_cm", 100 * float(np.mean(errs)))
    assert np.mean(errs) < 0.01
    # The subject is a little taller-legged than the mean adult.
    assert 0.8 < fitted.ratios[SMPLX_BODY_NAMES.index("L_Knee")] < 1.2


# ---- SMPL-X --------------------------------------------------------------------------


def write_smplx(path: Path, seed: int = 0, n_betas: int = 10, **override) -> dict:
    """A tiny SMPL-X-shaped model: 4 vertices per joint, joints = vertex means.

    Its template puts SMPL-X joint j at the mean adult's body position (in SMPL-X axes),
    so betas = 0 gives back the default offsets.
    """
    rng = np.random.default_rng(seed)
    default = default_skeleton()
    par = np.array(default.parents)
    world = np.zeros((52, 3))
    for i in range(1, 52):
        world[i] = world[par[i]] + default.offsets()[i]
    joints = np.zeros((55, 3))
    joints[list(SMPLX_JOINT_OF_BODY)] = world @ SMPLX_TO_HUMANOID  # humanoid -> SMPL-X axes
    joints[22:25] = joints[15] + [0.0, 0.05, 0.08]  # jaw and eyes, unused
    v_template = np.repeat(joints, 4, axis=0) + rng.normal(scale=0.01, size=(220, 3))
    v_template -= np.repeat(v_template.reshape(55, 4, 3).mean(axis=1) - joints, 4, axis=0)
    jreg = np.kron(np.eye(55), np.full((1, 4), 0.25))
    shapedirs = rng.normal(scale=0.002, size=(220, 3, n_betas))
    kintree = np.stack([np.array(SMPLX_JOINT_PARENTS) % 2**32, np.arange(55)]).astype(np.uint32)
    arrays = {
        "v_template": v_template,
        "shapedirs": shapedirs,
        "J_regressor": jreg,
        "kintree_table": kintree,
        "f": np.zeros((1, 3), np.uint32),
    }
    arrays.update(override)
    np.savez(path, **arrays)
    return arrays


def test_smplx_zero_betas_gives_default(tmp_path: Path) -> None:
    path = tmp_path / "SMPLX_NEUTRAL.npz"
    write_smplx(path)
    fitted = skeleton_from_smplx(path, np.zeros(10))
    np.testing.assert_allclose(
        fitted.skeleton.offsets()[1:], default_skeleton().offsets()[1:], atol=1e-9
    )
    np.testing.assert_allclose(fitted.ratios, 1.0, atol=1e-9)


def test_smplx_betas_change_bones(tmp_path: Path) -> None:
    path = tmp_path / "SMPLX_NEUTRAL.npz"
    arrays = write_smplx(path)
    betas = np.array([1.5, -1.0, 0.5])
    joints = smplx_joints(path, betas)
    expected = arrays["J_regressor"] @ (
        arrays["v_template"] + arrays["shapedirs"][:, :, :3] @ betas
    )
    np.testing.assert_allclose(joints, expected[:55])
    fitted = skeleton_from_smplx(path, betas)
    k = SMPLX_BODY_NAMES.index("L_Knee")  # SMPL-X joint 4, parent 1
    want = (expected[4] - expected[1]) @ SMPLX_TO_HUMANOID.T
    np.testing.assert_allclose(fitted.skeleton.bodies[k].offset, want, atol=1e-12)
    assert not np.allclose(fitted.ratios, 1.0)
    build_model(fitted.skeleton)


def test_smplx_file_errors(tmp_path: Path) -> None:
    with pytest.raises(SmplxModelError, match="not found"):
        smplx_joints(tmp_path / "missing.npz", [0.0])
    with pytest.raises(SmplxModelError, match=".pkl"):
        smplx_joints(tmp_path / "model.pkl", [0.0])
    p = tmp_path / "nojreg.npz"
    np.savez(p, v_template=np.zeros((4, 3)), shapedirs=np.zeros((4, 3, 2)))
    with pytest.raises(SmplxModelError, match="J_regressor"):
        smplx_joints(p, [0.0])
    p = tmp_path / "pickled.npz"
    np.savez(p, v_template=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(SmplxModelError, match="unpickling"):
        smplx_joints(p, [0.0])
    p = tmp_path / "tree.npz"
    write_smplx(p, kintree_table=np.zeros((2, 55), np.uint32))
    with pytest.raises(SmplxModelError, match="kintree"):
        smplx_joints(p, [0.0])
    p = tmp_path / "few.npz"
    write_smplx(p, n_betas=2)
    with pytest.raises(SmplxModelError, match="3 betas"):
        smplx_joints(p, [0.0, 0.0, 0.0])


def test_glitched_frames_do_not_spoil_the_fit(subject) -> None:
    truth, clip = subject
    pos, quat = clip.body_pos.copy(), clip.body_quat.copy()
    quat[0] = 0.0  # an invalid first row, as some refined files have
    pos[1, 5] = np.nan
    pos[2:4] += 0.3  # two frames of nonsense, under 5 % of 60
    fitted = fit_skeleton(clip.with_arrays(body_pos=pos, body_quat=quat))
    assert fitted.fallback == ()
    assert fitted.measurement.n_frames == 58
    np.testing.assert_allclose(fitted.skeleton.offsets()[1:], truth.offsets()[1:], atol=1e-5)
