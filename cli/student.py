"""``intermimic distill``, ``evaluate``, ``track`` and ``export-policy``: the student
(see :mod:`stages.student`, :mod:`intermimic.eval`, :mod:`intermimic.rl.onnx`)."""

from __future__ import annotations

import json
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

from cli.app import app, require_extra, require_store
from cli.settings_options import SettingsError, parse_overrides
from intermimic.errors import InterMimicError, StoreUnavailableError

console = Console(stderr=True)

_OBJECTS = typer.Option(
    None, "--objects", help="objects folder (<name>/<name>.obj); default $INTERMIMIC_OBJECTS"
)


def _library(objects: Path | None):  # type: ignore[no-untyped-def]
    from intermimic.objects import ObjectLibrary

    return ObjectLibrary(objects) if objects else ObjectLibrary()


def _fail(exc: Exception, code: int = 1) -> typer.Exit:
    console.print(f"[red]error:[/] {exc}")
    return typer.Exit(code)


@app.command("distill")
def distill_cmd(
    store: Path = typer.Option(..., "--store", help="store root"),
    name: str = typer.Option("student", "--name", help="student name (STORE/students/NAME)"),
    dataset: list[str] = typer.Option([], "--dataset", help="only these MoCap datasets"),
    subject: list[str] = typer.Option([], "--subject", help="only these subjects"),
    env_steps: int | None = typer.Option(None, "--env-steps", help="environment transitions"),
    max_minutes: float | None = typer.Option(
        None, "--max-minutes", help="stop each run after this wall clock (resume later)"
    ),
    baselines: bool = typer.Option(
        False, "--baselines", help="also train ppo_only, dagger_only, refdist_only (NAME-MODE)"
    ),
    objects: Path | None = _OBJECTS,
    set_: list[str] = typer.Option(
        [], "--set", metavar="KEY=VALUE", help="student setting, e.g. --set mode=dagger_only"
    ),
) -> None:
    """Distil the student from the subjects' teachers and refined clips (resumes).

    Exits 1 when a teacher or the refined clips are missing (name it; --set
    missing_teacher=skip leaves such subjects out), 2 on bad options.
    """
    require_store(store)
    from data_catalog.runs import baseline_name
    from data_catalog.store import Store
    from intermimic.rl.student_settings import StudentSettings
    from stages.student import BASELINES, distill_student

    try:
        settings = parse_overrides(StudentSettings, set_, env_steps=env_steps)
        st = Store(store)
        lib = _library(objects)
    except StoreUnavailableError:
        raise  # exit 2, one line (cli.app)
    except InterMimicError as exc:
        raise _fail(exc, 2) from None
    runs = [(name, settings)]
    if baselines:
        runs += [
            (baseline_name(name, m), settings.model_copy(update={"mode": m})) for m in BASELINES
        ]
    out = Console()
    table = Table(title="students")
    for col in ("student", "mode", "iterations", "env steps", "resumed", "PPO from", "success"):
        table.add_column(col, justify="left" if col in ("student", "mode") else "right")
    for run_name, s in runs:
        try:
            with Progress(
                TextColumn(f"[bold]distill {run_name} ({s.mode})"), BarColumn(),
                MofNCompleteColumn(), TextColumn("iterations"), TimeElapsedColumn(),
                console=console, transient=True,
            ) as progress:  # fmt: skip
                task = progress.add_task("", total=None)

                def on_progress(i: int, n: int, t: TaskID = task, p: Progress = progress) -> None:
                    p.update(t, completed=i, total=n)

                rep = distill_student(
                    st, s, lib, name=run_name, datasets=dataset or None,
                    subjects=subject or None,
                    max_seconds=None if max_minutes is None else 60 * max_minutes,
                    on_progress=on_progress,
                )  # fmt: skip
        except StoreUnavailableError:
            raise  # exit 2, one line (cli.app)
        except InterMimicError as exc:
            raise _fail(exc) from None
        for subj, why in sorted(rep.skipped.items()):
            out.print(f"[yellow]left out[/] subject {subj}: {why}")
        r = rep.result
        last = r.curve[-1] if r.curve else {}
        table.add_row(
            run_name, s.mode, str(r.iterations), str(r.env_steps), str(r.resumed_from or "-"),
            "-" if r.gate_opened_at is None else str(r.gate_opened_at),
            "-" if not last else f"{last['success_rate']:.2f}",
        )  # fmt: skip
    out.print(table)


