"""Publish and export speed on the sample's refined data, one JSON line.

The sample's refined data are InterMimic's own refined OMOMO clips
(``omomo/refined_by_intermimic``, refined in Isaac Gym by InterMimic's teachers). They are
ingested beside the raw clips and recorded as the subject's refinement
(:func:`data_catalog.refined_import.record_refinement`), then published as a version and
exported in every format. Falls back to synthetic clips when the sample is absent.

Reported: seconds and MB/s (array bytes, before compression) of the publish and of each
export end to end; and the write alone of the ``zarr3`` layout
(:func:`data_catalog.hoi_zarr.write_hoi_group`, concatenation included) against a plain
``numpy.save`` of the same concatenated arrays in the same run, best of ``--repeat``,
as ``zarr3_vs_numpy_save`` (goal: at least 0.5); then the same with the sample tiled
``--scale`` times (``_x10``): on 20 MB the folders a Zarr group needs (one per array)
weigh against ``numpy.save``'s flat files, on 200 MB the bytes do.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from data_catalog import Store
from data_catalog.hoi_zarr import write_hoi_group
from data_catalog.refined_import import record_refinement
from data_catalog.versions import read_version
from intermimic.export import EXPORT_FIELDS, FORMATS, ExportClip
from intermimic.motion.settings import IngestSettings
from intermimic.motion.synthetic import synthetic_clip
from intermimic.paths import shared_data_dir
from stages import ingest
from stages.export import ExportSettings, export_version
from stages.publish import PublishSettings, publish_refined

TEACHER = "InterMimic teachers (Isaac Gym), as published with the sample"


def build_store(root: Path) -> tuple[Store, str]:
    """A store holding raw clips and their recorded refinement; returns (store, source)."""
    store = Store(root)
    shared = shared_data_dir()
    raw_dir = shared / "omomo" / "raw" if shared else None
    ref_dir = shared / "omomo" / "refined_by_intermimic" if shared else None
    teacher = hashlib.sha256(TEACHER.encode()).hexdigest()
    if raw_dir and ref_dir and raw_dir.is_dir() and ref_dir.is_dir():
        ingest([raw_dir], store, IngestSettings(dataset="omomo"))
        ingest(
            [ref_dir],
            store,
            IngestSettings(dataset="omomo-intermimic", trim_invalid_leading_frames=True),
        )
        source = "sample: omomo/refined_by_intermimic"
        pairs = [(d, s) for d, s in store.subjects("omomo")]
        for ds, subject in pairs:
            refined = store.read_subject("omomo-intermimic", subject)
            record_refinement(
                store, ds, subject, refined, teacher_sha256=teacher, teacher_checkpoint=TEACHER,
                tracking={c.meta.clip_id: {"success": 1.0} for c in refined},
            )  # fmt: skip
    else:
        source = "synthetic"
        for subject in ("s1", "s2"):
            clips = [
                synthetic_clip(subject, "box", i, 300, seed=i, dataset="lab").with_meta(
                    source_sha256=hashlib.sha256(f"{subject}{i}".encode()).hexdigest()
                )
                for i in range(12)
            ]
            store.upsert_clips("lab", subject, clips)
            record_refinement(
                store, "lab", subject, clips, teacher_sha256=teacher,
                tracking={c.meta.clip_id: {"success": 1.0} for c in clips},
            )  # fmt: skip
    return store, source


def write_against_numpy_save(
    clips: list[ExportClip], work: Path, repeat: int, compression: str
) -> tuple[float, float, int]:
    """MB/s of ``write_hoi_group`` and of ``numpy.save`` of the same concatenated arrays,
    best of ``repeat`` interleaved runs; and the bytes."""
    arrays = {
        n: np.concatenate([ec.arrays()[n] for ec in clips]).astype(s.dtype, copy=False)
        for n, s in EXPORT_FIELDS.items()
    }
    nbytes = sum(a.nbytes for a in arrays.values())
    t_zarr, t_npy = [], []
    for i in range(repeat):
        target = work / f"w{i}"
        target.mkdir()
        t0 = time.perf_counter()
        for name, a in arrays.items():
            np.save(target / f"{name}.npy", a)
        t_npy.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        write_hoi_group(target / "data.zarr", clips, compression=compression)
        t_zarr.append(time.perf_counter() - t0)
        shutil.rmtree(target)
    return nbytes / 1e6 / min(t_zarr), nbytes / 1e6 / min(t_npy), nbytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--scale", type=int, default=10, help="tiling of the second comparison")
    ap.add_argument("--compression", default="none", choices=["none", "lz4", "zstd"])
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-export-"))
    try:
        store, source = build_store(work / "store")
        settings = PublishSettings(compression=args.compression, min_success_ratio=0.0)
        t0 = time.perf_counter()
        rep = publish_refined(store, settings)
        publish_s = time.perf_counter() - t0
        out: dict[str, object] = {
            "bench": "export",
            "source": source,
            "clips": rep.n_clips,
            "frames": rep.manifest["frames"],
            "version": rep.version,
            "compression": args.compression,
            "publish_s": round(publish_s, 3),
            "publish_MBps": round(rep.bytes_written / 1e6 / publish_s, 1),
        }
        for fmt in FORMATS:
            best = None
            for i in range(max(1, args.repeat // 2)):
                r = export_version(
                    store, work / f"{fmt}{i}",
                    ExportSettings(format=fmt, compression=args.compression),  # type: ignore[arg-type]
                )  # fmt: skip
                best = r if best is None or r.seconds < best.seconds else best
            assert best is not None
            out[f"export_{fmt}_s"] = round(best.seconds, 3)
            out[f"export_{fmt}_MBps"] = round(best.mb_per_s, 1)

        # the write alone, against numpy.save of the same arrays, interleaved, best of N;
        # on the sample as it is, and tiled --scale times (where fixed costs fade)
        clips, _ = read_version(store, rep.version)
        for tag, subset in (("", clips), (f"_x{args.scale}", clips * args.scale)):
            z, n, nbytes = write_against_numpy_save(subset, work, args.repeat, args.compression)
            out[f"array_MB{tag}"] = round(nbytes / 1e6, 2)
            out[f"zarr3_write_MBps{tag}"] = round(z, 1)
            out[f"numpy_save_MBps{tag}"] = round(n, 1)
            out[f"zarr3_vs_numpy_save{tag}"] = round(z / n, 3)
        out["goal"] = 0.5
        print(json.dumps(out))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
