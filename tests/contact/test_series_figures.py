"""The publish stage's figures recomputed from stored artifact series agree with the
artifact report's own (an independent path: the report computes them from the feet,
``series_figures`` from the per-frame series a store keeps, as float32)."""

from __future__ import annotations

import numpy as np
import pytest

from intermimic.contact import artifact_report
from intermimic.contact.inject import slide_foot
from stages.publish import series_figures


def _stored(series: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, np.float32) for k, v in series.items()}


def test_series_figures_match_the_report_on_a_sliding_foot(box_scene, clean_clip):
    r = artifact_report(slide_foot(clean_clip, 30, 60, speed=0.2).clip, box_scene)
    assert r.figures["foot_skate_speed_mean"] > 0.01
    got = series_figures(_stored(r.series))
    for f in ("penetration_object_max", "penetration_ground_max", "floating_fraction"):
        assert got[f] == pytest.approx(r.figures[f], rel=1e-5, abs=1e-7)
    assert got["foot_skate_speed_mean"] == pytest.approx(
        r.figures["foot_skate_speed_mean"], rel=1e-5
    )
    # a frame range: the sums over those frames, not a mean of per-frame means
    part = series_figures({k: v[25:50] for k, v in _stored(r.series).items()})
    skate = r.series["foot_skate_sum"][25:50].sum() / r.series["foot_contact_count"][25:50].sum()
    assert part["foot_skate_speed_mean"] == pytest.approx(skate, rel=1e-5)


def test_series_stored_before_the_sums_keep_their_old_figure(box_scene, clean_clip):
    r = artifact_report(slide_foot(clean_clip, 30, 60, speed=0.2).clip, box_scene)
    old = {k: v for k, v in r.series.items() if k not in ("foot_skate_sum", "foot_contact_count")}
    moving = r.series["foot_skate_speed"][r.series["foot_skate_speed"] > 0]
    assert series_figures(old)["foot_skate_speed_mean"] == pytest.approx(moving.mean())


def test_no_foot_on_the_ground_skates_zero() -> None:
    n = 10
    series = {
        "foot_skate_speed": np.zeros(n),
        "foot_skate_sum": np.zeros(n),
        "foot_contact_count": np.zeros(n),
    }
    assert series_figures(series)["foot_skate_speed_mean"] == 0.0
