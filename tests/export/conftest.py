"""A small store with refined clips recorded for two subjects (synthetic, fast).

The refinement is recorded with :func:`data_catalog.refined_import.record_refinement`,
the same store state :func:`stages.refine.refine_subject` leaves (refined clips,
``rollout`` group with the tracking record, ``artifacts`` series); raw artifact series are
stored the way ``annotate`` stores them. The test on real teachers is in
``tests/assets_defs/test_dataset_asset.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from data_catalog import Store
from data_catalog.refined_import import record_refinement
from data_catalog.refined_layout import ARTIFACTS
from intermimic.motion.synthetic import synthetic_clip
from tests.export.refined_series import artifact_series, sha


def build_store(
    root: Path,
    subjects: tuple[str, ...] = ("s1", "s2"),
    *,
    n_clips: int = 2,
    success: Callable[[str, int], bool] = lambda subject, i: i == 0,
    teacher: str = "teacher-a",
    raw_tag: str = "",
    refined_level: float = 0.01,
    raw_level: float = 0.05,
    quality: Callable[[str, int], dict[str, Any] | None] | None = None,
) -> Store:
    """Raw clips of ``lab`` and their refinement, for every subject; ``quality(subject,
    i)``: the refine stage's quality record of clip ``i`` (None: none recorded)."""
    store = Store(root)
    for si, subject in enumerate(subjects):
        raws = [
            synthetic_clip(
                subject, "box", i, 40 + 5 * i, seed=10 * si + i, dataset="lab"
            ).with_meta(source_sha256=sha(f"raw {subject} {i} {raw_tag}"))
            for i in range(n_clips)
        ]
        store.upsert_clips("lab", subject, raws)
        store.write_series(
            "lab", subject, ARTIFACTS,
            {c.meta.clip_id: artifact_series(c.n_frames, raw_level) for c in raws},
        )  # fmt: skip
        refined = [c.slice(0, c.n_frames - 2) for c in raws]
        record_refinement(
            store, "lab", subject, refined,
            teacher_sha256=sha(f"{teacher} {subject}"),
            teacher_checkpoint=f"teachers/lab/{subject}/checkpoints/iter_000010",
            tracking={
                c.meta.clip_id: {"success": float(success(subject, i)), "e_h_cm": 3.0 + i,
                                 "e_o_cm": 5.0 + i, "duration": c.n_frames - 1.0}
                for i, c in enumerate(refined)
            },
            artifacts={c.meta.clip_id: artifact_series(c.n_frames, refined_level) for c in refined},
            quality={
                c.meta.clip_id: rec for i, c in enumerate(refined)
                if quality is not None and (rec := quality(subject, i)) is not None
            },
        )  # fmt: skip
    return store


@pytest.fixture
def refined_store(tmp_path: Path) -> Store:
    return build_store(tmp_path / "store")


@pytest.fixture
def make_store() -> Callable[..., Store]:
    """:func:`build_store` itself, for tests that vary the inputs."""
    return build_store
