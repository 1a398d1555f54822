"""Tracking metrics, per clip and aggregated (the method's definitions, DESIGN.md):

* **success**: the rollout reached the clip's last frame without early termination;
* **duration**: policy steps tracked (also as a fraction of the clip);
* **E_h**: mean key-body position error (cm) over the tracked frames;
* **E_o**: mean object surface-point error (cm) over the tracked frames;
* the **artifact figures** of :func:`intermimic.contact.artifacts.artifact_report` of
  the simulated motion (penetration, floating contact, foot skating, jitter), which the
  raw MoCap also has, so the two can be compared.

Aggregates weight the errors by frames (every tracked frame of every clip counts once)
and average the rest over clips.

Everything here is numpy float64 (whole rollouts, off the step path); the object's pose
goes through the environment's torch geometry as float64 CPU tensors, so the errors are
the environment's to the last bit of float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from intermimic.env.geometry import object_points, quat_to_matrix

F64 = NDArray[np.float64]


def key_body_error(sim_key: NDArray[np.floating], ref_key: NDArray[np.floating]) -> F64:
    """``[T]`` mean over key bodies of the position error (m); inputs ``[T, K, 3]``."""
    d = np.asarray(sim_key, np.float64) - np.asarray(ref_key, np.float64)
    return np.linalg.norm(d, axis=-1).mean(axis=-1)


def object_point_error(
    sim_pos: NDArray[np.floating],
    sim_quat: NDArray[np.floating],
    ref_pos: NDArray[np.floating],
    ref_quat: NDArray[np.floating],
    points: NDArray[np.floating],
) -> F64:
    """``[T]`` mean distance (m) between the object's surface ``points [P, 3]`` (object
    frame) placed at the simulated and at the reference poses (``[T,3]``, ``[T,4]`` w x y z)."""
    pts = _f64(points)
    a = object_points(_f64(sim_pos), quat_to_matrix(_f64(sim_quat)), pts).numpy()
    b = object_points(_f64(ref_pos), quat_to_matrix(_f64(ref_quat)), pts).numpy()
    return np.linalg.norm(a - b, axis=-1).mean(axis=-1)


def _f64(a: NDArray[np.floating]) -> torch.Tensor:
    """A float64 CPU tensor of ``a`` (sharing its memory when it already is float64)."""
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64))


@dataclass
class ClipResult:
    """One rollout of one clip."""

    clip_id: str
    subject: str
    object_name: str
    success: bool
    duration: int
    """Policy steps tracked before early termination or the clip's end."""
    clip_frames: int
    e_h: F64
    """``[duration + 1]`` key-body error per tracked frame (m)."""
    e_o: F64
    """``[duration + 1]`` object-point error per tracked frame (m)."""
    attempt: int = 0
    artifacts: dict[str, float] = field(default_factory=dict)

    @property
    def duration_fraction(self) -> float:
        return self.duration / max(self.clip_frames - 1, 1)

    @property
    def e_h_cm(self) -> float:
        return float(100 * np.mean(self.e_h))

    @property
    def e_o_cm(self) -> float:
        return float(100 * np.mean(self.e_o))

    def row(self) -> dict[str, Any]:
        """Flat per-clip figures (tables, JSON)."""
        return {
            "clip": self.clip_id,
            "subject": self.subject,
            "object": self.object_name,
            "attempt": self.attempt,
            "success": bool(self.success),
            "duration": int(self.duration),
            "duration_fraction": self.duration_fraction,
            "e_h_cm": self.e_h_cm,
            "e_o_cm": self.e_o_cm,
            **self.artifacts,
        }


def clip_result(
    rollout: Any, subject: str, artifacts: dict[str, float] | None = None
) -> ClipResult:
    """A :class:`ClipResult` of a :class:`~intermimic.rl.rollout.Rollout`."""
    return ClipResult(
        clip_id=rollout.clip_id,
        subject=subject,
        object_name=rollout.object_name,
        success=bool(rollout.success),
        duration=int(rollout.duration),
        clip_frames=int(rollout.clip_frames),
        e_h=np.asarray(rollout.arrays["key_body_error"], np.float64),
        e_o=np.asarray(rollout.arrays["object_error"], np.float64),
        attempt=int(rollout.attempt),
        artifacts=dict(artifacts or {}),
    )


def aggregate(results: Sequence[ClipResult]) -> dict[str, float]:
    """Success rate, mean duration (steps and fraction), E_h and E_o (cm, frame-weighted),
    and the mean of every artifact figure present in all results. Empty: ``{}``."""
    rs = list(results)
    if not rs:
        return {}
    out = {
        "clips": float(len(rs)),
        "success_rate": float(np.mean([r.success for r in rs])),
        "mean_duration": float(np.mean([r.duration for r in rs])),
        "mean_duration_fraction": float(np.mean([r.duration_fraction for r in rs])),
        "e_h_cm": float(100 * np.concatenate([r.e_h for r in rs]).mean()),
        "e_o_cm": float(100 * np.concatenate([r.e_o for r in rs]).mean()),
    }
    common = set.intersection(*(set(r.artifacts) for r in rs))
    for k in sorted(common):
        out[k] = float(np.mean([r.artifacts[k] for r in rs]))
    return out
