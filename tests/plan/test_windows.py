"""Windows of a planned clip, each planned several times (``PlannerSettings.window``)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from intermimic.env.termination import REASONS
from intermimic.motion.synthetic import synthetic_clip, write_synthetic_objects
from intermimic.objects import ObjectLibrary
from intermimic.plan import PlannerSettings, plan_clip, tracking_judge
from intermimic.plan.seeds import _key, plan_clips
from intermimic.plan.settings import DEFAULT_BEFORE
from intermimic.rl.clipset import ClipSet, prepare_clips
from intermimic.rl.rollout import Rollout
from intermimic.rl.teacher_settings import TeacherSettings
from tests.plan.box_clip import PLAN_SETTINGS
from tests.plan.test_planner import _replay

SETTINGS = PLAN_SETTINGS
TINY = PlannerSettings(samples=4, horizon=3, knots=2, iterations=1, seed=5)


@pytest.fixture(scope="module")
def carried(tmp_path_factory: pytest.TempPathFactory) -> ClipSet:
    """Seed 1's synthetic box, which the hands carry for 7 frames (seed 0's falls by 2)."""
    objects = ObjectLibrary(write_synthetic_objects(tmp_path_factory.mktemp("win_objects")))
    return prepare_clips([synthetic_clip("s1", "box", 0, 20, seed=1)], objects, SETTINGS)


class _Recorder:
    """A judge that scores a prefix by its last frame's key-body error (so attempts
    differ) and remembers what it saw; it passes prefixes listed in ``passes``."""

    def __init__(self, passes: bool = False) -> None:
        self.passes = passes
        self.seen: list[tuple[int, float, np.ndarray]] = []

    def __call__(self, prefix: Rollout) -> tuple[float, float]:
        err = float(prefix.arrays["key_body_error"][-1])
        self.seen.append((prefix.duration, err, prefix.arrays["qpos"][-1].copy()))
        assert len(prefix.arrays["qpos"]) == prefix.duration + 1
        return (0.0 if self.passes else 1.0, err)


def test_each_window_keeps_the_judges_best_attempt(carried: ClipSet) -> None:
    """Windows of 2 frames, 3 attempts each (the judge never passes): the judge sees every
    attempt's prefix from the clip's first frame, the motion kept at each window's end
    is the attempt it scored lowest, later windows start from there, and the result is
    still one physics step per frame (replayed exactly)."""
    clip = carried.clips[0]
    scene = next(iter(carried.scenes.values()))
    judge = _Recorder()
    p = TINY.model_copy(update={"window": 2, "window_tries": 3})
    res = plan_clip(clip, scene, SETTINGS, p, max_frames=6, judge=judge)
    r = res.rollout
    assert r.duration == 6 and res.window_attempts == (3, 3, 3)
    assert [d for d, _, _ in judge.seen] == [2, 2, 2, 4, 4, 4, 6, 6, 6]
    for w, end in enumerate((2, 4, 6)):
        attempts = judge.seen[3 * w : 3 * w + 3]
        # the attempts differ (fresh noise), and the lowest score's state is the kept one
        assert len({e for _, e, _ in attempts}) == 3
        best = min(attempts, key=lambda a: a[1])
        np.testing.assert_array_equal(r.arrays["qpos"][end], best[2])
    assert len(res.costs) == 6 and res.plan_frames.tolist() == list(range(6))
    _replay(carried, r)  # one simulation: the kept attempts continue each other
    # reproducible: the same seed plans the same windows
    again = plan_clip(clip, scene, SETTINGS, p, max_frames=6, judge=_Recorder())
    np.testing.assert_array_equal(again.rollout.arrays["qpos"], r.arrays["qpos"])


def test_a_judge_that_passes_plans_as_without_windows(carried: ClipSet) -> None:
    """A window the judge passes is kept at once: every window planned once, and the clip
    bit-identical to the plan without windows (the same noise draws, in order)."""
    clip = carried.clips[0]
    scene = next(iter(carried.scenes.values()))
    p = TINY.model_copy(update={"window": 2, "window_tries": 3})
    res = plan_clip(clip, scene, SETTINGS, p, max_frames=5, judge=_Recorder(passes=True))
    plain = plan_clip(clip, scene, SETTINGS, TINY, max_frames=5)
    assert res.window_attempts == (1, 1, 1) and plain.window_attempts == ()
    for key, v in plain.rollout.arrays.items():
        np.testing.assert_array_equal(res.rollout.arrays[key], v, err_msg=key)
    np.testing.assert_array_equal(res.costs, plain.costs)
    assert res.rollout.ended_by == plain.rollout.ended_by == ("episode_cap",)


def test_the_default_judge_keeps_the_closest_tracking(carried: ClipSet) -> None:
    """Without a judge (:func:`tracking_judge`) no window passes: each is planned
    ``window_tries`` times and the kept prefix tracks no worse than the first attempt."""
    clip = carried.clips[0]
    scene = next(iter(carried.scenes.values()))
    p = TINY.model_copy(update={"window": 3, "window_tries": 2})
    res = plan_clip(clip, scene, SETTINGS, p, max_frames=3)
    assert res.window_attempts == (2,)
    first = plan_clip(clip, scene, SETTINGS, TINY, max_frames=3).rollout
    r = res.rollout
    assert tracking_judge(r) <= tracking_judge(first)
    assert tracking_judge(r)[0] == 1.0  # never passes
    assert tracking_judge(r)[1] == pytest.approx(r.e_h + r.e_o)


def test_falling_attempts_keep_the_furthest_and_stop(clipset: object) -> None:
    """The fixture's box falls by frame 2 whatever the plan: every attempt of the first
    window fails, the one planned furthest is kept, and planning stops there with the
    environment's reasons."""
    clip = clipset.clips[0]  # type: ignore[attr-defined]
    scene = next(iter(clipset.scenes.values()))  # type: ignore[attr-defined]
    judge = _Recorder()
    p = TINY.model_copy(update={"window": 5, "window_tries": 2})
    res = plan_clip(clip, scene, SETTINGS, p, judge=judge)
    r = res.rollout
    assert res.window_attempts == (2,) and not r.success
    assert r.duration == max(d for d, _, _ in judge.seen) < 5
    assert r.ended_by and set(r.ended_by) <= {*REASONS, "non_finite"}
    assert len(res.costs) == r.duration
    for key, v in r.arrays.items():
        assert v.shape[0] == r.duration + 1, key


