"""Damage at rest: every command exits 2 with one line naming the file, ``intermimic
verify`` reports it with how to repair it, and ``verify --repair`` leaves a store that
verifies clean."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from data_catalog import Store
from data_catalog.versions import DATA, MANIFEST, current_version, versions_dir
from intermimic.motion.formats import get_format
from intermimic.motion.synthetic import synthetic_clip

runner = CliRunner()


def live(store: Store, dataset: str = "lab", subject: str = "s1") -> Path:
    path = store.generation_path(dataset, subject)
    assert path is not None
    return path


def _chunks(array_dir: Path) -> list[Path]:
    return sorted(p for p in array_dir.rglob("*") if p.is_file() and p.name != "zarr.json")


def _truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def missing_chunk(store: Store) -> Path:
    path = _chunks(live(store) / "body_quat")[1]
    path.unlink()
    return path


def corrupt_byte(store: Store) -> Path:
    path = _chunks(live(store) / "obj_pos")[0]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def truncated_zarr_json(store: Store) -> Path:
    return _truncate(live(store) / "zarr.json")


def garbage_store_json(store: Store) -> Path:
    path = store.layout.manifest
    path.write_bytes(b"\x00garbage{")
    return path


def truncated_clips_parquet(store: Store) -> Path:
    return _truncate(store.layout.clips_table)


def truncated_version_json(store: Store) -> Path:
    vid = current_version(store)
    assert vid is not None
    return _truncate(versions_dir(store) / vid / MANIFEST)


def missing_version_chunk(store: Store) -> Path:
    vid = current_version(store)
    assert vid is not None
    path = _chunks(versions_dir(store) / vid / DATA / "body_pos")[0]
    path.unlink()
    return path


MOCAP_DAMAGE = [missing_chunk, corrupt_byte, truncated_zarr_json]
STORE_DAMAGE = [garbage_store_json, truncated_clips_parquet]
ALL_DAMAGE = [*MOCAP_DAMAGE, *STORE_DAMAGE, truncated_version_json, missing_version_chunk]
Damage = Callable[[Store], Path]


def _one_line_naming(result: object, path: Path) -> None:
    """Exit 2, and stderr is one ``error:`` line that names ``path``."""
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]  # type: ignore[attr-defined]
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and str(path) in lines[0], lines[0]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]


def _names_in_output(result: object, path: Path) -> None:
    """Exit 2 and the file named (rich may wrap a long line: compare without spaces)."""
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    squeezed = "".join(result.output.split())  # type: ignore[attr-defined]
    assert "".join(str(path).split()) in squeezed, result.output  # type: ignore[attr-defined]
    assert "Traceback" not in result.output  # type: ignore[attr-defined]


def _changed_clip(tmp_path: Path) -> Path:
    """A changed file of s1's clip 1 (in a folder of its own: the sources stay as they were)."""
    path = tmp_path / "changed" / "s1_box_001.pt"
    path.parent.mkdir()
    get_format("interact-pt").write(synthetic_clip("s1", "box", 1, n_frames=40, seed=99), path)
    return path


def test_whole_store_verifies_clean(whole_store: Store) -> None:
    r = runner.invoke(app, ["verify", "--store", str(whole_store.root)])
    assert r.exit_code == 0, r.output
    assert "no problems found" in r.output
    r = runner.invoke(app, ["catalog", "--store", str(whole_store.root)])
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("damage", ALL_DAMAGE, ids=lambda f: f.__name__)
def test_catalog_and_verify_name_the_damaged_file(whole_store: Store, damage: Damage) -> None:
    path = damage(whole_store)
    root = str(whole_store.root)
    _one_line_naming(runner.invoke(app, ["catalog", "--store", root]), path)
    _one_line_naming(runner.invoke(app, ["catalog", "--store", root, "--format", "json"]), path)
    r = runner.invoke(app, ["verify", "--store", root])
    assert r.exit_code == 2 and str(path) in r.stdout and "repair:" in r.stdout, r.output
    r = runner.invoke(app, ["verify", "--store", root, "--json"])
    doc = json.loads(r.stdout)
    assert not doc["clean"] and any(p["path"] == str(path) for p in doc["problems"])


@pytest.mark.parametrize("damage", [*MOCAP_DAMAGE, *STORE_DAMAGE], ids=lambda f: f.__name__)
def test_ingest_exits_2_naming_the_file(whole_store: Store, damage: Damage, tmp_path: Path) -> None:
    path = damage(whole_store)
    gen = (whole_store.layout.subject_dir("lab", "s1") / "CURRENT").read_text()
    r = runner.invoke(
        app, ["ingest", str(_changed_clip(tmp_path)), "--store", str(whole_store.root),
              "--dataset", "lab"],
    )  # fmt: skip
    _names_in_output(r, path)
    # nothing was written from the damaged data
    assert (whole_store.layout.subject_dir("lab", "s1") / "CURRENT").read_text() == gen


@pytest.mark.parametrize(
    "damage",
    [*STORE_DAMAGE, truncated_version_json, missing_version_chunk],
    ids=lambda f: f.__name__,
)
def test_export_exits_2_naming_the_file(whole_store: Store, damage: Damage, tmp_path: Path) -> None:
    path = damage(whole_store)
    out = tmp_path / "out"
    r = runner.invoke(app, ["export", "--store", str(whole_store.root), "--out", str(out)])
    _one_line_naming(r, path)
    assert not out.exists()


def test_versions_and_publish_exit_2_on_a_damaged_manifest(whole_store: Store) -> None:
    path = truncated_version_json(whole_store)
    for cmd in ("versions", "publish"):
        _one_line_naming(runner.invoke(app, [cmd, "--store", str(whole_store.root)]), path)


@pytest.mark.parametrize("damage", ALL_DAMAGE, ids=lambda f: f.__name__)
def test_repair_then_verify_is_clean(whole_store: Store, damage: Damage) -> None:
    damage(whole_store)
    root = str(whole_store.root)
    r = runner.invoke(app, ["verify", "--store", root, "--repair"])
    assert r.exit_code == 0, r.output
    assert "repaired" in r.output
    r = runner.invoke(app, ["verify", "--store", root])
    assert r.exit_code == 0, r.output
    # the store is usable again: every clip reads, the catalog lists them all
    for ds, subj in whole_store.subjects():
        assert whole_store.read_subject(ds, subj)
    r = runner.invoke(app, ["catalog", "--store", root, "--format", "json"])
    assert r.exit_code == 0, r.output
    assert sorted(row["clip"] for row in json.loads(r.stdout) if row["status"] == "ok") == [
        "s1_box_000", "s1_box_001", "s2_box_000", "s2_box_001",
    ]  # fmt: skip


def test_missing_chunk_of_any_array_is_an_error_never_zeros(whole_store: Store) -> None:
    from intermimic.errors import StoreDamagedError
    from intermimic.motion.clip import FIELDS

    gen = live(whole_store)
    for name in FIELDS:
        chunk = _chunks(gen / name)[2]
        saved = chunk.read_bytes()
        chunk.unlink()
        with pytest.raises(StoreDamagedError, match=str(chunk)):
            whole_store.read_subject("lab", "s1")
        chunk.write_bytes(saved)
    whole_store.read_subject("lab", "s1")  # whole again


def test_unwritable_store_exits_2_with_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = blocker / "store"
    for args in (["export", "--out", str(tmp_path / "x")], ["publish"]):
        r = runner.invoke(app, [*args, "--store", str(store)])
        _one_line_naming(r, store)
        # publish and export need a store: there is none to write (tests/cli/test_store_option.py)
        assert "no such store" in r.stderr
