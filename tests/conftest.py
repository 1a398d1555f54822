"""Shared fixtures: the real sample (skipped when absent) and temporary stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from intermimic.paths import sample_raw_dir, shared_data_dir


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
