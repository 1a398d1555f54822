"""Agreement of predicted +1 labels with reference labels, per body group."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from intermimic.motion.skeleton import SMPLX_BODY_NAMES
from intermimic.sim.scene import FOOT_BODY_NAMES, HAND_BODY_NAMES

HANDS = np.array([SMPLX_BODY_NAMES.index(n) for n in HAND_BODY_NAMES])
FEET = np.array([SMPLX_BODY_NAMES.index(n) for n in FOOT_BODY_NAMES])
OTHER = np.setdiff1d(np.arange(len(SMPLX_BODY_NAMES)), np.concatenate([HANDS, FEET]))
GROUPS: dict[str, NDArray[np.int64]] = {"hands": HANDS, "feet": FEET, "other": OTHER}


def _scores(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    return {"precision": precision, "recall": recall, "f1": f1, "support": float(tp + fn)}


def confusion(
    pred: NDArray[np.integer], truth: NDArray[np.integer]
) -> dict[str, tuple[int, int, int]]:
    """``(tp, fp, fn)`` of ``pred == +1`` against ``truth == +1`` per group (and ``all``),
    for labels ``[T,52]``: to sum over clips before scoring."""
    p, t = np.asarray(pred) == 1, np.asarray(truth) == 1
    if p.shape != t.shape or p.ndim != 2 or p.shape[1] != len(SMPLX_BODY_NAMES):
        raise ValueError(f"labels must both be [T,52], got {p.shape} and {t.shape}")
    out = {}
    for name, idx in {**GROUPS, "all": np.arange(p.shape[1])}.items():
        pp, tt = p[:, idx], t[:, idx]
        out[name] = (int((pp & tt).sum()), int((pp & ~tt).sum()), int((~pp & tt).sum()))
    return out


def scores_from_confusion(
    counts: dict[str, tuple[int, int, int]],
) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support (reference positives) per group."""
    return {k: _scores(*v) for k, v in counts.items()}


def label_agreement(
    pred: NDArray[np.integer], truth: NDArray[np.integer]
) -> dict[str, dict[str, float]]:
    """Per body group (``hands``: wrists and fingers, ``feet``: ankles and toes,
    ``other``; plus ``all``): precision, recall and F1 of ``pred == +1`` against
    ``truth == +1``, and ``support`` (frames x bodies with ``truth == +1``).
    ``pred``, ``truth``: ``[T,52]`` labels. NaN where a ratio is undefined."""
    return scores_from_confusion(confusion(pred, truth))
