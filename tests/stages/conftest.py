"""Shared fixtures of the stage tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_catalog import Store
from tests.synthetic_store import two_clip_store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A store at ``tmp_path/store`` with dataset ``lab``, subject ``s1``: two synthetic
    box clips (``s1_box_000`` 24 frames, ``s1_box_001`` 28), each with its own source hash."""
    return two_clip_store(tmp_path / "store")[0]
