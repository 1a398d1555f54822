"""Reinforcement learning: PPO (rsl-rl-lib) over our numpy environments.

* :mod:`~intermimic.rl.vecenv`: the numpy env protocol and its rsl-rl ``VecEnv`` adapter;
* :mod:`~intermimic.rl.ppo`: rsl-rl PPO plus action-bound loss and non-finite guard;
* :mod:`~intermimic.rl.settings`: pydantic settings (method defaults, CPU profile);
* :mod:`~intermimic.rl.checkpoint`: atomic, verified checkpoints;
* :mod:`~intermimic.rl.train`: the training loop with resume, hooks and TensorBoard;
* :mod:`~intermimic.rl.sanity_task`: a tiny MuJoCo task PPO must learn (tests).
"""

from __future__ import annotations

from intermimic.rl.checkpoint import CheckpointError
from intermimic.rl.ppo import InterMimicPPO, NonFiniteLossError
from intermimic.rl.settings import PolicySettings, PPOSettings, TrainSettings
from intermimic.rl.train import IterationStats, Stateful, Trainer, TrainResult
from intermimic.rl.vecenv import EpisodeHook, FinishedEpisodes, NumpyVecEnv, RslVecEnv

__all__ = [
    "CheckpointError",
    "EpisodeHook",
    "FinishedEpisodes",
    "InterMimicPPO",
    "IterationStats",
    "NonFiniteLossError",
    "NumpyVecEnv",
    "PPOSettings",
    "PolicySettings",
    "RslVecEnv",
    "Stateful",
    "TrainResult",
    "TrainSettings",
    "Trainer",
]
