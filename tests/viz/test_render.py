from __future__ import annotations

from pathlib import Path

import imageio.v2 as iio
import mujoco
import numpy as np
import pytest
from typer.testing import CliRunner

from intermimic.motion.formats.npz import write_npz
from intermimic.motion.synthetic import synthetic_clip
from intermimic.objects import ObjectLibrary
from intermimic.viz import RenderError, RendererUnavailableError, RenderSettings, render_clip
from intermimic.viz.render import _gl_context, contact_sheet, gl_backend, look_at_track

SMALL = RenderSettings(width=160, height=120, sheet_frames=4, sheet_columns=2)


def test_backend_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MUJOCO_GL", "EGL")
    assert gl_backend() == "egl"
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    assert gl_backend() == "osmesa"
    monkeypatch.delenv("MUJOCO_GL")
    assert gl_backend() in ("egl", "osmesa")


def test_unknown_backend_names_the_env_var() -> None:
    with pytest.raises(RendererUnavailableError, match="MUJOCO_GL"):
        _gl_context("nonsense", 8, 8)


def test_contact_sheet_and_camera_track() -> None:
    tiles = [np.full((2, 3, 3), i, np.uint8) for i in range(3)]
    sheet = contact_sheet(tiles, columns=2)
    assert sheet.shape == (4, 6, 3)
    assert sheet[2:, 3:].min() == 255  # empty cell
    track = look_at_track(synthetic_clip(n_frames=40), smooth_frames=9)
    assert track.shape == (40, 3) and np.isfinite(track).all()


def test_bad_requests(
    tmp_path: Path, humanoid_spec: mujoco.MjSpec, box_library: ObjectLibrary
) -> None:
    clip = synthetic_clip(n_frames=5)
    with pytest.raises(RenderError, match="outside the clip"):
        render_clip(clip, tmp_path / "x.png", frame=9, humanoid=humanoid_spec, objects=box_library)
    with pytest.raises(RenderError, match="unknown output type"):
        render_clip(clip, tmp_path / "x.txt", humanoid=humanoid_spec, objects=box_library)


def test_png_frame_sheet_and_compare(
    gl: None, tmp_path: Path, humanoid_spec: mujoco.MjSpec, box_library: ObjectLibrary
) -> None:
    clip = synthetic_clip(n_frames=20)
    kw = {"humanoid": humanoid_spec, "objects": box_library, "settings": SMALL}
    frame = iio.imread(render_clip(clip, tmp_path / "f.png", frame=10, **kw))
    assert frame.shape == (120, 160, 3)
    assert frame.std() > 5  # not a blank image
    sheet = iio.imread(render_clip(clip, tmp_path / "s.png", **kw))
    assert sheet.shape == (240, 320, 3)
    other = synthetic_clip(n_frames=20, seed=3)
    pair = iio.imread(render_clip(clip, tmp_path / "c.png", frame=0, compare=other, **kw))
    assert pair.shape == (120, 320, 3)
    assert not np.array_equal(pair[:, :160], pair[:, 160:])
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary files left behind


def test_video(
    gl: None, tmp_path: Path, humanoid_spec: mujoco.MjSpec, box_library: ObjectLibrary
) -> None:
    ffmpeg = pytest.importorskip("imageio_ffmpeg")
    clip = synthetic_clip(n_frames=12)
    done: list[int] = []
    out = render_clip(
        clip,
        tmp_path / "v.mp4",
        humanoid=humanoid_spec,
        objects=box_library,
        settings=SMALL.model_copy(update={"stride": 2}),
        on_frame=lambda i, n: done.append(i),
    )
    assert done == [1, 2, 3, 4, 5, 6]
    reader = ffmpeg.read_frames(str(out))
    meta = next(reader)
    assert tuple(meta["size"]) == (160, 120)
    assert meta["fps"] == pytest.approx(15.0)
    assert sum(1 for _ in reader) == 6


def test_cli_render(
    gl: None, tmp_path: Path, humanoid_spec: mujoco.MjSpec, box_library: ObjectLibrary
) -> None:
    import cli.render  # noqa: F401  (registers the command)
    from cli.app import app

    clip_file = tmp_path / "clip.npz"
    write_npz(synthetic_clip(n_frames=8), clip_file)
    xml = tmp_path / "toy.xml"
    xml.write_text(humanoid_spec.to_xml())
    out = tmp_path / "cli.png"
    args = ["render", "--clip", str(clip_file), "--out", str(out), "--frame", "3"]
    args += ["--objects", str(box_library.root), "--humanoid-xml", str(xml)]
    args += ["--set", "width=160", "--set", "height=120"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert iio.imread(out).shape == (120, 160, 3)
    # A clip id without a store, and an unknown object, are clear input errors.
    bad = CliRunner().invoke(app, ["render", "--clip", "nope", "--out", str(out)])
    assert bad.exit_code == 1 and "no such clip file" in bad.output
    (tmp_path / "empty").mkdir()
    args[args.index("--objects") + 1] = str(tmp_path / "empty")
    missing = CliRunner().invoke(app, args)
    assert missing.exit_code == 1
    assert "no object named" in missing.output and "'box'" in missing.output


@pytest.mark.slow
def test_sample_table_frame(gl: None, shared_data: Path, tmp_path: Path) -> None:
    """The real table clip renders mid-clip with the reference humanoid."""
    from intermimic.motion.load import read_clip

    xml = shared_data / "humanoid" / "smplx_humanoid_intermimic.xml"
    clip = read_clip(shared_data / "omomo" / "raw" / "sub2_largetable_000.pt")
    with pytest.warns(UserWarning):
        out = render_clip(
            clip,
            tmp_path / "table.png",
            frame=clip.n_frames // 2,
            humanoid=mujoco.MjSpec.from_file(str(xml)),
            objects=ObjectLibrary(shared_data / "objects"),
            settings=SMALL,
        )
    assert iio.imread(out).std() > 5
