"""The SMPL-X parameter reader (AMASS-style npz): round trips, resampling, detection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from intermimic.errors import ReadError
from intermimic.humanoid import fit_skeleton
from intermimic.motion.formats import format_for_path
from intermimic.motion.formats.npz import write_npz
from intermimic.motion.formats.smplx_npz import (
    NEUTRAL_PELVIS,
    humanoid_to_smplx_pose,
    matrix_to_quat,
    smplx_to_humanoid_pose,
    write_smplx_npz,
)
from intermimic.motion.kinematics import quat_angle, quat_to_matrix
from intermimic.motion.load import read_clip
from intermimic.motion.quat import rotvec_to_quat
from intermimic.motion.synthetic import OFFSETS, synthetic_clip


def _write(clip, path: Path, **kw) -> Path:  # type: ignore[no-untyped-def]
    args = dict(
        root_pos=clip.root_pos, root_quat=clip.root_quat, joint_rotvec=clip.joint_rotvec,
        obj_pos=clip.obj_pos, obj_quat=clip.obj_quat, object_name=clip.meta.object_name,
        fps=clip.meta.fps, subject=clip.meta.subject,
    )  # fmt: skip
    args.update(kw)
    write_smplx_npz(path, **args)
    return path


def test_sample_round_trip(sample_raw: Path, tmp_path: Path) -> None:
    """The sample's own joint rotations, written as SMPL-X parameters with the subject's
    bones, read back to the sample's body orientations and positions."""
    clip = read_clip(sample_raw / "sub2_largetable_000.pt")
    fitted = fit_skeleton(clip)
    path = _write(clip, tmp_path / "sub2_largetable_000.npz", offsets=fitted.skeleton.offsets())
    assert format_for_path(path).name == "smplx-npz"  # type: ignore[union-attr]
    back = read_clip(path)
    assert back.meta.source_format == "smplx-npz"
    assert (back.meta.subject, back.meta.object_name) == ("sub2", "largetable")
    assert back.n_frames == clip.n_frames
    assert quat_angle(back.body_quat, clip.body_quat).max() < 1e-4
    assert np.abs(back.body_pos - clip.body_pos).max() < 1e-4
    np.testing.assert_allclose(back.obj_pos, clip.obj_pos, atol=1e-6)
    assert (back.contact == 0).all() and (back.obj_contact == 0).all()


def test_pose_conversion_inverts() -> None:
    clip = synthetic_clip(n_frames=10, seed=1)
    poses = humanoid_to_smplx_pose(clip.root_quat, clip.joint_rotvec)
    assert poses.shape == (10, 55, 3)
    rq, jr = smplx_to_humanoid_pose(poses)
    assert quat_angle(rq, clip.root_quat).max() < 1e-6
    assert quat_angle(rotvec_to_quat(jr), rotvec_to_quat(clip.joint_rotvec)).max() < 1e-6


@pytest.mark.parametrize("split", [False, True])
def test_synthetic_at_60fps_resampled(tmp_path: Path, split: bool) -> None:
    """A 60 fps file becomes a 30 fps clip whose frames are every other source frame;
    ``poses`` and the split keys read the same."""
    clip = synthetic_clip(n_frames=61, seed=2)
    path = _write(clip, tmp_path / "walk.npz", fps=60.0, offsets=OFFSETS, split=split)
    back = read_clip(path)
    assert back.meta.fps == 30.0 and back.meta.source_fps == 60.0
    assert back.n_frames == 31
    assert np.abs(back.body_pos - clip.body_pos[::2]).max() < 1e-5
    assert quat_angle(back.body_quat, clip.body_quat[::2]).max() < 1e-4


def test_mean_adult_and_neutral_pelvis_without_bones(tmp_path: Path) -> None:
    clip = synthetic_clip(n_frames=5, seed=4)
    path = _write(clip, tmp_path / "a.npz")  # no rest_joints: mean adult, neutral J0
    back = read_clip(path)
    np.testing.assert_allclose(back.root_pos, clip.root_pos, atol=1e-6)
    assert quat_angle(back.body_quat, clip.body_quat).max() < 1e-4
    with np.load(path) as z:
        np.testing.assert_allclose(z["trans"] + NEUTRAL_PELVIS, clip.root_pos, atol=1e-6)


def test_object_rotation_as_matrices(tmp_path: Path) -> None:
    clip = synthetic_clip(n_frames=6, seed=5)
    path = _write(clip, tmp_path / "m.npz")
    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    data.pop("obj_quat")
    data["obj_rot"] = quat_to_matrix(clip.obj_quat)
    np.savez(path, **data)
    back = read_clip(path)
    assert quat_angle(back.obj_quat, clip.obj_quat).max() < 1e-5


def test_matrix_to_quat_every_branch() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(200, 3)) * rng.uniform(0, np.pi, (200, 1))
    v = np.concatenate([v, [[np.pi, 0, 0], [0, np.pi, 0], [0, 0, np.pi]]])
    q = rotvec_to_quat(v)
    assert quat_angle(matrix_to_quat(quat_to_matrix(q)), q).max() < 1e-7


def test_suffix_detection_by_content(tmp_path: Path) -> None:
    clip = synthetic_clip(n_frames=5)
    write_npz(clip, tmp_path / "canonical.npz")
    _write(clip, tmp_path / "params.npz")
    assert format_for_path(tmp_path / "canonical.npz").name == "npz"  # type: ignore[union-attr]
    assert format_for_path(tmp_path / "params.npz").name == "smplx-npz"  # type: ignore[union-attr]
    assert read_clip(tmp_path / "canonical.npz").meta.source_format == "npz"


def test_missing_object_is_named(tmp_path: Path) -> None:
    clip = synthetic_clip(n_frames=5)
    path = _write(clip, tmp_path / "noobj.npz")
    with np.load(path) as z:
        data = {k: z[k] for k in z.files if not k.startswith("obj")}
    np.savez(path, **data)
    with pytest.raises(ReadError, match=r"noobj\.npz.*object position"):
        read_clip(path, format="smplx-npz")
