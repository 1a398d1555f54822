"""Training settings for PPO on rsl-rl-lib, as pydantic models.

Field defaults are the method's values (InterMimic teacher: horizon 32, lr 2e-5, gamma
0.99, lambda 0.95, clip 0.2, fixed log-std -2.9, MLP [1024, 1024, 512]). ``cpu()``
class methods give a profile that learns in minutes on a laptop CPU with a few dozen
worlds instead of 4096 GPU worlds: smaller networks, a larger learning rate with rsl-rl's
adaptive (KL-targeting) schedule, and more exploration noise.

The flat run settings of teachers and students (one field per ``--set KEY=VALUE``) map
onto :class:`TrainSettings` through :func:`train_settings_of`; the choices they share
(backend, embodiment, schedule) are the ``Literal`` types here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


def _choice_key(v: Any) -> Any:
    # Backend and embodiment names were always accepted in any case and with spaces
    # around them (" MuJoCo"), so they are normalised before the Literal check.
    return v.strip().lower() if isinstance(v, str) else v


MatmulDtype = Literal["auto", "float32", "bfloat16"]
"""Precision of the policy and critic MLPs' hidden-layer matmuls
(:mod:`intermimic.rl.models`): ``auto`` is bfloat16 where the device multiplies it
natively, float32 elsewhere."""
Schedule = Literal["fixed", "adaptive"]
"""rsl-rl's learning-rate schedule: fixed, or KL-targeting."""
BackendName = Annotated[Literal["mujoco", "warp"], BeforeValidator(_choice_key)]
"""A simulation backend (:data:`intermimic.sim.factory.BACKENDS`)."""
EmbodimentName = Annotated[Literal["smplx", "g1"], BeforeValidator(_choice_key)]
"""A body a policy drives (:data:`intermimic.humanoid.embodiment.EMBODIMENTS`)."""


class PolicySettings(BaseModel):
    """Actor and critic MLPs and the action distribution."""

    model_config = ConfigDict(extra="forbid")

    actor_hidden_dims: list[int] = Field(default_factory=lambda: [1024, 1024, 512])
    critic_hidden_dims: list[int] = Field(default_factory=lambda: [1024, 1024, 512])
    activation: str = "relu"
    init_log_std: float = -2.9
    """log sigma of the Gaussian policy; with ``learn_std=False`` it stays there (the method)."""
    learn_std: bool = False
    matmul_dtype: MatmulDtype = "float32"
    """The hidden layers' matmul precision (:mod:`intermimic.rl.models`); the output
    layer, the action distribution, losses and weights are float32 in every case. The
    method trains in float32; the CPU profile uses ``auto`` (bfloat16 on CPUs with
    AVX512-BF16 or AMX: 2.4-2.8x faster matmuls, ``bench/teacher_throughput.py``)."""
    obs_normalization: bool = False
    """rsl-rl's running mean/std normaliser in front of each MLP (saved with the weights).
    Off: the environment already normalises its observations (its statistics travel with
    checkpoints and the student reads them), and a second normaliser on top of the first
    only costs time."""

    @classmethod
    def cpu(cls) -> PolicySettings:
        return cls(actor_hidden_dims=[256, 256], critic_hidden_dims=[256, 256], matmul_dtype="auto")


class PPOSettings(BaseModel):
    """PPO hyper-parameters and our extensions (action-bound loss, non-finite guard)."""

    model_config = ConfigDict(extra="forbid")

    horizon: int = Field(32, ge=1)
    """Policy steps per world per iteration (rsl-rl's ``num_steps_per_env``)."""
    learning_rate: float = Field(2e-5, gt=0)
    schedule: Schedule = "fixed"
    desired_kl: float = 0.01
    gamma: float = 0.99
    lam: float = 0.95
    clip_param: float = 0.2
    num_learning_epochs: int = Field(6, ge=1)
    """InterMimic's ``mini_epochs``."""
    num_mini_batches: int = Field(8, ge=1)
    """InterMimic's 16384-sample minibatches of 4096 worlds x 32 steps."""
    value_loss_coef: float = Field(2.5, ge=0)
    """rl_games' ``0.5 * critic_coef`` with InterMimic's ``critic_coef`` 5: rsl-rl's value
    loss has no factor 0.5."""
    entropy_coef: float = 0.0
    """0 by default: with a fixed std the entropy is a constant and its gradient is zero."""
    max_grad_norm: float | None = Field(None, gt=0)
    """Gradient-norm clip; None: none (InterMimic trains with ``truncate_grads`` off)."""
    use_clipped_value_loss: bool = False
    """InterMimic's ``clip_value`` is off."""
    bound_loss_coef: float = Field(10.0, ge=0)
    """Weight of the penalty on action means outside [-action_bound, action_bound]."""
    action_bound: float = Field(1.0, gt=0)
    max_nonfinite_updates: int = Field(10, ge=0)
    """Mini-batch updates skipped for a NaN/inf loss before training stops with an error."""

    @classmethod
    def cpu(cls) -> PPOSettings:
        """The CPU profile: 2 epochs of 8 minibatches instead of the method's 6 of 8 (512
        samples each at the default 128 worlds x 32 steps). On 2 cores the update of 6
        epochs took half of a teacher's wall time; with 2 the physics gets about 70 % of it
        (bench/teacher_throughput.py, docs/fidelity.md)."""
        return cls(
            horizon=32,
            learning_rate=1e-3,
            schedule="adaptive",
            num_learning_epochs=2,
            num_mini_batches=8,
        )


