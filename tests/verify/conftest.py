"""A small whole store for the damage tests: two subjects ingested from synthetic files
(several chunks per array), their refinement recorded and published as the current
version. Built once per session; each test gets its own copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from data_catalog import Store
from data_catalog.refined_import import record_refinement
from data_catalog.refined_layout import ARTIFACTS
from intermimic.motion.settings import IngestSettings
from intermimic.motion.synthetic import write_synthetic_dataset
from stages import ingest
from stages.publish import PublishSettings, publish_refined
from tests.export.refined_series import artifact_series, sha

SUBJECTS = ("s1", "s2")
CHUNK_FRAMES = 32


def build_whole_store(root: Path, src: Path) -> Store:
    write_synthetic_dataset(src, subjects=SUBJECTS, clips_per_subject=2)
    ingest([src], root, IngestSettings(dataset="lab", chunk_frames=CHUNK_FRAMES))
    store = Store(root)
    for subject in SUBJECTS:
        raws = store.read_subject("lab", subject)
        store.write_series(
            "lab", subject, ARTIFACTS,
            {c.meta.clip_id: artifact_series(c.n_frames, 0.05) for c in raws},
            chunk_frames=CHUNK_FRAMES,
        )  # fmt: skip
        refined = [c.slice(0, c.n_frames - 2) for c in raws]
        record_refinement(
            store, "lab", subject, refined,
            teacher_sha256=sha(f"teacher {subject}"),
            tracking={c.meta.clip_id: {"success": 1.0, "e_h_cm": 3.0, "e_o_cm": 5.0}
                      for c in refined},
            artifacts={c.meta.clip_id: artifact_series(c.n_frames, 0.01) for c in refined},
        )  # fmt: skip
    rep = publish_refined(store, PublishSettings(chunk_frames=CHUNK_FRAMES))
    assert rep.made_current, rep.checks
    return store


@pytest.fixture(scope="session")
def whole_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("whole")
    build_whole_store(base / "store", base / "src")
    return base


@pytest.fixture
def whole_store(whole_template: Path, tmp_path: Path) -> Store:
    """A copy of the whole store (its sources stay in the template, unchanged)."""
    shutil.copytree(whole_template / "store", tmp_path / "store", symlinks=True)
    return Store(tmp_path / "store")


@pytest.fixture
def source_dir(whole_template: Path) -> Path:
    return whole_template / "src"
