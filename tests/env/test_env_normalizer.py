"""Running mean / std: equal to the statistics of all rows at once, clipped output."""

from __future__ import annotations

import numpy as np
import pytest

from intermimic.env.normalizer import RunningNormalizer


def test_matches_batch_statistics() -> None:
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, (n, 4)) for n in (1, 7, 100, 33)]
    norm = RunningNormalizer(4)
    for b in batches:
        norm.update(b)
    allx = np.concatenate(batches)
    np.testing.assert_allclose(norm.mean, allx.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(norm.var, allx.var(axis=0), rtol=1e-12)
    assert norm.count == len(allx)
    z = norm.normalize(allx)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)


def test_identity_before_updates_clip_and_frozen() -> None:
    norm = RunningNormalizer(2, clip=5.0)
    np.testing.assert_allclose(norm.normalize(np.array([[1.0, -2.0]])), [[1.0, -2.0]], atol=1e-6)
    norm.update(np.array([[0.0, 0.0], [2.0, 2.0]]))  # mean 1, std 1
    np.testing.assert_allclose(norm.normalize(np.array([[100.0, -100.0]])), [[5.0, -5.0]])
    norm.frozen = True
    norm.update(np.array([[50.0, 50.0]]))
    assert norm.count == 2


def test_non_finite_rows_are_skipped_and_state_round_trips() -> None:
    norm = RunningNormalizer(2)
    norm.update(np.array([[1.0, 1.0], [np.nan, 0.0], [3.0, 3.0]]))
    np.testing.assert_allclose(norm.mean, [2.0, 2.0])
    other = RunningNormalizer(2)
    other.load_state_dict(norm.state_dict())
    np.testing.assert_allclose(other.var, norm.var)
    with pytest.raises(ValueError, match="dim"):
        RunningNormalizer(3).load_state_dict(norm.state_dict())
