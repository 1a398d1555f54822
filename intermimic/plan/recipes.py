"""What a teacher recipe (``TeacherSettings.recipe``) gives ``train_teacher``.

``ppo`` needs nothing; ``planner_psi`` plans every clip (:func:`~intermimic.plan.seeds.
plan_clips`, cached in ``cache_dir``) and seeds the PSI buffers with the planned states;
``planner_bc`` also clones the planned actions into the fresh actor
(:func:`~intermimic.plan.clone.clone_planner`); ``planner_ff`` seeds PSI as
``planner_psi`` does, makes the planned actions the residual actions' base (``feedforward``,
:func:`~intermimic.plan.seeds.feedforward_actions`) and zeroes the fresh actor's mean
(:func:`~intermimic.rl.teacher_training.zero_actor_mean`), so the untrained policy replays
the plan and PPO learns only the feedback around it. ``planner_fb`` is ``planner_ff``
whose actor's mean vanishes on the plan's own observations
(:mod:`intermimic.rl.plan_feedback`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from intermimic.plan.clone import clone_planner
from intermimic.plan.seeds import (
    F64,
    Choose,
    JudgeFor,
    OnFrame,
    PlannedClip,
    feedforward_actions,
    plan_clips,
    psi_seeds,
)
from intermimic.plan.settings import PlannerSettings
from intermimic.rl.clipset import ClipSet
from intermimic.rl.teacher_settings import FEEDFORWARD_RECIPES, TeacherSettings
from intermimic.rl.teacher_training import zero_actor_mean


@dataclass(frozen=True)
class RecipeInputs:
    """``train_teacher``'s ``psi_seeds``, ``init_actor`` and ``feedforward`` for a recipe,
    and the plans they came from (empty for ``ppo``)."""

    plans: dict[str, PlannedClip] = field(default_factory=dict)
    psi_seeds: dict[str, F64] | None = None
    init_actor: Callable[..., Any] | None = None
    feedforward: dict[str, F64] | None = None

    @property
    def planner_seconds(self) -> float:
        """The planner's time for these plans (also when they came from the cache), every
        try of a clip counted (``PlannerSettings.tries``)."""
        return sum(p.planning_seconds for p in self.plans.values())


def recipe_inputs(
    clipset: ClipSet,
    settings: TeacherSettings,
    cache_dir: Path | None,
    planner: PlannerSettings | None = None,
    *,
    choose: Choose | None = None,
    judge_for: JudgeFor | None = None,
    on_frame: OnFrame | None = None,
) -> RecipeInputs:
    """The :class:`RecipeInputs` of ``settings.recipe`` for ``clipset``, planned with
    ``planner`` (default: the planner's defaults); with ``planner.tries`` > 1 ``choose``
    keeps one plan per clip and ``judge_for`` judges windows (``plan_clips``'s; the
    teacher stage passes the refine stage's quality choice, so a teacher starts from the
    plan ``refine --method planner`` would keep); ``on_frame(clip_id, seed,
    frame, last)`` reports the planning's progress (``plan_clips``')."""
    if settings.recipe == "ppo":
        return RecipeInputs()
    plans = plan_clips(
        clipset, settings, planner, cache_dir=cache_dir, choose=choose, judge_for=judge_for,
        on_frame=on_frame,
    )  # fmt: skip
    if settings.recipe in FEEDFORWARD_RECIPES:
        return RecipeInputs(plans, psi_seeds(plans), zero_actor_mean, feedforward_actions(plans))
    init = (
        functools.partial(clone_planner, plans=plans) if settings.recipe == "planner_bc" else None
    )
    return RecipeInputs(plans, psi_seeds(plans), init)
