"""``intermimic annotate``: contact intents and the MoCap artifact report for subjects."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from cli.app import app, require_store
from cli.settings_options import parse_overrides
from intermimic.errors import InterMimicError, StoreUnavailableError

console = Console(stderr=True)


@app.command()
def annotate(
    store: Path = typer.Option(..., "--store", help="store root"),
    subject: list[str] = typer.Option([], "--subject", help="subject(s); default: all"),
    dataset: str | None = typer.Option(None, "--dataset", help="only this dataset"),
    objects: Path | None = typer.Option(
        None, "--objects", help="objects folder (<name>/<name>.obj); default $INTERMIMIC_OBJECTS"
    ),
    fit: bool = typer.Option(True, help="annotate with each subject's fitted humanoid"),
    set_: list[str] = typer.Option(
        [], "--set", metavar="KEY=VALUE", help="contact setting, e.g. --set min_duration=5"
    ),
) -> None:
    """Label intended contacts per frame and body, and measure the MoCap's artifacts.

    Labels and per-frame series go into each subject's Zarr group, per-clip figures into
    the catalog (stage ``raw``). Exits 1 when no clip could be annotated.
    """
    require_store(store)
    from data_catalog.store import Store
    from intermimic.contact.settings import ContactSettings
    from intermimic.objects import ObjectLibrary
    from stages.annotate import annotate_subject

    try:
        settings = parse_overrides(ContactSettings, set_)
        st = Store(store)
        pairs = [(d, s) for d, s in st.subjects(dataset) if not subject or s in subject]
        library = ObjectLibrary(objects) if objects else ObjectLibrary()
    except StoreUnavailableError:
        raise  # exit 2, one line (cli.app)
    except InterMimicError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    missing = sorted(set(subject) - {s for _, s in pairs})
    if missing:
        console.print(f"[red]error:[/] no subject(s) {', '.join(missing)} in {store}")
        raise typer.Exit(1)
    if not pairs:
        console.print(f"[red]error:[/] no subjects in {store}")
        raise typer.Exit(1)

    table = Table(title=f"annotate {store}")
    for col in ("subject", "clips", "failed", "frames", "frames/s", "hands F1", "feet F1"):
        table.add_column(col, justify="left" if col == "subject" else "right")
    total_ok = 0
    out = Console()
    for ds, subj in pairs:
        n = len(st.index(ds, subj))
        with Progress(
            TextColumn(f"[bold]{ds}/{subj}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.description}"), TimeElapsedColumn(),
            console=console, transient=True,
        ) as progress:  # fmt: skip
            task = progress.add_task("", total=n)

            def on_clip(cid: str, t: TaskID = task, p: Progress = progress) -> None:
                p.update(t, advance=1, description=cid)

            try:
                rep = annotate_subject(st, ds, subj, settings, library, fit=fit, on_clip=on_clip)
            except StoreUnavailableError:
                raise  # exit 2, one line (cli.app)
            except InterMimicError as exc:
                out.print(f"[red]failed[/] {ds}/{subj}: {exc}")
                continue
        for f in rep.failed:
            out.print(f"[yellow]not annotated[/] {ds}/{subj}/{f.clip}: {f.reason}")
        total_ok += len(rep.annotated)
        f1 = {g: rep.agreement.get(g, {}).get("f1", float("nan")) for g in ("hands", "feet")}
        table.add_row(
            f"{ds}/{subj}", str(len(rep.annotated)), str(len(rep.failed)), str(rep.frames),
            f"{rep.frames_per_s:.0f}", f"{f1['hands']:.3f}", f"{f1['feet']:.3f}",
        )  # fmt: skip
    out.print(table)
    if total_ok == 0:
        raise typer.Exit(1)
