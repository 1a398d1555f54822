"""``intermimic ingest``: an oversized file is a reject, names are checked, output is
escaped, a deleted catalog is healed and said so."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from typer.testing import CliRunner

from cli import app
from intermimic.motion.synthetic import write_synthetic_dataset

runner = CliRunner()


def test_expanded_tensor_is_a_reject_not_a_crash(tmp_path: Path) -> None:
    """Issue item 1's repro through the command line."""
    write_synthetic_dataset(tmp_path / "raw", subjects=("sub2",), clips_per_subject=2)
    (tmp_path / "x").mkdir()
    bad = tmp_path / "x" / "sub2_largetable_909.pt"
    torch.save(torch.zeros(1).expand(10**9, 591), bad)
    st = str(tmp_path / "S")
    r = runner.invoke(app, ["ingest", str(bad), str(tmp_path / "raw"), "--store", st])
    assert r.exit_code == 0, r.output
    assert "rejected" in r.output and "max_frames=1000000" in r.output
    rows = json.loads(runner.invoke(app, ["catalog", "--store", st, "--format", "json"]).stdout)
    assert sorted((row["clip"], row["status"]) for row in rows) == [
        ("sub2_box_000", "ok"),
        ("sub2_box_001", "ok"),
        ("sub2_largetable_909", "rejected"),
    ]
    r = runner.invoke(app, ["ingest", str(bad), "--store", st, "--set", "max_frames=10"])
    assert r.exit_code == 1 and "max_frames=10" in r.output


def test_unsafe_dataset_name_exits_2(tmp_path: Path) -> None:
    src = write_synthetic_dataset(tmp_path / "src", subjects=("s1",), clips_per_subject=1)
    for name in ("../x", "a\x7f", "-rf", "a\u2028"):
        r = runner.invoke(
            app, ["ingest", str(src[0]), "--store", str(tmp_path / "st"), "--dataset", name]
        )
        assert r.exit_code == 2 and "not a plain name" in r.output, (name, r.output)
    assert not (tmp_path / "st").exists()


def test_limits_are_settings(tmp_path: Path) -> None:
    src = write_synthetic_dataset(tmp_path / "src", subjects=("s1",), clips_per_subject=1)
    r = runner.invoke(
        app, ["ingest", str(src[0]), "--store", str(tmp_path / "st"), "--set", "max_fps=10"]
    )
    assert r.exit_code == 2 and "fps 30 is outside" in r.output


def test_fifo_and_markup_in_names(tmp_path: Path) -> None:
    src = write_synthetic_dataset(tmp_path / "src", subjects=("s1",), clips_per_subject=1)
    fifo = tmp_path / "s1_box_[bold]_001.pt"
    os.mkfifo(fifo)
    r = runner.invoke(app, ["ingest", str(fifo), str(src[0]), "--store", str(tmp_path / "st")])
    assert r.exit_code == 0, r.output
    flat = r.output.replace("\n", "")  # rich wraps long lines
    assert "s1_box_[bold]_001.pt: not a regular file" in flat  # printed, not read as markup


def test_deleted_catalog_is_healed_and_said(tmp_path: Path) -> None:
    src = write_synthetic_dataset(tmp_path / "src", subjects=("s1",), clips_per_subject=2)
    st = tmp_path / "st"
    assert runner.invoke(app, ["ingest", str(tmp_path / "src"), "--store", str(st)]).exit_code == 0
    (st / "catalog" / "clips.parquet").unlink()
    r = runner.invoke(app, ["ingest", str(tmp_path / "src"), "--store", str(st)])
    assert r.exit_code == 0 and "catalog healed from the store: 2 row(s)" in r.output
    rows = json.loads(
        runner.invoke(app, ["catalog", "--store", str(st), "--format", "json"]).stdout
    )
    assert sorted(row["source_path"] for row in rows) == sorted(str(p) for p in src)
