"""The settings' fixed choices are ``Literal`` types; those that name a registry's
entries (backends, embodiments) must list exactly what the registry knows."""

from __future__ import annotations

from typing import get_args

import pytest
from pydantic import ValidationError

from intermimic.humanoid.embodiment import EMBODIMENTS
from intermimic.rl.settings import BackendName, EmbodimentName
from intermimic.rl.student_settings import StudentSettings
from intermimic.rl.teacher_settings import TeacherSettings
from intermimic.sim.factory import BACKENDS


def test_literals_match_the_registries() -> None:
    assert get_args(get_args(BackendName)[0]) == BACKENDS
    assert get_args(get_args(EmbodimentName)[0]) == EMBODIMENTS


def test_names_are_normalised_and_others_rejected_naming_the_setting() -> None:
    s = TeacherSettings(backend=" MuJoCo", embodiment="G1")
    assert (s.backend, s.embodiment) == ("mujoco", "g1")
    assert StudentSettings(backend="WARP").backend == "warp"
    for model, field, value in [
        (TeacherSettings, "profile", "gpu"),
        (TeacherSettings, "schedule", "cosine"),
        (TeacherSettings, "embodiment", "atlas"),
        (StudentSettings, "mode", "bc"),
        (StudentSettings, "architecture", "cnn"),
        (StudentSettings, "missing_teacher", "maybe"),
        (StudentSettings, "backend", "isaac"),
    ]:
        with pytest.raises(ValidationError, match=field):
            model(**{field: value})
