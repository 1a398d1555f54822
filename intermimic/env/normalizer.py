"""Running mean / standard deviation of observations, with clipping.

Batches are merged with the parallel form of Welford's algorithm (Chan et al.), in
float64, so the statistics do not drift over millions of samples and do not depend on
how the samples were split into batches.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]


class RunningNormalizer:
    """Normalise ``[N, D]`` rows to ``clip(( x - mean) / sqrt(var + eps), -clip, clip)``.

    ``update`` adds a batch to the statistics; ``frozen = True`` makes ``update`` a no-op
    (evaluation). Before any update the mean is 0 and the variance 1 (identity).
    """

    def __init__(self, dim: int, clip: float = 5.0, eps: float = 1e-8) -> None:
        self.dim = dim
        self.clip = clip
        self.eps = eps
        self.mean = np.zeros(dim)
        self.var = np.ones(dim)
        self.count = 0.0
        self.frozen = False

    def update(self, x: NDArray[np.floating]) -> None:
        """Add rows ``x [N, D]`` (non-finite rows are skipped: one broken world must not
        poison the statistics every later observation is divided by)."""
        if self.frozen:
            return
        x = np.asarray(x, np.float64).reshape(-1, self.dim)
        x = x[np.isfinite(x).all(axis=1)]
        n = float(x.shape[0])
        if n == 0:
            return
        b_mean = x.mean(axis=0)
        b_var = x.var(axis=0)
        total = self.count + n
        delta = b_mean - self.mean
        m2 = self.var * self.count + b_var * n + delta**2 * self.count * n / total
        self.mean = self.mean + delta * n / total
        self.var = m2 / total
        self.count = total

    def reset(self) -> None:
        """Back to the identity (no statistics); ``frozen`` is kept."""
        self.mean = np.zeros(self.dim)
        self.var = np.ones(self.dim)
        self.count = 0.0

    @property
    def std(self) -> F64:
        return np.sqrt(self.var + self.eps)

    def normalize(self, x: NDArray[np.floating]) -> F64:
        """``[..., D]`` normalised and clipped."""
        return np.clip((np.asarray(x, np.float64) - self.mean) / self.std, -self.clip, self.clip)

    def state_dict(self) -> dict[str, NDArray[np.float64]]:
        """Arrays to save beside a policy (safetensors-friendly: plain float64 arrays)."""
        return {"mean": self.mean.copy(), "var": self.var.copy(), "count": np.array(self.count)}

    def load_state_dict(self, state: Mapping[str, NDArray[np.floating]]) -> None:
        mean = np.asarray(state["mean"], np.float64)
        if mean.shape != (self.dim,):
            raise ValueError(f"normalizer state has dim {mean.shape}, expected ({self.dim},)")
        self.mean = mean.copy()
        self.var = np.asarray(state["var"], np.float64).copy()
        self.count = float(np.asarray(state["count"]))
