"""Running mean / standard deviation of observations, with clipping, in torch.

Batches are merged with the parallel form of Welford's algorithm (Chan et al.), in
float64 on the normaliser's device, so the statistics do not drift over millions of
samples and do not depend on how the samples were split into batches. Normalised
observations are float32 (the policy's dtype).
:meth:`RunningNormalizer.state_dict` is plain numpy float64, the format checkpoints
have always had.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor


def _f64(x: Tensor | NDArray[np.floating] | float, device: torch.device) -> Tensor:
    return torch.as_tensor(x, dtype=torch.float64, device=device)


class RunningNormalizer:
    """Normalise ``[N, D]`` rows to ``clip(( x - mean) / sqrt(var + eps), -clip, clip)``.

    ``update`` adds a batch to the statistics; ``frozen = True`` makes ``update`` a no-op
    (evaluation). Before any update the mean is 0 and the variance 1 (identity). ``mean``
    and ``var`` are float64 tensors ``[D]`` on ``device``; ``count`` a Python float (kept
    as a device tensor, read back only when asked).
    """

    def __init__(
        self, dim: int, clip: float = 5.0, eps: float = 1e-8, device: str | torch.device = "cpu"
    ) -> None:
        self.dim = dim
        self.clip = clip
        self.eps = eps
        self.device = torch.device(device)
        self.mean = torch.zeros(dim, dtype=torch.float64, device=self.device)
        self.var = torch.ones(dim, dtype=torch.float64, device=self.device)
        self._count: Tensor = torch.zeros((), dtype=torch.float64, device=self.device)
        self.frozen = False

    def update(self, x: Tensor) -> None:
        """Add rows ``x [N, D]`` (non-finite rows are skipped: one broken world must not
        poison the statistics every later observation is divided by).

        Reads nothing back to the host: the skipped rows are masked, not removed (removing
        them would read their number back), and the sample count is a device tensor."""
        if self.frozen:
            return
        # A float64 copy, worked on in place (``copy``: never the caller's tensor).
        x = x.to(device=self.device, dtype=torch.float64, copy=True).reshape(-1, self.dim)
        # A row's sum is finite iff its values are (float32 observations cannot overflow
        # a float64 sum): one fast row reduction instead of an elementwise test, which
        # torch runs ten times slower.
        ok = torch.isfinite(x.sum(dim=1))
        w = ok.to(torch.float64)[:, None]
        x = torch.where(ok[:, None], x, 0.0)
        n = w.sum()
        n1 = n.clamp(min=1.0)
        # mean((x - mean)^2) over the kept rows, as numpy's var: torch.var_mean over the
        # rows is ten times slower on the CPU (measured, 64 x 3698). Masked rows add 0.
        b_mean = x.sum(dim=0) / n1
        b_var = x.sub_(b_mean).mul_(w).square_().sum(dim=0) / n1
        count = self._count
        total = count + n
        t1 = total.clamp(min=1.0)
        delta = b_mean - self.mean
        m2 = self.var * count + b_var * n + delta**2 * count * n / t1
        # no sample at all yet (total 0) keeps the identity
        self.mean = torch.where(total > 0, self.mean + delta * n / t1, self.mean)
        self.var = torch.where(total > 0, m2 / t1, self.var)
        self._count = total

    @property
    def count(self) -> float:
        """Samples merged so far (reads the device tensor back)."""
        return float(self._count)

    @count.setter
    def count(self, value: float) -> None:
        self._count = torch.tensor(float(value), dtype=torch.float64, device=self.device)

    def reset(self) -> None:
        """Back to the identity (no statistics); ``frozen`` is kept."""
        self.mean = torch.zeros(self.dim, dtype=torch.float64, device=self.device)
        self.var = torch.ones(self.dim, dtype=torch.float64, device=self.device)
        self.count = 0.0

    @property
    def std(self) -> Tensor:
        return torch.sqrt(self.var + self.eps)

    def normalize(self, x: Tensor) -> Tensor:
        """``[..., D]`` normalised and clipped, float32 on ``x``'s device.

        Computed in ``x``'s dtype (float64 statistics rounded to it): for the
        environment's float32 observations that is one more float32 rounding of values
        already float32, at a third of the cost of a float64 pass (measured, 64 x 3698:
        0.08 ms against 0.24 ms)."""
        dtype = x.dtype if x.is_floating_point() else torch.float32
        mean = self.mean.to(device=x.device, dtype=dtype)
        std = self.std.to(device=x.device, dtype=dtype)
        z = (x - mean) / std
        return z.clamp_(-self.clip, self.clip).to(torch.float32)

    def state_dict(self) -> dict[str, NDArray[np.float64]]:
        """Arrays to save beside a policy (safetensors-friendly: plain float64 numpy
        arrays ``mean``, ``var`` ``[D]`` and a 0-d ``count``, as always)."""
        return {
            "mean": self.mean.detach().cpu().numpy().copy(),
            "var": self.var.detach().cpu().numpy().copy(),
            "count": np.array(self.count),
        }

    def load_state_dict(self, state: Mapping[str, Tensor | NDArray[np.floating]]) -> None:
        """Restore :meth:`state_dict` (numpy arrays or tensors)."""
        mean = _f64(state["mean"], self.device)
        if mean.shape != (self.dim,):
            raise ValueError(
                f"normalizer state has dim {tuple(mean.shape)}, expected ({self.dim},)"
            )
        self.mean = mean.clone()
        self.var = _f64(state["var"], self.device).clone()
        count = state["count"]
        self.count = float(count.item() if isinstance(count, Tensor) else np.asarray(count))
