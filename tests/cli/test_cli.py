"""The ``intermimic`` command line: ingest and catalog, exit codes and output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from cli import app
from intermimic.motion.corrupt import corrupt
from intermimic.motion.synthetic import write_synthetic_dataset

runner = CliRunner()


def test_ingest_then_catalog_json(tmp_path: Path) -> None:
    paths = write_synthetic_dataset(tmp_path / "src", subjects=("s1",), clips_per_subject=2)
    corrupt("empty", paths[0], tmp_path / "src")
    r = runner.invoke(
        app, ["ingest", str(tmp_path / "src"), "--store", str(tmp_path / "st"), "--dataset", "lab"]
    )
    assert r.exit_code == 0, r.output
    assert "rejected" in r.output and "empty file" in r.output
    r = runner.invoke(app, ["catalog", "--store", str(tmp_path / "st"), "--format", "json"])
    rows = json.loads(r.stdout)
    assert sorted((row["clip"], row["status"]) for row in rows) == [
        ("s1_box_000", "ok"),
        ("s1_box_001", "ok"),
        ("s1_box_904", "rejected"),
    ]
    assert all(row["dataset"] == "lab" for row in rows)
    r = runner.invoke(app, ["catalog", "--store", str(tmp_path / "st")])
    assert r.exit_code == 0 and "s1_box_001" in r.output and "empty file" in r.output


def test_nothing_ingested_exits_1(tmp_path: Path) -> None:
    good = write_synthetic_dataset(tmp_path / "good", subjects=("s1",), clips_per_subject=1)[0]
    bad = corrupt("nan", good, tmp_path / "bad")
    r = runner.invoke(app, ["ingest", str(bad), "--store", str(tmp_path / "st")])
    assert r.exit_code == 1
    r = runner.invoke(app, ["ingest", str(tmp_path / "empty-dir"), "--store", str(tmp_path / "st")])
    assert r.exit_code == 1


def test_unwritable_store_exits_2(tmp_path: Path) -> None:
    src = write_synthetic_dataset(tmp_path / "src", subjects=("s1",), clips_per_subject=1)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    r = runner.invoke(app, ["ingest", str(src[0]), "--store", str(blocker / "store")])
    assert r.exit_code == 2 and "cannot write the store" in r.output


def test_bad_settings_exit_2(tmp_path: Path) -> None:
    src = write_synthetic_dataset(tmp_path / "src", subjects=("s1",), clips_per_subject=1)
    r = runner.invoke(
        app, ["ingest", str(src[0]), "--store", str(tmp_path / "st"), "--set", "nope=1"]
    )
    assert r.exit_code == 2 and "KEY one of" in r.output
    r = runner.invoke(
        app, ["ingest", str(src[0]), "--store", str(tmp_path / "st"), "--format", "bvh"]
    )
    assert r.exit_code == 2 and "unknown format 'bvh'" in r.output
    r = runner.invoke(
        app, ["ingest", str(src[0]), "--store", str(tmp_path / "st"), "--set", "min_frames=200"]
    )
    assert r.exit_code == 1 and "at least 200 needed" in r.output


def test_installed_entry_point(tmp_path: Path) -> None:
    """The console script a user runs, as a real process."""
    src = write_synthetic_dataset(tmp_path / "src", subjects=("s1",), clips_per_subject=1)
    exe = Path(sys.executable).parent / "intermimic"
    out = subprocess.run(
        [str(exe), "ingest", str(src[0]), "--store", str(tmp_path / "st")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "ingested" in out.stdout


def test_annotate(tmp_path: Path) -> None:
    from intermimic.motion.synthetic import write_synthetic_objects

    write_synthetic_dataset(
        tmp_path / "src", subjects=("s1", "s2"), clips_per_subject=1, n_frames=30
    )
    objects = write_synthetic_objects(tmp_path / "objects")
    runner.invoke(app, ["ingest", str(tmp_path / "src"), "--store", str(tmp_path / "st")])
    r = runner.invoke(
        app,
        ["annotate", "--store", str(tmp_path / "st"), "--subject", "s2", "--objects", str(objects)],
    )
    assert r.exit_code == 0, r.output
    assert "default/s2" in r.output and "default/s1" not in r.output
    r = runner.invoke(  # objects given: the subject is the error, with or without a sample
        app,
        ["annotate", "--store", str(tmp_path / "st"), "--subject", "nobody", "--objects",
         str(objects)],
    )  # fmt: skip
    assert r.exit_code == 1 and "no subject(s) nobody" in r.output
    r = runner.invoke(  # no meshes: nothing can be annotated
        app, ["annotate", "--store", str(tmp_path / "st"), "--objects", str(tmp_path / "src")]
    )
    assert r.exit_code == 1 and "not annotated" in r.output
