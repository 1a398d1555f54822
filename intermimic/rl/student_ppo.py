"""The student's learner: distillation plus PPO on rsl-rl's storage and models.

* :class:`StudentPPO`: rsl-rl's storage, GAE and models with our update: the
  distillation loss ``mean ||mu_student - mu_teacher||^2`` (worlds with a teacher), the
  value loss from the start (critic warm-up), and PPO's clipped surrogate on the
  student-driven samples once the :class:`~intermimic.rl.schedules.WarmupGate` opened;
  the distillation weight then decays to its floor.
* :func:`student_config`: the rsl-rl config of a student run (the student network as
  actor); :func:`beta_at`: the DAgger beta after some updates.
* :class:`StudentTrainer`: :class:`~intermimic.rl.train.Trainer` (checkpoints, resume,
  TensorBoard) building :class:`StudentPPO` with a student network.

rsl-rl's own ``Distillation`` algorithm and ``DistillationRunner`` cover behaviour
cloning with the teacher's observation set only; the method needs per-world teachers
with their own observations, DAgger mixing and a PPO phase, so the algorithm is ours
while storage, models, distributions and normalisers are rsl-rl's.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from intermimic.rl.ppo import InterMimicPPO, rsl_rl_config
from intermimic.rl.schedules import WarmupGate, beta, distill_weight, explained_variance
from intermimic.rl.student_env import StudentEnv
from intermimic.rl.student_model import ObsLayout, student_model_cfg
from intermimic.rl.student_settings import StudentSettings
from intermimic.rl.train import Trainer


class StudentPPO(InterMimicPPO):
    """rsl-rl PPO with action distillation, a critic warm-up gate and masked PPO terms."""

    def __init__(
        self,
        *args: Any,
        use_distill: bool = True,
        use_ppo: bool = True,
        warmup: bool = True,
        warmup_threshold: float = 0.6,
        warmup_patience: int = 3,
        distill_weight_decay: float = 0.95,
        distill_weight_floor: float = 0.1,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.use_distill = use_distill
        self.use_ppo = use_ppo
        self.decay = distill_weight_decay
        self.floor = distill_weight_floor
        self.gate = WarmupGate(warmup_threshold, warmup_patience)
        if not warmup:
            self.gate.opened_at = 0  # PPO from the first update
        self.on_update: Callable[[int], None] | None = None
        """Called with the number of completed updates after each update (beta)."""

    def update(self) -> dict[str, float]:
        st = self.storage
        ev = explained_variance(st.values.cpu().numpy(), st.returns.cpu().numpy())
        gate_open = self.gate.update(ev)
        ppo_on = self.use_ppo and gate_open
        w_d = (
            distill_weight(
                self.gate.updates_since_open() if ppo_on else None,
                decay=self.decay,
                floor=self.floor,
            )
            if self.use_distill
            else 0.0
        )
        sums = {"value": 0.0, "surrogate": 0.0, "distill": 0.0, "bound": 0.0}
        done = skipped = 0
        for batch in st.mini_batch_generator(self.num_mini_batches, self.num_learning_epochs):
            obs = batch.observations
            assert obs is not None
            self.actor(obs, stochastic_output=True)
            mean = self.actor.output_mean
            values = self.critic(obs)
            if self.use_clipped_value_loss:
                clipped = batch.values + (values - batch.values).clamp(  # type: ignore[operator]
                    -self.clip_param, self.clip_param
                )
                value_loss = torch.max(
                    (values - batch.returns).pow(2), (clipped - batch.returns).pow(2)
                ).mean()
            else:
                value_loss = (batch.returns - values).pow(2).mean()  # type: ignore[operator]
            bound = self.bound_loss(mean)
            loss = self.value_loss_coef * value_loss + self.bound_loss_coef * bound
            distill = torch.zeros(())
            if self.use_distill:
                mask = obs["teacher_mask"].reshape(-1)
                err = (mean - obs["teacher"]).pow(2).mean(dim=-1)
                distill = (err * mask).sum() / mask.sum().clamp_min(1.0)
                loss = loss + w_d * distill
            surrogate = torch.zeros(())
            if ppo_on:
                log_prob = self.actor.get_output_log_prob(batch.actions)  # type: ignore[arg-type]
                adv = torch.squeeze(batch.advantages)  # type: ignore[arg-type]
                ratio = torch.exp(log_prob - torch.squeeze(batch.old_actions_log_prob))  # type: ignore[arg-type]
                per = torch.max(
                    -adv * ratio,
                    -adv * torch.clamp(ratio, 1.0 - self.clip_param, 1.0 + self.clip_param),
                )
                own = 1.0 - obs["driven"].reshape(-1)  # the student's own actions only
                surrogate = (per * own).sum() / own.sum().clamp_min(1.0)
                loss = loss + surrogate - self.entropy_coef * self.actor.output_entropy.mean()
            if not self._guarded_step(loss):
                skipped += 1
                continue
            done += 1
            sums["value"] += value_loss.item()
            sums["surrogate"] += surrogate.item()
            sums["distill"] += distill.item()
            sums["bound"] += bound.item()
        flat = st.observations.flatten(0, 1)
        self.actor.update_normalization(flat)  # type: ignore[arg-type]
        self.critic.update_normalization(flat)  # type: ignore[arg-type]
        st.clear()
        losses = {k: (v / done if done else math.nan) for k, v in sums.items()}
        losses.update(
            {
                "explained_variance": ev,
                "distill_weight": w_d,
                "ppo_active": float(ppo_on),
                "skipped_nonfinite": float(skipped),
            }
        )
        if self.on_update is not None:
            self.on_update(self.gate.updates)
        return losses


def student_config(settings: StudentSettings, layout: ObsLayout) -> dict[str, Any]:
    """The rsl-rl config (``OnPolicyRunner`` format) of a student run."""
    cfg = rsl_rl_config(settings.train_settings())
    cfg["obs_groups"] = {"actor": ["policy"], "critic": ["policy", "critic"]}
    cfg["actor"] = student_model_cfg(
        settings.architecture,
        layout,
        width=settings.width,
        layers=settings.layers,
        heads=settings.heads,
        head_hidden_dims=settings.head_hidden_dims,
        mlp_hidden_dims=settings.mlp_hidden_dims,
        init_log_std=settings.init_log_std,
    )
    cfg["algorithm"].update(
        {
            "class_name": "intermimic.rl.student_ppo:StudentPPO",
            "use_distill": settings.uses_teacher,
            "use_ppo": settings.uses_ppo,
            "warmup": settings.warmup,
            "warmup_threshold": settings.warmup_threshold,
            "warmup_patience": settings.warmup_patience,
            "distill_weight_decay": settings.distill_weight_decay,
            "distill_weight_floor": settings.distill_weight_floor,
        }
    )
    return cfg


def beta_at(settings: StudentSettings, updates: int) -> float:
    """The DAgger beta after ``updates`` completed updates (0 without a teacher)."""
    if not settings.uses_teacher:
        return 0.0
    return beta(
        updates,
        start=settings.beta_start,
        end=settings.beta_end,
        hold=settings.beta_hold_iterations,
        anneal=settings.beta_anneal_iterations,
    )


class StudentTrainer(Trainer):
    """:class:`Trainer` with :class:`StudentPPO` and a student network; the warm-up gate
    is saved in every checkpoint, and beta follows the completed updates."""

    def __init__(
        self,
        env: StudentEnv,
        settings: StudentSettings,
        run_dir: Path | None,
        **kwargs: Any,
    ) -> None:
        self.student_settings = settings
        self._cfg = student_config(settings, env.layout)
        super().__init__(env, settings.train_settings(), run_dir, **kwargs)
        self.student_env = env
        alg = self.alg
        assert isinstance(alg, StudentPPO)
        self.stateful["schedule"] = alg.gate
        alg.on_update = lambda u: env.set_beta(beta_at(settings, u))

    def resume(self) -> int | None:
        """:meth:`Trainer.resume`, then beta from the completed updates: the checkpoint's
        DAgger state holds the beta of the schedule it ran with, and the settings may
        name another schedule now. Between updates this sets the value the last update
        set, so the resume at the start of every :meth:`train` call changes nothing."""
        resumed = super().resume()
        alg = self.alg
        assert isinstance(alg, StudentPPO)
        self.student_env.set_beta(beta_at(self.student_settings, alg.gate.updates))
        return resumed

    def _build_algorithm(self) -> InterMimicPPO:
        with contextlib.redirect_stdout(io.StringIO()):
            alg = StudentPPO.construct_algorithm(
                self.vecenv.get_observations(), self.vecenv, self._cfg, self.settings.device
            )
        assert isinstance(alg, StudentPPO)
        return alg
