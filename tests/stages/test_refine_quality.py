"""The refinement-quality rule on hand-made figures, and InterMimic's reference figures
on the real sample clip (skipped without ``../shared/data``)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from intermimic.contact.artifacts import ARTIFACT_FIGURES, artifact_report
from intermimic.errors import InputError
from intermimic.humanoid import build_spec
from intermimic.motion.clip import HOIClip
from intermimic.motion.load import read_clip
from intermimic.motion.settings import IngestSettings
from intermimic.objects import ObjectLibrary
from intermimic.paths import sample_refined_dir
from intermimic.sim import Scene, build_scene
from stages.publish import PublishSettings
from stages.refine_quality import (
    TOLERANCE_JITTER_M,
    TOLERANCE_PENETRATION_M,
    ReferenceSettings,
    Verdict,
    clip_quality,
    intermimic_figures,
    load_reference,
    quality_record,
    quality_verdict,
    reference_span,
    tolerance_for,
    verdict_counts,
)
from stages.refine_quality_display import clip_quality_table, markdown_table

CLIP = "sub2_largetable_000"

# Hand-made figures in SI units, shaped like subject 2's means (raw MoCap, InterMimic).
RAW = {
    "penetration_object_max": 0.041,
    "penetration_ground_max": 0.0002,
    "floating_fraction": 0.0,
    "foot_skate_speed_mean": 0.118,
    "jitter_body": 0.00038,
    "jitter_object": 0.0002,
}
IM = {
    "penetration_object_max": 0.035,
    "penetration_ground_max": 0.0022,
    "floating_fraction": 0.009,
    "foot_skate_speed_mean": 0.062,
    "jitter_body": 0.00172,
    "jitter_object": 0.0006,
}


def _refined(**changes: float) -> dict[str, float]:
    """InterMimic's figures, changed where told: a refinement as good as InterMimic's."""
    return {**IM, **changes}


# ---- the rule --------------------------------------------------------------------------------


def test_as_good_as_intermimic_and_raw_is_full() -> None:
    v = quality_verdict(True, RAW, _refined(), IM)
    assert v.name == "full" and v.failing == () and v.against_intermimic
    assert v.describe() == "full"


def test_each_figure_worse_than_intermimic_is_named() -> None:
    for f in ARTIFACT_FIGURES:
        worse = _refined(**{f: IM[f] + 1.5 * tolerance_for(f)})
        v = quality_verdict(True, RAW, worse, IM)
        assert v.name == "worse", f
        assert [(x.figure, x.against) for x in v.failing] == [(f, "intermimic")], f
        assert v.describe() == f"worse: {f} > InterMimic"


def test_ties_within_tolerance_count_as_no_worse() -> None:
    tol = TOLERANCE_PENETRATION_M
    at_edge = _refined(penetration_ground_max=IM["penetration_ground_max"] + tol)
    assert quality_verdict(True, RAW, at_edge, IM).name == "full"
    beyond = _refined(penetration_ground_max=IM["penetration_ground_max"] + tol * 1.01)
    assert quality_verdict(True, RAW, beyond, IM).name == "worse"
    jit = _refined(jitter_body=IM["jitter_body"] + 0.9 * TOLERANCE_JITTER_M)
    assert quality_verdict(True, RAW, jit, IM).name == "full"
    # a caller's tolerance replaces the defaults
    assert quality_verdict(True, RAW, beyond, IM, tolerance=lambda f: 0.0).name == "worse"
    strict = quality_verdict(True, RAW, jit, IM, tolerance=lambda f: 0.0)
    assert [x.figure for x in strict.failing] == ["jitter_body"]


def test_raw_bar_holds_object_penetration_and_foot_skating_only() -> None:
    # InterMimic's own refinement is worse than raw in ground penetration, floating and
    # jitter: matching it there is full; object penetration or skating above raw is not
    assert quality_verdict(True, RAW, _refined(), IM).name == "full"
    im_bad = {**IM, "penetration_object_max": 0.10, "foot_skate_speed_mean": 0.30}
    refined = _refined(penetration_object_max=0.09, foot_skate_speed_mean=0.25)
    v = quality_verdict(True, RAW, refined, im_bad)
    assert v.name == "worse"
    assert [(x.figure, x.against) for x in v.failing] == [
        ("penetration_object_max", "raw"),
        ("foot_skate_speed_mean", "raw"),
    ]
    assert v.failing[0].reference == RAW["penetration_object_max"]


def test_missing_intermimic_figures_judge_against_raw_only() -> None:
    for none in (None, {}):
        v = quality_verdict(True, RAW, _refined(jitter_body=0.05), none)
        assert v.name == "full" and not v.against_intermimic
    v = quality_verdict(True, RAW, _refined(foot_skate_speed_mean=0.5), None)
    assert v.name == "worse" and v.failing[0].against == "raw"
    # a figure InterMimic's record lacks is not compared with it
    partial_im = {k: x for k, x in IM.items() if k != "jitter_body"}
    assert quality_verdict(True, RAW, _refined(jitter_body=0.05), partial_im).name == "full"
    nan_im = {**IM, "jitter_body": math.nan}
    assert quality_verdict(True, RAW, _refined(jitter_body=0.05), nan_im).name == "full"


def test_not_tracked_to_the_end_is_partial_whatever_the_figures() -> None:
    assert quality_verdict(False, RAW, _refined(), IM).name == "partial"
    v = quality_verdict(False, RAW, _refined(jitter_body=0.05), IM)
    assert v.name == "partial" and [x.figure for x in v.failing] == ["jitter_body"]
    assert v.describe() == "partial: jitter_body > InterMimic"
    assert quality_verdict(False, None, None).name == "partial"


def test_figures_the_rule_needs_missing_is_unmeasured() -> None:
    assert quality_verdict(True, None, None).name == "unmeasured"
    assert quality_verdict(True, RAW, None, IM).name == "unmeasured"
    assert quality_verdict(True, {}, _refined(), IM).name == "unmeasured"
    no_skate = {k: x for k, x in RAW.items() if k != "foot_skate_speed_mean"}
    assert quality_verdict(True, no_skate, _refined(), IM).name == "unmeasured"
    # refined without jitter (an old record) cannot be held to InterMimic's jitter
    old = {k: _refined()[k] for k in ("penetration_object_max", "foot_skate_speed_mean")}
    assert quality_verdict(True, RAW, old, IM).name == "unmeasured"
    assert quality_verdict(True, RAW, old, None).name == "full"
    assert quality_verdict(True, RAW, _refined(foot_skate_speed_mean=math.nan), IM).name == (
        "unmeasured"
    )


def test_verdict_records_round_trip_and_count() -> None:
    v = quality_verdict(True, RAW, _refined(jitter_object=0.01), IM)
    assert Verdict.from_json(v.to_json()) == v
    assert Verdict.from_json({"verdict": "nonsense"}).name == "unmeasured"
    figs = v.catalog_figures()
    assert figs["verdict_worse"] == 1.0 and figs["verdict_full"] == 0.0
    assert figs["verdict_failing"] == 1.0 and figs["verdict_against_intermimic"] == 1.0
    rec = quality_record(v, RAW, _refined(jitter_object=0.01), IM)
    assert rec["verdict"] == "worse" and set(rec["intermimic"]) == set(ARTIFACT_FIGURES)
    assert quality_record(v, RAW, None, None)["refined"] == {}
    assert verdict_counts([v, "full", "full"]) == {
        "full": 2, "worse": 1, "partial": 0, "unmeasured": 0,
    }  # fmt: skip
    header, rows = clip_quality_table({"c1": rec})
    assert header[:3] == ["clip", "verdict", "object penetration (cm)"]
    assert len(header) == 2 + len(ARTIFACT_FIGURES)
    assert rows[0][1] == "worse: jitter_object > InterMimic"
    # object penetration in cm: raw / refined / InterMimic
    assert rows[0][2] == "4.1 / 3.5 / 3.5"
    md = markdown_table(header, rows)
    assert md.count("\n") == 2 and md.startswith("| clip | verdict |")


def test_tolerances_agree_with_the_publish_settings() -> None:
    s = PublishSettings()
    for f in ARTIFACT_FIGURES:
        assert s.tolerance(f) == tolerance_for(f)
    assert PublishSettings(jitter_tolerance_m=0.01).tolerance("jitter_body") == 0.01
    assert tolerance_for("jitter_object") == TOLERANCE_JITTER_M
    assert tolerance_for("something_else") == 0.0


def test_reference_span_aligns_a_trimmed_file() -> None:
    # one placeholder row trimmed: its frame j is raw frame j + 1
    assert reference_span(153, 152, 153) == (1, 152)
    assert reference_span(153, 152, 40) == (1, 39)
    assert reference_span(153, 153, 40) == (0, 40)
    for bad in ((153, 154, 40), (153, 140, 40), (153, 152, 2)):
        with pytest.raises(ValueError):
            reference_span(*bad)


def test_reference_settings(tmp_path: Path) -> None:
    assert ReferenceSettings(reference=False).resolved_dir() is None
    assert ReferenceSettings().resolved_dir() == sample_refined_dir()
    assert ReferenceSettings(reference_dir=str(tmp_path)).resolved_dir() == tmp_path
    with pytest.raises(InputError, match="missing"):
        ReferenceSettings(reference_dir=str(tmp_path / "missing")).resolved_dir()
    assert load_reference(CLIP, None) is None
    assert load_reference(CLIP, tmp_path) is None  # no file of that clip
    (tmp_path / f"{CLIP}.pt").write_bytes(b"not a tensor")
    with pytest.raises(InputError, match=CLIP):
        load_reference(CLIP, tmp_path)


# ---- the real sample -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def largetable(shared_data: Path) -> Scene:
    lib = ObjectLibrary(shared_data / "objects")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the sample meshes are open (non-watertight)
        return build_scene(build_spec(), lib.get("largetable"))


@pytest.fixture(scope="module")
def raw_clip(shared_data: Path) -> HOIClip:
    return read_clip(shared_data / "omomo" / "raw" / f"{CLIP}.pt")


@pytest.fixture(scope="module")
def reference_dir(shared_data: Path) -> Path:
    d = shared_data / "omomo" / "refined_by_intermimic"
    if not (d / f"{CLIP}.pt").is_file():
        pytest.skip("InterMimic's refined sample clips not present")
    return d


def test_intermimic_figures_of_the_sample_clip(
    largetable: Scene, raw_clip: HOIClip, reference_dir: Path
) -> None:
    ref = load_reference(CLIP, reference_dir)
    assert ref is not None and ref.n_frames == raw_clip.n_frames - 1  # row 0 trimmed
    trimmed = read_clip(
        reference_dir / f"{CLIP}.pt", settings=IngestSettings(trim_invalid_leading_frames=True)
    )
    np.testing.assert_array_equal(ref.body_pos, trimmed.body_pos)
    # a refinement of the first 100 raw frames: InterMimic's frames showing raw 1..99
    refined = raw_clip.slice(0, 100)
    figs = intermimic_figures(raw_clip, refined, largetable, None, ref)
    direct = artifact_report(ref.slice(0, 99), largetable).figures
    assert figs == direct
    assert all(math.isfinite(figs[f]) for f in ARTIFACT_FIGURES)
    # InterMimic's refinement smooths the feet and adds jitter (issue 18's figures)
    whole = intermimic_figures(raw_clip, raw_clip, largetable, None, ref)
    raw_figs = artifact_report(raw_clip, largetable).figures
    assert whole["foot_skate_speed_mean"] < raw_figs["foot_skate_speed_mean"]
    assert whole["jitter_body"] > raw_figs["jitter_body"]
    # another object's clip of the same length is not compared
    other = ref.with_meta(object_name="woodchair")
    with pytest.raises(ValueError, match="woodchair"):
        intermimic_figures(raw_clip, refined, largetable, None, other)


def test_clip_quality_of_the_sample_clip(
    largetable: Scene, raw_clip: HOIClip, reference_dir: Path, tmp_path: Path
) -> None:
    refined = raw_clip.slice(0, 120)  # the raw motion as its own "refinement"
    q = clip_quality(raw_clip, refined, largetable, None, True, reference_dir=reference_dir)
    assert q.before == q.after  # same motion, same frames
    assert q.intermimic is not None and q.reference_note == ""
    assert q.verdict == quality_verdict(True, q.before, q.after, q.intermimic)
    assert q.verdict.against_intermimic
    # the raw MoCap skates more than InterMimic's refinement: not full quality
    assert q.verdict.name == "worse"
    assert "foot_skate_speed_mean" in {f.figure for f in q.verdict.failing}
    assert set(q.series) >= {"penetration_object", "jitter_body"}
    assert q.series["jitter_body"].shape == (120,)
    assert clip_quality(raw_clip, refined, largetable, None, False).verdict.name == "partial"
    # no reference folder, or a file that is another recording: judged against raw only
    alone = clip_quality(raw_clip, refined, largetable, None, True, reference_dir=None)
    assert alone.intermimic is None and alone.verdict.name == "full"
    short = raw_clip.slice(0, 50)
    import torch

    from intermimic.motion.formats.interact_pt import encode

    torch.save(torch.from_numpy(encode(short)), tmp_path / f"{CLIP}.pt")
    mismatch = clip_quality(raw_clip, refined, largetable, None, True, reference_dir=tmp_path)
    assert mismatch.intermimic is None and "not the same recording" in mismatch.reference_note
    assert mismatch.verdict.name == "full" and not mismatch.verdict.against_intermimic
