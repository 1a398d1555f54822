"""Figures in asset metadata: a PNG the stage wrote, shown on the Dagster asset page.

:func:`figure_metadata` turns one PNG into two entries:

* ``<name>_figure``: markdown holding a thumbnail of the figure inline, as a
  ``data:image/png;base64`` URI (the UI's markdown allows ``data:`` images), under its
  title and above the full-size file's path. The asset page lists it as
  ``[Show Markdown]``, which opens the figure (markdown values of 1000 characters or
  more open in a dialog; no figure is that small);
* ``<name>_png``: the full-size file's path, relative to the store root.

The thumbnail (:func:`intermimic.viz.plots.thumbnail_png`: at most
:data:`THUMB_WIDTH` pixels wide, a palette of 64 colours) keeps each entry to a few tens
of KB, so the event log stays light; a figure that would still exceed
:data:`MAX_EMBED_BYTES` is shrunk further, and one that cannot be read is named, not
shown.
"""

from __future__ import annotations

import base64
from pathlib import Path

import dagster as dg

from intermimic.viz.plots import thumbnail_png

#: Width of the embedded thumbnail in pixels (the figures are 600 to 1200 px wide).
THUMB_WIDTH = 800
#: Largest embedded PNG in bytes; a larger thumbnail is redone narrower.
MAX_EMBED_BYTES = 60_000


def store_relative(path: Path, store_root: Path) -> str:
    """``path`` relative to ``store_root`` (POSIX separators); the absolute path when it
    lies outside the store."""
    p, root = Path(path).resolve(), Path(store_root).resolve()
    return p.relative_to(root).as_posix() if p.is_relative_to(root) else str(p)


def embedded_png(png: Path, *, max_width: int = THUMB_WIDTH) -> bytes:
    """The thumbnail of ``png`` to embed: at most ``max_width`` px wide and, by
    narrowing it, at most :data:`MAX_EMBED_BYTES` (never below 200 px)."""
    data = thumbnail_png(png, max_width=max_width)
    while len(data) > MAX_EMBED_BYTES and max_width > 200:
        max_width = max(200, int(max_width * 0.75))
        data = thumbnail_png(png, max_width=max_width)
    return data


def figure_markdown(png: Path, store_root: Path, title: str) -> str:
    """Markdown: ``title``, the thumbnail of ``png`` inline, the full-size file's path."""
    rel = store_relative(png, store_root)
    try:
        data = embedded_png(png)
    except (OSError, ValueError) as exc:  # unreadable or not an image: say so, show nothing
        return f"**{title}**\n\nnot shown ({type(exc).__name__}: {exc}); file: `{rel}`"
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return f"**{title}**\n\n![{title}]({uri})\n\nfull size: `{rel}` in the store"


def figure_metadata(
    name: str, png: Path | None, store_root: Path, title: str | None = None
) -> dict[str, dg.MetadataValue]:
    """``{<name>_figure: markdown with the figure, <name>_png: its store-relative path}``;
    nothing when ``png`` is None (the stage drew no figure)."""
    if png is None:
        return {}
    label = title or name.replace("_", " ")
    return {
        f"{name}_figure": dg.MetadataValue.md(figure_markdown(png, store_root, label)),
        f"{name}_png": dg.MetadataValue.path(store_relative(png, store_root)),
    }
