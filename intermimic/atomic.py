"""Atomic file writes, file hashes and inter-process locks for everything others read.

A write goes to a temporary path beside its target and is renamed into place, so a
reader sees the old content or the new, never half of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock


def tmp_beside(target: Path) -> Path:
    """A fresh temporary path in ``target``'s folder (same filesystem, so rename is atomic)."""
    return target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex[:12]}")


def write_bytes_atomic(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` atomically (fsync, then rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_beside(target)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def sha256_file(path: Path) -> tuple[str, int]:
    """(sha256 hex, size) of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def write_text_atomic(target: Path, text: str) -> None:
    write_bytes_atomic(target, text.encode())


@contextlib.contextmanager
def staged_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success rename it to ``target``.

    When ``target`` already exists (another writer made the same content first), the
    staged copy is discarded. On error the staged folder is removed.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_beside(target)
    tmp.mkdir()
    try:
        yield tmp
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def lock(path: Path, timeout: float = 600.0) -> FileLock:
    """An inter-process lock on ``path`` (created on demand)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path), timeout=timeout)
