"""Report plots stay readable when their data is degenerate (all zero, one point), and
thumbnails for the Dagster UI are small."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from intermimic.eval.report import plot_artifacts, plot_metrics
from intermimic.viz.plots import (
    BAR_COLOR,
    bar_panel,
    grouped_bars,
    learning_curve,
    thumbnail_png,
)


@dataclass
class FakeEvaluation:
    """What the report's plots read of an :class:`~intermimic.eval.evaluate.Evaluation`."""

    name: str
    summary: dict[str, float]
    kind: str = "student"
    results: list[object] = field(default_factory=lambda: [object()])


ZERO = {"success_rate": 0.0, "mean_duration_fraction": 0.0, "e_h_cm": 0.0, "e_o_cm": 0.0}


def _rgb(path: Path) -> NDArray[np.int16]:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def _near(img: NDArray[np.int16], hex_color: str, tol: int = 40) -> NDArray[np.bool_]:
    rgb = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
    return np.abs(img - rgb).max(axis=-1) <= tol


def test_bar_panel_all_zero_has_data_and_a_range() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (frac, plain) = plt.subplots(1, 2)
    bar_panel(frac, ["a", "b"], [0.0, 0.0], fraction=True, fmt="{:.0%}")
    bar_panel(plain, ["a", "b"], [0.0, float("nan")])
    lo, hi = frac.get_ylim()
    assert lo < 0.0 and hi > 1.0  # 0..100 %, the zero line above the frame's foot
    lo, hi = plain.get_ylim()
    assert lo < 0.0 < hi and hi - lo >= 1.0  # never an empty (0, 0) range
    # every bar's top is drawn as a line, and its value is written
    assert len(frac.collections) == 1 and len(frac.collections[0].get_segments()) == 2
    assert [t.get_text() for t in frac.texts] == ["0%", "0%"]
    assert [t.get_text() for t in plain.texts] == ["0", "n/a"]
    plt.close(fig)


def test_metrics_png_success_panel_is_not_empty_at_zero(tmp_path: Path) -> None:
    evals = [FakeEvaluation("student", dict(ZERO)), FakeEvaluation("teacher s1", dict(ZERO))]
    png = plot_metrics(evals, tmp_path / "metrics.png")  # type: ignore[arg-type]
    assert png is not None
    img = _rgb(png)
    success = img[:, : img.shape[1] // 4]  # the first of four panels
    assert _near(success, BAR_COLOR).sum() > 50  # the two zero bars are drawn
    # a non-zero panel for comparison: success 50 % fills far more of the bar colour
    evals[0].summary["success_rate"] = 0.5
    half = _rgb(plot_metrics(evals, tmp_path / "half.png"))  # type: ignore[arg-type]
    assert _near(half[:, : half.shape[1] // 4], BAR_COLOR).sum() > _near(success, BAR_COLOR).sum()


def test_artifacts_and_grouped_bars_all_zero(tmp_path: Path) -> None:
    evals = [FakeEvaluation("raw MoCap", {"jitter_body": 0.0}, kind="mocap")]
    assert plot_artifacts(evals, tmp_path / "a.png", figures=("jitter_body",)) is not None  # type: ignore[arg-type]
    png = grouped_bars(tmp_path / "g.png", ["x", "y"], [("raw", [0.0, 0.0]), ("ref", [0, 0])])
    img = _rgb(png)
    assert _near(img, "#1f77b4").sum() > 20 and _near(img, "#ff7f0e").sum() > 20


def test_learning_curve_zero_success_and_one_point(tmp_path: Path) -> None:
    rows = [{"env_steps": 64, "mean_length": 3.0, "success_rate": 0.0}]
    png = learning_curve(rows, tmp_path / "curve.png", title="one row")
    assert png is not None
    img = _rgb(png)
    assert _near(img, "#2ca02c").sum() > 10  # tab:green: the success point at 0 is seen
    assert learning_curve([], tmp_path / "none.png") is None


def test_thumbnail_is_small_and_narrow(tmp_path: Path) -> None:
    rows = [
        {"env_steps": 64 * i, "mean_length": float(i), "success_rate": i / 20} for i in range(20)
    ]
    png = learning_curve(rows, tmp_path / "curve.png")
    assert png is not None
    thumb = thumbnail_png(png, max_width=320)
    assert thumb[:8] == b"\x89PNG\r\n\x1a\n" and len(thumb) < png.stat().st_size
    with Image.open(io.BytesIO(thumb)) as im:
        assert im.width == 320
    with Image.open(io.BytesIO(thumbnail_png(thumb, max_width=1000))) as im:
        assert im.width == 320  # never enlarged
