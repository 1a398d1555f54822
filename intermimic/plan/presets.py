"""Named sets of physics and planner settings that were measured together.

The planner's and the environment's defaults are the method's and the first measured
ones; the settings that refine the sample's clips best were found one term at a time
(docs/refinement_log.md) and only pass the quality rule together. A
preset names such a set, so that a command can ask for it in one word instead of
fourteen ``--set`` / ``--plan`` options: ``intermimic refine --method planner --preset
tuned``, ``intermimic train-teacher --preset tuned``, and the benches' ``--preset``.
Options given beside a preset override its values.

A preset holds no seed: on a chaotic planner a seed's verdict is a draw, and which seed
passes is a measurement of one clip on one install, not a setting (docs/refinement_log.md, "Holding
offsets without jumps"; ``PlannerSettings.tries`` plans several and keeps the best).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from intermimic.errors import InputError
from intermimic.plan.settings import PlannerSettings
from intermimic.rl.teacher_settings import TeacherSettings


@dataclass(frozen=True)
class Preset:
    """``teacher``: TeacherSettings fields (the environment's physics); ``planner``:
    PlannerSettings fields; ``summary``: what it is, one line for ``--help``."""

    name: str
    summary: str
    teacher: Mapping[str, Any]
    planner: Mapping[str, Any]

    def teacher_settings(self, **overrides: Any) -> TeacherSettings:
        """TeacherSettings of this preset with ``overrides`` on top."""
        return TeacherSettings(**{**self.teacher, **overrides})

    def planner_settings(self, **overrides: Any) -> PlannerSettings:
        """PlannerSettings of this preset with ``overrides`` on top."""
        return PlannerSettings(**{**self.planner, **overrides})


TUNED = Preset(
    name="tuned",
    summary="240 Hz physics, stiff ground, firm grip, holding offsets; quiet feet, the "
    "carried object's terms, rewinds (the demo profile's; twice the physics cost)",
    # Each value with the section of docs/refinement_log.md that measured it on sub2_largetable_000.
    teacher=MappingProxyType(
        {
            # "240 Hz physics, and where the jitter and skating come from": the feet
            # within a few mm of the floor; at 120 Hz the plan fell at frame 113 on one
            # machine and reached the end on another
            "physics_hz": 240,
            "ground_timeconst": 0.0085,
            # "A firmer grip": object jitter 0.53 mm against 0.89
            "object_timeconst": 0.01,
            # "A level floor and servos that hold the body up" and "Holding offsets
            # without jumps": E_o 3.5 cm against 8.7 over three seeds, the landing
            # within the ground bar
            "gravity_compensation": 1.0,
        }
    ),
    planner=MappingProxyType(
        {
            # "Rewinds and planning bounds": plan 10 frames again after a fall
            "backtrack": 10,
            # "240 Hz physics, and where the jitter and skating come from": no finger
            # noise, half the noise on the knot that is committed (body jitter)
            "finger_sigma": 0.0,
            "first_knot_noise": 0.5,
            # "Quiet feet, early lifts": foot skating 0.135 m/s against 0.331
            "foot_slide_weight": 2.0,
            "foot_noise": 0.0,
            "swing_clearance": 0.04,
            "swing_lead": 3,
            # "Object jitter: quieter arms, smoother targets"
            "object_velocity_weight": 2.0,
            "action_rate_weight": 500.0,
            # "The object's orientation": E_o 4.6 cm against 17.1 (seed 0)
            "object_points_weight": 20.0,
        }
    ),
)

PRESETS: Mapping[str, Preset] = MappingProxyType({TUNED.name: TUNED})
"""Every preset by name."""


def preset(name: str) -> Preset:
    """The preset ``name``; :class:`~intermimic.errors.InputError` naming the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise InputError(f"unknown preset {name!r}; known: {known}") from None
