"""``intermimic ingest``: MoCap files into the store."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.app import app, require_store
from cli.settings_options import parse_overrides
from intermimic.errors import InterMimicError, StoreError
from intermimic.motion.names import check_name, safe_text
from intermimic.motion.settings import IngestSettings

console = Console(stderr=True)


@app.command()
def ingest(
    sources: list[Path] = typer.Argument(..., help="clip files or folders (searched recursively)"),
    store: Path = typer.Option(
        ..., "--store", help="store root (created if missing or an empty folder)"
    ),
    dataset: str = typer.Option(
        IngestSettings.model_fields["dataset"].default, help="dataset the clips are filed under"
    ),
    format: str | None = typer.Option(
        None, "--format", help="reader name (interact-pt, npz, ...); default: by file suffix"
    ),
    set_: list[str] = typer.Option(
        [],
        "--set",
        metavar="KEY=VALUE",
        help="any other ingest setting, e.g. --set quat_tolerance=1e-2",
    ),
) -> None:
    """Ingest MoCap clips: validate each file, write good clips, record rejects.

    Every file is read within the limits of the settings (max_frames, min_fps, max_fps,
    max_file_bytes, max_array_bytes); a file over one is a reject. The catalog's rows of
    the subjects touched are reconciled with the store. Exits 0 when at least one clip
    is in the store afterwards (new or unchanged), 1 when nothing could be ingested, 2
    when the store cannot be written, --store is a file or a folder that holds something
    but no store (nothing is written there), or the options are wrong.
    """
    require_store(store, create=True)  # the one command that makes a store
    from stages.ingest import discover
    from stages.ingest import ingest as run_ingest

    try:
        settings = parse_overrides(IngestSettings, set_, dataset=dataset, format=format)
        check_name(settings.dataset, "dataset")
        files = discover(sources, settings.format)
    except InterMimicError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    if not files:
        where = escape(safe_text(", ".join(map(str, sources))))
        console.print(f"[red]error:[/] no clip files found under {where}")
        raise typer.Exit(1)
    try:
        with Progress(
            TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.description}"), TimeElapsedColumn(),
            console=console, transient=True,
        ) as progress:  # fmt: skip
            task = progress.add_task("", total=len(files))

            def step(path: Path) -> None:
                progress.update(task, advance=1, description=escape(safe_text(path.name)))

            report = run_ingest(files, store, settings, on_file=step)
    except StoreError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    except OSError as exc:
        console.print(
            f"[red]error:[/] cannot write the store {escape(str(store))}: {escape(str(exc))}"
        )
        raise typer.Exit(2) from None

    out = Console()
    for r in report.rejected:
        # paths and reasons come from files: escaped, never read as markup or controls
        out.print(f"[yellow]rejected[/] {escape(safe_text(r.path))}: {escape(safe_text(r.reason))}")
    rec = report.catalog
    if rec is not None and rec.changed:
        written = {(c.meta.dataset, c.meta.subject, c.meta.clip_id) for c in report.ingested}
        healed = len(set(rec.added + rec.updated) - written)
        if healed or rec.removed:
            out.print(
                f"catalog healed from the store: {healed} row(s) restored or corrected, "
                f"{len(rec.removed)} removed"
            )
    table = Table(title=f"ingest into {store}", show_header=True)
    for col in ("ingested", "unchanged", "rejected", "frames"):
        table.add_column(col, justify="right")
    s = report.summary()
    table.add_row(*(str(s[k]) for k in ("ingested", "unchanged", "rejected", "frames")))
    out.print(table)
    if report.n_ok == 0:
        raise typer.Exit(1)
