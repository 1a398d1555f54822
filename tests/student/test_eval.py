"""Evaluation metrics on constructed data with known errors, and evaluation runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from data_catalog import Store
from data_catalog.runs import teacher_dir
from intermimic.eval import EvalSettings, evaluate_policy, raw_mocap, write_report
from intermimic.eval.evaluate import perturbed_scene
from intermimic.eval.metrics import ClipResult, aggregate, key_body_error, object_point_error
from intermimic.objects import ObjectLibrary
from intermimic.rl.teacher_actor import load_teacher_actor
from intermimic.sim.scene import pair_friction


def test_key_body_error_of_a_known_offset() -> None:
    ref = np.random.default_rng(0).normal(size=(7, 5, 3))
    sim = ref.copy()
    sim[..., 0] += 0.03  # every key body 3 cm off along x
    sim[3, 2] += [0.0, 0.04, 0.0]  # one body at frame 3: 5 cm (3-4-5)
    e = key_body_error(sim, ref)
    expected = np.full(7, 0.03)
    expected[3] = (4 * 0.03 + 0.05) / 5
    np.testing.assert_allclose(e, expected)


def test_object_point_error_of_known_moves() -> None:
    ang = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    pts = np.stack([np.cos(ang), np.sin(ang), np.zeros(8)], axis=1)  # unit circle
    pos = np.zeros((2, 3))
    ident = np.tile([1.0, 0, 0, 0], (2, 1))
    moved = pos + np.array([0.1, 0.0, 0.0])
    np.testing.assert_allclose(object_point_error(moved, ident, pos, ident, pts), [0.1, 0.1])
    half_turn = np.tile([0.0, 0, 0, 1.0], (2, 1))  # 180 deg about z: each point 2 r away
    np.testing.assert_allclose(object_point_error(pos, half_turn, pos, ident, pts), [2.0, 2.0])


def test_aggregate_weights_errors_by_frame() -> None:
    a = ClipResult("a", "s", "box", True, 1, 2, np.array([0.01, 0.01]), np.array([0.0, 0.02]),
                   artifacts={"jitter_body": 1.0})  # fmt: skip
    b = ClipResult("b", "s", "box", False, 0, 5, np.array([0.04]), np.array([0.05]),
                   artifacts={"jitter_body": 3.0, "other": 1.0})  # fmt: skip
    s = aggregate([a, b])
    assert s["success_rate"] == 0.5 and s["mean_duration"] == 0.5
    assert s["mean_duration_fraction"] == pytest.approx((1.0 + 0.0) / 2)
    assert s["e_h_cm"] == pytest.approx(2.0)  # (1 + 1 + 4) / 3 frames
    assert s["e_o_cm"] == pytest.approx(7.0 / 3)
    assert s["jitter_body"] == 2.0 and "other" not in s  # only figures every clip has
    assert a.row()["e_h_cm"] == pytest.approx(1.0) and aggregate([]) == {}


def test_perturbations_change_the_scene(objects: ObjectLibrary) -> None:
    base = perturbed_scene("box", objects)
    heavy = perturbed_scene("box", objects, EvalSettings(object_mass_scale=10, friction_scale=0.5))
    b = base.object_body_id
    assert heavy.model.body_mass[b] == pytest.approx(10 * base.model.body_mass[b])
    # Object and ground materials both scale, so their pair (their average) does too.
    g, ground = int(heavy.object_geom_ids[0]), heavy.ground_geom_id
    assert pair_friction(heavy.model, g, ground) == pytest.approx(
        0.5 * pair_friction(base.model, g, ground)
    )


def test_evaluate_a_teacher_with_perturbations_and_report(
    store: Store, objects: ObjectLibrary, tmp_path: Path
) -> None:
    teacher = load_teacher_actor(teacher_dir(store, "lab", "s1"), "s1")
    clips = store.read_subject("lab", "s1") + store.read_subject("lab", "s2")
    short = clips[0].slice(0, 10).with_meta(clip_id="too_short")
    ev = evaluate_policy(
        {"s1": teacher}, [*clips, short], objects, EvalSettings(sim_threads=1, attempts=2),
        keep_rollouts=True,
    )  # fmt: skip
    assert sorted(ev.rejected) == ["s2_box_000", "s2_box_001", "too_short"]
    assert len(ev.results) == 4 and {r.attempt for r in ev.results} == {0, 1}
    for r, ro in zip(ev.results, ev.rollouts, strict=True):
        assert r.e_h.shape == (r.duration + 1,) and r.e_h[0] < 1e-3  # starts on the reference
        assert "penetration_object_max" in r.artifacts
        assert r.success == (r.duration == r.clip_frames - 1)
        np.testing.assert_allclose(r.e_o, ro.arrays["object_error"])
        # the student's env reports why an attempt ended, as the teacher's does
        assert (ro.ended_by == ("clip_end",)) == ro.success and ro.ended_by
    noisy = evaluate_policy(
        teacher, clips[:1], objects, EvalSettings(sim_threads=1, init_noise=0.2)
    )
    assert noisy.results[0].e_h[0] > 1e-3  # the start is perturbed
    mocap = raw_mocap(clips[:2], objects)
    files = write_report([mocap, ev, noisy], tmp_path / "report")
    text = files.markdown.read_text()
    assert "raw MoCap" in text and "| teacher |" in text and "too_short" in text
    assert set(files.plots) == {"metrics", "artifacts"} and files.json.is_file()