def test_rewinds_stay_within_the_window(clipset: object) -> None:
    """With ``backtrack`` a rewind never goes before the window's start: the frames of
    windows already kept stay as they were."""
    clip = clipset.clips[0]  # type: ignore[attr-defined]
    scene = next(iter(clipset.scenes.values()))  # type: ignore[attr-defined]
    plain = TINY.model_copy(update={"window": 1, "window_tries": 1})
    first = plan_clip(clip, scene, SETTINGS, plain, max_frames=1).rollout
    p = plain.model_copy(update={"backtrack": 4, "retries": 3})
    res = plan_clip(clip, scene, SETTINGS, p)
    r = res.rollout
    assert res.rewinds == 3 and not r.success and r.duration >= 1
    # frame 1 was window 0's, kept before any rewind: every rewind went back to frame 1
    np.testing.assert_array_equal(r.arrays["qpos"][:2], first.arrays["qpos"])
    _replay(clipset, r)


def test_window_settings_hash_and_validation() -> None:
    assert DEFAULT_BEFORE["window"] == 0 and DEFAULT_BEFORE["window_tries"] == 1
    base = PlannerSettings()
    # off: the hash plans had before the fields existed
    assert PlannerSettings(window=0, window_tries=1).sha256() == base.sha256()
    a, b = PlannerSettings(window=30), PlannerSettings(window=30, window_tries=3)
    assert len({base.sha256(), a.sha256(), b.sha256()}) == 3
    with pytest.raises(ValueError, match="window_tries=3 without a window"):
        PlannerSettings(window_tries=3)
    for bad in ({"window": -1}, {"window_tries": 0}, {"window": 30, "window_tries": 17}):
        with pytest.raises(ValueError):
            PlannerSettings(**bad)  # type: ignore[arg-type]


