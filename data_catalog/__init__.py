"""Where data lives and what exists: the store layout, the catalog, ingestion, published
versions of the refined dataset and their exports."""

from data_catalog.catalog import Catalog, CatalogRow
from data_catalog.export import ExportReport, ExportSettings, export_version
from data_catalog.ingest import IngestReport, Reject, discover, ingest
from data_catalog.publish import (
    PublishReport,
    PublishSettings,
    current_version,
    list_versions,
    publish_refined,
    read_version,
)
from data_catalog.store import ClipEntry, Store, SubjectWrite, UnknownClipError

__all__ = [
    "Catalog",
    "CatalogRow",
    "ClipEntry",
    "ExportReport",
    "ExportSettings",
    "IngestReport",
    "PublishReport",
    "PublishSettings",
    "Reject",
    "Store",
    "SubjectWrite",
    "UnknownClipError",
    "current_version",
    "discover",
    "export_version",
    "ingest",
    "list_versions",
    "publish_refined",
    "read_version",
]
