"""Checkpoints: exact state round trip, corruption fallback, resume equals uninterrupted."""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from intermimic.rl import checkpoint as ckpt
from intermimic.rl.train import Trainer
from intermimic.rl.vecenv import FinishedEpisodes
from tests.rl.sanity_task import PointMassReach, sanity_settings

REPO = Path(__file__).resolve().parents[2]


class FakePSI:
    """Stands in for the env's PSI buffer: state_dict/load_state_dict + an episode hook."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.scores = np.zeros(4)
        self.episodes = 0

    def hook(self, fin: FinishedEpisodes) -> None:
        self.episodes += len(fin.env_ids)
        # an update that depends on the episodes and on its own RNG, like PSI's
        self.scores += np.bincount(fin.env_ids % 4, weights=fin.returns, minlength=4)
        self.scores += self.rng.normal(size=4) * 1e-3

    def state_dict(self) -> dict[str, Any]:
        return {
            "scores": self.scores.copy(),
            "episodes": self.episodes,
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scores = np.asarray(state["scores"]).copy()
        self.episodes = int(state["episodes"])
        self.rng.bit_generator.state = state["rng"]


def test_state_tree_round_trip_is_exact() -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    gen = np.random.default_rng(7)
    state: dict[str, Any] = {
        "rng": ckpt.capture_rng(),
        "gen": gen.bit_generator.state,  # 128-bit ints
        "a": np.arange(6, dtype=np.float64).reshape(2, 3),
        "scalar": np.array(2.5),
        "t": torch.tensor([1, 2, 3]),
        "nested": {"none": None, "flag": True, "list": [1, 2.5, "x", (3, 4)]},
    }
    blob, tree = ckpt.encode_state(state)
    back = ckpt.decode_state(blob, tree)
    assert back["gen"] == state["gen"]
    np.testing.assert_array_equal(back["a"], state["a"])
    assert back["scalar"].shape == () and float(back["scalar"]) == 2.5
    assert isinstance(back["t"], torch.Tensor) and torch.equal(back["t"], state["t"])
    assert back["nested"] == {"none": None, "flag": True, "list": [1, 2.5, "x", (3, 4)]}
    expected = (random.random(), np.random.rand(), torch.rand(1))
    ckpt.restore_rng(back["rng"])
    assert (random.random(), np.random.rand()) == expected[:2]
    assert torch.equal(torch.rand(1), expected[2])


def test_refuses_object_arrays() -> None:
    with pytest.raises(TypeError, match="object arrays"):
        ckpt.encode_state({"x": np.array([object()], dtype=object)})


def _save(root: Path, it: int, keep: int = 3) -> Path:
    return ckpt.save_checkpoint(
        root, it, {"w": torch.full((2,), float(it))}, {"step": it}, {"it": it}, keep=keep
    )


def test_keeps_newest_and_falls_back_on_corruption(tmp_path: Path, caplog: Any) -> None:
    for it in (1, 2, 3, 4):
        _save(tmp_path, it, keep=3)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == [
        "iter_000002",
        "iter_000003",
        "iter_000004",
    ]
    latest = ckpt.list_checkpoints(tmp_path)[-1]
    data = bytearray((latest / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (latest / "model.safetensors").write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="intermimic.rl.checkpoint"):
        c = ckpt.load_latest(tmp_path)
    assert c is not None and c.iteration == 3
    assert torch.equal(c.model["w"], torch.full((2,), 3.0)) and c.optimizer == {"step": 3}
    assert "iter_000004 is corrupted" in caplog.text
    # a truncated meta.json (unparseable) also falls back
    (ckpt.list_checkpoints(tmp_path)[-2] / "meta.json").write_text("{")
    c = ckpt.load_latest(tmp_path)
    assert c is not None and c.iteration == 2


def test_stale_staging_is_ignored_and_removed(tmp_path: Path) -> None:
    _save(tmp_path, 1)
    stale = tmp_path / ".iter_000002.tmp-abc123"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half")
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["iter_000001"]
    ckpt.remove_stale_staging(tmp_path)
    assert not stale.exists()


def _trainer(run_dir: Path | None, psi: FakePSI, save_interval: int = 2) -> Trainer:
    env = PointMassReach(16, episode_steps=20, seed=5)
    settings = sanity_settings(seed=5, save_interval=save_interval, ppo={"horizon": 16})
    return Trainer(env, settings, run_dir, episode_hooks=[psi.hook], stateful={"psi": psi})


def _params(trainer: Trainer) -> dict[str, torch.Tensor]:
    saved = trainer.alg.save()
    out = {f"actor.{k}": v.clone() for k, v in saved["actor_state_dict"].items()}
    out.update({f"critic.{k}": v.clone() for k, v in saved["critic_state_dict"].items()})
    return out


def test_resume_in_process_matches_uninterrupted(tmp_path: Path) -> None:
    psi_a = FakePSI()
    full = _trainer(tmp_path / "a", psi_a)
    full.train(5)

    psi_b = FakePSI()
    part = _trainer(tmp_path / "b", psi_b)
    part.train(3)  # checkpoints at 2 and 3 (the last)
    # drop the final checkpoint so resume starts from iteration 2, mid-way
    ckpt_dir = tmp_path / "b" / "checkpoints"
    import shutil

    shutil.rmtree(ckpt_dir / "iter_000003")
    psi_c = FakePSI()
    resumed = _trainer(tmp_path / "b", psi_c)
    result = resumed.train(5)
    assert result.resumed_from == 2 and result.iterations == 5
    a, c = _params(full), _params(resumed)
    for k in a:
        assert torch.equal(a[k], c[k]), k
    np.testing.assert_array_equal(psi_a.scores, psi_c.scores)
    assert psi_a.episodes == psi_c.episodes > 0


def test_corrupted_latest_resumes_from_previous(tmp_path: Path, caplog: Any) -> None:
    psi_a = FakePSI()
    full = _trainer(tmp_path / "a", psi_a)
    full.train(5)  # checkpoints 2, 4, 5
    latest = tmp_path / "a" / "checkpoints" / "iter_000005" / "state.safetensors"
    latest.write_bytes(latest.read_bytes()[:-10])  # truncated, as by a failing disk
    psi_b = FakePSI()
    again = _trainer(tmp_path / "a", psi_b)
    with caplog.at_level(logging.WARNING):
        result = again.train(5)
    assert result.resumed_from == 4
    assert "iter_000005 is corrupted" in caplog.text
    a, b = _params(full), _params(again)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    np.testing.assert_array_equal(psi_a.scores, psi_b.scores)


def test_tensorboard_scalars(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trainer = _trainer(tmp_path, FakePSI(), save_interval=10)
    trainer.train(3)
    acc = EventAccumulator(str(tmp_path / "tensorboard"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for tag in (
        "Episode/return",
        "Episode/length",
        "Episode/success",
        "Reward/reach",
        "Reward/effort",
        "Loss/surrogate",
        "Loss/value",
        "Loss/bound",
        "Loss/learning_rate",
    ):
        assert tag in tags, (tag, tags)


def _cli(run_dir: Path, *extra: str) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        "-m",
        "tests.rl.sanity_task",
        "--run-dir",
        str(run_dir),
        "--iterations",
        "6",
        "--num-envs",
        "16",
        "--seed",
        "11",
        "--save-interval",
        "2",
        *extra,
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=180)
    return proc.returncode, out, err


@pytest.mark.slow  # three fresh interpreters importing torch: 20-50 s on two busy cores
def test_sigkill_then_rerun_equals_uninterrupted(tmp_path: Path) -> None:
    # the reference run and the run that gets killed start together (two cores)
    full_proc = _cli(tmp_path / "full")
    killed_proc = _cli(tmp_path / "killed", "--sigkill-after-checkpoint", "4")
    rc, _, err = _finish(full_proc)
    assert rc == 0, err
    rc, _, err = _finish(killed_proc)
    assert rc == -signal.SIGKILL, err
    names = [p.name for p in ckpt.list_checkpoints(tmp_path / "killed" / "checkpoints")]
    assert names[-1] == "iter_000004"

    rc, out, err = _finish(_cli(tmp_path / "killed"))
    assert rc == 0, err
    assert "resumed_from=4" in out

    a = load_file(str(tmp_path / "full" / "checkpoints" / "iter_000006" / "model.safetensors"))
    b = load_file(str(tmp_path / "killed" / "checkpoints" / "iter_000006" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
