"""Building settings models from CLI options, without restating their fields."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import pydantic

from intermimic.errors import InterMimicError

M = TypeVar("M", bound=pydantic.BaseModel)


class SettingsError(InterMimicError):
    """A ``--set KEY=VALUE`` option names no setting or has a bad value."""


def parse_overrides(
    model: type[M], pairs: list[str], *, base: Mapping[str, Any] | None = None, **explicit: Any
) -> M:
    """``model`` from ``base`` (a preset's values), then explicit options, then
    ``KEY=VALUE`` strings, each over the one before (validated by pydantic)."""
    values: dict[str, Any] = dict(base or {})
    values.update({k: v for k, v in explicit.items() if v is not None})
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in model.model_fields:
            known = ", ".join(model.model_fields)
            raise SettingsError(f"--set {pair!r}: expected KEY=VALUE with KEY one of: {known}")
        values[key] = value
    try:
        return model.model_validate(values)
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise SettingsError(f"bad settings: {problems}") from None


def preset_values(name: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The teacher and planner values of the preset ``name`` (``intermimic.plan.presets``;
    ``None``: none); :class:`SettingsError` for an unknown name."""
    if name is None:
        return {}, {}
    from intermimic.errors import InputError
    from intermimic.plan.presets import preset

    try:
        p = preset(name)
    except InputError as exc:
        raise SettingsError(f"--preset: {exc}") from None
    return dict(p.teacher), dict(p.planner)
