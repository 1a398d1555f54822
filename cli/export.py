"""``intermimic publish``, ``intermimic versions`` and ``intermimic export``: versioned
refined datasets and their export for other projects (see :mod:`stages.publish`
and :mod:`stages.export`)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from cli.app import app, require_store
from cli.settings_options import SettingsError, parse_overrides
from intermimic.errors import InterMimicError, StoreUnavailableError

console = Console(stderr=True)


def _split(values: list[str]) -> list[str] | None:
    """``--subjects a,b --subjects c`` -> ``[a, b, c]``; None when not given."""
    out = [v.strip() for item in values for v in item.split(",") if v.strip()]
    return out or None


@app.command("publish")
def publish_cmd(
    store: Path = typer.Option(..., "--store", help="store root"),
    only_successful: bool = typer.Option(
        False, "--only-successful", help="publish only clips tracked to their last frame"
    ),
    force_current: bool = typer.Option(
        False, "--force-current", help="make the version current even if a check fails"
    ),
    set_: list[str] = typer.Option(
        [], "--set", metavar="KEY=VALUE", help="publish setting, e.g. --set min_success_ratio=0.8"
    ),
) -> None:
    """Gather every subject's refined clips into one immutable dataset version.

    The version id is a hash of the inputs (raw clips, teachers, settings, code), so
    publishing the same inputs again changes nothing. The version becomes current only
    when its checks pass (finite arrays, success ratio, physics not worse than raw).
    Exits 1 when nothing could be published or a blocking check failed, 2 on bad options.
    """
    require_store(store)
    from data_catalog.store import Store
    from stages.publish import PublishSettings, publish_refined

    try:
        settings = parse_overrides(
            PublishSettings,
            set_,
            only_successful=only_successful or None,
            force_current=force_current or None,
        )
    except SettingsError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    try:
        rep = publish_refined(Store(store), settings)
    except StoreUnavailableError:
        raise  # exit 2, one line (cli.app)
    except InterMimicError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    out = Console()
    m = rep.manifest["metrics"]
    out.print(
        f"version [bold]{rep.version}[/] ({'written' if rep.created else 'already published'}): "
        f"{m['clips']} clips of {len(rep.manifest['subjects'])} subject(s), "
        f"{rep.manifest['frames']} frames, success {m['success_ratio']:.0%}"
    )
    table = Table(title="checks")
    for col in ("check", "result", "details"):
        table.add_column(col)
    for c in rep.checks:
        colour = "red" if c.severity == "error" else "yellow"  # a warning never blocks
        result = "[green]pass[/]" if c.passed else f"[{colour}]fail[/] ({c.severity})"
        table.add_row(c.name, result, c.description)
    out.print(table)
    for key, why in sorted(rep.excluded.items()):
        out.print(f"[yellow]left out[/] {key}: {why}")
    out.print(f"current: {rep.current or 'none'}\npath: {rep.path}")
    if not rep.made_current:
        raise typer.Exit(1)


@app.command("versions")
def versions_cmd(store: Path = typer.Option(..., "--store", help="store root")) -> None:
    """List the published versions of the refined dataset (current marked)."""
    require_store(store)
    from data_catalog.store import Store
    from data_catalog.versions import current_version, list_versions, version_manifest

    st = Store(store)
    current = current_version(st)
    table = Table(title=f"refined dataset versions in {st.root}")
    table.add_column("version", no_wrap=True, min_width=20)  # "* " and the whole id
    for col in ("created", "clips", "subjects", "frames", "success"):
        table.add_column(col)
    for vid in list_versions(st):
        m = version_manifest(st, vid)
        table.add_row(
            ("* " if vid == current else "  ") + vid,
            m["created_at"][:16].replace("T", " "),
            str(m["metrics"]["clips"]),
            str(len(m["subjects"])),
            str(m["frames"]),
            f"{m['metrics']['success_ratio']:.0%}",
        )
    Console().print(table)


@app.command("export")
def export_cmd(
    store: Path = typer.Option(..., "--store", help="store root"),
    out: Path = typer.Option(..., "--out", help="export folder (new, empty or an export)"),
    version: str = typer.Option("current", "--version", help="version id or 'current'"),
    format: str = typer.Option(
        "zarr3", "--format", help="zarr3, zarr2, interact-pt (InterMimic .pt) or npz"
    ),
    subjects: list[str] = typer.Option(
        [], "--subjects", help="only these subjects (comma-separated or repeated)"
    ),
    include_partial: bool = typer.Option(
        False,
        "--include-partial",
        help="also export partial clips (the teacher did not reach the clip's end); "
        "by default they are left out and listed",
    ),
    only_successful: bool = typer.Option(
        False, "--only-successful", help="only clips tracked to their last frame (the default)"
    ),
    set_: list[str] = typer.Option(
        [],
        "--set",
        metavar="KEY=VALUE",
        help="export setting, e.g. --set compression=zstd, --set intermimic_compatible=false, "
        "--set objects_dir=PATH, --set copy_meshes=false",
    ),
) -> None:
    """Export a published version (or part of it) for other projects, with a data card.

    Only clips refined to their end are exported unless --include-partial; the output and
    the card say how many were left out and why. interact-pt is InterMimic-compatible by
    default (placeholder row 0; subjects sub<N>, object names without '_': other clips
    are refused and listed). Exits 1 for an unknown version (the known ones are listed)
    or nothing to export, 2 on bad options.
    """
    require_store(store)
    from data_catalog.store import Store
    from stages.export import ExportSettings, export_version

    try:
        settings = parse_overrides(
            ExportSettings,
            set_,
            version=version,
            format=format,
            subjects=_split(subjects),
            only_successful=only_successful or None,
            include_partial=include_partial or None,
        )
    except SettingsError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    try:
        rep = export_version(Store(store), out, settings)
    except StoreUnavailableError:
        raise  # exit 2, one line (cli.app)
    except InterMimicError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    o = Console()
    o.print(
        f"exported version [bold]{rep.version}[/] as {rep.format}: {rep.clips} clips of "
        f"{', '.join(rep.subjects)} -> {rep.out} ({rep.bytes_written / 1e6:.1f} MB of arrays "
        f"in {rep.seconds:.2f} s)"
    )
    partial = sum(why.startswith("partial") for why in rep.left_out.values())
    if rep.left_out:
        o.print(
            f"[yellow]left out {len(rep.left_out)} clip(s)[/]: {partial} partial (the teacher "
            "did not reach the clip's end; --include-partial exports them)"
        )
    if rep.skipped:
        o.print(f"[yellow]refused or not writable as {rep.format}: {len(rep.skipped)} clip(s)[/]")
    for key, why in sorted({**rep.left_out, **rep.skipped}.items()):
        o.print(f"[yellow]left out[/] {key}: {why}")
    missing = sorted(n for n, r in rep.objects.items() if not r.get("files"))
    if missing:
        o.print(f"[yellow]no mesh for[/] {', '.join(missing)} (see the card's Objects)")
