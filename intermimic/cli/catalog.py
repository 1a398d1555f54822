"""``intermimic catalog``: print the store's catalog."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from intermimic.cli.app import app


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


@app.command()
def catalog(
    store: Path = typer.Option(..., "--store", help="store root"),
    format: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json"),
    status: str | None = typer.Option(None, help="only rows with this status (ok, rejected)"),
) -> None:
    """Print every clip the store has seen: ok clips and rejected files with reasons."""
    from data_catalog.catalog import Catalog

    if not store.is_dir():
        Console(stderr=True).print(f"[red]error:[/] {store}: no such store")
        raise typer.Exit(2)
    df = Catalog(store).clips()
    if status:
        df = df[df["status"] == status]
    if format is OutputFormat.json:
        records = json.loads(df.to_json(orient="records", date_format="iso"))
        typer.echo(json.dumps(records, indent=2))
        return
    table = Table(title=f"catalog of {store}: {len(df)} row(s)")
    cols = ["dataset", "subject", "clip", "object", "frames", "seconds", "status", "reason"]
    for c in cols:
        table.add_column(
            c, justify="right" if c in ("frames", "seconds") else "left", overflow="fold"
        )
    for row in df.itertuples(index=False):
        cells = []
        for c in cols:
            v = getattr(row, c)
            if v is None or v is __import__("pandas").NA or (isinstance(v, float) and v != v):
                cells.append("")
            elif c == "seconds":
                cells.append(f"{v:.2f}")
            elif c == "status":
                cells.append("[green]ok[/]" if v == "ok" else f"[red]{v}[/]")
            else:
                cells.append(str(v))
        table.add_row(*cells)
    Console().print(table)
