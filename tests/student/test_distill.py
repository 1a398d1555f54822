"""Student networks, the DAgger environment, distillation, resume, faults, ONNX."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from data_catalog import Store
from data_catalog.runs import student_dir, teacher_dir
from intermimic.env.observations import observation_dim
from intermimic.objects import ObjectLibrary
from intermimic.rl import checkpoint as ckpt
from intermimic.rl.student_env import build_student_env
from intermimic.rl.student_model import ObsLayout, build_student_model, student_model_cfg
from intermimic.rl.student_policy import load_student
from intermimic.rl.student_training import train_student
from intermimic.rl.teacher_actor import MissingTeacherError, load_teacher_actor
from stages.student import distill_student, reference_groups

from .conftest import TINY


def _groups(store: Store, objects: ObjectLibrary, subjects=("s1",), refs="refined"):  # type: ignore[no-untyped-def]
    groups, _, _ = reference_groups(store, [("lab", s) for s in subjects], refs, objects)
    return groups


def test_layout_and_transformer_tokens() -> None:
    lay = ObsLayout(52, 5 * 16, (1, 2, 4, 16))
    assert lay.dim == observation_dim(52, 80, 4) == 3208
    cfg = student_model_cfg(
        "transformer", lay, width=32, layers=2, heads=4, head_hidden_dims=[32],
        mlp_hidden_dims=[32], init_log_std=-2.9,
    )  # fmt: skip
    torch.manual_seed(0)
    model = build_student_model(cfg, lay.dim, 153).eval()
    x = torch.randn(3, lay.dim)
    own, fut = lay.split(x)
    assert own.shape == (3, lay.own) and fut.shape == (3, 4, lay.future)
    torch.testing.assert_close(
        fut[:, 2], x[:, lay.own_head + 2 * lay.future : lay.own_head + 3 * lay.future]
    )
    # every future token reaches the action, and tokens are told apart by position
    y = model.act_flat(x)
    swapped = x.clone()
    a, f = lay.own_head, lay.future
    swapped[:, a : a + f], swapped[:, a + f : a + 2 * f] = x[:, a + f : a + 2 * f], x[:, a : a + f]
    assert y.shape == (3, 153) and not torch.allclose(y, model.act_flat(swapped))
    mlp = build_student_model(
        student_model_cfg("mlp", lay, width=8, layers=1, heads=1, head_hidden_dims=[8],
                          mlp_hidden_dims=[16], init_log_std=-2.9), lay.dim, 153,
    )  # fmt: skip
    assert mlp.act_flat(x).shape == (3, 153)


def test_student_env_observes_both_and_dagger_drives(store: Store, objects: ObjectLibrary) -> None:
    teacher = load_teacher_actor(teacher_dir(store, "lab", "s1"), "s1")
    groups = _groups(store, objects, ("s1", "s2"))
    env = build_student_env(groups, {"s1": teacher}, TINY, {g.name: 2 for g in groups}, psi=False)
    try:
        obs = env.reset()
        assert obs["policy"].shape == (4, env.layout.dim) and env.layout.offsets == (1, 2, 4, 16)
        assert obs["teacher_mask"][:, 0].tolist() == [1, 1, 0, 0]
        assert obs["driven"][:, 0].tolist() == [1, 1, 0, 0]  # beta = 1, s2 has no teacher
        # the teacher's action is computed from the tracking env's own observation
        t_obs = env.envs[0].normalizer.normalize(env.envs[0].observe_raw())
        np.testing.assert_allclose(obs["teacher"][:2], teacher.act(t_obs.numpy()), atol=1e-5)
        student = np.full((4, env.num_actions), 0.3)
        ref = env.reference_actions()
        expected_teacher = ref[:2] + TINY.residual_scale * obs["teacher"][:2]
        env.step(student)
        np.testing.assert_allclose(env.last_actions[:2], expected_teacher, atol=1e-5)
        np.testing.assert_allclose(env.last_actions[2:], ref[2:] + TINY.residual_scale * 0.3)
    finally:
        env.close()


def test_student_imitates_a_fixed_teacher(
    store: Store, objects: ObjectLibrary, tmp_path: Path
) -> None:
    """DAgger-only distillation with the teacher driving: the student's action error on
    fresh teacher rollouts falls below half the untrained student's and half the
    teacher's action power."""
    teacher = load_teacher_actor(teacher_dir(store, "lab", "s1"), "s1")
    groups = _groups(store, objects)
    s = TINY.model_copy(
        update={"mode": "dagger_only", "worlds": 8, "env_steps": 8 * 8, "learning_rate": 1e-3,
                "beta_hold_iterations": 10_000, "checkpoint_interval": 50}
    )  # fmt: skip

    def action_error(run: Path) -> tuple[float, float]:
        p = load_student(run)
        env = build_student_env(groups, {"s1": teacher}, p.settings, 8, psi=False)
        try:
            obs, err, power = env.reset(), [], []
            for _ in range(10):
                err.append(np.mean((p.act(obs) - obs["teacher"]) ** 2))
                power.append(np.mean(obs["teacher"] ** 2))
                obs, *_ = env.step(obs["teacher"])
        finally:
            env.close()
        return float(np.mean(err)), float(np.mean(power))

    train_student(groups, {"s1": teacher}, s, tmp_path / "run")
    before, power = action_error(tmp_path / "run")
    train_student(
        groups, {"s1": teacher}, s.model_copy(update={"env_steps": 8 * 8 * 25}), tmp_path / "run"
    )
    after, _ = action_error(tmp_path / "run")
    assert after < 0.5 * before and after < 0.5 * power, (before, after, power)


