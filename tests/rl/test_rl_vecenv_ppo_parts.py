"""The numpy -> rsl-rl adapter, the settings, the bound loss and the non-finite guard."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from intermimic.rl.ppo import NonFiniteLossError, rsl_rl_config
from intermimic.rl.settings import PolicySettings, PPOSettings, TrainSettings
from intermimic.rl.train import Trainer
from intermimic.rl.vecenv import ArrayVecEnv, FinishedEpisodes, RslVecEnv
from tests.rl.sanity_task import PointMassReach, sanity_settings


def test_sanity_env_follows_protocol() -> None:
    assert isinstance(PointMassReach(4), ArrayVecEnv)


def test_adapter_shapes_dones_and_episode_hook() -> None:
    env = PointMassReach(8, episode_steps=5, seed=1)
    seen: list[FinishedEpisodes] = []
    venv = RslVecEnv(env, episode_hooks=[seen.append])
    obs = venv.get_observations()
    assert obs["policy"].shape == (8, 4) and obs["critic"].shape == (8, 3)
    assert obs["policy"].dtype == torch.float32
    total = np.zeros(8)
    reach = np.zeros(8)
    for step in range(5):
        _, rew, dones, extras = venv.step(torch.zeros(8, 2))
        total += rew.numpy()
        assert rew.shape == (8,) and dones.shape == (8,)
        if step < 4:
            assert not dones.any()
            assert int(venv.episode_length_buf[0]) == step + 1
            # every step logs the episode keys, NaN in the rows of unfinished worlds
            assert extras["log"]["Episode/return"].isnan().all()
    # zero actions never leave the arena: every episode ends by the time limit
    assert dones.all() and extras["time_outs"].all()
    assert (venv.episode_length_buf == 0).all()
    assert len(seen) == 1
    fin = seen[0]
    np.testing.assert_array_equal(fin.env_ids, np.arange(8))
    np.testing.assert_allclose(fin.returns, total, rtol=1e-5)
    np.testing.assert_array_equal(fin.lengths, 5)
    assert fin.truncated.all() and not fin.terminated.any()
    assert fin.success is not None and fin.success.shape == (8,)
    reach = fin.reward_terms["reach"]
    np.testing.assert_allclose(reach + fin.reward_terms["effort"], fin.returns, rtol=1e-6)
    assert fin.final["final_distance"].shape == (8,)
    log = extras["log"]
    for key in ("Episode/return", "Episode/length", "Episode/success", "Reward/reach"):
        assert log[key].shape == (8,) and log[key].dtype == torch.float32
    np.testing.assert_array_equal(log["Episode/return"].numpy(), fin.returns.astype(np.float32))
    np.testing.assert_array_equal(log["Episode/length"].numpy(), 5.0)
    np.testing.assert_array_equal(log["Episode/success"].numpy(), fin.success)
    np.testing.assert_array_equal(log["Reward/reach"].numpy(), reach.astype(np.float32))


def test_terminated_is_not_a_time_out() -> None:
    env = PointMassReach(4, episode_steps=200, seed=0)
    venv = RslVecEnv(env)
    for _ in range(200):
        _, _, dones, extras = venv.step(torch.ones(4, 2))  # full push: leaves the arena
        if dones.any():
            break
    assert dones.any() and not extras["time_outs"].any()


def test_method_defaults_and_cpu_profile() -> None:
    s = TrainSettings()
    assert s.policy.actor_hidden_dims == [1024, 1024, 512]
    assert s.policy.init_log_std == -2.9 and not s.policy.learn_std
    assert (s.ppo.horizon, s.ppo.learning_rate, s.ppo.gamma) == (32, 2e-5, 0.99)
    assert (s.ppo.lam, s.ppo.clip_param) == (0.95, 0.2)
    cpu = TrainSettings.cpu(seed=5)
    assert cpu.seed == 5 and cpu.policy.actor_hidden_dims == [256, 256]
    assert PolicySettings.cpu().critic_hidden_dims == [256, 256]
    assert PPOSettings.cpu().schedule == "adaptive"
    cfg = rsl_rl_config(s)
    dist = cfg["actor"]["distribution_cfg"]
    assert math.isclose(math.log(dist["init_std"]), -2.9) and dist["learn_std"] is False


def test_fixed_log_std_stays_fixed() -> None:
    settings = sanity_settings(
        seed=0, policy=PolicySettings(actor_hidden_dims=[16], critic_hidden_dims=[16])
    )
    trainer = Trainer(PointMassReach(8, seed=0), settings)
    trainer.train(2)
    std = trainer.alg.get_policy().output_std
    torch.testing.assert_close(std, torch.full_like(std, math.exp(-2.9)))


def test_bound_loss_penalises_only_beyond_bound() -> None:
    trainer = Trainer(PointMassReach(4, seed=0), sanity_settings(seed=0))
    alg = trainer.alg
    inside = torch.tensor([[0.5, -1.0], [0.0, 0.9]])
    assert float(alg.bound_loss(inside)) == 0.0
    outside = torch.tensor([[1.5, -3.0], [0.0, 0.0]])
    # per row: 0.5^2 + 2^2 = 4.25 and 0; mean 2.125
    assert float(alg.bound_loss(outside)) == pytest.approx(2.125)


def test_nonfinite_loss_is_skipped_then_stops() -> None:
    settings = sanity_settings(seed=0, ppo=PPOSettings(horizon=8, max_nonfinite_updates=6))
    trainer = Trainer(PointMassReach(8, seed=0), settings)
    alg = trainer.alg
    before = {k: v.clone() for k, v in alg.get_policy().state_dict().items()}
    alg.bound_loss = lambda mean: torch.tensor(float("nan"))  # type: ignore[method-assign]
    with pytest.raises(NonFiniteLossError, match="max_nonfinite_updates=6"):
        trainer.train(5)  # 5 epochs x 4 mini-batches per iteration: stops in iteration 2
    assert alg.nonfinite_updates == 7
    for k, v in alg.get_policy().state_dict().items():
        if not k.startswith("obs_normalizer"):
            assert torch.equal(v, before[k]), k
