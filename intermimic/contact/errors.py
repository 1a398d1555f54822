"""Errors of contact annotation."""

from __future__ import annotations

from intermimic.errors import InputError


class AnnotationError(InputError):
    """A clip or scene cannot be annotated (skeleton mismatch, no object, bad geoms)."""
