"""Settings of student distillation (flat, so ``--set KEY=VALUE`` and Dagster config map
one to one).

``mode`` picks the method or one of its baselines:

==================  ==============  =======================  =============================
mode                references      teacher (DAgger, loss)   PPO
==================  ==============  =======================  =============================
``full``            teacher-refined  yes, beta annealed       after the critic warm-up gate
``dagger_only``     teacher-refined  yes, beta annealed       never (no RL)
``refdist_only``    teacher-refined  no                       from the start
``ppo_only``        raw MoCap        no                       from the start
==================  ==============  =======================  =============================
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from intermimic.rl.settings import BackendName, TrainSettings, train_settings_of

Mode = Literal["full", "dagger_only", "refdist_only", "ppo_only"]
MODES: tuple[str, ...] = get_args(Mode)
#: What a student run directory saves its settings (and layout, groups, teachers) in.
SETTINGS_FILE = "student_settings.json"


def _int_list(v: Any) -> Any:
    if isinstance(v, str):
        text = v.strip().strip("[]()")
        return [int(x) for x in text.split(",") if x.strip()]
    return v


class StudentSettings(BaseModel):
    """One student run. Defaults: the method's networks (Transformer, 3 layers, 4 heads,
    width 256, offsets {1, 2, 4, 16}) with a CPU-sized training budget."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode = Field("full", description="full | dagger_only | refdist_only | ppo_only")
    architecture: Literal["transformer", "mlp"] = Field("transformer", description="student net")
    future_offsets: list[int] = Field(
        default=[1, 2, 4, 16], description="reference frames ahead (tokens)"
    )
    width: int = Field(256, ge=8, description="Transformer width")
    layers: int = Field(3, ge=1, description="Transformer blocks")
    heads: int = Field(4, ge=1, description="attention heads")
    head_hidden_dims: list[int] = Field(
        default=[256], description="action head MLP after the Transformer"
    )
    mlp_hidden_dims: list[int] = Field(default=[1024, 512], description="MLP student widths")
    critic_hidden_dims: list[int] = Field(default=[256, 256], description="critic MLP widths")
    init_log_std: float = Field(-2.9, description="fixed log sigma of the Gaussian policy")
    env_steps: int = Field(1_000_000, ge=1, description="environment transitions, all worlds")
    worlds: int = Field(32, ge=1, description="parallel simulated worlds")
    backend: BackendName = Field("mujoco", description="simulation backend: mujoco or warp")
    device: str = Field("cpu", description="torch device")
    seed: int = Field(0, description="seeds networks, sampling, PSI and DAgger draws")
    horizon: int = Field(32, ge=1, description="policy steps per world per iteration")
    learning_rate: float = Field(3e-4, gt=0, description="Adam learning rate")
    num_learning_epochs: int = Field(5, ge=1)
    num_mini_batches: int = Field(4, ge=1)
    checkpoint_interval: int = Field(20, ge=1, description="iterations between checkpoints")
    keep_checkpoints: int = Field(3, ge=2)
    sim_threads: int = Field(2, ge=1, description="threads stepping the mujoco backend")
    torch_threads: int | None = Field(1, description="torch threads while training")
    tensorboard: bool = True
    psi: bool = Field(True, description="physical state initialisation from rollouts")
    residual_actions: bool = Field(
        True, description="actions are offsets from the reference's next pose (as teachers)"
    )
    residual_scale: float = Field(0.25, gt=0, description="action units per unit residual")
    # ---- DAgger ---------------------------------------------------------------------
    beta_start: float = Field(1.0, ge=0, le=1, description="teacher-driving probability at first")
    beta_end: float = Field(0.0, ge=0, le=1, description="... after the anneal")
    beta_hold_iterations: int = Field(0, ge=0, description="iterations at beta_start")
    beta_anneal_iterations: int = Field(50, ge=0, description="iterations from start to end")
    # ---- warm-up gate and loss weights ----------------------------------------------
    warmup_threshold: float = Field(
        0.6, description="critic explained variance PPO waits for (full mode)"
    )
    warmup_patience: int = Field(3, ge=1, description="consecutive updates above the threshold")
    distill_weight_decay: float = Field(0.95, gt=0, le=1, description="per update once PPO joined")
    distill_weight_floor: float = Field(0.1, ge=0, le=1, description="lowest distillation weight")
    # ---- inputs ---------------------------------------------------------------------
    missing_teacher: Literal["error", "skip"] = Field(
        "error", description="a subject without a teacher checkpoint: fail, or skip it (warn)"
    )
    raw_fallback: bool = Field(
        True,
        description="a refined clip too short to serve as a reference (its teacher fell "
        "early) is replaced by the clip's raw MoCap, and the substitution is reported; "
        "False: such clips are left out",
    )

    @field_validator(
        "future_offsets", "head_hidden_dims", "mlp_hidden_dims", "critic_hidden_dims", mode="before"
    )
    @classmethod
    def _lists(cls, v: Any) -> Any:
        return _int_list(v)

    @field_validator("future_offsets")
    @classmethod
    def _offsets(cls, v: list[int]) -> list[int]:
        if not v or any(k < 1 for k in v):
            raise ValueError(f"future_offsets must be positive frame counts, got {v}")
        return v

    # ---- what the mode implies -------------------------------------------------------
    @property
    def uses_teacher(self) -> bool:
        return self.mode in ("full", "dagger_only")

    @property
    def uses_ppo(self) -> bool:
        return self.mode != "dagger_only"

    @property
    def warmup(self) -> bool:
        """PPO waits for the critic (only when a teacher drives first)."""
        return self.mode == "full"

    @property
    def references(self) -> Literal["refined", "raw"]:
        return "raw" if self.mode == "ppo_only" else "refined"

    def train_settings(self) -> TrainSettings:
        """The :class:`TrainSettings` the trainer reads (PPO part of the loss): the
        method's defaults with this run's fields."""
        return train_settings_of(
            self,
            TrainSettings(),
            policy={
                "actor_hidden_dims": list(self.head_hidden_dims),
                "critic_hidden_dims": list(self.critic_hidden_dims),
                "init_log_std": self.init_log_std,
            },
            ppo={
                "horizon": self.horizon,
                "learning_rate": self.learning_rate,
                "schedule": "fixed",
                "num_learning_epochs": self.num_learning_epochs,
                "num_mini_batches": self.num_mini_batches,
            },
        )
