"""Helpers the refined-store fixtures share (export, publish and verify tests)."""

from __future__ import annotations

import hashlib

import numpy as np


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def artifact_series(n: int, level: float) -> dict[str, np.ndarray]:
    """Artifact series of ``n`` frames whose figures all scale with ``level``."""
    t = np.linspace(0.0, 1.0, n)
    return {
        "penetration_object": level * t,
        "penetration_ground": 0.5 * level * t,
        "floating": (t < level).astype(np.float64),
        "foot_skate_speed": 2.0 * level * np.ones(n),
    }
