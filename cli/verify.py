"""``intermimic verify``: check a store at rest, and repair what can be repaired."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from cli.app import EXIT_STORE, app, fail_line, require_store


def _print(report, out: Console) -> None:  # type: ignore[no-untyped-def]
    checked = ", ".join(f"{n} {k}" for k, n in sorted(report.checked.items())) or "nothing"
    out.print(f"checked {report.store}: {checked}")
    for note in report.notes:
        out.print(f"[dim]note[/] {note}")
    if report.clean:
        out.print("[green]no problems found[/]")
        return
    out.print(f"[red]{len(report.problems)} problem(s)[/]")
    for p in report.problems:
        out.print(f"[red]{p.kind}[/] {p.path}: {p.what}", soft_wrap=True)
        out.print(f"    repair: {p.repair}", soft_wrap=True)


@app.command("verify")
def verify_cmd(
    store: Path = typer.Option(..., "--store", help="store root"),
    repair: bool = typer.Option(
        False, "--repair", help="repair what can be repaired, then verify again"
    ),
    quick: bool = typer.Option(
        False, "--quick", help="check chunk files by size only, not by their sha256"
    ),
    as_json: bool = typer.Option(False, "--json", help="the report as JSON on stdout"),
) -> None:
    """Check the store: layout, every generation's checksums, the catalog against the
    store, published versions, leftovers of killed writers. Prints each problem with how
    to repair it.

    Exits 0 when the store is whole (after --repair: when nothing is left), 2 when
    problems remain.
    """
    require_store(store, diagnose=True)  # a missing manifest is damage, reported here
    from stages.verify import repair_store, verify_store

    out = Console(soft_wrap=True)
    if repair:
        rep = repair_store(store)
        report = rep.after
        assert report is not None
        if as_json:
            doc = {**report.as_dict(), "repaired": rep.actions, "not_repaired": rep.failed}
            typer.echo(json.dumps(doc, indent=1))
        else:
            for line in rep.actions:
                out.print(f"[green]repaired[/] {line}")
            for line in rep.failed:
                out.print(f"[red]not repaired[/] {line}")
            _print(report, out)
    else:
        report = verify_store(store, deep=not quick)
        if as_json:
            typer.echo(json.dumps(report.as_dict(), indent=1))
        else:
            _print(report, out)
    if not report.clean:
        fail_line(report.summary_line())
        raise typer.Exit(EXIT_STORE)