def test_full_mode_checkpoints_schedules_and_resumes(
    store: Store, objects: ObjectLibrary, tmp_path: Path
) -> None:
    teacher = load_teacher_actor(teacher_dir(store, "lab", "s1"), "s1")
    groups = _groups(store, objects)
    s = TINY.model_copy(update={"warmup_threshold": -1e9, "warmup_patience": 2})
    first = train_student(groups, {"s1": teacher}, s, tmp_path / "run")
    assert first.iterations == 2 and first.resumed_from is None
    assert first.gate_opened_at == 2  # two updates above the (trivial) threshold
    assert first.last_losses["ppo_active"] == 1.0 and first.last_losses["distill_weight"] == 1.0
    c = ckpt.load_latest(tmp_path / "run" / "checkpoints")
    assert c is not None and {"schedule", "dagger", "psi.s1.box"} <= set(c.state["objects"])
    assert c.state["objects"]["dagger"]["beta"] == 0.0  # annealed over 2 iterations
    more = train_student(
        groups, {"s1": teacher}, s.model_copy(update={"env_steps": 4 * 4 * 8}), tmp_path / "run"
    )
    assert more.resumed_from == 2 and more.iterations == 4 and more.gate_opened_at == 2
    # decay 0.95 per update after PPO joined at update 2: update 4 -> 0.95 ** 2
    assert more.last_losses["distill_weight"] == pytest.approx(0.95**2)
    assert [r["iteration"] for r in more.curve] == [1, 2, 3, 4]


def test_missing_teacher_is_named_or_skipped(
    store: Store, objects: ObjectLibrary, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(MissingTeacherError, match="'s2'.*train-teacher"):
        distill_student(store, TINY, objects, name="a")
    assert not (student_dir(store, "a") / "checkpoints").exists()
    skip = TINY.model_copy(update={"missing_teacher": "skip"})
    with caplog.at_level(logging.WARNING):
        rep = distill_student(store, skip, objects, name="b")
    assert set(rep.skipped) == {"s2"} and "s2" in caplog.text
    assert rep.result.groups == ["s1.box"] and rep.result.iterations == 2
    # PPO only needs no teacher and tracks the raw MoCap of every subject
    ppo = distill_student(store, TINY.model_copy(update={"mode": "ppo_only"}), objects, name="c")
    assert ppo.result.groups == ["s1.box", "s2.box"] and ppo.result.teachers == {}


def test_onnx_export_matches_torch(store: Store, objects: ObjectLibrary, tmp_path: Path) -> None:
    from intermimic.rl.onnx import export_onnx, run_onnx

    distill_student(store, TINY.model_copy(update={"mode": "refdist_only"}), objects, name="x")
    policy = load_student(student_dir(store, "x"))
    info = export_onnx(policy, tmp_path / "student.onnx")
    assert info["max_abs_diff"] < 1e-4
    obs = np.random.default_rng(1).normal(size=(5, info["obs_dim"])).astype(np.float32) * 3
    np.testing.assert_allclose(
        run_onnx(tmp_path / "student.onnx", obs), policy.act({"policy": obs}), atol=1e-4
    )
