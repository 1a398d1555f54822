"""Exports of a published version: the round trip of every format, xarray on the Zarr
exports, partial clips left out, InterMimic-compatible ``.pt`` files, the data card (its
humanoid, objects and licences), selection of clips, concurrent exports, unknown
versions, and the CLI."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mujoco
import numpy as np
import pytest
import torch
import xarray as xr
import zarr
from typer.testing import CliRunner

from cli import app
from data_catalog import Store
from data_catalog.hoi_zarr import hoi_group_problems, read_hoi_group, write_hoi_group
from data_catalog.versions import UnknownVersionError, read_version
from intermimic.export import FORMATS, ExportClip, ExportError, read_motion_npz
from intermimic.export.interact_pt import check_intermimic_names, write_interact_pt
from intermimic.motion.formats.interact_pt import encode, fingers_shifted
from intermimic.motion.kinematics import clip_to_qpos, euler_xyz_to_rotvec, fk_mujoco
from intermimic.motion.load import read_clip
from intermimic.motion.quat import quat_mul
from intermimic.motion.settings import IngestSettings
from intermimic.motion.skeleton import SMPLX_BODY_NAMES
from intermimic.motion.synthetic import synthetic_clip, write_synthetic_objects
from stages.export import CARD, EXPORT_JSON, ExportSettings, export_version
from stages.publish import PublishSettings, publish_refined

Published = tuple[Store, str, list[ExportClip]]
SUBJECTS = ("sub1", "sub2")  # InterMimic's subject names: interact-pt takes them
runner = CliRunner()


@pytest.fixture
def objects_dir(tmp_path: Path) -> Path:
    return write_synthetic_objects(tmp_path / "objects")


@pytest.fixture
def published(make_store, tmp_path: Path) -> Published:  # type: ignore[no-untyped-def]
    """Two subjects, two clips each; clip 0 of each refined to its end, clip 1 partial."""
    store = make_store(tmp_path / "store", SUBJECTS)
    rep = publish_refined(store)
    clips, _ = read_version(store, rep.version)
    return store, rep.version, clips


def _by_clip(clips: list[ExportClip]) -> dict[str, ExportClip]:
    return {ec.clip.meta.clip_id: ec for ec in clips}


def _same_rotation(a: np.ndarray, b: np.ndarray, atol: float = 1e-5) -> None:
    """Rotation vectors ``[..., 3]`` that describe the same rotation."""
    from intermimic.motion.quat import quat_conj, rotvec_to_quat

    d = quat_mul(rotvec_to_quat(a), quat_conj(rotvec_to_quat(b)))
    np.testing.assert_allclose(np.abs(d[..., 0]), 1.0, atol=atol)


def _settings(objects_dir: Path, **kw: object) -> ExportSettings:
    return ExportSettings(objects_dir=str(objects_dir), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip(published: Published, tmp_path: Path, objects_dir: Path, fmt: str) -> None:
    store, version, clips = published
    out = tmp_path / fmt
    rep = export_version(store, out, _settings(objects_dir, format=fmt, include_partial=True))
    assert rep.version == version and rep.clips == 4 and not rep.skipped and not rep.left_out
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
            assert g["body_pos"].attrs["_ARRAY_DIMENSIONS"] == ["frame", "body", "xyz"]
        else:
            doc = json.loads((out / "data.zarr" / "joint_rotvec" / "zarr.json").read_text())
            assert doc["dimension_names"] == ["frame", "joint", "xyz"]
        assert hoi_group_problems(out / "data.zarr") == []  # coordinates checksummed too
    elif fmt == "interact-pt":
        files = sorted(out.glob("*.pt"))
        assert [p.stem for p in files] == sorted(want)
        for p in files:
            w = want[p.stem].clip
            x = torch.load(p, weights_only=True).numpy()
            # InterMimic's layout: as many rows as frames, row 0 a placeholder, row i frame i
            assert x.shape == (w.n_frames, 591)
            assert not x[0].any()
            np.testing.assert_array_equal(x[1:], encode(w)[1:])
            # our own reader, as ingest reads InterMimic's refined files
            clip = read_clip(p, settings=IngestSettings(trim_invalid_leading_frames=True))
            assert not fingers_shifted(w.body_pos, w.body_quat)  # written in the right order
            assert "repaired" not in clip.extra
            assert (clip.meta.subject, clip.meta.object_name) == (w.meta.subject, "box")
            for name, a in w.slice(1, w.n_frames).arrays().items():
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
    for section in (
        "## Provenance", "## Licence and citation", "## Humanoid", "## Objects",
        "## Velocities", "## Schema", "## Clips", "## Left out", "## Load it",
    ):  # fmt: skip
        assert section in card, section
    assert version in card and "sub1/sub1_box_000" in card
    code = card.split("```python\n")[1].split("```")[0]
    assert len(code.strip().splitlines()) == 5
    record = json.loads((out / EXPORT_JSON).read_text())
    assert record["version"] == version and len(record["clips"]) == 4
    assert set(record["contents"]) == {p.name for p in out.iterdir()}


@pytest.mark.parametrize("fmt", ["zarr3", "zarr2"])
def test_xarray_opens_the_zarr_exports(
    published: Published, tmp_path: Path, objects_dir: Path, fmt: str
) -> None:
    """Named axes, one name per meaning, and coordinates: xarray opens both formats and
    reads the source's values (zeros included: no fill value taken as missing)."""
    store, _, clips = published
    out = tmp_path / fmt
    export_version(store, out, _settings(objects_dir, format=fmt, include_partial=True))
    ds = xr.open_zarr(out / "data.zarr")
    total = sum(ec.clip.n_frames for ec in clips)
    assert dict(ds.sizes) == {
        "frame": total, "body": 52, "joint": 51, "xyz": 3, "quat": 4, "clip_id": 4,
    }  # fmt: skip
    assert ds.body_pos.dims == ("frame", "body", "xyz")
    assert ds.body_quat.dims == ("frame", "body", "quat")
    assert ds.joint_rotvec.dims == ("frame", "joint", "xyz")
    assert ds.contact.dims == ("frame", "body") and ds.obj_contact.dims == ("frame",)
    assert list(ds.body.values) == list(SMPLX_BODY_NAMES)
    assert list(ds.joint.values) == list(SMPLX_BODY_NAMES[1:])
    assert list(ds.quat.values) == ["w", "x", "y", "z"] and list(ds.xyz.values) == ["x", "y", "z"]
    assert list(ds.clip_id.values) == [ec.clip.meta.clip_id for ec in clips]
    assert list(ds.clip_success.values) == [ec.success for ec in clips]
    assert {"clip_index", "frame_in_clip", "clip_start", "clip_subject"} <= set(ds.coords)
    assert ds.body_pos.attrs["units"] == "m" and ds.body_linvel.attrs["units"] == "m/s"
    for i, ec in enumerate(clips):
        c = ec.clip
        cid = c.meta.clip_id
        start = int(ds.clip_start.sel(clip_id=cid))
        assert int(ds.clip_length.sel(clip_id=cid)) == c.n_frames
        assert str(ds.clip_subject.sel(clip_id=cid).values) == c.meta.subject
        one = ds.isel(frame=ds.clip_index.values == i)
        assert one.sizes["frame"] == c.n_frames
        np.testing.assert_array_equal(one.frame_in_clip.values, np.arange(c.n_frames))
        rows = np.flatnonzero(ds.clip_index.values == i)
        np.testing.assert_array_equal(rows, np.arange(start, start + c.n_frames))
        np.testing.assert_array_equal(
            one.body_pos.sel(body="L_Wrist", xyz="z").values,
            c.body_pos[:, SMPLX_BODY_NAMES.index("L_Wrist"), 2],
        )
        np.testing.assert_array_equal(one.root_quat.sel(quat="w").values, c.root_quat[:, 0])
        np.testing.assert_array_equal(one.joint_rotvec.values, c.joint_rotvec)
        np.testing.assert_array_equal(one.contact.values, c.contact)  # 0, +1, -1
        np.testing.assert_array_equal(one.obj_linvel.values, ec.velocities["obj_linvel"])
    assert (ds.contact.values == 0).any()  # zeros read as zeros, not as missing


