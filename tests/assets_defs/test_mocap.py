"""``mocap_clips`` materialised per subject on a temporary Dagster instance."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from assets_defs.config import config_from_settings
from assets_defs.mocap import FINITE_CHECK, mocap_clips
from assets_defs.partitions import subjects
from assets_defs.resources import MocapSource, MocapSourcesResource, StoreResource
from data_catalog import Catalog, Store
from intermimic.motion.corrupt import corrupt
from intermimic.motion.settings import IngestSettings
from intermimic.motion.synthetic import synthetic_clip, write_synthetic_dataset


@pytest.fixture
def setup(tmp_path: Path) -> tuple[dg.DagsterInstance, dict[str, object], Path]:
    src = tmp_path / "src"
    write_synthetic_dataset(src, subjects=("s1", "s2"), clips_per_subject=2)
    corrupt("nan", src / "s1_box_000.pt", src)  # one bad file for s1
    resources = {
        "store": StoreResource(root=str(tmp_path / "store")),
        "mocap_sources": MocapSourcesResource(
            sources=[MocapSource(path=str(src), dataset="lab", format="interact-pt")]
        ),
    }
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(subjects.name, ["s1", "s2"])
    return instance, resources, tmp_path / "store"


def test_materialise_one_subject_alone(setup: tuple[dg.DagsterInstance, dict, Path]) -> None:
    instance, resources, store_root = setup
    result = dg.materialize(
        [mocap_clips], partition_key="s1", instance=instance, resources=resources
    )
    assert result.success
    mat = result.asset_materializations_for_node("mocap_clips")[0]
    md = mat.metadata
    assert md["clips"].value == 2 and md["rejected"].value == 1
    assert md["frames"].value == 90 + 97
    assert "NaN" in md["rejects"].value and "| file | reason |" in md["rejects"].value
    checks = result.get_asset_check_evaluations()
    assert [(c.check_name, c.passed) for c in checks] == [(FINITE_CHECK, True)]
    # s2 untouched
    assert Store(store_root).subjects() == [("lab", "s1")]
    assert len(Catalog(store_root).rejects()) == 1


def test_finite_check_fails_on_nonfinite_store(
    setup: tuple[dg.DagsterInstance, dict, Path],
) -> None:
    instance, resources, store_root = setup
    dg.materialize([mocap_clips], partition_key="s2", instance=instance, resources=resources)
    # Corrupt the stored data behind validation's back: the check must notice.
    bad = synthetic_clip("s2", "box", 7, seed=5, dataset="lab")
    pos = bad.obj_pos.copy()
    pos[3, 0] = np.nan
    Store(store_root).upsert_clips(
        "lab", "s2", [bad.with_arrays(obj_pos=pos).with_meta(source_sha256="x")]
    )
    result = dg.materialize(
        [mocap_clips], partition_key="s2", instance=instance, resources=resources
    )
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed
    assert check.metadata["non_finite_values"].value == {"lab/obj_pos": 1}


def test_subject_without_files_fails_clearly(setup: tuple[dg.DagsterInstance, dict, Path]) -> None:
    instance, resources, _ = setup
    instance.add_dynamic_partitions(subjects.name, ["ghost"])
    with pytest.raises(dg.Failure, match="no clip files for subject 'ghost'"):
        dg.materialize([mocap_clips], partition_key="ghost", instance=instance, resources=resources)


def test_run_config_from_settings(setup: tuple[dg.DagsterInstance, dict, Path]) -> None:
    instance, resources, store_root = setup
    result = dg.materialize(
        [mocap_clips],
        partition_key="s2",
        instance=instance,
        resources=resources,
        run_config={"ops": {"mocap_clips": {"config": {"min_frames": 95}}}},
    )
    assert result.success
    # the 90-frame clip is too short under that config
    rejects = Catalog(store_root).rejects()
    assert list(rejects["clip"]) == ["s2_box_000"]


def test_config_class_mirrors_settings() -> None:
    cfg = config_from_settings(IngestSettings, "C", exclude=("dataset",))
    assert set(cfg.model_fields) == set(IngestSettings.model_fields) - {"dataset"}
    assert cfg.model_fields["quat_tolerance"].default == IngestSettings().quat_tolerance
