"""Exports of a published version: the round trip of every format, the data card,
selection of clips, concurrent exports, unknown versions, and the CLI."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import zarr
from typer.testing import CliRunner

from cli import app
from data_catalog import Store
from data_catalog.hoi_zarr import read_hoi_group, write_hoi_group
from data_catalog.versions import UnknownVersionError, read_version
from intermimic.export import FORMATS, ExportClip, ExportError, read_motion_npz
from intermimic.motion.formats.interact_pt import fingers_shifted
from intermimic.motion.kinematics import euler_xyz_to_rotvec
from intermimic.motion.load import read_clip
from intermimic.motion.quat import quat_mul
from stages.export import CARD, EXPORT_JSON, ExportSettings, export_version
from stages.publish import publish_refined

Published = tuple[Store, str, list[ExportClip]]


@pytest.fixture
def published(refined_store: Store) -> Published:
    rep = publish_refined(refined_store)
    clips, _ = read_version(refined_store, rep.version)
    return refined_store, rep.version, clips


def _by_clip(clips: list[ExportClip]) -> dict[str, ExportClip]:
    return {ec.clip.meta.clip_id: ec for ec in clips}


def _same_rotation(a: np.ndarray, b: np.ndarray, atol: float = 1e-5) -> None:
    """Rotation vectors ``[..., 3]`` that describe the same rotation."""
    from intermimic.motion.quat import quat_conj, rotvec_to_quat

    d = quat_mul(rotvec_to_quat(a), quat_conj(rotvec_to_quat(b)))
    np.testing.assert_allclose(np.abs(d[..., 0]), 1.0, atol=atol)


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip(published: Published, tmp_path: Path, fmt: str) -> None:
    store, version, clips = published
    out = tmp_path / fmt
    rep = export_version(store, out, ExportSettings(format=fmt))  # type: ignore[arg-type]
    assert rep.version == version and rep.clips == 4 and not rep.skipped
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(("README", "export")))
    want = _by_clip(clips)
    if fmt in ("zarr3", "zarr2"):
        back, attrs = read_hoi_group(out / "data.zarr")
        assert attrs["version"] == version and attrs["export_format"] == fmt
        assert attrs["fields"]["obj_quat"]["quaternion_order"] == "wxyz"
        assert attrs["embodiment"] == "smplx" and attrs["joint_names"][:2] == ["L_Hip_x", "L_Hip_y"]
        assert attrs["fields"]["body_linvel"]["unit"] == "m/s"
        for ec in back:
            w = want[ec.clip.meta.clip_id]
            assert ec.clip.meta == w.clip.meta and ec.info == w.info
            for name, a in w.arrays().items():
                np.testing.assert_array_equal(ec.arrays()[name], a, err_msg=name)
        g = zarr.open_group(str(out / "data.zarr"), mode="r")
        assert g.metadata.zarr_format == (3 if fmt == "zarr3" else 2)
        if fmt == "zarr2":
            assert (out / "data.zarr" / ".zmetadata").is_file()  # consolidated, v2 style
            assert g["body_pos"].attrs["_ARRAY_DIMENSIONS"] == ["time", "d1", "d2"]
    elif fmt == "interact-pt":
        files = sorted(out.glob("*.pt"))
        assert [p.stem for p in files] == sorted(want)
        for p in files:
            clip = read_clip(p)  # our own reader, as ingest uses it
            w = want[p.stem].clip
            assert not fingers_shifted(w.body_pos, w.body_quat)  # written in the right order
            assert "repaired" not in clip.extra
            assert (clip.meta.subject, clip.meta.object_name) == (w.meta.subject, "box")
            for name, a in w.arrays().items():
                atol = 1e-6 if "quat" in name else 0.0  # the reader renormalises quaternions
                np.testing.assert_allclose(getattr(clip, name), a, atol=atol, err_msg=name)
    else:
        for cid, w in want.items():
            m = read_motion_npz(out / f"{cid}.npz")
            c = w.clip
            assert float(m["fps"][0]) == 30.0 and str(m["clip_id"]) == cid
            n = c.n_frames
            assert m["joint_pos"].shape == m["joint_vel"].shape == (n, 153)
            assert list(m["body_names"][:2]) == ["Pelvis", "L_Hip"]
            assert str(m["embodiment"]) == "smplx"
            assert m["joint_names"][0] == "L_Hip_x"
            np.testing.assert_array_equal(m["body_pos_w"], c.body_pos)
            np.testing.assert_array_equal(m["body_quat_w"], c.body_quat)
            np.testing.assert_array_equal(m["body_lin_vel_w"], w.velocities["body_linvel"])
            np.testing.assert_array_equal(m["object_ang_vel_w"], w.velocities["obj_angvel"])
            np.testing.assert_array_equal(m["object_pos_w"], c.obj_pos)
            np.testing.assert_array_equal(m["contact"], c.contact)
            # hinge angles are the joints' rotations
            back = euler_xyz_to_rotvec(m["joint_pos"].reshape(n, 51, 3).astype(np.float64))
            _same_rotation(back, c.joint_rotvec.astype(np.float64))
            # joint velocities are their derivative
            np.testing.assert_allclose(
                m["joint_vel"][1:-1],
                (m["joint_pos"][2:] - m["joint_pos"][:-2]) * 15.0,
                rtol=1e-4,
                atol=1e-3,
            )
    card = (out / CARD).read_text()
    for section in ("## Provenance", "## Schema", "## Metrics", "## Load it"):
        assert section in card
    assert version in card and "s1/s1_box_000" in card
    code = card.split("```python\n")[1].split("```")[0]
    assert len(code.strip().splitlines()) == 5
    record = json.loads((out / EXPORT_JSON).read_text())
    assert record["version"] == version and len(record["clips"]) == 4


def test_zarr_export_loads_as_the_card_says(
    published: Published, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _, clips = published
    export_version(store, tmp_path / "zarr3", ExportSettings(format="zarr3"))
    card = (tmp_path / "zarr3" / CARD).read_text()
    code = card.split("```python\n")[1].split("```")[0]
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    exec(code, scope)  # the five lines a user copies
    first = _by_clip(clips)[str(scope["clip"]["clip_id"])]  # type: ignore[index]
    np.testing.assert_array_equal(scope["body_pos"], first.clip.body_pos)


def test_selection_of_subjects_and_successful_clips(published: Published, tmp_path: Path) -> None:
    store, _, _ = published
    rep = export_version(
        store, tmp_path / "npz", ExportSettings(format="npz", subjects=["s2"], only_successful=True)
    )
    assert rep.subjects == ["s2"] and sorted(rep.files) == ["s2_box_000.npz"]
    with pytest.raises(Exception, match="no subject.*s9.*it has: s1, s2"):
        export_version(store, tmp_path / "x", ExportSettings(subjects=["s9"]))


def test_two_exports_at_once_do_not_interfere(published: Published, tmp_path: Path) -> None:
    store, version, clips = published
    jobs = [
        (tmp_path / "a", "zarr3"),
        (tmp_path / "b", "npz"),
        (tmp_path / "same", "zarr2"),
        (tmp_path / "same", "interact-pt"),
    ]
    with ThreadPoolExecutor(4) as pool:
        reports = list(
            pool.map(
                lambda job: export_version(store, job[0], ExportSettings(format=job[1])),  # type: ignore[arg-type]
                jobs,
            )
        )
    assert all(r.clips == 4 for r in reports)
    back, _ = read_hoi_group(tmp_path / "a" / "data.zarr")
    assert len(back) == 4
    assert len(list((tmp_path / "b").glob("*.npz"))) == 4
    # the shared folder holds one whole export, whichever came last, nothing mixed
    record = json.loads((tmp_path / "same" / EXPORT_JSON).read_text())
    names = {p.name for p in (tmp_path / "same").iterdir()}
    if record["format"] == "zarr2":
        assert names == {"data.zarr", CARD, EXPORT_JSON}
        assert len(read_hoi_group(tmp_path / "same" / "data.zarr")[0]) == 4
    else:
        assert names == {CARD, EXPORT_JSON, *(f"{ec.clip.meta.clip_id}.pt" for ec in clips)}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left
    assert record["version"] == version


def test_export_refuses_a_folder_that_is_not_an_export(
    published: Published, tmp_path: Path
) -> None:
    store, _, _ = published
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="not an export"):
        export_version(store, tmp_path / "mine", ExportSettings())
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    # an earlier export is replaced whole
    export_version(store, tmp_path / "ex", ExportSettings(format="npz"))
    export_version(store, tmp_path / "ex", ExportSettings(format="zarr3"))
    assert {p.name for p in (tmp_path / "ex").iterdir()} == {"data.zarr", CARD, EXPORT_JSON}


def test_unknown_version_fails_with_the_known_ones(published: Published, tmp_path: Path) -> None:
    store, version, _ = published
    with pytest.raises(
        UnknownVersionError, match=f"unknown version 'v-nope'; known versions: {version}"
    ):
        export_version(store, tmp_path / "x", ExportSettings(version="v-nope"))
    assert not (tmp_path / "x").exists()


def test_cli_publish_versions_export(refined_store: Store, tmp_path: Path) -> None:
    runner = CliRunner()
    root = str(refined_store.root)
    res = runner.invoke(app, ["export", "--store", root, "--out", str(tmp_path / "x")])
    assert res.exit_code == 1 and "no current version; known versions: none" in res.output
    res = runner.invoke(app, ["publish", "--store", root])
    assert res.exit_code == 0, res.output
    version = read_version(refined_store)[1]["version"]
    assert version in res.output and "physical_not_worse_than_raw" in res.output
    res = runner.invoke(app, ["versions", "--store", root])
    assert res.exit_code == 0 and f"* {version}" in res.output
    out = tmp_path / "pt"
    res = runner.invoke(
        app,
        ["export", "--store", root, "--version", "current", "--format", "interact-pt",
         "--out", str(out), "--subjects", "s1", "--only-successful"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.glob("*.pt")) == ["s1_box_000.pt"]
    res = runner.invoke(
        app, ["export", "--store", root, "--version", "v-0", "--out", str(tmp_path / "y")]
    )
    assert res.exit_code == 1 and f"known versions: {version}" in res.output
    res = runner.invoke(app, ["export", "--store", root, "--format", "csv", "--out", "z"])
    assert res.exit_code == 2


@pytest.mark.parametrize("zarr_format", [3, 2])
@pytest.mark.parametrize("compression", ["none", "lz4", "zstd"])
def test_hoi_group_codecs_and_chunks_read_back_with_zarr(
    published: Published, tmp_path: Path, zarr_format: int, compression: str
) -> None:
    """Small chunks that straddle clips and a padded last chunk, every codec, both formats."""
    _, _, clips = published
    path = tmp_path / "g.zarr"
    write_hoi_group(path, clips, zarr_format=zarr_format, compression=compression, chunk_frames=7)  # type: ignore[arg-type]
    g = zarr.open_group(str(path), mode="r", use_consolidated=True)
    total = sum(ec.clip.n_frames for ec in clips)
    assert g["body_pos"].shape == (total, 52, 3) and g["body_pos"].chunks == (7, 52, 3)
    for name in ("body_pos", "contact", "obj_linvel"):
        want = np.concatenate([ec.arrays()[name] for ec in clips])
        np.testing.assert_array_equal(g[name][...], want, err_msg=name)
    back, _ = read_hoi_group(path)
    assert [ec.key for ec in back] == [ec.key for ec in clips]
