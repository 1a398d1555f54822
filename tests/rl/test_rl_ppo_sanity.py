"""PPO through our adapter and rsl-rl must learn the point-mass sanity task."""

from __future__ import annotations

import time

import torch

from intermimic.rl.train import Trainer
from tests.rl.sanity_task import PointMassReach, evaluate, sanity_settings

# Max return is 60 (60 steps x reward <= 1); a uniform random policy gets ~2.3 and the
# untrained policy ~2.5; PPO reaches ~45 after 30 iterations and ~53 after 60.
RETURN_THRESHOLD = 35.0
ITERATIONS = 40


def test_random_policy_stays_below_threshold() -> None:
    assert evaluate("random") < 10.0


def test_ppo_learns_point_mass_reach() -> None:
    t0 = time.perf_counter()
    trainer = Trainer(PointMassReach(64, seed=0), sanity_settings(seed=0))
    before = evaluate(trainer.act_deterministic)
    result = trainer.train(ITERATIONS)
    after = evaluate(trainer.act_deterministic)
    wall = time.perf_counter() - t0
    print(f"sanity: before={before:.2f} after={after:.2f} wall={wall:.1f}s")
    assert result.iterations == ITERATIONS
    assert before < 10.0
    assert after > RETURN_THRESHOLD
    assert wall < 120.0


def _weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.alg.get_policy().state_dict().items()}


def test_same_seed_same_result() -> None:
    runs = []
    for _ in range(2):
        trainer = Trainer(PointMassReach(16, seed=3), sanity_settings(seed=3))
        trainer.train(2)
        runs.append(_weights(trainer))
    other = Trainer(PointMassReach(16, seed=4), sanity_settings(seed=4))
    other.train(2)
    assert runs[0].keys() == runs[1].keys()
    for k in runs[0]:
        assert torch.equal(runs[0][k], runs[1][k]), k
    assert any(not torch.equal(runs[0][k], _weights(other)[k]) for k in runs[0])
