"""``intermimic train-teacher`` and ``intermimic refine``: a subject's teacher and its
refined motion (see :mod:`stages.refine`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

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
from cli.settings_options import SettingsError, parse_overrides, preset_values
from intermimic.errors import InputError, InterMimicError, StoreUnavailableError

console = Console(stderr=True)

#: ``--preset``'s help (the names of intermimic.plan.presets, kept here so that ``--help``
#: imports no torch; a test checks that they match).
PRESET_HELP = (
    "named physics and planner settings (intermimic.plan.presets): tuned, the demo "
    "profile's, 240 Hz and the planner terms that pass the quality rule"
)


def _fmt(v: float | None, spec: str = ".3g") -> str:
    return "-" if v is None else format(v, spec)


@app.command("train-teacher")
def train_teacher_cmd(
    store: Path = typer.Option(..., "--store", help="store root"),
    subject: str = typer.Option(..., "--subject", help="subject to train on (all its ok clips)"),
    dataset: str | None = typer.Option(None, "--dataset", help="dataset of the subject"),
    env_steps: int | None = typer.Option(None, "--env-steps", help="environment transitions"),
    backend: str | None = typer.Option(None, "--backend", help="mujoco or warp"),
    embodiment: str | None = typer.Option(
        None, "--embodiment", help="smplx (default) or g1 (Unitree G1 with hands)"
    ),
    objects: Path | None = typer.Option(
        None, "--objects", help="objects folder (<name>/<name>.obj); default $INTERMIMIC_OBJECTS"
    ),
    max_minutes: float | None = typer.Option(
        None, "--max-minutes", help="stop after this wall-clock time (resume later)"
    ),
    evaluate: bool = typer.Option(True, help="roll the teacher out on every clip afterwards"),
    set_: list[str] = typer.Option(
        [], "--set", metavar="KEY=VALUE", help="teacher setting, e.g. --set worlds=64"
    ),
    plan: list[str] = typer.Option(
        [],
        "--plan",
        metavar="KEY=VALUE",
        help="planner setting of the planner recipes (--set recipe=planner_...), e.g. "
        "--plan backtrack=10",
    ),
    preset_: str | None = typer.Option(
        None, "--preset", help=PRESET_HELP + "; --set and --plan override its values"
    ),
) -> None:
    """Train (or resume) the PPO teacher of one subject on all its ok clips.

    The run lives in STORE/teachers/<dataset>/<subject>/ (checkpoints, TensorBoard,
    learning curve); running the command again continues from the last checkpoint.
    Exits 1 when the subject has no ok clips, 2 on bad options.
    """
    require_store(store)
    from data_catalog.store import Store
    from intermimic.objects import ObjectLibrary
    from intermimic.plan.settings import PlannerSettings
    from intermimic.rl.teacher_settings import NoClipsError, TeacherSettings
    from stages.subjects import resolve_subject
    from stages.teacher import train_subject_teacher

    try:
        teacher_base, planner_base = preset_values(preset_)
        settings = parse_overrides(
            TeacherSettings, set_, base=teacher_base,
            env_steps=env_steps, backend=backend, embodiment=embodiment,
        )  # fmt: skip
        planner = parse_overrides(PlannerSettings, list(plan), base=planner_base)
        if plan and settings.recipe == "ppo":
            raise SettingsError("--plan applies to the planner recipes (--set recipe=planner_...)")
        st = Store(store)
        library = ObjectLibrary(objects) if objects else ObjectLibrary()
    except StoreUnavailableError:
        raise  # exit 2, one line (cli.app)
    except InterMimicError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    try:
        ds, subj = resolve_subject(st, subject, dataset)
        with Progress(
            TextColumn(f"[bold]teacher {ds}/{subj}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
            transient=True,
        ) as progress:  # fmt: skip
            task = progress.add_task("iterations", total=None)
            rep = train_subject_teacher(
                st, ds, subj, settings, library,
                max_seconds=None if max_minutes is None else 60 * max_minutes,
                evaluate=evaluate,
                on_progress=lambda it, total: progress.update(task, completed=it, total=total),
                planner=planner, on_plan=_plan_bar(progress),
            )  # fmt: skip
    except NoClipsError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    except StoreUnavailableError:
        raise  # exit 2, one line (cli.app)
    except InterMimicError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    r = rep.result
    out = Console()
    for cid, why in sorted(r.rejected.items()):
        out.print(f"[yellow]not trained on[/] {ds}/{cid}: {why}")
    last = r.curve[-1] if r.curve else {}
    table = Table(title=f"teacher {ds}/{subj}")
    for col in ("iterations", "env steps", "resumed from", "episode length", "success (train)"):
        table.add_column(col, justify="right")
    table.add_row(
        str(r.iterations), str(r.env_steps), str(r.resumed_from or "-"),
        _fmt(last.get("mean_length"), ".1f"), _fmt(last.get("success_rate"), ".2f"),
    )  # fmt: skip
    out.print(table)
    if rep.evaluation:
        e = rep.evaluation
        out.print(
            f"evaluation from each clip's start: success {e['success_rate']:.2f}, "
            f"duration {e['mean_duration']:.1f} steps ({100 * e['mean_duration_fraction']:.0f}%"
            f" of the clip), E_h {e['e_h_cm']:.1f} cm, E_o {e['e_o_cm']:.1f} cm"
        )
    if rep.tries:
        _print_tries(out, rep.tries)
    out.print(
        f"run: {rep.run_dir}" + (" (stopped by --max-minutes)" if r.stopped_by_budget else "")
    )


def _plan_bar(progress: Progress) -> Callable[[str, int, int, int], None]:
    """``on_plan`` for a progress display: a bar of frames per planned try (a clip and a
    seed), below the run's own."""
    bars: dict[tuple[str, int], TaskID] = {}

    def on_plan(clip_id: str, seed: int, frame: int, last: int) -> None:
        key = (clip_id, seed)
        if key not in bars:
            bars[key] = progress.add_task(f"frames, planning {clip_id} (seed {seed})")
        progress.update(bars[key], completed=frame, total=last)

    return on_plan


