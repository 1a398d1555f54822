"""Resource values: the store root and MoCap sources, from the environment or defaults.

* ``INTERMIMIC_STORE``: store root (default ``<project>/.store``).
* ``INTERMIMIC_OBJECTS``: object meshes (default: the sample's, else a synthetic box).
* ``INTERMIMIC_SOURCES``: ``PATH[:DATASET[:FORMAT]]`` entries separated by ``;``.
  Default: the sample ``../shared/data/omomo/raw`` as dataset ``omomo`` when present,
  else synthetic clips written once to ``<project>/.data/synthetic``.
"""

from __future__ import annotations

import os
from pathlib import Path

from assets_defs.resources import (
    MocapSource,
    MocapSourcesResource,
    ObjectsResource,
    StoreResource,
)
from intermimic.paths import PROJECT_ROOT, sample_raw_dir, shared_data_dir

SYNTHETIC_DIR = PROJECT_ROOT / ".data" / "synthetic"


def store_root() -> Path:
    return Path(os.environ.get("INTERMIMIC_STORE", PROJECT_ROOT / ".store"))


def parse_sources(spec: str) -> list[MocapSource]:
    out = []
    for entry in filter(None, (e.strip() for e in spec.split(";"))):
        path, _, rest = entry.partition(":")
        dataset, _, fmt = rest.partition(":")
        out.append(MocapSource(path=path, dataset=dataset or "default", format=fmt or None))
    return out


def default_sources() -> list[MocapSource]:
    """The sample when present, else synthetic clips (written on first use)."""
    raw = sample_raw_dir()
    if raw is not None:
        return [MocapSource(path=str(raw), dataset="omomo", format="interact-pt")]
    if not any(SYNTHETIC_DIR.glob("*.pt")):
        from intermimic.motion.synthetic import write_synthetic_dataset

        write_synthetic_dataset(SYNTHETIC_DIR)
    return [MocapSource(path=str(SYNTHETIC_DIR), dataset="synthetic", format="interact-pt")]


def objects_root() -> str | None:
    """``$INTERMIMIC_OBJECTS``, the sample's objects, else the synthetic box (written once)."""
    if env := os.environ.get("INTERMIMIC_OBJECTS"):
        return env
    shared = shared_data_dir()
    if shared is not None and (shared / "objects").is_dir():
        return str(shared / "objects")
    from intermimic.motion.synthetic import write_synthetic_objects

    return str(write_synthetic_objects(SYNTHETIC_DIR / "objects"))


def sources() -> list[MocapSource]:
    spec = os.environ.get("INTERMIMIC_SOURCES")
    return parse_sources(spec) if spec else default_sources()


def build_resources() -> dict[str, object]:
    return {
        "store": StoreResource(root=str(store_root())),
        "mocap_sources": MocapSourcesResource(sources=sources()),
        "objects": ObjectsResource(root=objects_root()),
    }
