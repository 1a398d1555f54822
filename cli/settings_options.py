"""Building settings models from CLI options, without restating their fields."""

from __future__ import annotations

from typing import Any, TypeVar

import pydantic

from intermimic.errors import InterMimicError

M = TypeVar("M", bound=pydantic.BaseModel)


class SettingsError(InterMimicError):
    """A ``--set KEY=VALUE`` option names no setting or has a bad value."""


def parse_overrides(model: type[M], pairs: list[str], **explicit: Any) -> M:
    """``model`` from explicit options plus ``KEY=VALUE`` strings (validated by pydantic)."""
    values: dict[str, Any] = {k: v for k, v in explicit.items() if v is not None}
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
