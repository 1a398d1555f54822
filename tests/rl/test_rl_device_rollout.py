"""A rollout step reads nothing back to the host: the adapter's episode bookkeeping on the
device, the hooks' batches delivered by ``flush_episodes``, the NaN check raised once per
iteration, and the iteration's log means."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch

from intermimic.rl.train import NanWatch, Trainer, iteration_means
from intermimic.rl.vecenv import FinishedEpisodes, RslVecEnv, host_arrays
from tests.host_reads import watch_host_reads
from tests.rl.sanity_task import sanity_settings

N = 5


def _length(i: int) -> int:
    return 2 + i % 3


class ScriptedEnv:
    """``N`` worlds with fixed episode lengths and dyadic rewards (exact in float32), in
    pure torch: nothing in its ``step`` reads a tensor back to the host.

    World ``i``'s episodes last ``2 + i % 3`` steps; its ``e``-th episode (from 0) ends
    terminated when ``i + e`` is even, else truncated. At episode step ``s`` (from 1) the
    reward is ``0.5 s + 0.25 i`` (terms ``a`` = a quarter of it, ``b`` the rest), success
    is ``(i + e) % 3 == 0``, and ``final`` holds ``frame = s`` and ``pos = (i, e)``.
    ``nan_obs_at`` / ``nan_reward_at``: the global step (from 0) whose ``policy``
    observation / reward of world 1 is NaN."""

    def __init__(
        self, *, numpy: bool = False, nan_obs_at: int = -1, nan_reward_at: int = -1
    ) -> None:
        self.num_envs = N
        self.num_actions = 2
        self.max_episode_length = 4
        self.numpy = numpy
        self.nan_obs_at, self.nan_reward_at = nan_obs_at, nan_reward_at
        self.ids = torch.arange(N)
        self.length = 2 + self.ids % 3
        self.s = torch.zeros(N, dtype=torch.long)
        self.e = torch.zeros(N, dtype=torch.long)
        self.calls = 0  # a Python int: counting steps needs no tensor

    def _obs(self, nan: bool = False) -> dict[str, Any]:
        policy = torch.stack([self.ids, self.s, self.e], dim=1).to(torch.float32)
        if nan:
            policy = torch.where(self.ids[:, None] == 1, float("nan"), policy)
        critic = (self.s.to(torch.float32) / self.length)[:, None]
        return self._out({"policy": policy, "critic": critic})

    def _out(self, x: Any) -> Any:
        if not self.numpy:
            return x
        if isinstance(x, dict):
            return {k: self._out(v) for k, v in x.items()}
        return x.numpy().copy()

    def reset(self) -> dict[str, Any]:
        self.s = torch.zeros_like(self.s)
        return self._obs()

    def step(self, actions: torch.Tensor) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        self.s = self.s + 1
        reward = (0.5 * self.s + 0.25 * self.ids).to(torch.float32)
        if self.calls == self.nan_reward_at:
            reward = torch.where(self.ids == 1, float("nan"), reward)
        ends = self.s >= self.length
        even = (self.ids + self.e) % 2 == 0
        terminated, truncated = ends & even, ends & ~even
        a = 0.25 * reward
        info = {
            "reward_terms": {"a": a, "b": reward - a},
            "success": (self.ids + self.e) % 3 == 0,
            "final": {
                "frame": self.s.clone(),
                "pos": torch.stack([self.ids, self.e], dim=1).to(torch.float32),
            },
            "log": {"calls": torch.full((), float(self.calls + 1))},
        }
        self.e = torch.where(ends, self.e + 1, self.e)
        self.s = torch.where(ends, 0, self.s)
        obs = self._obs(nan=self.calls == self.nan_obs_at)
        self.calls += 1
        return obs, self._out(reward), self._out(terminated), self._out(truncated), self._out(info)


@dataclass
class Reference:
    """What the hooks and the logs of :class:`ScriptedEnv` must show, computed per world
    in Python."""

    batches: list[FinishedEpisodes] = field(default_factory=list)
    returns: list[list[float]] = field(default_factory=list)  # per step, finished worlds
    by_step: dict[int, FinishedEpisodes] = field(default_factory=dict)  # step -> batch

    @staticmethod
    def of(steps: int) -> Reference:
        ref = Reference()
        s = [0] * N
        e = [0] * N
        ret = [0.0] * N
        term_a = [0.0] * N
        for t in range(steps):
            rows: list[tuple[Any, ...]] = []
            for i in range(N):
                s[i] += 1
                r = 0.5 * s[i] + 0.25 * i
                ret[i] += r
                term_a[i] += 0.25 * r
                if s[i] == _length(i):
                    even = (i + e[i]) % 2 == 0
                    success = (i + e[i]) % 3 == 0
                    rows.append((i, ret[i], s[i], even, success, term_a[i], e[i]))
                    s[i], ret[i], term_a[i] = 0, 0.0, 0.0
                    e[i] += 1
            ref.returns.append([row[1] for row in rows])
            if not rows:
                continue
            cols = list(zip(*rows, strict=True))
            returns = np.array(cols[1], np.float64)
            terms_a = np.array(cols[5], np.float64)
            ref.by_step[t] = FinishedEpisodes(
                env_ids=np.array(cols[0], np.int64),
                returns=returns,
                lengths=np.array(cols[2], np.int64),
                terminated=np.array(cols[3], bool),
                truncated=~np.array(cols[3], bool),
                success=np.array(cols[4], bool),
                reward_terms={"a": terms_a, "b": returns - terms_a},
                final={
                    "frame": np.array(cols[2], np.int64),
                    "pos": np.array(
                        [[i, ep] for i, ep in zip(cols[0], cols[6], strict=True)], np.float32
                    ),
                },
            )
            ref.batches.append(ref.by_step[t])
        return ref


def _assert_same(got: list[FinishedEpisodes], want: list[FinishedEpisodes]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        for name in ("env_ids", "returns", "lengths", "terminated", "truncated", "success"):
            a, b = getattr(g, name), getattr(w, name)
            assert a.dtype == b.dtype, name
            np.testing.assert_array_equal(a, b, err_msg=name)
        for part in ("reward_terms", "final"):
            a, b = getattr(g, part), getattr(w, part)
            assert a.keys() == b.keys(), part
            for k in a:
                assert a[k].dtype == b[k].dtype, (part, k)
                np.testing.assert_array_equal(a[k], b[k], err_msg=f"{part}.{k}")


@pytest.mark.parametrize("numpy_env", [False, True])
def test_flushed_batches_equal_the_reference(numpy_env: bool) -> None:
    steps = 13
    ref = Reference.of(steps)
    seen: list[FinishedEpisodes] = []
    venv = RslVecEnv(ScriptedEnv(numpy=numpy_env), episode_hooks=[seen.append], defer_episodes=True)
    delivered = 0
    for t in range(steps):
        _, rew, dones, extras = venv.step(torch.zeros(N, 2))
        log = extras["log"]
        want = np.full(N, np.nan, np.float32)
        finished = dones.bool().numpy()
        want[finished] = ref.returns[t]
        np.testing.assert_array_equal(log["Episode/return"].numpy(), want)
        assert log["Env/calls"].item() == t + 1
        assert rew.dtype == torch.float32 and dones.dtype == torch.long
        if t == 6:  # a flush mid-way: the batches continue where it left off
            assert not seen
            delivered += venv.flush_episodes()
            assert len(seen) == delivered > 0
    delivered += venv.flush_episodes()
    assert delivered == len(seen)
    _assert_same(seen, ref.batches)
    assert venv.flush_episodes() == 0 and len(seen) == len(ref.batches)

    # without defer_episodes the hooks run within each step, with the same batches
    now: list[FinishedEpisodes] = []
    eager = RslVecEnv(ScriptedEnv(numpy=numpy_env), episode_hooks=[now.append])
    counts = []
    for _ in range(steps):
        eager.step(torch.zeros(N, 2))
        counts.append(len(now))
    _assert_same(now, ref.batches)
    assert counts[0] == 0 and counts[1] == 1  # world 0 and 3 end at step 2 together


def test_state_dict_flushes_and_keeps_its_format() -> None:
    seen: list[FinishedEpisodes] = []
    venv = RslVecEnv(ScriptedEnv(), episode_hooks=[seen.append], defer_episodes=True)
    for _ in range(3):
        venv.step(torch.zeros(N, 2))
    state = venv.state_dict()
    assert len(seen) == 2  # steps 2 and 3 finished episodes: handed over before saving
    assert state["episode_length"].dtype == np.int64
    assert state["episode_return"].dtype == np.float64
    assert set(state["episode_terms"]) == {"a", "b"}
    np.testing.assert_array_equal(state["episode_length"], [1, 0, 3, 1, 0])


def test_host_arrays_packs_every_dtype() -> None:
    ts = [
        torch.tensor([True, False, True]),
        torch.arange(5, dtype=torch.long),
        torch.linspace(0, 1, 3, dtype=torch.float64),
        torch.ones(2, 3, dtype=torch.float32),
        torch.tensor([7], dtype=torch.int32),
    ]
    for got, t in zip(host_arrays(ts), ts, strict=True):
        assert got.dtype == t.numpy().dtype and got.shape == tuple(t.shape)
        np.testing.assert_array_equal(got, t.numpy())


# ---- no host reads -------------------------------------------------------------------------


def test_a_step_reads_nothing_back(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[FinishedEpisodes] = []
    venv = RslVecEnv(ScriptedEnv(), episode_hooks=[seen.append], defer_episodes=True)
    watch = NanWatch()
    actions = torch.zeros(N, 2)
    reads = watch_host_reads(monkeypatch)
    with torch.inference_mode():
        for t in range(6):
            obs, rew, dones, _ = venv.step(actions)
            watch.step(t, obs, rew, dones)
    assert reads == []
    # the watch works: a canary read shows up, and the iteration's end reads as it should
    bool(torch.ones(1))
    assert len(reads) == 1
    watch.check(1)
    venv.flush_episodes()
    monkeypatch.undo()
    assert len(seen) == len(Reference.of(6).batches)


# ---- the NaN check ---------------------------------------------------------------------------


def _trainer(env: ScriptedEnv, hooks: list[Any] | None = None) -> Trainer:
    settings = sanity_settings(seed=0, ppo={"horizon": 8, "num_mini_batches": 1})
    return Trainer(env, settings, episode_hooks=hooks or [])


@pytest.mark.parametrize(
    ("where", "culprit", "at", "it"),
    [
        (
            {"nan_obs_at": 3},
            "observation group 'policy' returned by the environment contains",
            3,
            1,
        ),
        ({"nan_reward_at": 13}, "rewards returned by the environment contain", 5, 2),
    ],
)
def test_nan_raises_within_its_iteration(
    where: dict[str, Any], culprit: str, at: int, it: int
) -> None:
    """Horizon 8: global step 13 is step 5 of iteration 2's rollout."""
    env = ScriptedEnv(**where)
    trainer = _trainer(env)
    match = rf"{culprit} NaN values \(first at rollout step {at} of iteration {it}\)"
    with pytest.raises(ValueError, match=match):
        trainer.train(3)
    assert trainer.iteration == it - 1  # raised before that iteration's update
    assert env.calls == 8 * it  # ... once its rollout was over


