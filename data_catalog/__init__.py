"""Data at rest: the store layout, subjects' Zarr generations, the catalog, where teacher
and student runs live, and the published versions of the refined dataset.

The stages that write it (ingest, annotate, teacher, refine, publish, export, student,
evaluate) are in :mod:`stages`."""

from data_catalog.catalog import Catalog, CatalogRow
from data_catalog.store import ClipEntry, Store, SubjectWrite, UnknownClipError
from data_catalog.versions import (
    UnknownVersionError,
    current_version,
    list_versions,
    read_version,
)

__all__ = [
    "Catalog",
    "CatalogRow",
    "ClipEntry",
    "Store",
    "SubjectWrite",
    "UnknownClipError",
    "UnknownVersionError",
    "current_version",
    "list_versions",
    "read_version",
]
