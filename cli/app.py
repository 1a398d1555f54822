"""The ``intermimic`` Typer application; each command lives in its own module."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="intermimic",
    help="Physics-based human-object interaction data: ingest, refine, publish, distil.",
    no_args_is_help=True,
    add_completion=False,
)
