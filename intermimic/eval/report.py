"""The evaluation report: a comparison table (markdown), per-clip tables and PNG plots.

:func:`write_report` writes into a folder::

    report.md          comparison table, perturbations, per-policy clip tables, rejects
    evaluation.json    every figure of every policy and clip
    metrics.png        success, duration, E_h, E_o per policy (bars)
    artifacts.png      artifact figures per policy, raw MoCap included (bars)
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from intermimic.atomic import write_text_atomic
from intermimic.contact.artifacts import ARTIFACT_FIGURES
from intermimic.eval.evaluate import Evaluation
from intermimic.viz.plots import bar_panel, grouped_bars, save_png

#: Tracking figures that are fractions (plotted on a 0..100 % axis).
FRACTIONS = ("success_rate", "mean_duration_fraction")
TRACKING = (
    ("success_rate", "success", "{:.0%}"),
    ("mean_duration_fraction", "duration", "{:.0%}"),
    ("e_h_cm", "E_h cm", "{:.1f}"),
    ("e_o_cm", "E_o cm", "{:.1f}"),
)


def _pyplot():  # type: ignore[no-untyped-def]
    import matplotlib  # deferred: only plotting needs it (heavy to import)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _fmt(v: float | None, spec: str = "{:.3g}") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return spec.format(v)


def comparison_table(evals: Sequence[Evaluation], figures: Sequence[str] = ARTIFACT_FIGURES) -> str:
    """Markdown: one row per policy (and the raw MoCap), tracking and artifact columns."""
    head = ["policy", "clips", *(t[1] for t in TRACKING), *figures]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for e in evals:
        s = e.summary
        cells = [e.name, _fmt(s.get("clips"), "{:.0f}")]
        for key, _, spec in TRACKING:
            cells.append("-" if e.kind == "mocap" else _fmt(s.get(key), spec))
        cells += [_fmt(s.get(f)) for f in figures]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def clip_table(e: Evaluation) -> str:
    rows = [
        "| clip | attempt | success | duration | E_h cm | E_o cm |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in e.results:
        rows.append(
            f"| {r.clip_id} | {r.attempt} | {'yes' if r.success else 'no'} | {r.duration}"
            f"/{r.clip_frames - 1} | {r.e_h_cm:.1f} | {r.e_o_cm:.1f} |"
        )
    return "\n".join(rows)


@dataclass
class ReportFiles:
    folder: Path
    markdown: Path
    json: Path
    plots: dict[str, Path] = field(default_factory=dict)
    table: str = ""


def plot_metrics(evals: Sequence[Evaluation], path: Path) -> Path | None:
    """Success, duration, E_h and E_o per policy, one panel each (bars; a panel of
    zeros still shows its bars and values, see :func:`intermimic.viz.plots.bar_panel`)."""
    pol = [e for e in evals if e.kind != "mocap" and e.results]
    if not pol:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
    names = [e.name for e in pol]
    for ax, (key, label, spec) in zip(axes, TRACKING, strict=True):
        bar_panel(
            ax, names, [e.summary.get(key) for e in pol], fraction=key in FRACTIONS,
            fmt=spec, title=label,
        )  # fmt: skip
    fig.tight_layout()
    return save_png(fig, path, dpi=100)


def plot_artifacts(
    evals: Sequence[Evaluation], path: Path, figures: Sequence[str] = ARTIFACT_FIGURES
) -> Path | None:
    """The artifact figures per policy, raw MoCap included (grouped bars, symlog)."""
    have = [e for e in evals if e.results]
    figs = [f for f in figures if all(f in e.summary for e in have)]
    if not have or not figs:
        return None
    return grouped_bars(
        path, figs, [(e.name, [e.summary[f] for f in figs]) for e in have],
        title="artifacts, mean over clips", figsize=(9, 3.8),
    )  # fmt: skip


def write_report(
    evals: Sequence[Evaluation], folder: Path, title: str = "Evaluation"
) -> ReportFiles:
    """Write the report of ``evals`` (the raw MoCap's included, if given) into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    table = comparison_table(evals)
    parts = [f"# {title}", "", table, ""]
    pert = next((e.settings for e in evals if e.settings), {})
    if pert:
        keys = ("object_mass_scale", "friction_scale", "init_noise", "attempts")
        parts += ["Settings: " + ", ".join(f"{k} = {pert[k]}" for k in keys if k in pert), ""]
    for e in evals:
        if e.kind == "mocap":
            continue
        parts += [f"## {e.name}", "", f"checkpoint sha256: `{e.sha256}`", "", clip_table(e), ""]
        if e.rejected:
            parts += ["Not evaluated:", ""] + [
                f"- {c}: {why}" for c, why in sorted(e.rejected.items())
            ]
            parts.append("")
    files = ReportFiles(folder, folder / "report.md", folder / "evaluation.json", table=table)
    for key, fn in (("metrics", plot_metrics), ("artifacts", plot_artifacts)):
        p = fn(evals, folder / f"{key}.png")
        if p is not None:
            files.plots[key] = p
            parts += [f"![{key}]({p.name})", ""]
    write_text_atomic(files.markdown, "\n".join(parts))
    write_text_atomic(files.json, json.dumps([e.to_json() for e in evals], indent=1))
    return files
