"""The refinement-quality check of a version: verdicts gathered from the refine stage's
records, judged again with the version's tolerances, never blocking; old manifests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from data_catalog import Store
from data_catalog.versions import read_version
from stages.publish import (
    CHECK_QUALITY,
    PublishSettings,
    clip_verdict,
    publish_refined,
    quality_check,
)
from stages.refine_quality import quality_record, quality_verdict

Make = Callable[..., Store]

RAW = {
    "penetration_object_max": 0.04, "penetration_ground_max": 0.0, "floating_fraction": 0.0,
    "foot_skate_speed_mean": 0.12, "jitter_body": 0.0004, "jitter_object": 0.0002,
}  # fmt: skip
IM = {
    "penetration_object_max": 0.035, "penetration_ground_max": 0.002, "floating_fraction": 0.01,
    "foot_skate_speed_mean": 0.06, "jitter_body": 0.0017, "jitter_object": 0.0006,
}  # fmt: skip


def _record(success: bool, refined: dict[str, float], im: dict[str, float] | None) -> dict:
    return quality_record(quality_verdict(success, RAW, refined, im), RAW, refined, im)


def _quality(subject: str, i: int) -> dict[str, Any] | None:
    """s1: clip 0 full, clip 1 partial; s2: clip 0 worse (body jitter above InterMimic's),
    clip 1 recorded before the rule (no record)."""
    if subject == "s1":
        return _record(i == 0, dict(IM), IM)
    if i == 0:
        return _record(True, {**IM, "jitter_body": 0.003}, IM)
    return None


def _success(subject: str, i: int) -> bool:
    return not (subject == "s1" and i == 1)


def test_quality_check_lists_full_partial_worse_and_unmeasured(
    tmp_path: Path, make_store: Make
) -> None:
    store = make_store(tmp_path / "store", success=_success, quality=_quality)
    rep = publish_refined(store)
    check = next(c for c in rep.checks if c.name == CHECK_QUALITY)
    assert check.severity == "warn" and not check.passed and not check.blocking_failure
    assert rep.made_current  # a warning never keeps a version from being current
    md = check.metadata
    assert md["counts"] == {"full": 1, "worse": 1, "partial": 1, "unmeasured": 1}
    assert md["full"] == ["s1/s1_box_000"] and md["partial"] == ["s1/s1_box_001"]
    assert md["unmeasured"] == ["s2/s2_box_001"] and md["against_intermimic"] == 3
    (worse,) = md["worse"]
    assert worse["clip"] == "s2/s2_box_000" and worse["why"] == "jitter_body > InterMimic"
    assert worse["failing"][0]["reference"] == IM["jitter_body"]
    assert "1 of 4 clips full quality" in check.description
    assert "s2/s2_box_000 (jitter_body > InterMimic)" in check.description

    # the manifest carries what the check needs; a clip without a record has none of it
    _, manifest = read_version(store, rep.version)
    clips = {f"{c['subject']}/{c['clip']}": c for c in manifest["clips"]}
    assert clips["s2/s2_box_000"]["verdict"] == "worse"
    assert clips["s2/s2_box_000"]["figures_intermimic"] == IM
    assert clips["s2/s2_box_000"]["quality"]["raw"] == RAW
    assert "verdict" not in clips["s2/s2_box_001"]

    # judged again with the version's tolerances, not the ones the refine stage used
    lenient = publish_refined(store, PublishSettings(jitter_tolerance_m=0.01))
    assert lenient.version == rep.version and not lenient.created
    check = next(c for c in lenient.checks if c.name == CHECK_QUALITY)
    assert check.metadata["counts"]["full"] == 2 and check.metadata["counts"]["worse"] == 0


def test_old_manifests_read_as_unmeasured_or_partial() -> None:
    s = PublishSettings()
    old = {
        "clips": [
            {"subject": "s1", "clip": "a", "success": True, "figures_raw": {}},
            {"subject": "s1", "clip": "b", "success": False},
        ]
    }
    check = quality_check(old, s)
    assert check.metadata["counts"] == {"full": 0, "worse": 0, "partial": 1, "unmeasured": 1}
    assert check.passed  # partial clips are the success ratio's to judge
    assert quality_check({"clips": []}, s).passed
    assert quality_check({}, s).metadata["counts"]["full"] == 0
    # the check judges from the recorded figures: a bare verdict without them proves nothing
    assert clip_verdict({"success": True, "verdict": "full"}, s).name == "unmeasured"
    rec = {"success": True, "quality": {"raw": RAW, "refined": IM}, "figures_intermimic": {}}
    assert clip_verdict(rec, s).name == "full"
