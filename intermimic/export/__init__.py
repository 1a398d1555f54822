"""Exports of refined HOI data for other projects.

Each format is a function of a list of :class:`ExportClip` and a folder; none knows where
the clips came from (a published version, a test, a notebook). Zarr exports share the
store's layout code and live in :mod:`data_catalog.hoi_zarr`; the orchestration (resolve
a version, stage the folder, write the data card, rename it into place) is
:func:`stages.export.export_version`.

==============  ==============================================  ==========================
format          files                                           for
==============  ==============================================  ==========================
``zarr3``       ``data.zarr/`` (Zarr format 3), self-describing  this project, xarray, ...
``zarr2``       ``data.zarr/`` (Zarr format 2), the same         tools on zarr-python 2,
                                                                xarray
``interact-pt`` ``SUBJECT_OBJECT_TAKE.pt`` per clip              InterMimic / Isaac Gym
``npz``         ``<clip_id>.npz`` per clip                       mjlab-style motion tracking
==============  ==============================================  ==========================

Every export also holds the humanoid per subject (:mod:`intermimic.export.humanoid`) and
the object meshes (:mod:`intermimic.export.objects`), described by the data card
(:mod:`intermimic.export.card`).
"""

from intermimic.export.card import FORMATS, data_card
from intermimic.export.clips import EXPORT_FIELDS, VELOCITY_FIELDS, ExportClip
from intermimic.export.errors import ExportError, NothingToExportError
from intermimic.export.interact_pt import write_interact_pt
from intermimic.export.npz import read_motion_npz, write_motion_npz

__all__ = [
    "EXPORT_FIELDS",
    "FORMATS",
    "VELOCITY_FIELDS",
    "ExportClip",
    "ExportError",
    "NothingToExportError",
    "data_card",
    "read_motion_npz",
    "write_interact_pt",
    "write_motion_npz",
]
