"""Readers: the sample's .pt files, our npz, the registry, and writing back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from intermimic.errors import ReadError, UnknownFormatError, ValidationError
from intermimic.motion.clip import FIELDS, ClipMeta, HOIClip
from intermimic.motion.formats import (
    ClipFormat,
    Decoded,
    available_formats,
    get_format,
    register_format,
)
from intermimic.motion.formats.interact_pt import encode, parse_name
from intermimic.motion.load import read_clip
from intermimic.motion.synthetic import synthetic_clip, write_synthetic_dataset


def test_builtin_formats_registered() -> None:
    assert {"interact-pt", "npz"} <= set(available_formats())
    with pytest.raises(UnknownFormatError, match="known formats: .*interact-pt"):
        get_format("behave")


@pytest.mark.parametrize(
    ("name", "subject", "obj"),
    [
        ("sub2_largetable_003.pt", "sub2", "largetable"),
        ("sub10_small_box_012.pt", "sub10", "small_box"),
    ],
)
def test_parse_name(name: str, subject: str, obj: str) -> None:
    parsed = parse_name(Path(name))
    assert parsed == {"subject": subject, "object_name": obj, "clip_id": name[:-3]}


@pytest.mark.parametrize("name", ["largetable.pt", "sub2_003.pt", "sub2_table_x.pt", "_a_1.pt"])
def test_unparseable_names(name: str) -> None:
    with pytest.raises(ReadError, match="does not parse"):
        parse_name(Path(name))


def test_sample_pt_matches_columns(sample_raw: Path) -> None:
    path = sample_raw / "sub2_largetable_000.pt"
    raw = torch.load(path, weights_only=True).detach().numpy()
    clip = read_clip(path)
    assert clip.meta.subject == "sub2" and clip.meta.object_name == "largetable"
    assert clip.meta.clip_id == "sub2_largetable_000" and clip.meta.fps == 30.0
    assert clip.n_frames == raw.shape[0] and clip.n_bodies == 52
    # x y z w in the file -> w x y z inside
    np.testing.assert_allclose(clip.root_quat[:, 0], raw[:, 6], atol=1e-6)
    np.testing.assert_allclose(clip.root_quat[:, 1:], raw[:, 3:6], atol=1e-6)
    np.testing.assert_allclose(clip.obj_quat[:, 0], raw[:, 324], atol=1e-6)
    np.testing.assert_allclose(clip.body_quat[:, 7, 0], raw[:, 383 + 7 * 4 + 3], atol=1e-6)
    np.testing.assert_array_equal(clip.body_pos[:, 17], raw[:, 162 + 17 * 3 : 162 + 18 * 3])
    # InterAct's finger columns are one finger late: L_Index1 is read from L_Middle1's column
    np.testing.assert_array_equal(clip.body_pos[:, 18], raw[:, 162 + 21 * 3 : 162 + 22 * 3])
    assert clip.extra["repaired"].startswith("finger positions")
    np.testing.assert_array_equal(clip.contact, raw[:, 331:383].astype(np.int8))
    np.testing.assert_array_equal(clip.obj_contact, raw[:, 330].astype(np.int8))
    np.testing.assert_array_equal(clip.joint_rotvec.reshape(-1, 153), raw[:, 9:162])
    assert len(clip.meta.source_sha256) == 64


def test_pt_write_read_roundtrip(tmp_path: Path) -> None:
    clip = synthetic_clip()
    path = tmp_path / f"{clip.meta.clip_id}.pt"
    get_format("interact-pt").write(clip, path)
    back = read_clip(path)
    for name in FIELDS:
        np.testing.assert_allclose(
            getattr(back, name), getattr(clip, name), atol=1e-6, err_msg=name
        )
    assert encode(back).shape == (clip.n_frames, 591)


def test_npz_roundtrip_and_default_clip_id(tmp_path: Path) -> None:
    clip = synthetic_clip(subject="s9", take=4)
    path = tmp_path / "anything.npz"
    get_format("npz").write(clip, path)
    back = read_clip(path)
    assert back.meta.subject == "s9" and back.meta.clip_id == clip.meta.clip_id
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(back, name), getattr(clip, name))
    # without clip_id the file name is the id
    arrays = dict(np.load(path))
    arrays.pop("clip_id")
    np.savez(tmp_path / "my_take.npz", **arrays)
    assert read_clip(tmp_path / "my_take.npz").meta.clip_id == "my_take"


def test_npz_missing_object_pose_and_subject(tmp_path: Path) -> None:
    clip = synthetic_clip()
    get_format("npz").write(clip, tmp_path / "a.npz")
    arrays = dict(np.load(tmp_path / "a.npz"))
    no_obj = {k: v for k, v in arrays.items() if k != "obj_quat"}
    np.savez(tmp_path / "b.npz", **no_obj)
    with pytest.raises(ValidationError, match="missing field.*obj_quat"):
        read_clip(tmp_path / "b.npz")
    np.savez(tmp_path / "c.npz", **{k: v for k, v in arrays.items() if k != "subject"})
    with pytest.raises(ReadError, match="missing key 'subject'"):
        read_clip(tmp_path / "c.npz")


def test_npz_object_array_refused(tmp_path: Path) -> None:
    clip = synthetic_clip()
    get_format("npz").write(clip, tmp_path / "a.npz")
    arrays = dict(np.load(tmp_path / "a.npz"))
    arrays["root_pos"] = np.array([{"a": 1}], dtype=object)
    np.savez(tmp_path / "evil.npz", **arrays)  # savez pickles the object array
    with pytest.raises(ReadError, match="unreadable array"):
        read_clip(tmp_path / "evil.npz")


def test_npz_subject_with_path_escape(tmp_path: Path) -> None:
    clip = synthetic_clip()
    get_format("npz").write(clip, tmp_path / "a.npz")
    arrays = dict(np.load(tmp_path / "a.npz"))
    arrays["subject"] = np.array("../../etc")
    np.savez(tmp_path / "escape.npz", **arrays)
    with pytest.raises(ValidationError, match="subject.*not a plain name"):
        read_clip(tmp_path / "escape.npz")


def test_third_party_format_plugs_in(tmp_path: Path) -> None:
    """A user-defined reader (say for a CSV capture) needs no change in the core."""

    class Csv(ClipFormat):
        name = "test-csv"
        suffixes = (".mycsv",)

        def decode(self, data: bytes, path: Path) -> Decoded:
            src = synthetic_clip(subject="csvsubj", n_frames=int(data.decode()))
            return Decoded(
                meta={
                    "subject": "csvsubj",
                    "object_name": "box",
                    "clip_id": path.stem,
                    "fps": 30.0,
                },
                arrays=src.arrays(),
            )

    register_format(Csv(), replace=True)
    (tmp_path / "take1.mycsv").write_text("12")
    clip = read_clip(tmp_path / "take1.mycsv")
    assert clip.n_frames == 12 and clip.meta.source_format == "test-csv"


def test_resampled_on_read(tmp_path: Path) -> None:
    clip = synthetic_clip(n_frames=61)
    slow = clip.with_meta(fps=60.0)  # the same frames declared at 60 fps: half the duration
    get_format("npz").write(slow, tmp_path / "x.npz")
    back = read_clip(tmp_path / "x.npz")
    assert back.meta.fps == 30.0 and back.meta.source_fps == 60.0
    assert back.n_frames == 31
    np.testing.assert_allclose(back.root_pos, clip.root_pos[::2], atol=1e-6)
    np.testing.assert_allclose(back.body_quat, clip.body_quat[::2], atol=1e-6)


def test_synthetic_dataset_files(tmp_path: Path) -> None:
    paths = write_synthetic_dataset(tmp_path, subjects=("a1",), clips_per_subject=2, format="npz")
    clips = [read_clip(p) for p in paths]
    assert [c.meta.clip_id for c in clips] == ["a1_box_000", "a1_box_001"]
    assert isinstance(clips[0], HOIClip) and isinstance(clips[0].meta, ClipMeta)


def test_refined_reference_needs_trim(shared_data: Path) -> None:
    """InterMimic's refined files start with an invalid frame: rejected, or trimmed."""
    from intermimic.motion.settings import IngestSettings

    path = shared_data / "omomo" / "refined_by_intermimic" / "sub2_largetable_000.pt"
    with pytest.raises(ValidationError, match="root_quat.*frame 0"):
        read_clip(path)
    raw_frames = torch.load(path, weights_only=True).shape[0]
    clip = read_clip(path, settings=IngestSettings(trim_invalid_leading_frames=True))
    assert clip.n_frames == raw_frames - 1
