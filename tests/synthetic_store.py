"""The two-clip synthetic store several stage and CLI tests start from."""

from __future__ import annotations

from pathlib import Path

from data_catalog import Store
from intermimic.motion.clip import HOIClip
from intermimic.motion.synthetic import synthetic_clip


def two_clip_store(root: Path, frames: int = 24) -> tuple[Store, list[HOIClip]]:
    """A store at ``root`` with dataset ``lab``, subject ``s1``: two synthetic box clips
    (``s1_box_000`` of ``frames`` frames, ``s1_box_001`` of ``frames + 4``), each with its
    own source hash; the store and the clips."""
    store = Store(root)
    clips = [
        synthetic_clip("s1", "box", i, frames + 4 * i, seed=i, dataset="lab").with_meta(
            source_sha256=f"{i:064x}"
        )
        for i in range(2)
    ]
    store.upsert_clips("lab", "s1", clips)
    return store, clips
