"""The ``intermimic`` Typer application; each command lives in its own module.

Damaged data at rest, or a store that cannot be written, ends every command the same
way: exit status 2 and one line on stderr naming the file
(:class:`~intermimic.errors.StoreUnavailableError`, and its
:class:`~intermimic.errors.StoreDamagedError` raised where the store and catalog are
read). Commands let that error through to here.
"""

from __future__ import annotations

import json
from typing import Any

import typer
import typer.core

from intermimic.errors import StoreUnavailableError

#: Exit status of every command when the store is damaged or cannot be written.
EXIT_STORE = 2


def _is_raw_damage(exc: BaseException) -> bool:
    """A decoding error of data at rest that escaped the read boundary (a last resort)."""
    return isinstance(exc, json.JSONDecodeError) or type(exc).__module__.startswith("pyarrow")


def fail_line(message: object) -> None:
    """``error: <message>`` on stderr, as one line."""
    typer.echo("error: " + " ".join(str(message).split()), err=True)


class _Group(typer.core.TyperGroup):
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except StoreUnavailableError as exc:
            fail_line(exc)
            raise typer.Exit(EXIT_STORE) from None
        except Exception as exc:
            if not _is_raw_damage(exc):
                raise
            fail_line(
                f"damaged data in the store ({type(exc).__name__}: {exc}); run "
                "`intermimic verify --store STORE` to find the file"
            )
            raise typer.Exit(EXIT_STORE) from None


app = typer.Typer(
    name="intermimic",
    help="Physics-based human-object interaction data: ingest, refine, publish, distil.",
    no_args_is_help=True,
    add_completion=False,
    cls=_Group,
)
