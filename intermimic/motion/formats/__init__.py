"""Clip formats. Importing this package registers the built-in ones."""

from intermimic.motion.formats import generated, interact_pt, npz, smplx_npz
from intermimic.motion.formats.registry import (
    ClipFormat,
    Decoded,
    available_formats,
    format_for_path,
    get_format,
    register_format,
)

__all__ = [
    "ClipFormat",
    "Decoded",
    "available_formats",
    "format_for_path",
    "generated",
    "get_format",
    "interact_pt",
    "npz",
    "register_format",
    "smplx_npz",
]
