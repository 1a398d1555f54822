"""The distillation schedules against hand-computed values."""

from __future__ import annotations

import math

import pytest

from intermimic.rl.schedules import WarmupGate, beta, distill_weight, explained_variance


def test_beta_holds_then_anneals_linearly_then_holds() -> None:
    kw = {"start": 1.0, "end": 0.0, "hold": 2, "anneal": 4}
    assert [beta(i, **kw) for i in range(9)] == [1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0, 0.0]
    assert beta(5, start=0.8, end=0.2, hold=0, anneal=10) == pytest.approx(0.5)
    assert beta(0, anneal=0) == 1.0 and beta(1, anneal=0) == 0.0


def test_distill_weight_decays_to_its_floor() -> None:
    assert distill_weight(None) == 1.0  # PPO has not joined
    got = [distill_weight(k, decay=0.5, floor=0.1) for k in range(5)]
    assert got == [1.0, 0.5, 0.25, 0.125, 0.1]


def test_explained_variance() -> None:
    r = [1.0, 2.0, 3.0, 4.0]  # var 1.25
    assert explained_variance(r, r) == 1.0
    assert explained_variance([2.5] * 4, r) == 0.0
    # residuals [1, 0, 0, -1] - mean 0: var 0.5 -> 1 - 0.5 / 1.25
    assert explained_variance([0.0, 2.0, 3.0, 5.0], r) == pytest.approx(0.6)
    assert math.isnan(explained_variance([1.0, 2.0], [3.0, 3.0]))


def test_warmup_gate_needs_patience_consecutive_updates_and_latches() -> None:
    g = WarmupGate(threshold=0.6, patience=3)
    seq = [0.7, 0.8, 0.5, 0.61, 0.9, float("nan"), 0.95]
    opened = [g.update(ev) for ev in seq[:5]]
    assert opened == [False, False, False, False, False]
    assert g.update(0.65) is True and g.opened_at == 6  # 0.61, 0.9, 0.65
    assert g.update(float("nan")) is True  # latched
    assert g.updates_since_open() == 1
    g2 = WarmupGate(0.6, 1)
    assert g2.update(0.6) is False  # strictly above
    g2.load_state_dict(g.state_dict())
    assert g2.opened_at == 6 and g2.updates == 7