class TrainSettings(BaseModel):
    """One training run: networks, PPO, length, seed, checkpoints, logging."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    policy: PolicySettings = Field(default_factory=PolicySettings)
    ppo: PPOSettings = Field(default_factory=PPOSettings)
    total_env_steps: int = Field(100_000_000, ge=1)
    """Environment transitions (all worlds together); rounded up to whole iterations."""
    obs_groups: dict[str, list[str]] = Field(
        default_factory=lambda: {"actor": ["policy"], "critic": ["policy", "critic"]}
    )
    """rsl-rl observation sets -> the env's observation groups (privileged critic)."""
    save_interval: int = Field(50, ge=1)
    """Write a checkpoint every this many iterations (and after the last)."""
    keep_checkpoints: int = Field(3, ge=2)
    """Checkpoints kept on disk; at least 2 so a corrupted latest one has a fallback."""
    torch_threads: int | None = None
    """``torch.set_num_threads`` while training (the PPO update); fix it for bit-exact
    resume (float sums depend on it)."""
    rollout_torch_threads: int | None = Field(1, ge=1)
    """Torch threads while collecting rollouts (the policy's forward passes); None: as
    ``torch_threads``. One by default: a forward pass over a few dozen worlds gains
    nothing from threads, and OpenMP workers spinning after each pass take the cores the
    physics threads need next."""
    tensorboard: bool = True
    device: str = "cpu"

    @classmethod
    def cpu(cls, **overrides: Any) -> TrainSettings:
        """The CPU profile; keyword arguments override top-level fields."""
        base: dict[str, Any] = {
            "policy": PolicySettings.cpu(),
            "ppo": PPOSettings.cpu(),
            "total_env_steps": 2_000_000,
            "save_interval": 20,
        }
        base.update(overrides)
        return cls(**base)

    def num_iterations(self, num_envs: int) -> int:
        """Iterations needed for ``total_env_steps`` with ``num_envs`` worlds."""
        return math.ceil(self.total_env_steps / (num_envs * self.ppo.horizon))


class RunFields(Protocol):
    """The fields every flat run settings model (teacher, student) has and maps one to one
    onto :class:`TrainSettings`."""

    @property
    def seed(self) -> int: ...
    @property
    def env_steps(self) -> int: ...
    @property
    def checkpoint_interval(self) -> int: ...
    @property
    def keep_checkpoints(self) -> int: ...
    @property
    def torch_threads(self) -> int | None: ...
    @property
    def tensorboard(self) -> bool: ...
    @property
    def device(self) -> str: ...


def train_settings_of(
    run: RunFields,
    base: TrainSettings,
    *,
    policy: Mapping[str, Any],
    ppo: Mapping[str, Any],
) -> TrainSettings:
    """``base`` with the run's fields and the ``policy`` and ``ppo`` fields replaced: the
    one mapping from flat run settings onto :class:`TrainSettings`."""
    return base.model_copy(
        update={
            "seed": run.seed,
            "policy": base.policy.model_copy(update=dict(policy)),
            "ppo": base.ppo.model_copy(update=dict(ppo)),
            "total_env_steps": run.env_steps,
            "save_interval": run.checkpoint_interval,
            "keep_checkpoints": run.keep_checkpoints,
            "torch_threads": run.torch_threads,
            "tensorboard": run.tensorboard,
            "device": run.device,
        }
    )
