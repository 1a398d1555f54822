"""Dagster ``Config`` classes derived from the library's pydantic settings.

The library's settings are the single source of each field's type, default and
description; the run config a user edits in the launchpad is built from them.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import pydantic


def config_from_settings(
    settings: type[pydantic.BaseModel],
    name: str,
    exclude: tuple[str, ...] = (),
    base: type[dg.Config] = dg.Config,
) -> type[dg.Config]:
    """A ``dg.Config`` subclass (of ``base``: another such class, to join two settings
    models in one run config) with the fields of ``settings`` (minus ``exclude``)."""
    fields: dict[str, Any] = {
        n: (f.annotation, pydantic.Field(f.default, description=f.description))
        for n, f in settings.model_fields.items()
        if n not in exclude
    }
    return pydantic.create_model(name, __base__=base, **fields)  # type: ignore[call-overload,no-any-return]
