"""Pieces the benchmark scripts share: the sample clip, its clip set, ``--set`` / ``--plan``.

Imported as ``bench._common`` (each script puts the repository root on ``sys.path``
first, so this works whether a script runs as ``python bench/X.py``, is imported as
``bench.X`` or as ``X`` with ``bench/`` on the path). Heavy modules (torch, intermimic)
are imported inside the functions, so a script's ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from intermimic.motion.clip import HOIClip
    from intermimic.plan import PlannerSettings
    from intermimic.rl.clipset import ClipSet
    from intermimic.rl.teacher_settings import TeacherSettings

#: The sample clip the benchmarks run on by default.
CLIP = "sub2_largetable_000"
#: What a script says when the sample data is missing.
SAMPLE_MISSING = "sample data (../shared/data/omomo/raw) not found"


def add_settings_options(
    parser: argparse.ArgumentParser, set_help: str, *, plan: bool = False
) -> None:
    """``--set KEY=VALUE`` (``args.set_``, help ``set_help``) and, with ``plan``, first
    ``--plan KEY=VALUE`` (``args.plan``, a PlannerSettings field) and ``--preset NAME``
    (``args.preset``)."""
    if plan:
        parser.add_argument(
            "--plan",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a PlannerSettings field",
        )
        parser.add_argument(
            "--preset",
            default=None,
            help="named physics and planner settings (intermimic.plan.presets, e.g. tuned); "
            "--set and --plan override its values",
        )
    parser.add_argument(
        "--set", dest="set_", action="append", default=[], metavar="KEY=VALUE", help=set_help
    )


def teacher_settings(args: argparse.Namespace, **fixed: Any) -> TeacherSettings:
    """TeacherSettings from the ``--preset``'s values, then ``fixed``, then the ``--set``
    overrides (``None`` values left out)."""
    from cli.settings_options import parse_overrides, preset_values
    from intermimic.rl.teacher_settings import TeacherSettings

    base, _ = preset_values(getattr(args, "preset", None))
    return parse_overrides(TeacherSettings, args.set_, base=base, **fixed)


def planner_settings(args: argparse.Namespace) -> PlannerSettings:
    """PlannerSettings from the ``--preset``'s values and the ``--plan`` overrides."""
    from cli.settings_options import parse_overrides, preset_values
    from intermimic.plan import PlannerSettings

    _, base = preset_values(getattr(args, "preset", None))
    return parse_overrides(PlannerSettings, args.plan, base=base)


def sample_dir(hint: str = "") -> Path:
    """The sample's raw clip folder; a clear exit (``hint`` appended) when it is missing."""
    from intermimic.paths import sample_raw_dir

    raw = sample_raw_dir()
    if raw is None:
        raise SystemExit(SAMPLE_MISSING + hint)
    return raw


def sample_clip_path(clip_id: str) -> Path | None:
    """The sample's file of ``clip_id`` if the sample has it, else None."""
    from intermimic.paths import sample_raw_dir

    raw = sample_raw_dir()
    if raw is not None and (raw / f"{clip_id}.pt").is_file():
        return raw / f"{clip_id}.pt"
    return None


def load_clip(clip_id: str, store: str | None = None) -> HOIClip:
    """The clip from a store, else the sample's InterAct file."""
    if store:
        from data_catalog.store import Store

        return Store(store).find_clip(clip_id)
    from intermimic.motion.load import read_clip

    return read_clip(sample_dir("; pass --store") / f"{clip_id}.pt")


def clip_set(
    clips: Sequence[HOIClip], settings: TeacherSettings, *, where: str, objects: Any = None
) -> ClipSet:
    """The clip set (scenes, groups) of ``clips`` with ``objects`` (default the sample's)."""
    from intermimic.objects import ObjectLibrary
    from intermimic.rl.clipset import prepare_clips

    return prepare_clips(
        list(clips), ObjectLibrary() if objects is None else objects, settings, where=where
    )


def sample_clipset(
    clip_ids: Sequence[str], settings: TeacherSettings, *, where: str
) -> tuple[list[HOIClip], ClipSet]:
    """The sample's clips ``clip_ids`` and their clip set, warnings off (the sample's
    open meshes); a clear exit when the sample data is missing."""
    from intermimic.motion.load import read_clip

    raw = sample_dir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clips = [read_clip(raw / f"{cid}.pt") for cid in clip_ids]
        return clips, clip_set(clips, settings, where=where)
