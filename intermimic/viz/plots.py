"""Static plots for reports and Dagster metadata (PNG, matplotlib's Agg backend)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from intermimic.atomic import write_bytes_atomic
from intermimic.motion.skeleton import SMPLX_BODY_NAMES

if TYPE_CHECKING:
    from matplotlib.figure import Figure


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
    axes[-1].fill_between(np.arange(len(obj_contact)) / fps, np.asarray(obj_contact), step="post")
    axes[-1].set_ylim(0, 1.1)
    axes[-1].set_yticks([])
    axes[-1].set_ylabel("object")
    axes[-1].set_xlabel("time (s)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, out, dpi=90)
