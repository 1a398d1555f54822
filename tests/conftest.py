"""Shared fixtures: the real sample (skipped when absent) and temporary stores; the
warp kernel cache of the run."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from intermimic.paths import sample_raw_dir, shared_data_dir


def pytest_configure(config: pytest.Config) -> None:
    """Warp compiles its kernels into the run's own cache, ``.pytest_cache/d/warp`` (or a
    fresh temporary folder without the cache plugin), never the user's ``~/.cache/warp``:
    a fresh clone (so CI) measures the real compile, and a rerun here reuses it. Set
    before any test can initialise warp, which reads ``WARP_CACHE_PATH`` in ``wp.init()``.
    """
    cache = getattr(config, "cache", None)
    path = cache.mkdir("warp") if cache is not None else Path(tempfile.mkdtemp("-warp"))
    os.environ["WARP_CACHE_PATH"] = str(path)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_dir()
    if root is None:
        pytest.skip("sample data (../shared/data) not present")
    return root


@pytest.fixture(scope="session")
def sample_raw() -> Path:
    raw = sample_raw_dir()
    if raw is None:
        pytest.skip("sample clips (../shared/data/omomo/raw) not present")
    return raw
