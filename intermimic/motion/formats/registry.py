"""Registry of clip formats, keyed by name.

A format turns the bytes of one file into clip metadata plus named arrays (and, where it
can, writes a clip back). To add BEHAVE, HODome, IMHD or your own capture, subclass
:class:`ClipFormat` and either call :func:`register_format` or expose it under the entry
point group ``intermimic.formats`` of your own package; the core needs no change.
"""

from __future__ import annotations

import importlib.metadata
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from intermimic.errors import UnknownFormatError
from intermimic.motion.clip import HOIClip

ENTRY_POINT_GROUP = "intermimic.formats"


@dataclass
class Decoded:
    """What a reader found in a file: metadata fields for :class:`ClipMeta` and raw arrays.

    The arrays are not validated yet; :func:`intermimic.motion.load.read_clip` does that.
    """

    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]
    extra: dict[str, Any] = field(default_factory=dict)


class ClipFormat(ABC):
    """One on-disk clip format."""

    name: ClassVar[str]
    suffixes: ClassVar[tuple[str, ...]]

    @abstractmethod
    def decode(self, data: bytes, path: Path) -> Decoded:
        """Decode the file's bytes; raise :class:`~intermimic.errors.ReadError` naming ``path``."""

    def identify(self, path: Path) -> dict[str, str]:
        """Subject/object/clip id known from the path alone (used to plan partitions).

        Formats whose names carry no metadata return an empty dict.
        """
        return {}

    def sniff(self, path: Path) -> bool | None:
        """Whether ``path``'s content looks like this format, when several formats share
        its suffix (``*.npz``). None: cannot tell (the default); the first such format
        registered then reads it."""
        return None

    def write(self, clip: HOIClip, path: Path) -> None:
        raise NotImplementedError(f"format {self.name!r} cannot be written")


_REGISTRY: dict[str, ClipFormat] = {}
_entry_points_loaded = False


def register_format(fmt: ClipFormat, *, replace: bool = False) -> ClipFormat:
    """Make ``fmt`` available under ``fmt.name``."""
    if fmt.name in _REGISTRY and not replace:
        raise ValueError(f"a format named {fmt.name!r} is already registered")
    _REGISTRY[fmt.name] = fmt
    return fmt


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        fmt = obj() if isinstance(obj, type) else obj
        if fmt.name not in _REGISTRY:
            register_format(fmt)


def available_formats() -> list[str]:
    _load_entry_points()
    return sorted(_REGISTRY)


def get_format(name: str) -> ClipFormat:
    _load_entry_points()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownFormatError(
            f"unknown format {name!r}; known formats: {', '.join(sorted(_REGISTRY))}"
        ) from None


def format_for_path(path: Path) -> ClipFormat | None:
    """The registered format whose suffix matches ``path``, or None.

    When several formats claim the suffix (the canonical ``npz``, ``smplx-npz`` and
    ``generated-npz`` all read ``*.npz``), the first whose :meth:`ClipFormat.sniff`
    recognises the file's content wins; failing that, the first registered.
    """
    _load_entry_points()
    name = path.name.lower()
    found = [f for f in _REGISTRY.values() if any(name.endswith(s) for s in f.suffixes)]
    if len(found) > 1:
        for fmt in found:
            try:
                if fmt.sniff(path):
                    return fmt
            except Exception:  # an unreadable file: the reader will say what is wrong
                continue
    return found[0] if found else None