@app.command("evaluate")
def evaluate_cmd(
    store: Path = typer.Option(..., "--store", help="store root"),
    name: str = typer.Option("student", "--name", help="student to evaluate"),
    baselines: str | None = typer.Option(
        None, "--baselines", help="comma-separated modes (default: every NAME-MODE that exists)"
    ),
    teachers: bool = typer.Option(True, help="also evaluate each subject's teacher"),
    references: str = typer.Option("raw", "--references", help="raw MoCap or refined clips"),
    embodiment: str = typer.Option(
        "smplx", "--embodiment", help="smplx (default: the student) or g1 (the G1 teachers)"
    ),
    dataset: list[str] = typer.Option([], "--dataset"),
    subject: list[str] = typer.Option([], "--subject"),
    out_dir: Path | None = typer.Option(None, "--out", help="report folder"),
    objects: Path | None = _OBJECTS,
    set_: list[str] = typer.Option(
        [], "--set", metavar="KEY=VALUE", help="e.g. --set object_mass_scale=10"
    ),
) -> None:
    """Evaluate a student against its baselines, the teachers and the raw MoCap.

    Writes report.md, evaluation.json and PNG plots (default STORE/students/NAME/evaluation)
    and prints the comparison table. Perturbations are settings: object_mass_scale,
    friction_scale, init_noise. --embodiment g1 (no student): each subject's G1 teacher
    on its raw MoCap, report in STORE/teachers-g1/evaluation; exits 1 when there is none.
    """
    require_store(store)
    from data_catalog.store import Store
    from intermimic.eval import EvalSettings
    from intermimic.humanoid.embodiment import EMBODIMENTS
    from stages.evaluate import evaluate_students, evaluate_teachers

    try:
        settings = parse_overrides(EvalSettings, set_)
        if references not in ("raw", "refined"):
            raise SettingsError(f"--references must be raw or refined, got {references!r}")
        embodiment = embodiment.strip().lower()
        if embodiment not in EMBODIMENTS:
            raise SettingsError(
                f"--embodiment must be one of {', '.join(EMBODIMENTS)}, got {embodiment!r}"
            )
        robot = embodiment != "smplx"
        if robot and (baselines is not None or not teachers or references != "raw"):
            raise SettingsError(
                f"--embodiment {embodiment} evaluates the {embodiment} teachers on the raw "
                "MoCap (there is no student): --baselines, --no-teachers and --references "
                "refined do not apply"
            )
        st = Store(store)
        lib = _library(objects)
        modes = None if baselines is None else [m for m in baselines.split(",") if m.strip()]
    except StoreUnavailableError:
        raise  # exit 2, one line (cli.app)
    except InterMimicError as exc:
        raise _fail(exc, 2) from None
    try:
        with Progress(
            TextColumn("[bold]evaluate {task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("clips"), TimeElapsedColumn(), console=console, transient=True,
        ) as progress:  # fmt: skip
            task = progress.add_task("", total=None, visible=False)

            def on_progress(policy: str, done: int, total: int, t: TaskID = task) -> None:
                if done == 0:  # a policy starts: one line that stays, the bar restarts
                    progress.console.print(f"evaluating {policy}")
                    progress.reset(t, total=total, description=policy, visible=True)
                # drawn now: a clip takes seconds, and no count is skipped
                progress.update(t, completed=done, refresh=True)

            if robot:
                rep = evaluate_teachers(
                    st, embodiment, settings, lib, datasets=dataset or None,
                    subjects=subject or None, out=out_dir, on_progress=on_progress,
                )  # fmt: skip
            else:
                rep = evaluate_students(
                    st, name, settings, lib, baselines=modes, teachers=teachers,
                    references=references, datasets=dataset or None, subjects=subject or None,
                    out=out_dir, on_progress=on_progress,
                )  # fmt: skip
    except StoreUnavailableError:
        raise  # exit 2, one line (cli.app)
    except (InterMimicError, ValueError) as exc:
        raise _fail(exc) from None
    for subj, why in sorted(rep.skipped.items()):
        console.print(f"[yellow]left out[/] subject {subj}: {why}")
    Console().print(rep.files.table)
    Console().print(f"report: {rep.files.markdown}")


@app.command("track")
def track_cmd(
    policy: Path = typer.Option(..., "--policy", help="student or teacher run directory"),
    motion: Path = typer.Option(..., "--motion", help="reference clip file (any format we read)"),
    out: Path = typer.Option(..., "--out", help="simulated motion (.npz); metrics go beside"),
    fmt: str | None = typer.Option(None, "--format", help="reader of --motion (default: by name)"),
    objects: Path | None = _OBJECTS,
    set_: list[str] = typer.Option(
        [], "--set", metavar="KEY=VALUE", help="e.g. --set object_mass_scale=10"
    ),
) -> None:
    """Track any reference motion with a student (or teacher) in physics.

    Writes the physically simulated motion to OUT (canonical npz) and its metrics
    (success, duration, E_h, E_o, artifact figures) to OUT with suffix .json.
    """
    from intermimic.eval import EvalSettings
    from intermimic.eval.track import load_policy, prepare_reference, track_clip
    from intermimic.motion.formats.npz import write_npz
    from intermimic.motion.load import read_clip

    try:
        settings = parse_overrides(EvalSettings, set_)
        lib = _library(objects)
        pol = load_policy(policy)
        clip = prepare_reference(read_clip(motion, fmt), lib)
    except StoreUnavailableError:
        raise  # exit 2, one line (cli.app)
    except InterMimicError as exc:
        raise _fail(exc, 2 if isinstance(exc, SettingsError) else 1) from None
    try:
        res = track_clip(pol, clip, lib, settings)
    except StoreUnavailableError:
        raise  # exit 2, one line (cli.app)
    except InterMimicError as exc:
        raise _fail(exc) from None
    from intermimic.atomic import write_text_atomic

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.npz")
    write_npz(res.clip, tmp)
    tmp.replace(out)
    metrics = {"policy": str(policy), "motion": str(motion), **res.metrics}
    write_text_atomic(out.with_suffix(".json"), json.dumps(metrics, indent=1))
    m = res.metrics
    Console().print(
        f"{clip.meta.clip_id}: {'success' if m['success'] else 'early termination'}, "
        f"{m['duration']} of {clip.n_frames - 1} steps, E_h {m['e_h_cm']:.1f} cm, "
        f"E_o {m['e_o_cm']:.1f} cm -> {out}"
    )


@app.command("export-policy")
def export_policy_cmd(
    onnx: Path = typer.Option(..., "--onnx", help="output .onnx file"),
    policy: Path | None = typer.Option(None, "--policy", help="student run directory"),
    store: Path | None = typer.Option(None, "--store", help="store root (with --name)"),
    name: str = typer.Option("student", "--name", help="student name in the store"),
    check: bool = typer.Option(True, help="compare onnxruntime with torch after export"),
) -> None:
    """Export a student as ONNX with its observation normaliser folded in.

    Needs the onnx extra (onnx; onnxruntime for the check): without it, exits 2 saying
    what to install. Exits 2 when --store is no store or neither --policy nor --store is
    given, 1 when the student cannot be loaded or exported."""
    if store is not None:
        require_store(store)
    require_extra(
        "onnx", ["onnx", "onnxruntime"] if check else ["onnx"], "intermimic export-policy"
    )
    from intermimic.rl.onnx import export_onnx
    from intermimic.rl.student_policy import load_student

    try:
        if policy is None:
            if store is None:
                raise SettingsError("give --policy DIR or --store STORE [--name NAME]")
            from data_catalog.runs import student_dir
            from data_catalog.store import Store

            policy = student_dir(Store(store), name)
        pol = load_student(policy)
    except StoreUnavailableError:
        raise  # exit 2, one line (cli.app)
    except InterMimicError as exc:
        raise _fail(exc, 2 if isinstance(exc, SettingsError) else 1) from None
    try:
        info = export_onnx(pol, onnx, check=check)
    except StoreUnavailableError:
        raise  # exit 2, one line (cli.app)
    except InterMimicError as exc:
        raise _fail(exc) from None
    diff = info.get("max_abs_diff")
    Console().print(
        f"wrote {onnx}: obs [N, {info['obs_dim']}] -> actions [N, {info['action_dim']}]"
        + ("" if diff is None else f"; onnxruntime matches torch to {diff:.1e}")
    )
