"""Reinforcement learning: PPO (rsl-rl-lib) over our environments (torch or numpy).

The machinery:

* :mod:`~intermimic.rl.vecenv`: the env protocol (torch or numpy) and its rsl-rl adapter;
* :mod:`~intermimic.rl.ppo`: rsl-rl PPO plus action-bound loss and non-finite guard;
* :mod:`~intermimic.rl.settings`: pydantic settings (method defaults, CPU profile), the
  shared setting choices and the one flat-settings-to-``TrainSettings`` mapping;
* :mod:`~intermimic.rl.checkpoint`: atomic, verified checkpoints;
* :mod:`~intermimic.rl.train`: the training loop with resume, hooks and TensorBoard;
* :mod:`~intermimic.rl.training_run`: one run in a run directory (resume, budget, learning
  curve), what teachers and students both train with;
* :mod:`~intermimic.rl.schedules`: DAgger beta, distillation weight, critic warm-up gate.

Teachers: :mod:`~intermimic.rl.teacher_settings`, :mod:`~intermimic.rl.teacher_env`
(clips, scenes, the env), :mod:`~intermimic.rl.teacher_training`,
:mod:`~intermimic.rl.teacher_policy` (a trained teacher on its env),
:mod:`~intermimic.rl.rollout` (run a policy on clips and record it: refinement).

Students: :mod:`~intermimic.rl.student_settings`, :mod:`~intermimic.rl.student_model`
(the networks), :mod:`~intermimic.rl.teacher_actor` (a teacher read back for
distillation), :mod:`~intermimic.rl.student_env`, :mod:`~intermimic.rl.student_ppo`
(the learner), :mod:`~intermimic.rl.student_training`,
:mod:`~intermimic.rl.student_policy` (a trained student), :mod:`~intermimic.rl.onnx`.
"""

from __future__ import annotations

from intermimic.rl.checkpoint import CheckpointError
from intermimic.rl.ppo import InterMimicPPO, NonFiniteLossError
from intermimic.rl.settings import PolicySettings, PPOSettings, TrainSettings
from intermimic.rl.train import IterationStats, Stateful, Trainer, TrainResult
from intermimic.rl.vecenv import ArrayVecEnv, EpisodeHook, FinishedEpisodes, RslVecEnv

__all__ = [
    "ArrayVecEnv",
    "CheckpointError",
    "EpisodeHook",
    "FinishedEpisodes",
    "InterMimicPPO",
    "IterationStats",
    "NonFiniteLossError",
    "PPOSettings",
    "PolicySettings",
    "RslVecEnv",
    "Stateful",
    "TrainResult",
    "TrainSettings",
    "Trainer",
]
