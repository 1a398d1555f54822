"""Verifying a store, and repairing what can be repaired: ``intermimic verify``.

:func:`verify_store` reads everything at rest and lists what is wrong, each problem with
the file it is in and how to repair it:

* the layout: ``store.json`` reads and names the supported layout version;
* the catalog's Parquet tables read whole;
* every subject's live generation: its metadata reads, every chunk of every array (and
  of its derived groups) is on disk with the sha256 recorded when it was written; a
  subject folder whose generations no ``CURRENT`` names (a first write that died);
* the catalog agrees with the store: an ok row for exactly each clip of each raw
  subject's live generation, with its hash, frames, source and object;
* every published version: ``version.json`` reads, ``data.zarr`` is whole (checksums),
  the manifest lists the clips the data holds, ``CURRENT`` names a version, and the
  catalog's version tables have a row for each;
* leftovers of writers that were killed: hidden ``.*.tmp-*`` files and folders (only
  those no live writer holds: each is checked against its writer's lock).

:func:`repair_store` repairs what it can, then verifies again: it writes a missing or
garbled ``store.json``; drops leftovers; rebuilds the catalog's ok rows from the store
(:func:`data_catalog.reconcile.reconcile_catalog`; an unreadable ``clips.parquet`` is
set aside as ``clips.parquet.damaged`` first, and its reject rows are lost); re-ingests
a damaged subject, each clip whose chunks are whole from the store and each other one
from its source file when that is still there with the sha256 recorded (a clip that can
be had from neither is left out, and said so; a refined subject says what to run
instead); adopts the newest whole generation of a subject that lost its ``CURRENT``;
records missing version rows from the manifests; republishes a damaged version when its
inputs still give the same version id.
"""

from stages.verify.checks import (
    DAMAGED,
    INCONSISTENT,
    LEFTOVER,
    Problem,
    VerifyReport,
    verify_store,
)
from stages.verify.repair import RepairReport, repair_store

__all__ = [
    "DAMAGED",
    "INCONSISTENT",
    "LEFTOVER",
    "Problem",
    "RepairReport",
    "VerifyReport",
    "repair_store",
    "verify_store",
]