def test_nan_watch_names_the_first_culprit() -> None:
    from tensordict import TensorDict

    watch = NanWatch()
    ok = TensorDict({"policy": torch.zeros(2, 3), "critic": torch.zeros(2, 1)}, batch_size=[2])
    bad = ok.clone()
    bad["critic"][1, 0] = float("nan")
    zeros, dones = torch.zeros(2), torch.zeros(2, dtype=torch.long)
    watch.step(0, ok, zeros, dones)
    watch.check(1)  # nothing: no raise, and the next rollout starts over
    watch.step(0, ok, zeros, dones)
    watch.step(1, bad, torch.tensor([0.0, math.nan]), dones)
    watch.step(2, bad, zeros, dones)
    with pytest.raises(ValueError, match=r"'critic' .* step 1 of iteration 4"):
        watch.check(4)
    watch.check(5)


# ---- the iteration's means -------------------------------------------------------------------


def test_iteration_means_equal_the_old_definition() -> None:
    """Before, a step logged ``Episode/*`` / ``Reward/*`` only when episodes ended, as a
    tensor over those episodes, and an iteration's mean was ``torch.cat(v).mean()``."""
    gen = torch.Generator().manual_seed(3)
    steps, n = 9, 64
    new: dict[str, list[torch.Tensor]] = {}
    old: dict[str, list[torch.Tensor]] = {}
    for t in range(steps):
        done = torch.rand(n, generator=gen) < (0.0 if t in (0, 4) else 0.2)
        for key in ("Episode/return", "Episode/length", "Reward/reach"):
            values = torch.randn(n, generator=gen, dtype=torch.float64).to(torch.float32) * 37
            new.setdefault(key, []).append(torch.where(done, values, math.nan))
            if done.any():
                old.setdefault(key, []).append(values[done])
        never = torch.full((n,), math.nan)  # a term no episode finished with
        new.setdefault("Reward/never", []).append(never)
        scalar = torch.tensor(float(t) / 3)  # an env log value, every step
        new.setdefault("Env/nan_resets", []).append(scalar.reshape(-1))
        old.setdefault("Env/nan_resets", []).append(scalar.reshape(-1))
    means, returns = iteration_means(new)
    want = {k: float(torch.cat(v).mean()) for k, v in old.items()}
    assert means == want  # bit for bit, and "Reward/never" is left out
    assert returns == torch.cat(old["Episode/return"]).tolist()


