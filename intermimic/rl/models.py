"""rsl-rl's MLP model with its hidden layers in bfloat16 where the hardware has it.

A teacher's networks on 2 CPU cores cost a third of its wall time (policy inference while
acting, the PPO update), most of it in the first layer (2916 observations x 256). CPUs
with native bfloat16 dot products (AVX512-BF16, AMX) run those matmuls 2-3x faster than
float32 (``bench/teacher_throughput.py``): mixed precision, as on GPUs.

:class:`PrecisionMLPModel` is :class:`rsl_rl.models.MLPModel` whose MLP runs every layer
but the output layer under ``torch.autocast(bfloat16)``; the output layer, the
distribution, losses, optimiser and weights stay float32. The output layer stays float32
because PPO's probability ratio sums log-probabilities over the 153 action dimensions:
a mean rounded to bfloat16 (3 significant digits) moves each by ~(rounding / sigma), and
with sigma = exp(-2.9) that summed noise would be of order one. The module tree and
``state_dict`` keys are those of ``MLPModel``, so checkpoints load either way, and exports
(ONNX, TorchScript) run in float32.

An actor whose observations carry the ``"plan"`` group (recipe ``planner_fb``) outputs the
difference of its MLP on the world's observation and on the plan's at the same frame
(:meth:`PrecisionMLPModel.forward`, :mod:`intermimic.rl.plan_feedback`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from rsl_rl.models import MLPModel
from tensordict import TensorDict

from intermimic.rl.plan_feedback import PLAN_GROUP
from intermimic.rl.settings import MatmulDtype


def native_bfloat16(device: torch.device | str) -> bool:
    """Whether ``device`` multiplies bfloat16 natively (not emulated, which is slower
    than float32): CPUs with AVX512-BF16 or AMX, CUDA GPUs of compute capability 8+."""
    dev = torch.device(device)
    if dev.type == "cpu":
        return bool(
            torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        )
    if dev.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return False


def resolve_matmul_dtype(choice: MatmulDtype, device: torch.device | str) -> torch.dtype:
    """The dtype ``choice`` means on ``device``; an explicit ``bfloat16`` on a device
    without native support is an error naming the setting (it would be slower)."""
    if choice == "float32":
        return torch.float32
    native = native_bfloat16(device)
    if choice == "bfloat16" and not native:
        raise ValueError(
            f"matmul_dtype='bfloat16': device {torch.device(device)} has no native bfloat16 "
            "matmuls (emulated ones are slower than float32); use 'auto' or 'float32'"
        )
    return torch.bfloat16 if native else torch.float32


class MixedPrecisionMLP(nn.Sequential):
    """The layers of an rsl-rl ``MLP``, all before the last ``Linear`` run under
    ``autocast(dtype)``, the last ``Linear`` and what follows it in float32."""

    def __init__(self, mlp: nn.Sequential, dtype: torch.dtype) -> None:
        super().__init__(*mlp)
        linears = [i for i, m in enumerate(self) if isinstance(m, nn.Linear)]
        self.head_at = linears[-1]
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layers = list(self)
        if torch.onnx.is_in_onnx_export() or torch.jit.is_scripting() or torch.jit.is_tracing():
            body: list[nn.Module] = []
            head = layers
        else:
            body, head = layers[: self.head_at], layers[self.head_at :]
        if body:
            with torch.autocast(x.device.type, dtype=self.dtype):
                for m in body:
                    x = m(x)
            x = x.float()
        for m in head:
            x = m(x)
        return x


class PrecisionMLPModel(MLPModel):
    """:class:`rsl_rl.models.MLPModel` with its hidden layers' matmuls in
    ``matmul_dtype`` (see the module docstring); ``float32`` is ``MLPModel`` itself."""

    mlp: nn.Sequential

    def __init__(
        self,
        obs: TensorDict,
        obs_groups: dict[str, list[str]],
        obs_set: str,
        output_dim: int,
        matmul_dtype: MatmulDtype = "float32",
        **kwargs: Any,
    ) -> None:
        super().__init__(obs, obs_groups, obs_set, output_dim, **kwargs)
        first = next(iter(obs.values()))
        assert isinstance(first, torch.Tensor)
        self.matmul_dtype = resolve_matmul_dtype(matmul_dtype, first.device)
        if self.matmul_dtype != torch.float32:
            self.mlp = MixedPrecisionMLP(self.mlp, self.matmul_dtype)

    def forward(
        self,
        obs: TensorDict,
        masks: torch.Tensor | None = None,
        hidden_state: Any = None,
        stochastic_output: bool = False,
    ) -> torch.Tensor:
        """``MLPModel.forward``; an actor given the ``"plan"`` group (recipe
        ``planner_fb``) outputs ``f(obs) - covered * f(obs*)``, exactly 0 where the world
        is on its plan (:mod:`intermimic.rl.plan_feedback`)."""
        # TensorDict refuses `in` on itself: membership goes through keys()
        if self.distribution is None or PLAN_GROUP not in obs.keys():  # noqa: SIM118
            return super().forward(obs, masks, hidden_state, stochastic_output)
        if masks is not None:
            raise ValueError("plan feedback: padded (recurrent) observations are not supported")
        x = self.get_latent(obs, masks, hidden_state)
        plan = obs[PLAN_GROUP]
        if plan.shape[-1] != x.shape[-1] + 2:
            raise ValueError(
                f"plan feedback: the {PLAN_GROUP!r} group has {plan.shape[-1]} columns, "
                f"expected the actor's {x.shape[-1]} observations + covered + on_plan"
            )
        star = self.obs_normalizer(plan[:, :-2])
        covered, on_plan = plan[:, -2:-1], plan[:, -1:]
        out = self.mlp(x) - covered * self.mlp(star)
        # where the world is on its plan the mean is 0 exactly, not up to rounding: the
        # replay of an open-loop plan does not survive residuals of 1e-4
        out = torch.where(on_plan > 0.5, torch.zeros_like(out), out)
        if stochastic_output:
            self.distribution.update(out)
            return self.distribution.sample()
        return self.distribution.deterministic_output(out)