def test_partial_clips_are_left_out_unless_asked(
    published: Published, tmp_path: Path, objects_dir: Path, make_store
) -> None:  # type: ignore[no-untyped-def]
    store, _, clips = published
    partial = {"/".join(ec.key) for ec in clips if not ec.success}
    assert len(partial) == 2
    rep = export_version(store, tmp_path / "npz", _settings(objects_dir, format="npz"))
    assert rep.clips == 2 and sorted(rep.files) == ["sub1_box_000.npz", "sub2_box_000.npz"]
    assert set(rep.left_out) == partial
    why = rep.left_out[next(iter(sorted(partial)))]
    assert why.startswith("partial") and "43 of 45 frames" in why
    card = (tmp_path / "npz" / CARD).read_text()
    assert "2 partial" in card and "--include-partial" in card
    assert "sub1/sub1_box_001" in card.split("## Left out")[1]  # named, with why
    assert "sub1/sub1_box_001" not in card.split("## Clips")[1].split("## Left out")[0]
    record = json.loads((tmp_path / "npz" / EXPORT_JSON).read_text())
    assert set(record["left_out"]) == partial and all(c["complete"] for c in record["clips"])
    # asked for: exported, and the card says they are partial
    rep = export_version(
        store, tmp_path / "all", _settings(objects_dir, format="zarr3", include_partial=True)
    )
    assert rep.clips == 4 and not rep.left_out
    card = (tmp_path / "all" / CARD).read_text()
    assert "2 partial clip(s) included on request" in card
    assert "| sub1/sub1_box_001 | 43 | 45 | **no** |" in card
    # nothing complete: a clear error that says how to get them
    none_ok = make_store(tmp_path / "none", SUBJECTS, success=lambda s, i: False)
    assert publish_refined(none_ok, PublishSettings(min_success_ratio=0.0)).made_current
    with pytest.raises(ExportError, match=r"all 4 are partial.*--include-partial"):
        export_version(none_ok, tmp_path / "x", _settings(objects_dir))
    with pytest.raises(ValueError, match="contradict"):
        ExportSettings(include_partial=True, only_successful=True)


