"""Shared fixtures of the stage tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_catalog import Store
from intermimic.motion.synthetic import synthetic_clip


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A store at ``tmp_path/store`` with dataset ``lab``, subject ``s1``: two synthetic
    box clips (``s1_box_000`` 24 frames, ``s1_box_001`` 28), each with its own source hash."""
    store = Store(tmp_path / "store")
    clips = [
        synthetic_clip("s1", "box", i, 24 + 4 * i, seed=i, dataset="lab").with_meta(
            source_sha256=f"{i:064x}"
        )
        for i in range(2)
    ]
    store.upsert_clips("lab", "s1", clips)
    return store
