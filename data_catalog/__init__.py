"""Where data lives and what exists: the store layout, the catalog, ingestion."""

from data_catalog.catalog import Catalog, CatalogRow
from data_catalog.ingest import IngestReport, Reject, discover, ingest
from data_catalog.store import ClipEntry, Store, SubjectWrite, UnknownClipError

__all__ = [
    "Catalog",
    "CatalogRow",
    "ClipEntry",
    "IngestReport",
    "Reject",
    "Store",
    "SubjectWrite",
    "UnknownClipError",
    "discover",
    "ingest",
]
