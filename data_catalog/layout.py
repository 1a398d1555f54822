"""On-disk layout of a store. Only ``data_catalog`` builds paths inside it.

::

    STORE/
      store.json                         layout version
      catalog/clips.parquet              one row per clip (ok or rejected)
      catalog/clip_figures.parquet       per-clip quality figures, by stage (long table)
      .locks/                            inter-process locks
      mocap/<dataset>/<subject>/
        CURRENT                          name of the live generation, swapped atomically
        g-<content hash>.zarr/           Zarr v3 group: every field concatenated over
                                         the subject's clips along time, clip index in attrs;
                                         derived per-frame series as subgroups

Every name that becomes a path component is checked to be a plain name first, so no
dataset, subject or clip name can escape the store.
"""

from __future__ import annotations

from pathlib import Path

from intermimic.motion.names import check_name

LAYOUT_VERSION = 1


def safe(name: str, what: str) -> str:
    """``name`` if it is a plain path component (the library's one name rule,
    :mod:`intermimic.motion.names`), else :class:`~intermimic.errors.UnsafeNameError`."""
    return check_name(name, what)


class Layout:
    """Paths inside the store rooted at ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def manifest(self) -> Path:
        return self.root / "store.json"

    @property
    def catalog_dir(self) -> Path:
        return self.root / "catalog"

    @property
    def clips_table(self) -> Path:
        return self.catalog_dir / "clips.parquet"

    @property
    def figures_table(self) -> Path:
        return self.catalog_dir / "clip_figures.parquet"

    @property
    def locks(self) -> Path:
        return self.root / ".locks"

    @property
    def mocap(self) -> Path:
        return self.root / "mocap"

    def subject_dir(self, dataset: str, subject: str) -> Path:
        return self.mocap / safe(dataset, "dataset") / safe(subject, "subject")

    def subject_lock(self, dataset: str, subject: str) -> Path:
        return self.locks / f"mocap.{safe(dataset, 'dataset')}.{safe(subject, 'subject')}.lock"

    @property
    def catalog_lock(self) -> Path:
        return self.locks / "catalog.lock"
