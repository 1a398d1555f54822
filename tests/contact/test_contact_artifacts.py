"""The artifact report finds injected artifacts with the right magnitude (within 10 %)."""

from __future__ import annotations

import numpy as np
import pytest

from intermimic.contact import artifact_report
from intermimic.contact.inject import add_jitter, offset_object, push_hand, slide_foot

TOL = 0.10  # relative


def test_clean_clip_has_no_artifacts(box_scene, clean_clip):
    f = artifact_report(clean_clip, box_scene).figures
    for key in (
        "floating_fraction",
        "floating_gap_max",
        "penetration_object_max",
        "penetration_ground_max",
        "object_ground_max",
        "foot_skate_speed_max",
    ):
        assert f[key] < 1e-4, key
    assert f["jitter_body"] < 1e-4
    assert f["foot_contact_fraction"] > 0.9


def _check(report, expected):
    for key, want in expected.items():
        assert report.figures[key] == pytest.approx(want, rel=TOL), key


def test_object_offset_from_the_hands_reads_as_floating(box_scene, clean_clip):
    inj = offset_object(clean_clip, 30, 60, distance=0.03, direction=(0, 0, -1))
    r = artifact_report(inj.clip, box_scene)
    _check(r, inj.expected)
    assert r.series["floating"][30:60].all() and not r.series["floating"][:30].any()


def test_hand_pushed_into_the_object_reads_as_penetration(box_scene, clean_clip):
    inj = push_hand(clean_clip, 30, 60, depth=0.02, direction=(0, 0, -1))
    r = artifact_report(inj.clip, box_scene)
    _check(r, inj.expected)
    assert r.series["penetration_object"][:30].max() < 1e-4


def test_sliding_foot_reads_as_skating(box_scene, clean_clip):
    inj = slide_foot(clean_clip, 30, 60, speed=0.2)
    r = artifact_report(inj.clip, box_scene)
    _check(r, inj.expected)


@pytest.mark.parametrize("amplitude", [0.003, 0.01])
def test_jitter_amplitude_is_measured(box_scene, clean_clip, amplitude):
    inj = add_jitter(clean_clip, amplitude=amplitude, seed=1)
    r = artifact_report(inj.clip, box_scene)
    _check(r, inj.expected)
    assert r.series["jitter_body"].shape == (clean_clip.n_frames,)


def test_report_series_have_one_value_per_frame(box_scene, clean_clip):
    r = artifact_report(clean_clip, box_scene)
    assert r.n_frames == clean_clip.n_frames
    assert all(v.shape == (clean_clip.n_frames,) for v in r.series.values())
    assert all(np.isfinite(v) for v in r.figures.values())
