"""Errors of exports and published versions."""

from __future__ import annotations

from intermimic.errors import InterMimicError


class ExportError(InterMimicError):
    """An export cannot be written: nothing to export, a clash of names, a bad target."""
