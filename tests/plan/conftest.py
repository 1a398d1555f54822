"""Shared fixtures of the planner tests."""

from __future__ import annotations

import pytest

from tests.plan.box_clip import box_clipset


@pytest.fixture(scope="module")
def clipset(tmp_path_factory: pytest.TempPathFactory) -> object:
    """:func:`~tests.plan.box_clip.box_clipset`, once per module."""
    return box_clipset(tmp_path_factory.mktemp("plan_objects"))
