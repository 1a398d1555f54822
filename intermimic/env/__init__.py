"""The tracking environment: reference motion, observations, rewards, IET, PSI.

Usage::

    from intermimic.env import EnvSettings, TrackingEnv

    env = TrackingEnv(scene, clips, backend, settings=EnvSettings())
    obs = env.reset()                                   # [N, obs_dim] float32
    obs, reward, terminated, truncated, info = env.step(actions)   # actions [N, nu]

The environment uses :mod:`intermimic.sim`; nothing in ``sim`` imports it.
"""

from __future__ import annotations

from intermimic.env.normalizer import RunningNormalizer
from intermimic.env.psi import PSIBuffer
from intermimic.env.reference import ReferenceClipError, ReferenceMotion, RefFrame
from intermimic.env.rewards import (
    EMBODIMENT_AGNOSTIC_TERMS,
    EMBODIMENT_AWARE_TERMS,
    TERMS,
    Comparison,
    compute_rewards,
)
from intermimic.env.settings import (
    EmbodimentAgnosticRewards,
    EmbodimentAwareRewards,
    EnvSettings,
    ObservationSettings,
    PSISettings,
    RewardSettings,
    TerminationSettings,
)
from intermimic.env.termination import REASONS, check_termination
from intermimic.env.tracking_env import TrackingEnv

__all__ = [
    "EMBODIMENT_AGNOSTIC_TERMS",
    "EMBODIMENT_AWARE_TERMS",
    "REASONS",
    "TERMS",
    "Comparison",
    "EmbodimentAgnosticRewards",
    "EmbodimentAwareRewards",
    "EnvSettings",
    "ObservationSettings",
    "PSIBuffer",
    "PSISettings",
    "RefFrame",
    "ReferenceClipError",
    "ReferenceMotion",
    "RewardSettings",
    "RunningNormalizer",
    "TerminationSettings",
    "TrackingEnv",
    "check_termination",
    "compute_rewards",
]
