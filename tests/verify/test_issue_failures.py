"""The failures of the integrity issue, reproduced: a missing chunk written onward as
zeros (3), an export that deleted a user's folder (4), damage as tracebacks and temp
folders nothing cleans (6), and the Dask dashboard on every interface (6)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from typer.testing import CliRunner

from assets_defs.mocap import FINITE_CHECK, mocap_clips
from assets_defs.partitions import subjects
from assets_defs.resources import MocapSource, MocapSourcesResource, StoreResource
from assets_defs.store_check import store_verified
from cli import app
from data_catalog import Catalog, Store
from data_catalog.integrity import CHECKSUMS
from intermimic.atomic import lock, tmp_beside
from intermimic.export import ExportError
from intermimic.motion.formats import get_format
from intermimic.motion.synthetic import synthetic_clip, write_synthetic_dataset
from pipeline.executors import dask_cluster_config, dask_dashboard_address
from stages.export import EXPORT_JSON, ExportSettings, export_version, stale_stagings
from stages.export import _staging_lock as staging_lock

runner = CliRunner()


def _live(store: Store, subject: str = "s1") -> Path:
    path = store.generation_path("lab", subject)
    assert path is not None
    return path


# ---- 3: a missing chunk read as zeros and written onward ------------------------------------


def test_missing_chunk_is_not_written_onward_as_zeros(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_synthetic_dataset(src, subjects=("s1",), clips_per_subject=4)
    root = str(tmp_path / "st")
    common = ["--store", root, "--dataset", "lab", "--set", "chunk_frames=64"]
    assert runner.invoke(app, ["ingest", str(src), *common]).exit_code == 0
    store = Store(root)
    gen = _live(store)
    assert CHECKSUMS in store.open_subject("lab", "s1").attrs  # recorded at write time
    chunk = gen / "body_quat" / "c" / "1" / "0" / "0"
    chunk.unlink()
    changed = tmp_path / "changed" / "s1_box_002.pt"
    changed.parent.mkdir()
    get_format("interact-pt").write(synthetic_clip("s1", "box", 2, n_frames=50, seed=7), changed)

    r = runner.invoke(app, ["ingest", str(changed), *common])
    assert r.exit_code == 2, r.output
    assert str(chunk) in "".join(r.output.split())
    assert _live(store) == gen  # no generation was written from the damaged one
    # re-ingesting the originals is "unchanged", but verify knows and repairs
    r = runner.invoke(app, ["verify", "--store", root])
    assert r.exit_code == 2 and str(chunk) in r.stdout
    r = runner.invoke(app, ["verify", "--store", root, "--repair"])
    assert r.exit_code == 0, r.output
    # now the changed clip goes in, and no frame of the subject is all-zero quaternions
    assert runner.invoke(app, ["ingest", str(changed), *common]).exit_code == 0
    clips = store.read_subject("lab", "s1")
    assert [c.meta.clip_id for c in clips] == [f"s1_box_00{i}" for i in range(4)]
    for c in clips:
        assert np.all(np.abs(c.body_quat).sum(axis=-1) > 0.5), c.meta.clip_id
    assert runner.invoke(app, ["verify", "--store", root]).exit_code == 0


def test_chunks_of_fill_values_are_on_disk(tmp_path: Path) -> None:
    """Zarr skips writing all-zero chunks by default; we must not, or a lost chunk and a
    chunk of zeros would look alike."""
    clip = synthetic_clip("s1", "box", 0, n_frames=64, seed=1, dataset="lab")
    clip = clip.with_arrays(contact=np.zeros_like(clip.contact))
    store = Store(tmp_path / "st")
    store.upsert_clips("lab", "s1", [clip], chunk_frames=16)
    assert len(list((_live(store) / "contact" / "c").rglob("*/*"))) == 4
    np.testing.assert_array_equal(store.read_subject("lab", "s1")[0].contact, 0)


def test_finite_check_fails_on_a_missing_chunk_and_the_store_check_too(tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_synthetic_dataset(src, subjects=("s1",), clips_per_subject=2)
    resources = {
        "store": StoreResource(root=str(tmp_path / "store")),
        "mocap_sources": MocapSourcesResource(
            sources=[MocapSource(path=str(src), dataset="lab", format="interact-pt")]
        ),
    }
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(subjects.name, ["s1"])
    res = dg.materialize([mocap_clips], partition_key="s1", instance=instance, resources=resources)
    assert [(c.check_name, c.passed) for c in res.get_asset_check_evaluations()] == [
        (FINITE_CHECK, True)
    ]
    assert store_verified(store=resources["store"]).passed
    chunk = next((_live(Store(tmp_path / "store")) / "obj_pos" / "c").rglob("*/*"))
    chunk.unlink()
    res = dg.materialize([mocap_clips], partition_key="s1", instance=instance, resources=resources)
    (check,) = res.get_asset_check_evaluations()
    assert not check.passed and str(chunk) in str(check.description)
    result = store_verified(store=resources["store"])
    assert not result.passed and str(chunk) in str(result.description)
    assert result.severity == dg.AssetCheckSeverity.ERROR


# ---- 4: export deleted a user's folder --------------------------------------------------------


@pytest.fixture
def published(whole_store: Store) -> Store:
    return whole_store


def test_export_refuses_a_folder_with_export_json_and_user_files(
    published: Store, tmp_path: Path
) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / EXPORT_JSON).write_text(json.dumps({"version": "v-0", "files": {}}))
    (mine / "thesis.tex").write_text("years of work")
    (mine / "figures").mkdir()
    r = runner.invoke(app, ["export", "--store", str(published.root), "--out", str(mine)])
    assert r.exit_code == 1 and str(mine) in "".join(r.output.split()), r.output
    assert (mine / "thesis.tex").read_text() == "years of work" and (mine / "figures").is_dir()
    # an earlier export with one extra file of the user's is refused too
    out = tmp_path / "ex"
    export_version(published, out, ExportSettings(format="npz"))
    record = json.loads((out / EXPORT_JSON).read_text())
    assert set(record["contents"]) == {p.name for p in out.iterdir()}
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="notes.txt"):
        export_version(published, out, ExportSettings(format="zarr3"))
    assert (out / "notes.txt").exists()
    # exactly an earlier export is replaced whole
    (out / "notes.txt").unlink()
    export_version(published, out, ExportSettings(format="zarr3"))
    record = json.loads((out / EXPORT_JSON).read_text())
    assert {p.name for p in out.iterdir()} == set(record["contents"])
    assert {"data.zarr", "README.md", EXPORT_JSON} <= set(record["contents"])
    assert "notes.txt" not in record["contents"]


def test_killed_exports_staging_is_removed_by_the_next_export(
    published: Store, tmp_path: Path
) -> None:
    out = tmp_path / "ex"
    dead = tmp_beside(out)  # what a SIGKILLed exporter leaves: nobody holds its lock
    dead.mkdir()
    (dead / "half.npz").write_bytes(b"half")
    alive = tmp_beside(out)  # a running exporter's: its lock is held
    held = staging_lock(published, alive)
    held.acquire()
    alive.mkdir()
    try:
        r = runner.invoke(app, ["verify", "--store", str(published.root)])
        assert r.exit_code == 0  # outside the store: not verify's to find
        export_version(published, out, ExportSettings(format="npz"))
        assert stale_stagings(out) == [alive]
    finally:
        held.release()
    export_version(published, out, ExportSettings(format="npz"))
    assert stale_stagings(out) == []


def test_verify_repairs_leftovers_in_the_store(published: Store) -> None:
    st = published
    sdir = st.layout.subject_dir("lab", "s1")
    leftovers = [
        sdir / ".g-0123.zarr.tmp-aaaa",
        st.layout.catalog_dir / ".clips.parquet.tmp-bbbb",
        st.root / "datasets" / "refined" / ".v-0123.tmp-cccc",
        st.root / "exports" / "v-1" / ".zarr3.tmp-dddd",
    ]
    for p in leftovers:
        p.mkdir(parents=True) if "parquet" not in p.name else p.write_bytes(b"x")
    busy = sdir / ".g-4567.zarr.tmp-eeee"  # a writer of s1 is at work: left alone
    busy.mkdir()
    with lock(st.layout.subject_lock("lab", "s2")):  # another subject's lock held: irrelevant
        with lock(st.layout.subject_lock("lab", "s1")):
            r = runner.invoke(app, ["verify", "--store", str(st.root)])
            assert str(busy) not in r.output
        r = runner.invoke(app, ["verify", "--store", str(st.root)])
    assert r.exit_code == 2
    assert all(str(p) in r.stdout for p in [*leftovers, busy]), r.output
    r = runner.invoke(app, ["verify", "--store", str(st.root), "--repair"])
    assert r.exit_code == 0, r.output
    assert not any(p.exists() for p in [*leftovers, busy])


def test_lost_current_is_adopted_and_catalog_rebuilt(published: Store) -> None:
    st = published
    (st.layout.subject_dir("lab", "s2") / "CURRENT").unlink()
    r = runner.invoke(app, ["verify", "--store", str(st.root)])
    assert r.exit_code == 2 and "no CURRENT" in r.stdout, r.output
    assert "ok row for lab/s2/s2_box_000, which the store does not hold" in r.stdout
    assert runner.invoke(app, ["verify", "--store", str(st.root), "--repair"]).exit_code == 0
    assert len(Catalog(st.root).ok_clips()) == 4 and len(st.read_subject("lab", "s2")) == 2


# ---- 6: the Dask dashboard ---------------------------------------------------------------


def test_dask_dashboard_is_on_loopback_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTERMIMIC_DASK_ADDRESS", raising=False)
    monkeypatch.delenv("INTERMIMIC_DASK_DASHBOARD", raising=False)
    assert dask_cluster_config()["local"]["dashboard_address"] == "127.0.0.1:8787"
    monkeypatch.setenv("INTERMIMIC_DASK_DASHBOARD", "none")
    assert dask_dashboard_address() is None
    monkeypatch.setenv("INTERMIMIC_DASK_DASHBOARD", "0.0.0.0:9999")
    assert dask_cluster_config()["local"]["dashboard_address"] == "0.0.0.0:9999"


def test_local_cluster_dashboard_binds_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    distributed = pytest.importorskip("dask.distributed")
    monkeypatch.delenv("INTERMIMIC_DASK_DASHBOARD", raising=False)
    conf = dict(dask_cluster_config()["local"], n_workers=0, processes=False)
    conf["dashboard_address"] = conf["dashboard_address"].rsplit(":", 1)[0] + ":0"
    with distributed.LocalCluster(**conf) as cluster:
        server = cluster.scheduler.http_server
        hosts = {s.getsockname()[0] for s in server._sockets.values()}
        assert hosts == {"127.0.0.1"}, hosts
    assert os.environ.get("INTERMIMIC_DASK_DASHBOARD") is None