def test_record_keeps_finished_returns_only() -> None:
    trainer = _trainer(ScriptedEnv())
    logs = {
        "Episode/return": [torch.tensor([math.nan, 2.0, math.nan]), torch.tensor([5.0] * 3)],
        "Episode/length": [torch.full((3,), math.nan)] * 2,
    }
    stats = trainer._record(logs, {}, 1.0)
    assert list(trainer._returns) == [2.0, 5.0, 5.0, 5.0]
    assert stats.mean_return == pytest.approx(17.0 / 4) and stats.mean_length is None


def test_curve_rows_belong_to_their_iterations() -> None:
    """The learning curve's hook now runs at the end of each rollout: its rows still
    hold each iteration's own episodes (horizon 8: iteration k holds steps 8k-8..8k-1)."""
    from intermimic.rl.training_run import CurveRecorder

    curve = CurveRecorder(None, N * 8)
    trainer = _trainer(ScriptedEnv(), [curve])
    curve.trainer = trainer
    trainer.train(3)
    curve.flush(3)
    ref = Reference.of(24)
    assert [r["iteration"] for r in curve.rows] == [1, 2, 3]
    for row in curve.rows:
        it = row["iteration"]
        batches = [b for t, b in ref.by_step.items() if 8 * (it - 1) <= t < 8 * it]
        lengths = np.concatenate([b.lengths for b in batches])
        assert row["episodes"] == len(lengths)
        assert row["mean_length"] == pytest.approx(float(lengths.mean()))
        returns = np.concatenate([b.returns for b in batches])
        assert row["mean_return"] == pytest.approx(float(returns.mean()))
        success = np.concatenate([b.success for b in batches if b.success is not None])
        assert row["success_rate"] == pytest.approx(float(success.mean()))
