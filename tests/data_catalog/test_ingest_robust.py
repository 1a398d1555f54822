"""No file stops a batch: oversized headers, exceptions nobody expected, paths that
cannot be read or even stat'ed, names that are not UTF-8 are each one reject."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from data_catalog import Catalog, Store
from intermimic.motion.formats import ClipFormat, Decoded, register_format
from intermimic.motion.formats.npz import write_npz
from intermimic.motion.synthetic import synthetic_clip, write_synthetic_dataset
from stages import ingest


@pytest.fixture
def world() -> Iterator[Path]:
    # world-writable: one test runs as nobody (root reads any file)
    d = Path(tempfile.mkdtemp(prefix="intermimic-test-"))
    os.chmod(d, 0o777)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@contextmanager
def as_nobody_if_root() -> Iterator[None]:
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(65534)
    try:
        yield
    finally:
        os.seteuid(0)


def test_tiny_file_claiming_775_gib_is_one_reject(world: Path) -> None:
    """Issue item 1: the expanded tensor used to kill the batch with a MemoryError."""
    good = write_synthetic_dataset(world / "good", subjects=("sub2",), clips_per_subject=2)
    bad = world / "x" / "sub2_largetable_909.pt"
    bad.parent.mkdir()
    torch.save(torch.zeros(1).expand(10**9, 591), bad)
    report = ingest([bad, world / "good"], world / "store")
    assert len(report.ingested) == len(good)
    [rej] = report.rejected
    assert rej.path == str(bad) and "max_frames" in rej.reason
    cat = Catalog(world / "store")
    assert len(cat.ok_clips()) == 2
    assert cat.rejects()["clip"].tolist() == ["sub2_largetable_909"]


def _oversized(world: Path) -> list[Path]:
    """One file per kind of oversized declaration, all small on disk."""
    out = world / "big"
    out.mkdir()
    torch.save(torch.zeros(1, 591).expand(4000, 591), out / "s9_box_901.pt")
    torch.save(torch.zeros(4590).as_strided((4000, 591), (1, 1)), out / "s9_box_902.pt")
    clip = synthetic_clip("s9", n_frames=10)
    paths = [out / "s9_box_901.pt", out / "s9_box_902.pt"]
    for i, fps in enumerate((1e6, 0.0, -30.0, 1e-3)):
        p = out / f"fps{i}.npz"
        write_npz(clip.with_meta(clip_id=f"s9_fps_{i}"), p)
        arrays = dict(np.load(p))
        arrays["fps"] = np.array(fps)
        np.savez(p, **arrays)
        paths.append(p)
    return paths


def test_every_oversized_kind_is_a_reject(world: Path) -> None:
    write_synthetic_dataset(world / "good", subjects=("s1",), clips_per_subject=2)
    bad = _oversized(world)
    report = ingest([world / "good", world / "big"], world / "store")
    assert len(report.ingested) == 2
    reasons = {Path(r.path).name: r.reason for r in report.rejected}
    assert set(reasons) == {p.name for p in bad}
    assert "zero stride" in reasons["s9_box_901.pt"]
    assert "overlapping strides" in reasons["s9_box_902.pt"]
    for i in range(4):
        assert "outside [1, 1000]" in reasons[f"fps{i}.npz"]
    assert len(Catalog(world / "store").rejects()) == len(bad)


class _Boom(ClipFormat):
    """A plug-in reader with a bug: it raises what no one planned for."""

    name = "test-boom"
    suffixes = (".boom",)
    error: type[BaseException] = RuntimeError

    def identify(self, path: Path) -> dict[str, str]:
        raise ZeroDivisionError("identify is broken too")

    def decode(self, data: bytes, path: Path) -> Decoded:
        raise self.error("the reader fell over\nwith a second line")


@pytest.mark.parametrize("error", [RuntimeError, MemoryError, KeyError, RecursionError])
def test_unexpected_exception_is_a_reject_and_the_batch_goes_on(
    world: Path, error: type[Exception]
) -> None:
    fmt = _Boom()
    fmt.error = error
    register_format(fmt, replace=True)
    write_synthetic_dataset(world / "src", subjects=("s1", "s2"), clips_per_subject=2)
    (world / "src" / "a.boom").write_text("x")
    (world / "src" / "b.boom").write_text("y")
    report = ingest([world / "src"], world / "store")
    assert len(report.ingested) == 4
    assert sorted(r.clip for r in report.rejected) == ["a", "b"]
    for r in report.rejected:
        assert f"unexpected error reading the file: {error.__name__}" in r.reason
        assert "\n" not in r.reason
    assert len(Catalog(world / "store").ok_clips()) == 4
    assert Store(world / "store").subjects() == [("default", "s1"), ("default", "s2")]


def test_paths_that_cannot_be_read_are_rejects(world: Path) -> None:
    good = write_synthetic_dataset(world / "src", subjects=("s1",), clips_per_subject=1)
    locked = world / "locked"
    locked.mkdir()
    shutil.copy(good[0], locked / "s1_box_007.pt")
    os.chmod(locked, 0o000)  # not even stat-able inside, for anyone but root
    unreadable = world / "s1_box_008.pt"
    shutil.copy(good[0], unreadable)
    os.chmod(unreadable, 0o000)
    fifo = world / "s1_box_009.pt"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    named = [locked / "s1_box_007.pt", unreadable, fifo, world / "nope_box_001.pt", good[0]]
    try:
        with as_nobody_if_root():
            report = ingest(named, world / "store")
    finally:
        os.chmod(locked, 0o755)
    assert [c.meta.clip_id for c in report.ingested] == ["s1_box_000"]
    reasons = {Path(r.path).name: r.reason for r in report.rejected}
    assert "permission denied" in reasons["s1_box_007.pt"]
    assert "permission denied" in reasons["s1_box_008.pt"]
    assert "not a regular file" in reasons["s1_box_009.pt"]
    assert "No such file" in reasons["nope_box_001.pt"]


def test_file_names_that_are_not_utf8(world: Path) -> None:
    """Paths are any bytes: the catalog and the reports escape what is not text."""
    src = write_synthetic_dataset(world / "src", subjects=("s1",), clips_per_subject=1)
    odd_dir = os.path.join(os.fsencode(world), b"caf\xe9")
    os.mkdir(odd_dir)
    shutil.copy(src[0], os.path.join(odd_dir, b"s1_box_003.pt"))  # good clip, odd folder
    shutil.copy(src[0], os.path.join(odd_dir, b"s1_b\xffx_004.pt"))  # bad name
    report = ingest([world / "src", os.fsdecode(odd_dir)], world / "store")
    assert sorted(c.meta.clip_id for c in report.ingested) == ["s1_box_000"]
    reasons = [r.reason for r in report.rejected]
    assert len(reasons) == 2  # the bad name, and the copy of s1_box_000 (a duplicate)
    assert any("does not parse" in r for r in reasons) and any("same content" in r for r in reasons)
    paths = Catalog(world / "store").clips()["source_path"].tolist()
    assert any("caf\\xe9" in p for p in paths)
    assert all(p.isprintable() for p in paths)