def _intermimic_parse(path: Path) -> tuple[int, str]:
    """What InterMimic's loaders (intermimic.py / intermimic_all.py) take from a file's
    path: ``int(path.split('/')[-1].split('_')[0][3:])`` and ``path.split('_')[-2]``."""
    p = str(path)
    return int(p.split("/")[-1].split("_")[0][3:]), p.split("_")[-2]


def test_interact_pt_is_what_intermimic_parses(
    make_store, tmp_path: Path, objects_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    """Subjects not sub<N> are refused and recorded; the rest parse as InterMimic does."""
    store = make_store(tmp_path / "store", ("s1", "sub3"), success=lambda s, i: True)
    publish_refined(store)
    out = tmp_path / "under_score" / "pt"  # '_' in the folder: InterMimic splits the path
    rep = export_version(store, out, _settings(objects_dir, format="interact-pt"))
    assert sorted(rep.files) == ["sub3_box_000.pt", "sub3_box_001.pt"]
    assert sorted(rep.skipped) == ["lab-refined/s1/s1_box_000", "lab-refined/s1/s1_box_001"]
    assert all("'s1' is not of the form sub<N>" in why for why in rep.skipped.values())
    for p in out.glob("*.pt"):
        assert _intermimic_parse(p) == (3, "box")
    card = (out / CARD).read_text()
    assert "row 0 is a placeholder" in card and "s1_box_000" in card.split("## Left out")[1]
    res = runner.invoke(
        app,
        ["export", "--store", str(store.root), "--format", "interact-pt",
         "--out", str(tmp_path / "cli"), "--set", f"objects_dir={objects_dir}"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "refused or not writable as interact-pt: 2 clip(s)" in text and "sub<N>" in text
    # every clip refused: an error naming them
    with pytest.raises(ExportError, match=r"no clip could be written.*s1_box_000.*sub<N>"):
        export_version(
            store, tmp_path / "y", _settings(objects_dir, format="interact-pt", subjects=["s1"])
        )
    # not compatible, asked for: every frame from row 0, any names
    rep = export_version(
        store, tmp_path / "raw", _settings(objects_dir, format="interact-pt",
                                           intermimic_compatible=False),
    )  # fmt: skip
    assert len(rep.files) == 4 and not rep.skipped
    x = torch.load(tmp_path / "raw" / "s1_box_000.pt", weights_only=True).numpy()
    assert x[0].any()


def test_object_names_intermimic_would_misread_are_refused(tmp_path: Path) -> None:
    good = ExportClip.build(synthetic_clip("sub2", "largetable", 0, 12, seed=1, dataset="d"))
    bad = ExportClip.build(synthetic_clip("sub2", "large_table", 1, 12, seed=2, dataset="d"))
    with pytest.raises(ExportError, match=r"d/sub2/sub2_large_table_001.*would read 'table'"):
        check_intermimic_names(bad, "sub2_large_table_001")
    res = write_interact_pt([good, bad], tmp_path)
    assert list(res["files"]) == ["sub2_largetable_000.pt"]
    assert "name.split('_')[-2]" in res["skipped"]["d/sub2/sub2_large_table_001"]
    assert _intermimic_parse(tmp_path / "sub2_largetable_000.pt") == (2, "largetable")
    assert not (tmp_path / "sub2_large_table_001.pt").exists()


def test_card_humanoid_objects_and_velocities_stand_alone(
    published: Published, tmp_path: Path, objects_dir: Path
) -> None:
    """A stranger holding only the folder: the humanoid replays the joint angles to the
    exported bodies, meshes are there with their hashes, sources are cited."""
    store, _, clips = published
    out = tmp_path / "npz"
    rep = export_version(store, out, _settings(objects_dir, format="npz"))
    card = (out / CARD).read_text()
    for fact in (
        "arXiv:2502.20390", "MIT licence", "SMPL-X", "modellicense", "non-commercial",
        "raw dataset `lab`", "finite differences", "intrinsic XYZ Euler",
    ):  # fmt: skip
        assert fact in card, fact
    # the humanoid, per subject, replays the joint angles onto the exported body positions
    offsets = json.loads((out / "humanoid" / "bone_offsets.json").read_text())["subjects"]
    assert sorted(offsets) == list(SUBJECTS)
    for subject in SUBJECTS:
        xml = out / "humanoid" / f"{subject}.xml"
        assert hashlib.sha256(xml.read_bytes()).hexdigest() == rep.humanoids[subject]["sha256"]
        assert rep.humanoids[subject]["sha256"][:16] in card
        model = mujoco.MjModel.from_xml_path(str(xml))
        assert offsets[subject]["bodies"]["L_Knee"]["parent"] == "L_Hip"
        for ec in clips:
            if ec.clip.meta.subject == subject and ec.success:
                m = read_motion_npz(out / f"{ec.clip.meta.clip_id}.npz")
                qpos = np.concatenate(
                    [m["body_pos_w"][:, 0], m["body_quat_w"][:, 0], m["joint_pos"]], axis=1
                )
                pos, _ = fk_mujoco(model, qpos[:5])
                np.testing.assert_allclose(pos, m["body_pos_w"][:5], atol=1e-4)
                np.testing.assert_allclose(qpos, clip_to_qpos(ec.clip), atol=1e-4)
        assert rep.humanoids[subject]["replay_error_mm"] < 0.1
    # the mesh, copied, with its hash
    mesh = objects_dir / "box" / "box.obj"
    sha = hashlib.sha256(mesh.read_bytes()).hexdigest()
    assert (out / "objects" / "box" / "box.obj").read_bytes() == mesh.read_bytes()
    assert sha in card and rep.objects["box"]["files"]["box.obj"]["sha256"] == sha
    # per clip: refined frames of clip frames, success, figures raw / refined
    assert "| sub1/sub1_box_000 | 38 | 40 | yes | fd |" in card
    # not copied: named and hashed only
    rep = export_version(
        store, tmp_path / "nocopy", _settings(objects_dir, format="npz", copy_meshes=False)
    )
    assert not (tmp_path / "nocopy" / "objects").exists()
    assert sha in (tmp_path / "nocopy" / CARD).read_text()
    # no mesh anywhere: said, not guessed
    rep = export_version(store, tmp_path / "nomesh", _settings(tmp_path / "empty"))
    assert rep.objects["box"]["files"] == {} and "not found" in rep.objects["box"]["note"]
    assert "| box | - | - | - | no:" in (tmp_path / "nomesh" / CARD).read_text()


def test_zarr_export_loads_as_the_card_says(
    published: Published, tmp_path: Path, objects_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _, clips = published
    export_version(store, tmp_path / "zarr3", _settings(objects_dir, format="zarr3"))
    card = (tmp_path / "zarr3" / CARD).read_text()
    plain, with_xarray = (b.split("```")[0] for b in card.split("```python\n")[1:3])
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    exec(plain, scope)  # the five lines a user copies
    first = _by_clip(clips)[str(scope["clip"]["clip_id"])]  # type: ignore[index]
    np.testing.assert_array_equal(scope["body_pos"], first.clip.body_pos)
    scope = {}
    exec(with_xarray, scope)
    np.testing.assert_array_equal(scope["hip_z"].values, first.clip.body_pos[:, 1, 2])  # type: ignore[attr-defined]


def test_selection_of_subjects_and_successful_clips(
    published: Published, tmp_path: Path, objects_dir: Path
) -> None:
    store, _, _ = published
    rep = export_version(
        store,
        tmp_path / "npz",
        _settings(objects_dir, format="npz", subjects=["sub2"], only_successful=True),
    )
    assert rep.subjects == ["sub2"] and sorted(rep.files) == ["sub2_box_000.npz"]
    with pytest.raises(Exception, match="no subject.*s9.*it has: sub1, sub2"):
        export_version(store, tmp_path / "x", ExportSettings(subjects=["s9"]))


def test_two_exports_at_once_do_not_interfere(
    published: Published, tmp_path: Path, objects_dir: Path
) -> None:
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
                lambda job: export_version(
                    store, job[0], _settings(objects_dir, format=job[1], include_partial=True)
                ),
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
    common = {CARD, EXPORT_JSON, "humanoid", "objects"}
    if record["format"] == "zarr2":
        assert names == {"data.zarr", *common}
        assert len(read_hoi_group(tmp_path / "same" / "data.zarr")[0]) == 4
    else:
        assert names == {*common, *(f"{ec.clip.meta.clip_id}.pt" for ec in clips)}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left
    assert record["version"] == version


def test_export_refuses_a_folder_that_is_not_an_export(
    published: Published, tmp_path: Path, objects_dir: Path
) -> None:
    store, _, _ = published
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="not an export"):
        export_version(store, tmp_path / "mine", ExportSettings())
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    # an earlier export is replaced whole
    export_version(store, tmp_path / "ex", _settings(objects_dir, format="npz"))
    export_version(store, tmp_path / "ex", _settings(objects_dir, format="zarr3"))
    names = {p.name for p in (tmp_path / "ex").iterdir()}
    assert names == {"data.zarr", CARD, EXPORT_JSON, "humanoid", "objects"}


def test_unknown_version_fails_with_the_known_ones(published: Published, tmp_path: Path) -> None:
    store, version, _ = published
    with pytest.raises(
        UnknownVersionError, match=f"unknown version 'v-nope'; known versions: {version}"
    ):
        export_version(store, tmp_path / "x", ExportSettings(version="v-nope"))
    assert not (tmp_path / "x").exists()


def test_cli_publish_versions_export(make_store, tmp_path: Path, objects_dir: Path) -> None:  # type: ignore[no-untyped-def]
    store = make_store(tmp_path / "store", SUBJECTS)
    root = str(store.root)
    objects = ["--set", f"objects_dir={objects_dir}"]
    res = runner.invoke(app, ["export", "--store", root, "--out", str(tmp_path / "x")])
    assert res.exit_code == 1 and "no current version; known versions: none" in res.output
    res = runner.invoke(app, ["publish", "--store", root])
    assert res.exit_code == 0, res.output
    version = read_version(store)[1]["version"]
    assert version in res.output and "physical_not_worse_than_raw" in res.output
    res = runner.invoke(app, ["versions", "--store", root])
    assert res.exit_code == 0 and f"* {version}" in res.output
    out = tmp_path / "pt"
    res = runner.invoke(
        app,
        ["export", "--store", root, "--version", "current", "--format", "interact-pt",
         "--out", str(out), "--subjects", "sub1", *objects],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.glob("*.pt")) == ["sub1_box_000.pt"]
    text = " ".join(res.output.split())
    assert "left out 1 clip(s): 1 partial" in text and "--include-partial" in text
    assert "sub1_box_001: partial: the teacher stopped after 43 of 45 frames" in text
    res = runner.invoke(
        app,
        ["export", "--store", root, "--format", "npz", "--out", str(tmp_path / "all"),
         "--include-partial", *objects],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "all").glob("*.npz"))) == 4 and "left out" not in res.output
    res = runner.invoke(
        app,
        ["export", "--store", root, "--out", str(tmp_path / "z"), "--include-partial",
         "--only-successful"],
    )  # fmt: skip
    assert res.exit_code == 2 and "contradict" in " ".join(res.output.split())
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
    starts = np.cumsum([0] + [ec.clip.n_frames for ec in clips[:-1]])
    np.testing.assert_array_equal(g["clip_start"][...], starts)
    assert list(g["clip_id"][...]) == [ec.clip.meta.clip_id for ec in clips]
    back, _ = read_hoi_group(path)
    assert [ec.key for ec in back] == [ec.key for ec in clips]
    ds = xr.open_zarr(path)
    np.testing.assert_array_equal(ds.clip_index.values[starts], np.arange(len(clips)))
