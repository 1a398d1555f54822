"""Named settings (intermimic.plan.presets) and how options build on them."""

from __future__ import annotations

import pytest

from cli.settings_options import SettingsError, parse_overrides, preset_values
from cli.teacher import PRESET_HELP
from intermimic.errors import InputError
from intermimic.plan import PlannerSettings
from intermimic.plan.presets import PRESETS, TUNED, preset
from intermimic.rl.teacher_settings import TeacherSettings


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_valid_and_changes_only_what_it_names(name: str) -> None:
    p = preset(name)
    teacher, planner = p.teacher_settings(), p.planner_settings()
    for key, value in p.teacher.items():
        assert getattr(teacher, key) == value
        # a value at its default would say nothing: every value is a choice
        assert TeacherSettings.model_fields[key].default != value, key
    for key, value in p.planner.items():
        assert getattr(planner, key) == value
        assert PlannerSettings.model_fields[key].default != value, key
    # no seed: which seed passes is a measurement, not a setting
    assert "seed" not in p.planner and planner.seed == PlannerSettings().seed
    assert name in PRESET_HELP  # --help names it without importing the library


def test_tuned_holds_the_settings_the_done_when_run_used() -> None:
    # bench/teacher_curve.py's 120-minute run on sub2_largetable_000
    # (docs/refinement_log.md, "Holding offsets without jumps"): these values, with seed 1,
    # passed every figure
    t, p = TUNED.teacher_settings(), TUNED.planner_settings(seed=1)
    assert (t.physics_hz, t.ground_timeconst, t.object_timeconst, t.gravity_compensation) == (
        240, 0.0085, 0.01, 1.0,
    )  # fmt: skip
    assert (p.backtrack, p.finger_sigma, p.first_knot_noise, p.foot_slide_weight) == (
        10, 0.0, 0.5, 2.0,
    )  # fmt: skip
    assert (p.foot_noise, p.swing_clearance, p.swing_lead) == (0.0, 0.04, 3)
    assert (p.object_velocity_weight, p.action_rate_weight, p.object_points_weight) == (
        2.0, 500.0, 20.0,
    )  # fmt: skip
    assert p.seed == 1


def test_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(InputError, match="unknown preset 'fast'; known: tuned"):
        preset("fast")
    with pytest.raises(SettingsError, match="--preset: unknown preset 'fast'; known: tuned"):
        preset_values("fast")
    assert preset_values(None) == ({}, {})


def test_options_override_the_preset_in_order() -> None:
    teacher, planner = preset_values("tuned")
    # the preset, then explicit options, then KEY=VALUE pairs
    s = parse_overrides(
        TeacherSettings, ["ground_timeconst=0.02"], base=teacher, physics_hz=480, worlds=None
    )
    assert s.physics_hz == 480 and s.ground_timeconst == 0.02
    assert s.object_timeconst == 0.01 and s.gravity_compensation == 1.0
    assert s.worlds == TeacherSettings().worlds  # None: not given
    p = parse_overrides(PlannerSettings, ["samples=4", "backtrack=0"], base=planner)
    assert (p.samples, p.backtrack, p.object_points_weight) == (4, 0, 20.0)
    # the preset's values are validated like any other
    with pytest.raises(SettingsError, match="physics_hz"):
        parse_overrides(TeacherSettings, [], base={**teacher, "physics_hz": 100})
