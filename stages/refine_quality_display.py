"""How refinement-quality figures are shown: display units, the per-clip table (raw /
refined / InterMimic per figure) and Markdown, for the CLI and the Dagster assets' metadata
(the figures and the verdict themselves: :mod:`stages.refine_quality`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from intermimic.contact.artifacts import ARTIFACT_FIGURES
from stages.refine_quality import Verdict

#: figure -> (short name, unit, factor from SI): how tables show the figures.
FIGURE_DISPLAY: dict[str, tuple[str, str, float]] = {
    "penetration_object_max": ("object penetration", "cm", 100.0),
    "penetration_ground_max": ("ground penetration", "cm", 100.0),
    "floating_fraction": ("floating contact", "% frames", 100.0),
    "foot_skate_speed_mean": ("foot skating", "m/s", 1.0),
    "jitter_body": ("body jitter", "mm", 1000.0),
    "jitter_object": ("object jitter", "mm", 1000.0),
}


#: What a cell of :func:`clip_quality_table` holds.
CELL = "raw / refined / InterMimic"


def figure_header(figure: str) -> str:
    short, unit, _ = FIGURE_DISPLAY.get(figure, (figure, "SI", 1.0))
    return f"{short} ({unit})"


def format_figure(figure: str, value: float | None) -> str:
    """``value`` (SI) in the figure's display unit, 3 significant digits; ``-`` if None."""
    if value is None or not math.isfinite(value):
        return "-"
    return format(value * FIGURE_DISPLAY.get(figure, ("", "", 1.0))[2], ".3g")


def clip_quality_table(
    records: Mapping[str, Mapping[str, Any]],
) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)`` of a per-clip table from :func:`quality_record` outputs: clip,
    verdict (with its failures), then per :data:`ARTIFACT_FIGURES` figure a cell
    :data:`CELL` (``raw / refined / InterMimic``) in display units, ``-`` where not
    measured."""
    header = ["clip", "verdict"] + [figure_header(f) for f in ARTIFACT_FIGURES]
    rows = []
    for cid, rec in sorted(records.items()):
        cells = [cid, Verdict.from_json(rec).describe()]
        for f in ARTIFACT_FIGURES:
            cells.append(
                " / ".join(
                    format_figure(f, (rec.get(k) or {}).get(f))
                    for k in ("raw", "refined", "intermimic")
                )
            )
        rows.append(cells)
    return header, rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table (``|`` in cells escaped)."""

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join(
        [line(header), "| " + " | ".join("---" for _ in header) + " |"] + [line(r) for r in rows]
    )
