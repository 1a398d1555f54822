"""``contact_intents`` materialised after ``mocap_clips`` on a temporary instance."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from assets_defs.contact import COVERAGE_CHECK, contact_intents
from assets_defs.mocap import mocap_clips
from assets_defs.partitions import SUBJECTS
from assets_defs.resources import (
    MocapSource,
    MocapSourcesResource,
    ObjectsResource,
    StoreResource,
)
from data_catalog import Catalog, Store
from intermimic.motion.synthetic import write_synthetic_dataset, write_synthetic_objects
from stages.annotate import ARTIFACTS, INTENTS


@pytest.fixture
def env(tmp_path: Path) -> tuple[dg.DagsterInstance, dict[str, object], Path]:
    src = tmp_path / "src"
    write_synthetic_dataset(src, subjects=("s1",), clips_per_subject=2, n_frames=40)
    objects = write_synthetic_objects(tmp_path / "objects")
    resources = {
        "store": StoreResource(root=str(tmp_path / "store")),
        "mocap_sources": MocapSourcesResource(sources=[MocapSource(path=str(src), dataset="lab")]),
        "objects": ObjectsResource(root=str(objects)),
    }
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(SUBJECTS, ["s1"])
    return instance, resources, tmp_path


def test_annotates_every_clip(env: tuple[dg.DagsterInstance, dict, Path]) -> None:
    instance, resources, tmp = env
    result = dg.materialize(
        [mocap_clips, contact_intents], partition_key="s1", instance=instance, resources=resources
    )
    assert result.success
    md = result.asset_materializations_for_node("contact_intents")[0].metadata
    assert md["clips_annotated"].value == 2 and md["clips_failed"].value == 0
    assert "| hands |" in md["label_agreement"].value
    assert "floating_fraction" in md["artifacts"].value
    assert (tmp / "store" / str(md["contact_timeline_png"].value)).is_file()
    assert "data:image/png;base64," in str(md["contact_timeline_figure"].value)
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks[COVERAGE_CHECK] is True
    store = Store(tmp / "store")
    assert store.series_groups("lab", "s1") == [ARTIFACTS, INTENTS]
    labels = store.read_series("lab", "s1", INTENTS)["labels"]
    assert labels.shape == (40 + 47, 52) and np.isin(labels, (-1, 0, 1)).all()
    figures = Catalog(tmp / "store").figures_wide("raw")
    assert sorted(figures["clip"]) == ["s1_box_000", "s1_box_001"]


def test_missing_mesh_fails_clips_not_the_subject(
    env: tuple[dg.DagsterInstance, dict, Path],
) -> None:
    instance, resources, tmp = env
    shutil.rmtree(tmp / "objects" / "box")
    dg.materialize([mocap_clips], partition_key="s1", instance=instance, resources=resources)
    result = dg.materialize(
        [contact_intents], partition_key="s1", instance=instance, resources=resources,
        raise_on_error=False,
    )  # fmt: skip
    md = result.asset_materializations_for_node("contact_intents")[0].metadata
    assert md["clips_failed"].value == 2
    assert "box" in md["failures"].value
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed
    assert check.metadata["clips_without_labels"].value == ["lab/s1_box_000", "lab/s1_box_001"]


def test_subject_not_ingested_fails_clearly(env: tuple[dg.DagsterInstance, dict, Path]) -> None:
    instance, resources, _ = env
    with pytest.raises(dg.Failure, match="materialise mocap_clips first"):
        dg.materialize(
            [contact_intents], partition_key="s1", instance=instance, resources=resources
        )
