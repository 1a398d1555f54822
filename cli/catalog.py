"""``intermimic catalog``: print the store's catalog (after checking the store is whole)."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from cli.app import EXIT_STORE, app, fail_line, require_store

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ["dataset", "subject", "clip", "object", "frames", "seconds", "status", "reason"]


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


def _cell(column: str, value: object) -> str:
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return ""
    if column == "seconds":
        return f"{value:.2f}"
    if column == "status":
        return "[green]ok[/]" if value == "ok" else f"[red]{value}[/]"
    return str(value)


def catalog_table(df: pd.DataFrame, title: str) -> Table:
    """A rich table of catalog rows; reasons wrap, names stay on one line."""
    table = Table(title=title)
    for c in COLUMNS:
        table.add_column(
            c,
            justify="right" if c in ("frames", "seconds") else "left",
            no_wrap=c != "reason",
            overflow="fold",
        )
    for row in df.itertuples(index=False):
        table.add_row(*(_cell(c, getattr(row, c)) for c in COLUMNS))
    return table


def print_catalog(store: Path, status: str | None = None) -> None:
    from data_catalog.catalog import Catalog

    df = Catalog(store).clips()
    if status:
        df = df[df["status"] == status]
    # Piped output (CI logs, `| less`) gets a wide table rather than rich's 80 columns.
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(catalog_table(df, f"catalog of {store}: {len(df)} row(s)"))


@app.command()
def catalog(
    store: Path = typer.Option(..., "--store", help="store root"),
    format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json"),
    status: str | None = typer.Option(None, help="only rows with this status (ok, rejected)"),
) -> None:
    """Print every clip the store has seen: ok clips and rejected files with reasons.

    The store is verified first (as `intermimic verify` does): damaged data exits 2 with
    one line naming the file; a catalog that disagrees with the store is a warning.
    """
    require_store(store)
    from data_catalog.catalog import Catalog
    from stages.verify import DAMAGED, INCONSISTENT, verify_store

    check = verify_store(store)
    damaged = [p for p in check.problems if p.kind == DAMAGED]
    if damaged:
        check.problems = damaged
        fail_line(check.summary_line())
        raise typer.Exit(EXIT_STORE)
    if stale := [p for p in check.problems if p.kind == INCONSISTENT]:
        typer.echo(
            f"warning: {len(stale)} disagreement(s) between the catalog and the store, "
            f"first: {stale[0].what}; run `intermimic verify --store {store}`",
            err=True,
        )
    if format is OutputFormat.table:
        print_catalog(store, status)
        return
    df = Catalog(store).clips()
    if status:
        df = df[df["status"] == status]
    records = json.loads(df.to_json(orient="records", date_format="iso"))
    typer.echo(json.dumps(records, indent=2))
