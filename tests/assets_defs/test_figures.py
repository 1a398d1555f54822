"""A figure as asset metadata: a small embedded thumbnail and the store-relative path."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import dagster as dg
from PIL import Image

from assets_defs.figures import MAX_EMBED_BYTES, THUMB_WIDTH, figure_metadata, store_relative
from intermimic.viz.plots import learning_curve

DATA_URI = re.compile(r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)")


def _curve(path: Path) -> Path:
    rows = [{"env_steps": 64 * i, "mean_length": i, "success_rate": 0.0} for i in range(30)]
    png = learning_curve(rows, path, title="t")
    assert png is not None
    return png


def test_figure_is_embedded_small_with_its_store_path(tmp_path: Path) -> None:
    store = tmp_path / "store"
    png = _curve(store / "teachers" / "lab" / "s1" / "curve.png")
    md = figure_metadata("learning_curve", png, store, "learning curve")
    assert list(md) == ["learning_curve_figure", "learning_curve_png"]
    path = md["learning_curve_png"]
    assert isinstance(path, dg.PathMetadataValue)
    assert path.value == "teachers/lab/s1/curve.png"
    text = md["learning_curve_figure"].value
    assert isinstance(text, str) and text.startswith("**learning curve**")
    assert "`teachers/lab/s1/curve.png`" in text and str(tmp_path) not in text
    match = DATA_URI.search(text)
    assert match is not None
    data = base64.b64decode(match.group(1))
    assert len(data) <= MAX_EMBED_BYTES and len(text) < 2 * MAX_EMBED_BYTES
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG" and 0 < im.width <= THUMB_WIDTH


def test_edge_cases(tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert figure_metadata("x", None, store) == {}
    outside = _curve(tmp_path / "elsewhere.png")
    assert store_relative(outside, store) == str(outside.resolve())
    broken = store / "broken.png"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_bytes(b"not a png")
    md = figure_metadata("broken", broken, store)
    assert "not shown" in str(md["broken_figure"].value)
    assert md["broken_png"].value == "broken.png"
