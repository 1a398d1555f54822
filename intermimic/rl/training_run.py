"""One training run in a run directory, for teachers and students alike.

:func:`train_run` is the loop both :func:`~intermimic.rl.teacher_training.train_teacher`
and :func:`~intermimic.rl.student_training.train_student` run: a
:class:`~intermimic.rl.train.Trainer` (or subclass) on ``run_dir`` with a
:class:`CurveRecorder` hooked in, resume from the newest good checkpoint (running it
again continues), the run's metadata file, training in checkpoint-sized chunks until the
env-step target or a wall-clock budget, and the learning curve flushed at the end.

:class:`CurveRecorder` is the episode hook that collects finished episodes per
iteration and writes ``curve.json`` (learning curve) at every checkpoint, atomically, so
a killed and resumed run keeps one consistent curve; :func:`load_curve` reads it and
:func:`plot_curve` draws it.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from intermimic.atomic import write_text_atomic
from intermimic.rl.settings import TrainSettings
from intermimic.rl.train import Trainer, TrainResult
from intermimic.rl.vecenv import ArrayVecEnv, FinishedEpisodes
from intermimic.viz.plots import learning_curve

CURVE_FILE = "curve.json"


class CurveRecorder:
    """Episode hook: per-iteration episode statistics, saved at checkpoints.

    ``curve.json`` holds one row per iteration up to the last checkpoint:
    ``iteration``, ``env_steps``, ``episodes``, ``mean_length`` (policy steps),
    ``success_rate``, ``mean_return``, ``seconds`` (wall clock since the run started, at
    the end of the iteration's rollout: the trainer hands its hooks an iteration's
    episodes then, before it counts the iteration, so :attr:`Trainer.iteration` + 1 is
    the iteration they belong to).
    """

    def __init__(self, run_dir: Path | None, steps_per_iteration: int) -> None:
        self.path = run_dir / CURVE_FILE if run_dir is not None else None
        self.steps_per_iteration = steps_per_iteration
        self.trainer: Trainer | None = None
        self.rows: list[dict[str, Any]] = []
        self._pending: dict[int, list[tuple[float, bool, float]]] = defaultdict(list)
        self._time: dict[int, float] = {}
        self._t0 = time.perf_counter()
        self._offset_s = 0.0
        if self.path is not None and self.path.exists():
            self.rows = list(json.loads(self.path.read_text())["rows"])
            self._offset_s = float(self.rows[-1]["seconds"]) if self.rows else 0.0

    def truncate(self, iteration: int) -> None:
        """Drop rows past ``iteration`` (a resumed run redoes them)."""
        self.rows = [r for r in self.rows if r["iteration"] <= iteration]
        self._offset_s = float(self.rows[-1]["seconds"]) if self.rows else 0.0
        self._t0 = time.perf_counter()

    def __call__(self, ep: FinishedEpisodes) -> None:
        it = (self.trainer.iteration if self.trainer is not None else 0) + 1
        success = ep.success if ep.success is not None else np.zeros(len(ep.lengths), bool)
        self._time[it] = self._offset_s + time.perf_counter() - self._t0
        self._pending[it].extend(
            zip(ep.lengths.tolist(), success.tolist(), ep.returns.tolist(), strict=True)
        )

    def flush(self, upto: int) -> None:
        """Turn pending episodes of iterations ``<= upto`` into rows; save atomically."""
        for it in sorted(k for k in self._pending if k <= upto):
            eps = self._pending.pop(it)
            now = self._time.pop(it)
            if any(r["iteration"] == it for r in self.rows):
                continue
            lengths, success, returns = (np.asarray(x, float) for x in zip(*eps, strict=True))
            self.rows.append(
                {
                    "iteration": it,
                    "env_steps": it * self.steps_per_iteration,
                    "episodes": len(eps),
                    "mean_length": float(lengths.mean()),
                    "success_rate": float(success.mean()),
                    "mean_return": float(returns.mean()),
                    "seconds": round(now, 3),
                }
            )
        self.rows.sort(key=lambda r: r["iteration"])
        if self.path is not None:
            write_text_atomic(self.path, json.dumps({"rows": self.rows}, indent=0))

    def on_checkpoint(self, iteration: int, path: Path) -> None:
        self.flush(iteration)


def load_curve(run_dir: Path) -> list[dict[str, Any]]:
    """The rows of ``run_dir/curve.json`` (empty if none)."""
    path = Path(run_dir) / CURVE_FILE
    return list(json.loads(path.read_text())["rows"]) if path.exists() else []


def plot_curve(rows: Sequence[dict[str, Any]], path: Path, title: str = "") -> Path | None:
    """Learning curve PNG (mean episode length and success rate over env steps); see
    :func:`intermimic.viz.plots.learning_curve`."""
    return learning_curve(rows, path, title=title)


# ---- the run --------------------------------------------------------------------------------


class RunEnv(ArrayVecEnv, Protocol):
    """A training env that names its checkpointed objects and can be closed."""

    def stateful(self, *, psi: bool = True) -> dict[str, Any]: ...

    def close(self) -> None: ...


@dataclass
class RunOutcome:
    """What :func:`train_run` did."""

    trainer: Trainer
    resumed_from: int | None
    """Iteration of the checkpoint the run resumed from (None: started fresh)."""
    result: TrainResult | None
    """The last :meth:`Trainer.train` call's result (None: nothing left to train)."""
    stopped_by_budget: bool
    checkpoint: Path | None
    """The newest checkpoint on disk (None: none, or trained in memory)."""
    curve: list[dict[str, Any]]
    seconds: float


