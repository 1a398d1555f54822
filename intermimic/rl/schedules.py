"""The schedules of student distillation, as pure functions of counters.

* :func:`beta`: the probability that a world is driven by its subject's teacher
  (DAgger), held at ``start`` for ``hold`` iterations, then moved linearly to ``end``
  over ``anneal`` iterations, then held at ``end``;
* :func:`explained_variance`: ``1 - Var(returns - values) / Var(returns)`` of the
  critic over one rollout (1: perfect, 0: no better than the mean, < 0: worse);
* :class:`WarmupGate`: PPO joins once the explained variance has stayed above
  ``threshold`` for ``patience`` consecutive updates, and stays on from then (latched);
* :func:`distill_weight`: the weight of the action-distillation loss: 1 until PPO
  joins, then ``decay ** k`` after ``k`` updates with PPO, never below ``floor``.

Every function is deterministic and tested against hand-computed values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike


def beta(
    iteration: int, *, start: float = 1.0, end: float = 0.0, hold: int = 0, anneal: int = 100
) -> float:
    """Teacher-driving probability at ``iteration`` (0-based, completed updates).

    ``start`` for ``iteration <= hold``; ``end`` from ``hold + anneal`` on; linear in
    between. ``anneal = 0`` jumps from ``start`` to ``end`` after ``hold``.
    """
    if iteration <= hold:
        return float(start)
    if anneal <= 0:
        return float(end)
    t = min(1.0, (iteration - hold) / anneal)
    return float(start + (end - start) * t)


def explained_variance(values: ArrayLike, returns: ArrayLike) -> float:
    """``1 - Var(returns - values) / Var(returns)``; NaN when the returns do not vary."""
    v = np.asarray(values, np.float64).reshape(-1)
    r = np.asarray(returns, np.float64).reshape(-1)
    var = float(np.var(r))
    if var <= 1e-12:
        return float("nan")
    return float(1.0 - np.var(r - v) / var)


def distill_weight(
    updates_with_ppo: int | None, *, decay: float = 0.95, floor: float = 0.1
) -> float:
    """Weight of the distillation loss: 1 before PPO joins (``None``), then
    ``max(floor, decay ** updates_with_ppo)``."""
    if updates_with_ppo is None:
        return 1.0
    return float(max(floor, decay ** max(0, updates_with_ppo)))


class WarmupGate:
    """Opens after ``patience`` consecutive updates with explained variance above
    ``threshold`` (strictly); once open it stays open. NaN counts as below."""

    def __init__(self, threshold: float = 0.6, patience: int = 3) -> None:
        self.threshold = threshold
        self.patience = patience
        self.streak = 0
        self.opened_at: int | None = None
        """Update count at which the gate opened (None: still closed)."""
        self.updates = 0

    @property
    def open(self) -> bool:
        return self.opened_at is not None

    def update(self, ev: float) -> bool:
        """Record one update's explained variance; return whether the gate is open."""
        self.updates += 1
        if self.open:
            return True
        self.streak = self.streak + 1 if (ev == ev and ev > self.threshold) else 0
        if self.streak >= self.patience:
            self.opened_at = self.updates
        return self.open

    def updates_since_open(self) -> int | None:
        """Updates done with the gate open, counting the one that opened it as 0."""
        return None if self.opened_at is None else self.updates - self.opened_at

    def state_dict(self) -> dict[str, Any]:
        return {"streak": self.streak, "opened_at": self.opened_at, "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.streak = int(state["streak"])
        self.opened_at = None if state["opened_at"] is None else int(state["opened_at"])
        self.updates = int(state["updates"])
