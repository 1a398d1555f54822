"""The ``intermimic`` Typer application; each command lives in its own module.

Damaged data at rest, or a store that cannot be written, ends every command the same
way: exit status 2 and one line on stderr naming the file
(:class:`~intermimic.errors.StoreUnavailableError`, and its
:class:`~intermimic.errors.StoreDamagedError` raised where the store and catalog are
read). Commands let that error through to here.

A ``--store`` that names no store ends every command the same way too, before it does
anything and without creating anything there (:func:`require_store`): exit 2,
``error: PATH: no such store``. Only ``ingest`` creates a store.

``intermimic --help`` must stay fast (a test holds it under 2 s): command modules import
only typer, rich and light settings at module level; torch, rsl-rl, MuJoCo, Zarr and
pandas are imported inside the commands.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer
import typer.core

from intermimic.errors import StoreUnavailableError

#: Exit status of every command when the store is damaged, cannot be written or is not
#: there.
EXIT_STORE = 2
#: Exit status when an optional extra the command needs is not installed.
EXIT_EXTRA = 2


class NoSuchStoreError(StoreUnavailableError):
    """``--store`` names no store (nothing there, a file, an empty folder, or a folder
    without the store manifest)."""


def require_store(path: Path, *, create: bool = False, diagnose: bool = False) -> Path:
    """``path``, when it holds a store; else :class:`NoSuchStoreError` (exit 2, one line).

    A store is a folder with its manifest ``store.json`` (the first thing ``ingest``
    writes). Every command taking ``--store`` calls this before any other work, so a
    mistyped path is reported and nothing is created there. ``create`` (``ingest``): a
    path that does not exist, or an empty folder, is fine too (the store is made there);
    a file or a non-empty folder that is not a store is still refused. ``diagnose``
    (``verify``): a non-empty folder without the manifest is a damaged store, for the
    command to report and repair.
    """
    from data_catalog.layout import Layout  # here: data_catalog imports zarr, pandas

    manifest = Layout(path).manifest
    if not path.exists():
        if create:
            return path
        raise NoSuchStoreError(f"{path}: no such store")
    if not path.is_dir():
        raise NoSuchStoreError(f"{path}: no such store (a file, not a folder)")
    if manifest.is_file():
        return path
    if not any(path.iterdir()):
        if create or diagnose:
            return path
        raise NoSuchStoreError(
            f"{path}: no such store (an empty folder; `intermimic ingest` makes one)"
        )
    if diagnose:
        return path
    raise NoSuchStoreError(
        f"{path}: no such store (a folder without {manifest.name}; if it is a damaged "
        f"store, `intermimic verify --store {path} --repair` writes it)"
    )


def require_extra(extra: str, modules: Sequence[str], what: str) -> None:
    """Exit 2 with one line naming the extra to install when one of ``modules`` (of the
    optional extra ``extra`` in pyproject.toml) is not installed."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        fail_line(
            f"{what} needs the {extra} extra ({', '.join(missing)} not installed): "
            f"pip install 'intermimic[{extra}]'"
        )
        raise typer.Exit(EXIT_EXTRA)


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