def train_run(
    env: RunEnv,
    make_trainer: Callable[..., Trainer],
    settings: TrainSettings,
    run_dir: Path | None,
    *,
    psi: bool,
    meta_file: str,
    meta: Mapping[str, Any],
    started: float,
    max_seconds: float | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    trainer_out: list[Trainer] | None = None,
) -> RunOutcome:
    """Train (or resume) on ``env`` in ``run_dir`` and close ``env``.

    ``make_trainer(episode_hooks=..., stateful=..., on_checkpoint=...)`` builds the
    trainer (``settings`` are the :class:`TrainSettings` it trains with); ``meta`` is
    written to ``run_dir/meta_file`` once resumed. Runs until ``settings.total_env_steps``
    (rounded up to whole iterations) or, with ``max_seconds``, until that wall-clock
    budget since ``started`` is spent, checked every ``settings.save_interval``
    iterations (each chunk ends with a checkpoint; a budget spent before the first
    iteration saves the starting policy as iteration 0's). ``on_progress(iteration, total)``
    after each chunk; ``trainer_out``, if given, receives the trainer (for evaluation in
    the same process).
    """
    curve = CurveRecorder(run_dir, env.num_envs * settings.ppo.horizon)
    trainer = make_trainer(
        episode_hooks=[curve],
        stateful=env.stateful(psi=psi),
        on_checkpoint=curve.on_checkpoint,
    )
    curve.trainer = trainer
    if trainer_out is not None:
        trainer_out.append(trainer)
    resumed = trainer.resume()
    curve.truncate(trainer.iteration)
    if run_dir is not None:
        write_text_atomic(Path(run_dir) / meta_file, json.dumps(meta, indent=1))
    result, budget_hit = trainer.train_budgeted(
        None,
        settings.save_interval,
        max_seconds=max_seconds,
        started=started,
        on_progress=on_progress,
    )
    curve.flush(trainer.iteration)
    latest = trainer.latest_checkpoint()
    if latest is None and run_dir is not None:
        # a budget spent before the first iteration (a planner recipe whose plans took
        # it) still leaves the starting policy (for those, the plan with a zero
        # residual): evaluation, refinement and a resume load it
        latest = trainer.save_checkpoint()
    env.close()
    return RunOutcome(
        trainer=trainer,
        resumed_from=resumed,
        result=result,
        stopped_by_budget=budget_hit,
        checkpoint=latest,
        curve=list(curve.rows),
        seconds=time.perf_counter() - started,
    )
