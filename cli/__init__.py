"""Command line: ``intermimic COMMAND``. Importing a command module registers it on ``app``."""

from __future__ import annotations

from cli import annotate as _annotate  # noqa: F401
from cli import catalog as _catalog  # noqa: F401
from cli import export as _export  # noqa: F401
from cli import ingest as _ingest  # noqa: F401
from cli import render as _render  # noqa: F401
from cli import student as _student  # noqa: F401
from cli import teacher as _teacher  # noqa: F401
from cli import verify as _verify  # noqa: F401
from cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