def _print_tries(out: Console, tries: dict[str, list[dict[str, Any]]]) -> None:
    """The planner's tries per clip, as judged (``QualityChoice.to_json``), the kept one
    marked."""
    from stages.refine_report import tries_table

    header, rows = tries_table(tries)
    t = Table(title="planner tries (the quality rule keeps one per clip)")
    for col in header:
        t.add_column(
            col, justify="left" if col in ("clip", "verdict", "failing") else "right",
            overflow="fold",
        )  # fmt: skip
    for row in rows:
        t.add_row(*row)
    out.print(t)


@app.command("refine")
def refine_cmd(
    store: Path = typer.Option(..., "--store", help="store root"),
    subject: str = typer.Option(..., "--subject", help="subject whose teacher replays its clips"),
    dataset: str | None = typer.Option(None, "--dataset", help="dataset of the subject"),
    embodiment: str = typer.Option(
        "smplx", "--embodiment", help="whose teacher: smplx (default) or g1"
    ),
    objects: Path | None = typer.Option(
        None, "--objects", help="objects folder (<name>/<name>.obj); default $INTERMIMIC_OBJECTS"
    ),
    set_: list[str] = typer.Option(
        [], "--set", metavar="KEY=VALUE", help="teacher setting, e.g. --set attempts=8"
    ),
    reference_dir: Path | None = typer.Option(
        None,
        "--reference-dir",
        help="folder of InterMimic's refined clips (<clip_id>.pt) to compare with; "
        "default: the sample's omomo/refined_by_intermimic if present",
    ),
    reference: bool = typer.Option(
        True, help="compare with InterMimic's refinement of each clip where there is one"
    ),
    method: str = typer.Option(
        "teacher",
        "--method",
        help="teacher: replay the subject's trained teacher; planner: track each clip with "
        "the sampling planner (no teacher needed, minutes per clip on 2 cores)",
    ),
    clip: list[str] = typer.Option(
        [], "--clip", help="refine only this clip id (repeatable); default: every ok clip"
    ),
    max_clips: int | None = typer.Option(
        None, "--max-clips", min=1, help="refine at most the first this many clips by id"
    ),
    plan: list[str] = typer.Option(
        [],
        "--plan",
        metavar="KEY=VALUE",
        help="planner setting (PlannerSettings), e.g. --plan samples=32",
    ),
    preset_: str | None = typer.Option(
        None,
        "--preset",
        help=PRESET_HELP + " (--method planner); --set and --plan override its values",
    ),
) -> None:
    """Refine the subject's clips in physics (its teacher, or the sampling planner) and
    store the simulated motion.

    With --method planner every clip is tracked from its MoCap start by MPPI over PD-target
    residuals (intermimic.plan); planned clips are cached under STORE/planner, so running
    the command again after an interruption continues where it stopped. The refined clips
    go to the dataset <dataset>-refined, per-frame rollout series beside them, per-clip
    figures (tracking, artifacts after refinement, verdict) to the catalog (stage
    "refined"; InterMimic's figures under "refined-intermimic"). Every clip is
    judged: full (tracked to its end, no artifact figure worse than InterMimic's
    refinement of the clip, object penetration and foot skating no worse than the raw
    MoCap), worse (tracked, rule broken: the failures are named), partial (not tracked to
    its end) or unmeasured. Exits 1 when there is no teacher (method teacher), no ok clip
    or no ok clip of a --clip id, 2 on bad options (a --reference-dir that is not a
    folder, an unknown --plan setting included).
    """
    require_store(store)
    import json

    from data_catalog.runs import teacher_dir
    from data_catalog.store import Store
    from intermimic.objects import ObjectLibrary
    from intermimic.plan.settings import PlannerSettings
    from intermimic.rl.teacher_settings import TeacherSettings
    from stages.refine import refine_subject
    from stages.refine_quality import ReferenceSettings
    from stages.refine_quality_display import CELL, clip_quality_table
    from stages.subjects import resolve_subject

    ref = ReferenceSettings(
        reference=reference, reference_dir=str(reference_dir) if reference_dir else None
    )
    if method not in ("teacher", "planner"):
        console.print(f"[red]error:[/] --method {method!r}: use teacher or planner")
        raise typer.Exit(2)
    if (plan or preset_) and method != "planner":
        what = "--plan" if plan else "--preset"
        console.print(f"[red]error:[/] {what} applies to --method planner only")
        raise typer.Exit(2)
    try:
        teacher_base, planner_base = preset_values(preset_)
        planner = parse_overrides(PlannerSettings, list(plan), base=planner_base)
    except SettingsError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    try:
        ref.resolved_dir()  # a missing folder is a bad option, found before any work
    except InputError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    try:
        st = Store(store)
        library = ObjectLibrary(objects) if objects else ObjectLibrary()
        ds, subj = resolve_subject(st, subject, dataset)
        saved = teacher_dir(st, ds, subj, embodiment) / "teacher_settings.json"
        base = (
            json.loads(saved.read_text())["settings"]
            if saved.exists() and method == "teacher"
            else {}
        )
        # the run's own settings, then the command line's
        pairs = [f"{k}={v}" for k, v in base.items() if v is not None]
        settings = parse_overrides(
            TeacherSettings, pairs + list(set_) + [f"embodiment={embodiment}"], base=teacher_base
        )
    except StoreUnavailableError:
        raise  # exit 2, one line (cli.app)
    except InterMimicError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2 if isinstance(exc, SettingsError) else 1) from None
    try:
        with Progress(
            TextColumn(f"[bold]refine {ds}/{subj}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.description}"), TimeElapsedColumn(),
            console=console, transient=True,
        ) as progress:  # fmt: skip
            doing = "rolling out" if method == "teacher" else "planning"
            task = progress.add_task(doing, total=None)
            rep = refine_subject(
                st, ds, subj, settings, library,
                on_clip=lambda cid: progress.update(task, advance=1, description=cid),
                reference=ref, method=method,  # type: ignore[arg-type]
                planner=planner if method == "planner" else None, clips=clip or None,
                max_clips=max_clips, on_plan=_plan_bar(progress),
            )  # fmt: skip
    except StoreUnavailableError:
        raise  # exit 2, one line (cli.app)
    except InterMimicError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(1) from None
    out = Console()
    by = "teacher" if rep.method == "teacher" else f"planner ({rep.checkpoint})"
    table = Table(title=f"refined {ds}/{subj} -> {rep.refined_dataset}/{subj} by {by}")
    header, rows = rep.tracking_table()
    for col in header:
        table.add_column(col, justify="left" if col in ("clip", "ended by") else "right")
    for row in rows:
        table.add_row(*row)
    out.print(table)
    if rep.tries:
        _print_tries(out, rep.tries)
    cmp_table = Table(title="artifacts, mean over clips (SI units)")
    header, rows = rep.comparison_table()
    for col in header:
        cmp_table.add_column(col, justify="left" if col == "figure" else "right")
    for row in rows:
        cmp_table.add_row(*row)
    out.print(cmp_table)
    header, rows = clip_quality_table(rep.quality_records())
    q_table = Table(title=f"per clip, each figure: {CELL}", show_lines=True)
    for col in header:
        # fold, not cut: the verdict names every failed comparison
        q_table.add_column(
            col, justify="left" if col in ("clip", "verdict") else "right", overflow="fold"
        )
    for row in rows:
        q_table.add_row(*row)
    out.print(q_table)
    counts = rep.verdict_counts()
    out.print(
        "verdicts: " + ", ".join(f"{k} {v}" for k, v in counts.items())
        + f"; InterMimic's refinement from {rep.reference_dir or 'nowhere (not compared)'}"
        + f" for {rep.intermimic_coverage()[0]} clip(s)"
    )  # fmt: skip
    for cid, note in sorted(rep.reference_notes.items()):
        out.print(f"[yellow]{cid}[/]: {note}")
    for cid, why in sorted(rep.failed.items()):
        out.print(f"[yellow]not refined[/] {cid}: {why}")
    if not rep.tracking:
        raise typer.Exit(1)
