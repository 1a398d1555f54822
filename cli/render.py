"""``intermimic render``: draw a clip (humanoid + object) to a video or a PNG."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cli.app import app, require_extra, require_store
from cli.settings_options import parse_overrides
from intermimic.errors import InterMimicError, StoreUnavailableError

if TYPE_CHECKING:
    from intermimic.motion.clip import HOIClip

console = Console(stderr=True)


def _load(source: str, store: Path | None, dataset: str | None) -> tuple[HOIClip, str]:
    """The clip and a panel label: ``folder/file`` for a file, ``dataset/clip`` for a store."""
    path = Path(source)
    if store is None or path.is_file():
        from intermimic.motion.load import read_clip

        if not path.is_file():
            raise InterMimicError(
                f"{source}: no such clip file (pass --store DIR to look a clip id up in a store)"
            )
        return read_clip(path), f"{path.parent.name}/{path.name}"
    from data_catalog.store import Store

    clip = Store(store).find_clip(source, dataset)
    return clip, f"{clip.meta.dataset}/{clip.meta.clip_id}"


@app.command()
def render(
    clip: str = typer.Option(..., "--clip", help="clip id (with --store) or a clip file"),
    out: Path = typer.Option(..., "--out", help="output .mp4/.gif/... video or .png image"),
    store: Path | None = typer.Option(None, "--store", help="store root to look the clip up in"),
    dataset: str | None = typer.Option(None, "--dataset", help="restrict the store lookup"),
    compare: str | None = typer.Option(
        None, "--compare", help="another version of the clip, drawn beside it (id or file)"
    ),
    compare_store: Path | None = typer.Option(
        None, "--compare-store", help="store for --compare (default: --store)"
    ),
    frame: int | None = typer.Option(
        None, "--frame", help="for .png: this frame only (default: a contact sheet)"
    ),
    objects: Path | None = typer.Option(
        None, "--objects", help="objects folder (<name>/<name>.obj); default $INTERMIMIC_OBJECTS"
    ),
    humanoid_xml: Path | None = typer.Option(
        None, "--humanoid-xml", help="humanoid MJCF to draw (default: the project's builder)"
    ),
    set_: list[str] = typer.Option(
        [], "--set", metavar="KEY=VALUE", help="render setting, e.g. --set width=960 --set stride=2"
    ),
) -> None:
    """Render a clip with MuJoCo's offscreen renderer (MUJOCO_GL=osmesa on CPU, egl on GPU).

    Exits 1 for a clip, object or setting that cannot be used, 2 when no renderer is
    available on this machine, a --store or --compare-store is no store, or a video
    needs the video extra (every suffix but .gif and the images).
    """
    for path in (store, compare_store):
        if path is not None:
            require_store(path)
    import mujoco

    from intermimic.objects.library import ObjectLibrary
    from intermimic.viz.render import (
        VIDEO_SUFFIXES,
        RendererUnavailableError,
        RenderSettings,
        render_clip,
    )

    if out.suffix.lower() in VIDEO_SUFFIXES and out.suffix.lower() != ".gif":
        require_extra("video", ["imageio_ffmpeg"], f"render to {out.suffix}")

    try:
        settings = parse_overrides(RenderSettings, set_)
        main, main_label = _load(clip, store, dataset)
        other: HOIClip | None = None
        other_label = ""
        if compare is not None:
            other, other_label = _load(compare, compare_store or store, dataset)
        humanoid = mujoco.MjSpec.from_file(str(humanoid_xml)) if humanoid_xml else None
        library = ObjectLibrary(objects)
    except StoreUnavailableError:
        raise  # exit 2, one line (cli.app)
    except (InterMimicError, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None

    try:
        with Progress(
            TextColumn("[bold]render"), BarColumn(), MofNCompleteColumn(),
            TextColumn(main.meta.clip_id), TimeElapsedColumn(),
            console=console, transient=True,
        ) as progress:  # fmt: skip
            task = progress.add_task("", total=None)

            def step(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            written = render_clip(
                main,
                out,
                compare=other,
                labels=(main_label, other_label),
                humanoid=humanoid,
                objects=library,
                frame=frame,
                settings=settings,
                on_frame=step,
            )
    except RendererUnavailableError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    except StoreUnavailableError:
        raise  # exit 2, one line (cli.app)
    except InterMimicError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    Console().print(f"wrote {written}")
