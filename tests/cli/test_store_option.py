"""A ``--store`` that names no store: every command says so the same way (exit 2, one line
``error: PATH: no such store``) before doing anything, and creates nothing there. Only
``ingest`` makes a store: at a path that does not exist yet, or in an empty folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from cli import app
from intermimic.motion.synthetic import write_synthetic_dataset

runner = CliRunner()


def _store_commands() -> dict[str, bool]:
    """Every command with a ``--store`` option, and whether the option is required."""
    out = {}
    for name, cmd in typer.main.get_command(app).commands.items():  # type: ignore[attr-defined]
        for p in cmd.params:
            if "--store" in getattr(p, "opts", []):
                out[name] = p.required
    return out


def _other_args(tmp: Path) -> dict[str, list[str]]:
    """The other arguments each command needs to get as far as its store."""
    return {
        "catalog": [],
        "verify": [],
        "versions": [],
        "publish": [],
        "export": ["--out", str(tmp / "export")],
        "annotate": [],
        "train-teacher": ["--subject", "s1"],
        "refine": ["--subject", "s1"],
        "distill": [],
        "evaluate": [],
        "export-policy": ["--onnx", str(tmp / "policy.onnx")],
        "render": ["--clip", "s1_box_000", "--out", str(tmp / "clip.png")],
    }


def _bad_stores(tmp: Path) -> dict[str, Path]:
    """Paths that hold no store, made fresh for each command."""
    (tmp / "empty").mkdir(parents=True)
    (tmp / "stuff").mkdir()
    (tmp / "stuff" / "notes.txt").write_text("not a store")
    (tmp / "file").write_text("not a folder")
    return {
        "missing": tmp / "mistyped" / "store",
        "empty": tmp / "empty",
        "not-a-store": tmp / "stuff",
        "file": tmp / "file",
    }


def _snapshot(tmp: Path) -> list[str]:
    return sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*"))


def _one_line(r: object, path: Path) -> None:
    err = r.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(err) == 1, r.output  # type: ignore[attr-defined]
    assert err[0].startswith(f"error: {path}: no such store"), err[0]
    assert "Traceback" not in r.output  # type: ignore[attr-defined]


def test_every_store_command_is_covered(tmp_path: Path) -> None:
    """A new command with --store must be added to the table above (and so be tested)."""
    commands = _store_commands()
    assert set(commands) == {*_other_args(tmp_path), "ingest"}
    optional = {n for n, required in commands.items() if not required}
    assert optional == {"export-policy", "render"}


@pytest.mark.parametrize("kind", ["missing", "empty", "not-a-store", "file"])
@pytest.mark.parametrize("command", sorted(_other_args(Path("/x"))))
def test_no_such_store(command: str, kind: str, tmp_path: Path) -> None:
    if command == "verify" and kind in ("empty", "not-a-store"):
        pytest.skip("verify checks such a folder as a store (the tests below)")
    store = _bad_stores(tmp_path)[kind]
    before = _snapshot(tmp_path)
    r = runner.invoke(app, [command, *_other_args(tmp_path)[command], "--store", str(store)])
    assert r.exit_code == 2, r.output
    _one_line(r, store)
    assert _snapshot(tmp_path) == before  # nothing created, at the store or elsewhere


def test_verify_reports_a_folder_without_manifest(tmp_path: Path) -> None:
    store = _bad_stores(tmp_path)["not-a-store"]
    r = runner.invoke(app, ["verify", "--store", str(store)])
    assert r.exit_code == 2 and "missing store manifest" in r.output
    assert not (store / "store.json").exists()


def test_verify_an_empty_folder_is_clean(tmp_path: Path) -> None:
    r = runner.invoke(app, ["verify", "--store", str(tmp_path)])
    assert r.exit_code == 0 and "no problems found" in r.output


def test_render_compare_store(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    r = runner.invoke(
        app, ["render", "--clip", "a.npz", "--out", str(tmp_path / "x.png"),
              "--compare", "b", "--compare-store", str(missing)],
    )  # fmt: skip
    assert r.exit_code == 2
    _one_line(r, missing)
    assert not missing.exists()


def test_ingest_makes_a_store_only_where_there_is_none(tmp_path: Path) -> None:
    src = write_synthetic_dataset(tmp_path / "src", subjects=("s1",), clips_per_subject=1)[0]
    bad = _bad_stores(tmp_path / "bad")
    for kind in ("not-a-store", "file"):
        before = _snapshot(tmp_path)
        r = runner.invoke(app, ["ingest", str(src), "--store", str(bad[kind])])
        assert r.exit_code == 2, r.output
        _one_line(r, bad[kind])
        assert _snapshot(tmp_path) == before
    for kind in ("missing", "empty"):
        r = runner.invoke(app, ["ingest", str(src), "--store", str(bad[kind])])
        assert r.exit_code == 0, r.output
        assert (bad[kind] / "store.json").is_file()
        r = runner.invoke(app, ["catalog", "--store", str(bad[kind]), "--format", "json"])
        assert r.exit_code == 0 and "s1_box_000" in r.stdout
