"""Bounded reading: a file that declares more than the limits is refused before anything
of that size is allocated (every reader, every kind of declaration), with its reason."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import numpy.lib.format as npy_format
import pytest
import torch

from intermimic.errors import InputError, ReadError, ValidationError
from intermimic.motion.clip import FIELDS
from intermimic.motion.formats import ClipFormat, Decoded, get_format, register_format
from intermimic.motion.formats.generated import write_generated
from intermimic.motion.formats.npz import write_npz
from intermimic.motion.formats.smplx_npz import write_smplx_npz
from intermimic.motion.limits import ReadLimits, using_limits
from intermimic.motion.load import read_bytes, read_clip
from intermimic.motion.resample import resample, resampled_frames
from intermimic.motion.settings import IngestSettings
from intermimic.motion.synthetic import synthetic_clip

BILLION = 10**9


# ---- InterAct .pt: views that claim more than the file stores ------------------------


def _save(t: torch.Tensor, path: Path) -> Path:
    torch.save(t, path)
    return path


def test_expanded_tensor_refused_before_copy(tmp_path: Path) -> None:
    """Issue repro: 1.5 KB that claims [10^9, 591] (a zero-stride expand)."""
    p = _save(torch.zeros(1).expand(BILLION, 591), tmp_path / "sub2_largetable_909.pt")
    assert p.stat().st_size < 4096
    with pytest.raises(ReadError, match=r"declares 1000000000 frames.*max_frames=1000000"):
        read_clip(p)


def test_expanded_tensor_under_the_frame_limit_refused(tmp_path: Path) -> None:
    """Fewer frames than the limit, still an expanded view: refused on its stride."""
    p = _save(torch.zeros(1, 591).expand(5000, 591), tmp_path / "sub2_box_001.pt")
    with pytest.raises(ReadError, match="zero stride"):
        read_clip(p)


def test_overlapping_strides_refused(tmp_path: Path) -> None:
    """Strides (1, 1): 20 000 x 591 values claimed over 20 590 stored."""
    t = torch.zeros(20_000 + 590).as_strided((20_000, 591), (1, 1))
    p = _save(t, tmp_path / "sub2_box_002.pt")
    with pytest.raises(ReadError, match="overlapping strides"):
        read_clip(p)


def _long1(n: int) -> bytes:
    b = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(b)]) + b


def test_storage_declared_bigger_than_its_record_refused(tmp_path: Path) -> None:
    """The pickle says the storage holds 591 * 10^9 values; the file holds 4 x 591."""
    buf = io.BytesIO()
    torch.save(torch.zeros(4, 591), buf)
    src = zipfile.ZipFile(buf)
    name = next(n for n in src.namelist() if n.endswith("data.pkl"))
    pkl = src.read(name)
    declared = b"M" + (4 * 591).to_bytes(2, "little")  # BININT2 2364: the storage's numel
    assert pkl.count(declared) == 1
    pkl = pkl.replace(declared, _long1(591 * BILLION))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            z.writestr(info, pkl if info.filename == name else src.read(info))
    p = tmp_path / "sub2_box_003.pt"
    p.write_bytes(out.getvalue())
    with pytest.raises(ReadError, match="not a readable torch file"):
        read_clip(p)


def test_legacy_format_not_read(tmp_path: Path) -> None:
    """The pre-1.6 format allocates what its pickle declares before reading: not read."""
    p = tmp_path / "sub2_box_004.pt"
    torch.save(torch.zeros(4, 591), p, _use_new_zipfile_serialization=False)
    with pytest.raises(ReadError, match="legacy pre-1.6"):
        read_clip(p)


def test_real_tensor_over_the_byte_limit(tmp_path: Path) -> None:
    p = _save(torch.zeros(100, 591), tmp_path / "sub2_box_005.pt")
    with pytest.raises(ReadError, match="max_array_bytes"):
        read_clip(p, settings=IngestSettings(max_array_bytes=100 * 591 * 4 - 1))
    with pytest.raises(ReadError, match="max_frames=99"):
        read_clip(p, settings=IngestSettings(max_frames=99))


# ---- npz: headers written by hand ----------------------------------------------------


def _npz_with_header(path: Path, base: dict[str, np.ndarray], key: str, shape: tuple) -> Path:
    """``base`` as an npz whose member ``key`` has a hand-written header of ``shape``
    (float32) followed by a few bytes: what a 1 KB file can claim."""
    with zipfile.ZipFile(path, "w") as z:
        for k, v in base.items():
            if k == key:
                continue
            b = io.BytesIO()
            npy_format.write_array(b, np.asarray(v))
            z.writestr(f"{k}.npy", b.getvalue())
        b = io.BytesIO()
        npy_format.write_array_header_1_0(
            b, {"descr": "<f4", "fortran_order": False, "shape": shape}
        )
        z.writestr(f"{key}.npy", b.getvalue() + b"\0" * 64)
    return path


def _canonical(tmp_path: Path) -> dict[str, np.ndarray]:
    clip = synthetic_clip("s1", n_frames=8)
    write_npz(clip, tmp_path / "good.npz")
    return dict(np.load(tmp_path / "good.npz"))


@pytest.mark.parametrize(
    ("shape", "reason"),
    [
        ((BILLION, 52, 3), r"declares 1000000000 frames.*max_frames"),
        ((1000, BILLION, 3), r"max_array_bytes"),
        ((8, 52, 3), r"declares \[8, 52, 3\].*member holds only"),
        ((-1, 52, 3), r"not an .npy member|negative"),
    ],
)
def test_npz_declared_shape_checked_before_loading(
    tmp_path: Path, shape: tuple, reason: str
) -> None:
    p = _npz_with_header(tmp_path / "big.npz", _canonical(tmp_path), "body_pos", shape)
    assert p.stat().st_size < 64 * 1024
    with pytest.raises(ReadError, match=reason):
        read_clip(p)


@pytest.mark.parametrize("fmt", ["smplx-npz", "generated-npz"])
def test_other_npz_readers_are_bounded(tmp_path: Path, fmt: str) -> None:
    clip = synthetic_clip("s1", n_frames=8)
    good = tmp_path / "good.npz"
    if fmt == "smplx-npz":
        write_smplx_npz(
            good,
            root_pos=clip.root_pos,
            root_quat=clip.root_quat,
            joint_rotvec=clip.joint_rotvec,
            obj_pos=clip.obj_pos,
            obj_quat=clip.obj_quat,
            object_name="box",
            fps=30.0,
            subject="s1",
        )
        key = "trans"
    else:
        write_generated(clip, good)
        key = "root_pos"
    base = dict(np.load(good))
    p = _npz_with_header(tmp_path / "big.npz", base, key, (BILLION, 3))
    with pytest.raises(ReadError, match="max_frames"):
        read_clip(p, format=fmt)
    assert read_clip(good, format=fmt).n_frames == 8
    # identify (for reject rows and partitions) reads names through the same bounds
    names_only = {k: v for k, v in base.items() if k in ("subject", "object_name")}
    p = _npz_with_header(tmp_path / "names.npz", names_only, "clip_id", (BILLION, 3))
    with pytest.raises(ReadError, match="max_frames"):
        get_format(fmt).identify(p)


def test_archive_that_unpacks_past_the_limit(tmp_path: Path) -> None:
    """A compressed member whose zip entry unpacks to more than max_file_bytes."""
    base = _canonical(tmp_path)
    base["body_pos"] = np.zeros((300_000, 52, 3), np.float32)  # 187 MB of zeros
    base["fps"] = np.array(30.0)
    p = tmp_path / "bomb.npz"
    np.savez_compressed(p, **base)
    assert p.stat().st_size < 2**20
    with pytest.raises(ReadError, match="unpacks to .* max_file_bytes"):
        read_clip(p, settings=IngestSettings(max_file_bytes=2**24))


def test_file_over_the_size_limit_not_read(tmp_path: Path) -> None:
    p = tmp_path / "x.npz"
    p.write_bytes(b"\0" * 5000)
    with pytest.raises(ReadError, match="more than the limit max_file_bytes=4096"):
        read_bytes(p, 4096)
    with using_limits(ReadLimits(max_file_bytes=100)), pytest.raises(ReadError, match="=100"):
        read_bytes(p)


# ---- frame rates and resampling ------------------------------------------------------


def _npz_at(tmp_path: Path, fps: float, n_frames: int = 20, name: str = "x") -> Path:
    clip = synthetic_clip("s1", n_frames=n_frames)
    p = tmp_path / f"{name}.npz"
    write_npz(clip.with_meta(fps=30.0), p)
    arrays = dict(np.load(p))
    arrays["fps"] = np.array(fps)
    np.savez(p, **arrays)
    return p


@pytest.mark.parametrize("fps", [1e6, 1e-3, 0.0, -30.0, float("nan"), float("inf"), 1000.5, 0.99])
def test_frame_rate_outside_the_limits_refused(tmp_path: Path, fps: float) -> None:
    p = _npz_at(tmp_path, fps)
    with pytest.raises(ValidationError, match=r"frame rate .* outside \[1, 1000\]"):
        read_clip(p)


def test_resampled_length_checked_before_resampling(tmp_path: Path) -> None:
    # 1 fps for 20 frames -> 19 s at 30 fps = 571 frames: over a limit of 500
    p = _npz_at(tmp_path, 1.0)
    with pytest.raises(ValidationError, match="gives 571 frames, more than the limit"):
        read_clip(p, settings=IngestSettings(max_frames=500))
    assert read_clip(p).n_frames == 571
    clip = synthetic_clip(n_frames=10)
    assert resampled_frames(10, 30.0, 3e7) == 9_000_001
    with pytest.raises(ValidationError, match="more than the limit max_frames=1000000"):
        resample(clip, 3e7, max_frames=1_000_000)


def test_min_frames_applies_after_resampling(tmp_path: Path) -> None:
    # 5 frames at 1000 fps last 4 ms: 1 frame at 30 fps
    p = _npz_at(tmp_path, 1000.0, n_frames=5)
    with pytest.raises(ValidationError, match=r"1 frame\(s\) after resampling.*at least 2"):
        read_clip(p)
    # 3 frames at 10 fps -> 7 frames at 30: enough for min_frames=5 although the file has 3
    p = _npz_at(tmp_path, 10.0, n_frames=3, name="y")
    assert read_clip(p, settings=IngestSettings(min_frames=5)).n_frames == 7


def test_settings_refuse_inconsistent_limits() -> None:
    with pytest.raises(ValueError, match="fps 5000 is outside"):
        IngestSettings(fps=5000)
    with pytest.raises(ValueError, match="min_fps .* is above max_fps"):
        IngestSettings(min_fps=100, max_fps=50)
    with pytest.raises(ValueError, match="min_frames 10 is above max_frames 5"):
        IngestSettings(min_frames=10, max_frames=5)


# ---- any reader, a third-party one included ------------------------------------------


class _Huge(ClipFormat):
    """A plug-in reader that returns a broadcast (not allocated) array of 10^9 frames."""

    name = "test-huge"
    suffixes = (".huge",)

    def decode(self, data: bytes, path: Path) -> Decoded:
        src = synthetic_clip("s1", n_frames=4).arrays()
        arrays = {k: np.broadcast_to(v[:1], (BILLION, *v.shape[1:])) for k, v in src.items()}
        return Decoded(
            meta={"subject": "s1", "object_name": "box", "clip_id": "h", "fps": 30.0},
            arrays=arrays,
        )


def test_any_reader_output_is_bounded(tmp_path: Path) -> None:
    register_format(_Huge(), replace=True)
    (tmp_path / "x.huge").write_text("x")
    with pytest.raises(InputError, match="max_frames"):
        read_clip(tmp_path / "x.huge")
    assert set(FIELDS) <= set(synthetic_clip().arrays())