def test_the_cache_key_names_the_judge_of_windows(tmp_path: Path, carried: ClipSet) -> None:
    """Windows judged by another judge are another plan: the cache key names the judge
    (by its qualified name) only where windows are judged, so other plans keep theirs;
    plan_clips hands each clip its judge."""
    s = TeacherSettings()
    off, on = TINY, TINY.model_copy(update={"window": 2, "window_tries": 2})
    assert _key(off, s, "src") == _key(off, s, "src", "")
    assert _key(on, s, "src", "QualityChoice.judge") != _key(on, s, "src")
    made: list[str] = []

    def judge_for(clip: object, scene: object) -> object:
        made.append(clip.meta.clip_id)  # type: ignore[attr-defined]
        return _Recorder()

    plans = plan_clips(carried, SETTINGS, on.model_copy(update={"backtrack": 0}),
                       cache_dir=tmp_path, judge_for=judge_for)  # type: ignore[arg-type]  # fmt: skip
    assert made == [c.meta.clip_id for c in carried.clips] and len(plans) == 1
    names = sorted(f.name for f in tmp_path.glob("*.npz"))
    # the same settings with the default judge are cached under another name
    plan_clips(carried, SETTINGS, on, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2 and names[0] in {
        f.name for f in tmp_path.glob("*.npz")
    }
    # without windows the judge is not asked for
    made.clear()
    plan_clips(carried, SETTINGS, off, cache_dir=tmp_path, judge_for=judge_for)  # type: ignore[arg-type]
    assert made == []


def test_window_tracking_bounds_count_as_failed_rules(
    carried: ClipSet, caplog: pytest.LogCaptureFixture
) -> None:
    """``window_max_key_body_error``: an attempt whose window tracks worse than the bound
    fails one more rule though the judge passes it (so every window is planned
    ``window_tries`` times, each attempt logged); a bound every attempt keeps plans as
    without it."""
    clip = carried.clips[0]
    scene = next(iter(carried.scenes.values()))
    p = TINY.model_copy(update={"window": 2, "window_tries": 3})
    bounds = {"window_max_key_body_error": 10.0, "window_max_object_error": 10.0}
    loose = plan_clip(
        clip, scene, SETTINGS, p.model_copy(update=bounds), max_frames=4, judge=_Recorder(True)
    )
    plain = plan_clip(clip, scene, SETTINGS, p, max_frames=4, judge=_Recorder(passes=True))
    assert loose.window_attempts == plain.window_attempts == (1, 1)
    np.testing.assert_array_equal(loose.rollout.arrays["qpos"], plain.rollout.arrays["qpos"])
    errors: list[np.ndarray] = []

    class Errors(_Recorder):
        def __call__(self, prefix: Rollout) -> tuple[float, float]:
            errors.append(np.array(prefix.arrays["key_body_error"]))
            return super().__call__(prefix)

    judge = Errors(passes=True)
    tight = p.model_copy(update={"window_max_key_body_error": 1e-6})
    with caplog.at_level(logging.INFO, logger="intermimic.plan.windows"):
        res = plan_clip(clip, scene, SETTINGS, tight, max_frames=4, judge=judge)
    assert res.window_attempts == (3, 3)
    lines = [r.getMessage() for r in caplog.records if r.name == "intermimic.plan.windows"]
    assert len(lines) == 6 and lines[0].startswith(
        f"{clip.meta.clip_id}: window 0-2 attempt 1 of 3"
    )
    assert all("1 rules failed (1 of them tracking bounds)" in ln for ln in lines)
    assert lines[-1].startswith(f"{clip.meta.clip_id}: window 2-4 attempt 3 of 3")
    # kept at each window's end: the attempt whose own frames tracked closest (the
    # bound's excess outweighs the judge's last-frame score)
    r = res.rollout
    for w, (start, end) in enumerate(((0, 2), (2, 4))):
        attempts = judge.seen[3 * w : 3 * w + 3]
        assert [d for d, _, _ in attempts] == [end] * 3
        means = [float(np.mean(e[start : end + 1])) for e in errors[3 * w : 3 * w + 3]]
        assert len(set(means)) == 3
        np.testing.assert_array_equal(r.arrays["qpos"][end], attempts[int(np.argmin(means))][2])


def test_window_tracking_is_the_windows_own_mean_error() -> None:
    """Windows.tracking by hand: bounds 0.1 m (E_h) and 0.2 m (E_o) over frames 3-5 of
    made-up per-frame errors; frames before the window's start do not count."""
    from intermimic.plan.windows import Planned, Windows

    p = PlannerSettings(window=3, window_tries=2, window_max_key_body_error=0.1,
                        window_max_object_error=0.2)  # fmt: skip
    z = np.zeros(1)
    begin = Planned.of(3, False, (), [], [], {}, z, np.zeros(0, np.int64), None, z)
    w = Windows(p, 10, tracking_judge, ("c", "box", 11), begin)
    assert (w.start, w.stop) == (3, 6)
    arrays = {
        # frames 0-2 (before the window) are huge and must not count
        "key_body_error": np.array([9.0, 9.0, 9.0, 0.10, 0.12, 0.17]),  # mean 0.13
        "object_error": np.array([9.0, 9.0, 9.0, 0.1, 0.1, 0.1]),  # mean 0.1
    }
    missed, over = w.tracking(arrays, 5)
    assert missed == 1.0 and over == pytest.approx((0.13 - 0.1) / 0.1)
    arrays["object_error"] = np.array([0, 0, 0, 0.3, 0.3, 0.3])
    missed, over = w.tracking(arrays, 5)
    assert missed == 2.0 and over == pytest.approx(0.3 + 0.5)
    # without bounds nothing is judged
    off = Windows(PlannerSettings(window=3), 10, tracking_judge, ("c", "box", 11), begin)
    assert off.tracking(arrays, 5) == (0.0, 0.0)


def test_window_tracking_bounds_hash_and_validation() -> None:
    base = PlannerSettings(window=30, window_tries=3)
    # unset: the hash windowed plans had before the bounds existed
    assert PlannerSettings(window=30, window_tries=3, window_max_key_body_error=None,
                           window_max_object_error=None).sha256() == base.sha256()  # fmt: skip
    a = base.model_copy(update={"window_max_key_body_error": 0.1})
    b = base.model_copy(update={"window_max_object_error": 0.1})
    assert len({base.sha256(), a.sha256(), b.sha256()}) == 3
    for name in ("window_max_key_body_error", "window_max_object_error"):
        with pytest.raises(ValueError, match=f"{name} without a window"):
            PlannerSettings(**{name: 0.1})  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            PlannerSettings(window=30, **{name: 0.0})  # type: ignore[arg-type]
