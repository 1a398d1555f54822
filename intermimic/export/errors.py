"""Errors of exports and published versions."""

from __future__ import annotations

from intermimic.errors import InterMimicError


class ExportError(InterMimicError):
    """An export cannot be written: nothing to export, a clash of names, a bad target."""


class NothingToExportError(ExportError):
    """The selection holds no clip this export may write: all partial (the teacher did not
    reach their end), or every clip refused by the format. The message says which and why."""
