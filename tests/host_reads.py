"""Watch torch's host reads: which code reads a tensor's values back to the host.

On a GPU every such read waits for all the device's queued kernels, so the training step
(``tests/rl/test_rl_device_rollout.py``) and the environment step
(``tests/env/test_env_tracking.py``) are checked for them. :func:`watch_host_reads` wraps
the reading methods of ``torch.Tensor`` and indexing by a boolean mask (whose result
size is data) for the rest of the test, or until ``monkeypatch.undo()``; only the direct
caller is recorded, so a test can tell its code's reads from a backend's own host copies.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import pytest
import torch

#: Tensor methods that read values back to the host: copies out, Python scalars and
#: truth values.
READS = ("cpu", "numpy", "item", "tolist", "__bool__", "__int__", "__float__", "__index__")
#: Tensor methods whose result shape is data, which they read back to size it.
DATA_SHAPED = ("nonzero", "unique", "masked_select")


@dataclass(frozen=True)
class HostRead:
    """One read: the tensor method, and the function, file and line that called it."""

    name: str
    function: str
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.name} in {self.function}:{self.line} ({self.file})"


def watch_host_reads(monkeypatch: pytest.MonkeyPatch) -> list[HostRead]:
    """Wrap torch's reading methods; the returned list fills with every read, in order."""
    reads: list[HostRead] = []

    def wrap(name: str, orig: Any, when: Any = None) -> Any:
        def watched(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            if when is None or when(*args):
                caller = sys._getframe(1)
                code = caller.f_code
                reads.append(
                    HostRead(
                        name, code.co_name, code.co_filename.replace("\\", "/"), caller.f_lineno
                    )
                )
            return orig(self, *args, **kwargs)

        return watched

    def bool_index(index: Any, *_: Any) -> bool:
        parts = index if isinstance(index, tuple) else (index,)
        return any(isinstance(p, torch.Tensor) and p.dtype == torch.bool for p in parts)

    for name in READS + DATA_SHAPED:
        monkeypatch.setattr(torch.Tensor, name, wrap(name, getattr(torch.Tensor, name)))
    for name in ("__getitem__", "__setitem__"):
        monkeypatch.setattr(torch.Tensor, name, wrap(name, getattr(torch.Tensor, name), bool_index))
    return reads
