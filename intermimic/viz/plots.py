"""Static plots for reports and Dagster metadata (PNG, matplotlib's Agg backend).

Every plot stays readable when its data is degenerate: a panel whose values are all
zero still shows where each value is (a marker at its height, the value written above)
on a sensible y range, never an empty axis; a curve of one point still shows that point.
:func:`thumbnail_png` shrinks a PNG for embedding (the Dagster asset page).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from intermimic.atomic import write_bytes_atomic
from intermimic.motion.skeleton import SMPLX_BODY_NAMES

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Fill colour of single-series bars (matplotlib's ``tab:blue``).
BAR_COLOR = "#1f77b4"


def _figure():  # type: ignore[no-untyped-def]
    import matplotlib  # deferred: only plotting needs it (heavy to import)

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Figure, path: str | Path, *, dpi: int) -> Path:
    """Write ``fig`` to ``path`` as a PNG and close it.

    Atomic: the PNG is rendered in memory and written beside ``path``, then renamed into
    place (:func:`intermimic.atomic.write_bytes_atomic`), so a report or Dagster's UI
    reading the file never sees half of it.
    """
    plt = _figure()
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    target = Path(path)
    write_bytes_atomic(target, buf.getvalue())
    return target


def contact_timeline(
    out: str | Path,
    labels: NDArray[np.integer],
    obj_contact: NDArray[np.integer],
    *,
    reference: NDArray[np.integer] | None = None,
    fps: float = 30.0,
    title: str = "",
) -> Path:
    """Write a PNG of per-body contact labels over time (+1 green, 0 grey, -1 red).

    ``labels [T,52]`` and ``obj_contact [T]``; with ``reference [T,52]`` (say the file's
    own labels) a second panel shows it below ours for comparison.
    """
    plt = _figure()
    from matplotlib.colors import ListedColormap

    cmap = ListedColormap(["#d9534f", "#dddddd", "#5cb85c"])
    panels = [("ours", labels)] + ([("reference", reference)] if reference is not None else [])
    fig, axes = plt.subplots(
        len(panels) + 1, 1, figsize=(10, 2 + 4.5 * len(panels)), sharex=True,
        gridspec_kw={"height_ratios": [*([8] * len(panels)), 1]},
    )  # fmt: skip
    t_end = len(labels) / fps
    for ax, (name, lab) in zip(axes, panels, strict=False):
        ax.imshow(
            np.asarray(lab).T, aspect="auto", cmap=cmap, vmin=-1, vmax=1,
            interpolation="nearest", extent=(0, t_end, len(SMPLX_BODY_NAMES) - 0.5, -0.5),
        )  # fmt: skip
        ax.set_yticks(range(0, len(SMPLX_BODY_NAMES), 4))
        ax.set_yticklabels(SMPLX_BODY_NAMES[::4], fontsize=7)
        ax.set_ylabel(f"{name} labels")
    t = np.arange(len(obj_contact)) / fps
    axes[-1].fill_between(t, np.asarray(obj_contact), step="post")
    # the outline too, above the frame's foot: an object never in contact is a line at 0
    axes[-1].step(t, np.asarray(obj_contact), where="post", color="tab:blue", linewidth=1.5)
    axes[-1].set_ylim(-0.15, 1.1)
    axes[-1].set_yticks([])
    axes[-1].set_ylabel("object")
    axes[-1].set_xlabel("time (s)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, out, dpi=90)


def _finite(values: Sequence[float | None]) -> NDArray[np.float64]:
    """``values`` as floats, ``None`` as NaN."""
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def bar_panel(
    ax: Axes,
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    fraction: bool = False,
    fmt: str = "{:.3g}",
    color: str = BAR_COLOR,
    title: str = "",
) -> None:
    """Bars of ``values`` (one per label) on ``ax``, readable whatever the values.

    Each bar's top is drawn as a thick line and its value is written above it, so a bar
    of height 0 (or an all-zero panel) is still seen; a missing value (None, NaN) reads
    ``n/a``. ``fraction``: values in [0, 1], drawn on a fixed 0..100 % axis. The y range
    always holds 0, every value and room for the labels, and is never empty.
    """
    v = _finite(values)
    x = np.arange(len(v))
    drawn = np.nan_to_num(v, nan=0.0)
    width = 0.6
    ax.bar(x, drawn, width, color=color, alpha=0.85)
    ok = np.isfinite(v)
    ax.hlines(drawn[ok], x[ok] - width / 2, x[ok] + width / 2, colors=color, linewidth=3)
    ax.axhline(0.0, color="0.3", linewidth=0.8)
    if fraction:
        lo, hi = 0.0, 1.0
    else:
        fin = v[ok]
        lo = min(0.0, float(fin.min())) if fin.size else 0.0
        hi = max(0.0, float(fin.max())) if fin.size else 0.0
        if hi - lo <= 0.0:  # all zero (or nothing): a unit range, the zero line at the foot
            hi = 1.0
    span = hi - lo
    ax.set_ylim(lo - 0.06 * span, hi + 0.18 * span)
    for xi, vi in zip(x, v, strict=True):
        text = "n/a" if not np.isfinite(vi) else fmt.format(vi)
        y = 0.0 if not np.isfinite(vi) else max(float(vi), 0.0)
        ax.annotate(
            text, (float(xi), y), xytext=(0, 3), textcoords="offset points",
            ha="center", va="bottom", fontsize=7,
        )  # fmt: skip
    if fraction:
        from matplotlib.ticker import PercentFormatter

        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xticks(x, list(labels), rotation=30, ha="right", fontsize=8)
    if title:
        ax.set_title(title)


def grouped_bars(
    path: str | Path,
    names: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str = "",
    symlog: float | None = 1e-3,
    figsize: tuple[float, float] = (7.0, 3.5),
) -> Path:
    """Bar chart of several series (``(label, one value per name)``) side by side.

    ``symlog``: the linear threshold of a symmetric-log y axis (None: linear). As in
    :func:`bar_panel`, each bar's top is drawn as a line (a zero is seen) and an
    all-zero chart keeps a visible range and says so.
    """
    plt = _figure()
    fig, ax = plt.subplots(figsize=figsize)
    x = np.arange(len(names))
    width = 0.8 / max(len(series), 1)
    lo = hi = 0.0
    for i, (label, values) in enumerate(series):
        v = np.nan_to_num(_finite(values), nan=0.0)
        lo, hi = min(lo, float(v.min(initial=0.0))), max(hi, float(v.max(initial=0.0)))
        offset = (i - (len(series) - 1) / 2) * width
        bars = ax.bar(x + offset, v, width, label=label)
        color = bars.patches[0].get_facecolor() if bars.patches else None
        ax.hlines(v, x + offset - width / 2, x + offset + width / 2, colors=color, linewidth=2.5)
    ax.axhline(0.0, color="0.3", linewidth=0.8)
    if lo == hi == 0.0:
        hi = 1.0
        ax.text(0.5, 0.6, "all values 0", transform=ax.transAxes, ha="center", color="0.4")
    if symlog is not None:
        # zero sits above the frame's foot (half the linear range below it), the tallest
        # bar below its top (a factor 2 above it)
        ax.set_yscale("symlog", linthresh=symlog)
        ax.set_ylim(2 * lo if lo < 0 else -0.5 * symlog, 2 * hi if hi > 0 else 0.5 * symlog)
    else:
        span = hi - lo
        ax.set_ylim(lo - 0.06 * span, hi + 0.1 * span)
    ax.set_xticks(x, list(names), rotation=30, ha="right", fontsize=8)
    if series:
        ax.legend(fontsize=7)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return save_png(fig, path, dpi=100)


def learning_curve(
    rows: Sequence[Mapping[str, Any]], path: str | Path, title: str = ""
) -> Path | None:
    """Learning curve PNG: mean episode length and success rate over env steps.

    ``rows``: dicts with ``env_steps``, ``mean_length`` and ``success_rate`` (None when
    empty). The success axis is 0..100 % with a margin, so a rate of 0 is a line above
    the frame, not hidden in it; points are marked, so a curve of one row is seen.
    """
    if not rows:
        return None
    plt = _figure()
    from matplotlib.ticker import PercentFormatter

    x = [r["env_steps"] for r in rows]
    marker = "o" if len(rows) <= 60 else None
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(
        x, [r["mean_length"] for r in rows], color="tab:blue", marker=marker, markersize=3,
        label="mean episode length",
    )  # fmt: skip
    ax.set_xlabel("env steps")
    ax.set_ylabel("episode length (policy steps)", color="tab:blue")
    lengths = _finite([r["mean_length"] for r in rows])
    if np.isfinite(lengths).any() and np.nanmax(lengths) <= 0.0:
        ax.set_ylim(-0.05, 1.0)
    ax2 = ax.twinx()
    ax2.plot(
        x, [r["success_rate"] for r in rows], color="tab:green", marker=marker, markersize=3,
        label="success rate",
    )  # fmt: skip
    ax2.set_ylabel("success rate", color="tab:green")
    ax2.set_ylim(-0.05, 1.05)
    ax2.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_title(title)
    fig.tight_layout()
    return save_png(fig, path, dpi=100)


def thumbnail_png(png: str | Path | bytes, *, max_width: int = 640, colors: int = 64) -> bytes:
    """A small copy of a PNG (file or bytes) for embedding, say in Dagster metadata.

    Downscaled to at most ``max_width`` pixels wide (aspect kept, never enlarged),
    flattened on white and reduced to a palette of ``colors``: a matplotlib figure
    becomes a few tens of KB.
    """
    from PIL import Image  # matplotlib's own dependency

    raw = png if isinstance(png, bytes) else Path(png).read_bytes()
    with Image.open(io.BytesIO(raw)) as im:
        im.load()
        rgba = im.convert("RGBA")
    flat = Image.new("RGB", rgba.size, "white")
    flat.paste(rgba, mask=rgba.getchannel("A"))
    if flat.width > max_width:
        height = max(1, round(flat.height * max_width / flat.width))
        flat = flat.resize((max_width, height), Image.Resampling.LANCZOS)
    small = flat.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    out = io.BytesIO()
    small.save(out, format="PNG", optimize=True)
    return out.getvalue()
