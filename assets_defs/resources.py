"""Resources the assets need: where the store is and where MoCap files come from.

The classes live here so that assets can name them as types; ``pipeline/`` decides
their values (environment variables, defaults) when it builds the Definitions.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import dagster as dg
from pydantic import Field

from data_catalog.catalog import Catalog
from data_catalog.store import Store
from intermimic.errors import InputError, UnknownFormatError
from intermimic.motion.load import resolve_format
from intermimic.objects import ObjectLibrary
from stages.ingest import discover


class StoreResource(dg.ConfigurableResource):
    """The store every stage reads from and writes to."""

    root: str = Field(description="store root folder")

    def store(self) -> Store:
        return Store(self.root)

    def catalog(self) -> Catalog:
        return Catalog(self.root)


class ObjectsResource(dg.ConfigurableResource):
    """Where object meshes live (``<name>/<name>.obj``); None: ``$INTERMIMIC_OBJECTS`` or
    the sample's ``objects`` folder."""

    root: str | None = Field(None, description="objects folder")

    def library(self) -> ObjectLibrary:
        return ObjectLibrary(self.root) if self.root else ObjectLibrary()


class MocapSource(dg.Config):
    """A folder (searched recursively) or file of MoCap clips, filed under one dataset."""

    path: str
    dataset: str = "default"
    format: str | None = Field(None, description="reader name; None picks by suffix")


class MocapSourcesResource(dg.ConfigurableResource):
    """Where new MoCap comes from; the sensor scans these for new subjects."""

    sources: list[MocapSource] = Field(default_factory=list)

    def files_by_subject(self) -> dict[str, list[tuple[Path, MocapSource]]]:
        """Every clip file whose subject can be told from the file, grouped by subject.

        Files whose subject cannot be told (unparseable names, unreadable archives) are
        left out here; ``intermimic ingest`` on the folder records them as rejects.
        """
        out: dict[str, list[tuple[Path, MocapSource]]] = defaultdict(list)
        for src in self.sources:
            for path in discover([src.path], src.format):
                try:
                    subject = resolve_format(path, src.format).identify(path).get("subject")
                except (InputError, UnknownFormatError, OSError):
                    continue
                if subject:
                    out[subject].append((path, src))
        return dict(out)

    def subjects(self) -> list[str]:
        return sorted(self.files_by_subject())
