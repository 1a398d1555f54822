"""Running mean / std: equal to the statistics of all rows at once, clipped output,
float64 statistics on the device, float32 output, numpy state dicts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from intermimic.env.normalizer import RunningNormalizer


def _t(a: object) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, np.float64))


def test_matches_batch_statistics() -> None:
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, (n, 4)) for n in (1, 7, 100, 33)]
    norm = RunningNormalizer(4)
    for b in batches:
        norm.update(_t(b))
    allx = np.concatenate(batches)
    assert norm.mean.dtype == norm.var.dtype == torch.float64
    np.testing.assert_allclose(norm.mean, allx.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(norm.var, allx.var(axis=0), rtol=1e-12)
    assert norm.count == len(allx)
    assert isinstance(norm.count, float)
    z = norm.normalize(_t(allx))
    assert z.dtype == torch.float32
    # float32 output: zero mean to float32 rounding (the float64 computation is exact)
    np.testing.assert_allclose(z.double().mean(dim=0), 0.0, atol=1e-6)


def test_float32_input_gives_the_same_statistics() -> None:
    # The environment passes float32 observations: statistics still accumulate in
    # float64 (of the float32 values).
    rng = np.random.default_rng(4)
    x = rng.normal(-1.0, 0.5, (64, 6)).astype(np.float32)
    norm = RunningNormalizer(6)
    norm.update(torch.from_numpy(x))
    np.testing.assert_allclose(norm.mean, x.astype(np.float64).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(norm.var, x.astype(np.float64).var(axis=0), rtol=1e-12)


def test_identity_before_updates_clip_and_frozen() -> None:
    norm = RunningNormalizer(2, clip=5.0)
    np.testing.assert_allclose(norm.normalize(_t([[1.0, -2.0]])), [[1.0, -2.0]], atol=1e-6)
    norm.update(_t([[0.0, 0.0], [2.0, 2.0]]))  # mean 1, std 1
    np.testing.assert_allclose(norm.normalize(_t([[100.0, -100.0]])), [[5.0, -5.0]])
    norm.frozen = True
    norm.update(_t([[50.0, 50.0]]))
    assert norm.count == 2


def test_non_finite_rows_are_skipped_and_state_round_trips() -> None:
    norm = RunningNormalizer(2)
    norm.update(_t([[1.0, 1.0], [np.nan, 0.0], [3.0, 3.0]]))
    np.testing.assert_allclose(norm.mean, [2.0, 2.0])
    other = RunningNormalizer(2)
    other.load_state_dict(norm.state_dict())
    np.testing.assert_allclose(other.var, norm.var)
    with pytest.raises(ValueError, match="dim"):
        RunningNormalizer(3).load_state_dict(norm.state_dict())


def test_state_dict_is_numpy_float64_and_round_trips() -> None:
    """Checkpoints keep today's format: numpy float64 ``mean``, ``var`` and a 0-d
    ``count``; loading accepts it, or tensors, and restores the statistics exactly."""
    rng = np.random.default_rng(1)
    norm = RunningNormalizer(3)
    norm.update(torch.from_numpy(rng.normal(2.0, 3.0, (50, 3)).astype(np.float32)))
    state = norm.state_dict()
    assert set(state) == {"mean", "var", "count"}
    for k in ("mean", "var"):
        assert type(state[k]) is np.ndarray and state[k].dtype == np.float64
        assert state[k].shape == (3,)
    assert type(state["count"]) is np.ndarray and state["count"].shape == ()
    assert state["count"].dtype == np.float64 and float(state["count"]) == 50.0
    # a copy: updating the normaliser leaves a saved state alone
    saved_mean = state["mean"].copy()
    norm.update(_t([[0.0, 0.0, 0.0]]))
    np.testing.assert_array_equal(state["mean"], saved_mean)

    for loaded_from in (state, {k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}):
        other = RunningNormalizer(3)
        other.load_state_dict(loaded_from)
        assert other.mean.dtype == other.var.dtype == torch.float64
        np.testing.assert_array_equal(other.mean.numpy(), state["mean"])
        np.testing.assert_array_equal(other.var.numpy(), state["var"])
        assert other.count == 50.0 and isinstance(other.count, float)
        np.testing.assert_array_equal(other.state_dict()["mean"], state["mean"])


def test_reset_keeps_frozen_and_std() -> None:
    norm = RunningNormalizer(2, eps=0.0)
    norm.update(_t([[0.0, 1.0], [4.0, 1.0]]))
    np.testing.assert_allclose(norm.std, [2.0, 0.0])
    norm.frozen = True
    norm.reset()
    assert norm.frozen and norm.count == 0.0
    np.testing.assert_array_equal(norm.mean, [0.0, 0.0])
    np.testing.assert_array_equal(norm.var, [1.0, 1.0])
