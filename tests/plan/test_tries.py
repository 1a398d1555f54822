"""Several planner tries per clip (``PlannerSettings.tries``): seeds, caching, the choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from intermimic.plan import PlannerSettings
from intermimic.plan.seeds import PlannedClip, furthest_tracked, plan_clips
from intermimic.rl.rollout import Rollout
from tests.plan.box_clip import PLAN_SETTINGS

SETTINGS = PLAN_SETTINGS
TINY = PlannerSettings(samples=4, horizon=3, knots=2, iterations=1, seed=5)


def test_tries_settings_and_hash() -> None:
    a = PlannerSettings(seed=3)
    # one try is what every plan was before the field: same name, same cache
    assert PlannerSettings(seed=3, tries=1).sha256() == a.sha256()
    three = PlannerSettings(seed=3, tries=3)
    assert three.sha256() != a.sha256()
    tries = three.try_settings()
    assert [t.seed for t in tries] == [3, 4, 5] and all(t.tries == 1 for t in tries)
    assert tries[0].sha256() == a.sha256()
    assert tries[1].sha256() == PlannerSettings(seed=4).sha256()
    assert a.try_settings() == [a]
    for bad in (0, -1, 65):
        with pytest.raises(ValueError):
            PlannerSettings(tries=bad)


def _planned(seed: int, success: bool, duration: int, e_h: float) -> PlannedClip:
    arrays = {
        "key_body_error": np.full(duration + 1, e_h),
        "object_error": np.zeros(duration + 1),
    }
    r = Rollout("c", "box", 0, success, duration, 11, arrays)
    return PlannedClip(r, 1.0, seed)


def test_furthest_tracked_prefers_the_end_then_frames_then_e_h() -> None:
    c = [
        _planned(0, False, 9, 0.01),  # fell late, close
        _planned(1, True, 10, 0.20),  # to the end, far
        _planned(2, True, 10, 0.05),  # to the end, closer: kept
        _planned(3, True, 10, 0.05),  # a tie: the first of equals wins
    ]
    assert furthest_tracked(None, None, c) == 2  # type: ignore[arg-type]
    assert furthest_tracked(None, None, c[:1] + c[1:2]) == 1  # type: ignore[arg-type]
    falls = [_planned(0, False, 4, 0.01), _planned(1, False, 7, 0.3)]
    assert furthest_tracked(None, None, falls) == 1  # type: ignore[arg-type]


def test_plan_clips_plans_each_seed_once_and_keeps_the_chosen(
    tmp_path: Path, clipset: object
) -> None:
    seen: list[list[int]] = []

    def choose(clip: object, scene: object, candidates: list[PlannedClip]) -> int:
        seen.append([c.seed for c in candidates])
        return 1

    frames: list[tuple[str, int, int, int]] = []
    p = TINY.model_copy(update={"tries": 2})
    plans = plan_clips(
        clipset, SETTINGS, p, cache_dir=tmp_path, choose=choose,  # type: ignore[arg-type]
        on_frame=lambda *a: frames.append(a),
    )  # fmt: skip
    ((cid, kept),) = plans.items()
    assert seen == [[5, 6]] and kept.seed == 6
    # progress: each try reports its committed frames from 1, seed 5's then seed 6's,
    # the last where the kept try ended, against the clip's last frame
    assert [s for _, s, f, _ in frames if f == 1][:1] == [5] and frames[-1][1] == 6
    assert frames[0][:3] == (cid, 5, 1) and frames[-1][2] == kept.frames
    assert {n for *_, n in frames} == {kept.rollout.clip_frames - 1}
    assert [s for _, s, *_ in frames] == sorted(s for _, s, *_ in frames)
    cached = sorted(tmp_path.glob(f"{cid}.*.npz"))
    assert len(cached) == 2
    # each try is that seed's single plan: a one-try run of seed 6 reads it from the cache
    stamps = {f: f.stat().st_mtime_ns for f in cached}
    single = plan_clips(clipset, SETTINGS, TINY.model_copy(update={"seed": 6}), cache_dir=tmp_path)  # type: ignore[arg-type]
    np.testing.assert_array_equal(single[cid].actions, kept.actions)
    assert single[cid].seed == 6
    # every try's planning counts, not only the kept one's
    assert single[cid].tries_seconds is None
    assert single[cid].planning_seconds == single[cid].seconds > 0
    assert kept.tries_seconds is not None and kept.seconds == single[cid].seconds
    assert {f: f.stat().st_mtime_ns for f in sorted(tmp_path.glob(f"{cid}.*.npz"))} == stamps
    # the seeds really differ (else a choice would be pointless)
    s5 = plan_clips(clipset, SETTINGS, TINY, cache_dir=tmp_path)  # type: ignore[arg-type]
    assert not np.array_equal(s5[cid].actions, kept.actions)
    assert kept.planning_seconds == pytest.approx(s5[cid].seconds + single[cid].seconds)
    # the default choice: by tracking, over the same two plans
    default = plan_clips(clipset, SETTINGS, p, cache_dir=tmp_path)  # type: ignore[arg-type]
    both = [s5[cid], single[cid]]
    assert default[cid].seed == both[furthest_tracked(None, None, both)].seed  # type: ignore[arg-type]

    def wrong(clip: object, scene: object, candidates: list[PlannedClip]) -> int:
        return 2

    with pytest.raises(ValueError, match="choose returned 2 of 2 tries"):
        plan_clips(clipset, SETTINGS, p, cache_dir=tmp_path, choose=wrong)  # type: ignore[arg-type]
