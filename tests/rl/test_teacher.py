"""Teacher training and refinement on a tiny synthetic subject (box clips, 4 worlds)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from data_catalog import Catalog, Store
from data_catalog.refined_layout import ROLLOUT, refined_dataset, refined_sha256
from data_catalog.runs import teacher_dir
from intermimic.env.termination import REASONS
from intermimic.motion.synthetic import synthetic_clip, write_synthetic_objects
from intermimic.objects import ObjectLibrary
from intermimic.rl import checkpoint as ckpt
from intermimic.rl.checkpoint import CheckpointError
from intermimic.rl.clipset import prepare_clips
from intermimic.rl.rollout import best_rollouts, end_reasons, evaluate, iter_attempts, summarize
from intermimic.rl.teacher_env import share_worlds
from intermimic.rl.teacher_settings import CPU_RECIPE, NoClipsError, TeacherSettings
from intermimic.rl.teacher_training import train_teacher
from intermimic.rl.training_run import load_curve
from stages.refine import REFINED_STAGE, refine_subject
from stages.subjects import resolve_subject
from stages.teacher import train_subject_teacher

#: Tiny but complete: 4 worlds, horizon 8, one 32-wide layer, a checkpoint every 2 iterations.
TINY = TeacherSettings(
    recipe="ppo",  # trains without plans (the cpu default plans first)
    env_steps=3 * 4 * 8,
    worlds=4,
    horizon=8,
    hidden_dims=[32],
    checkpoint_interval=2,
    sim_threads=1,
    attempts=2,
    tensorboard=True,
)


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> ObjectLibrary:
    return ObjectLibrary(write_synthetic_objects(tmp_path_factory.mktemp("teacher_objects")))


def _store(root: Path, n_clips: int = 2, frames: int = 30) -> Store:
    store = Store(root)
    clips = [
        synthetic_clip("s1", "box", i, frames + 4 * i, seed=i, dataset="lab")
        for i in range(n_clips)
    ]
    clips = [c.with_meta(source_sha256=f"{i:064x}") for i, c in enumerate(clips)]
    store.upsert_clips("lab", "s1", clips)
    return store


def test_settings_map_onto_train_and_env_settings() -> None:
    s = TeacherSettings(env_steps=1000, seed=3, horizon=16, hidden_dims=[64], checkpoint_interval=5)
    ts = s.train_settings()
    assert ts.total_env_steps == 1000 and ts.seed == 3 and ts.save_interval == 5
    assert ts.ppo.horizon == 16 and ts.policy.actor_hidden_dims == [64]
    assert ts.ppo.schedule == "fixed" and ts.ppo.learning_rate == 3e-4  # the CPU profile
    assert TeacherSettings(profile="paper").train_settings().policy.actor_hidden_dims == [
        1024,
        1024,
        512,
    ]
    assert s.env_settings().seed == 3 and s.env_settings(psi=False).psi.enabled is False
    assert s.env_settings().psi.rule == "released"  # the method's default
    confirm = TeacherSettings(psi_rule="confirm", psi_starts="reached").env_settings().psi
    assert (confirm.rule, confirm.starts) == ("confirm", "reached")
    with pytest.raises(ValueError, match="psi_starts"):
        TeacherSettings(psi_starts="sometimes")
    with pytest.raises(ValueError, match="psi_starts='reached' applies to psi_rule='confirm'"):
        TeacherSettings(psi_starts="reached")
    with pytest.raises(ValueError, match="backend"):
        TeacherSettings(backend="isaac")
    assert share_worlds([100, 300], 8) == [2, 6]
    assert share_worlds([1, 1000], 2) == [1, 1]


def test_recipe_is_the_profiles_unless_set(tmp_path: Path, objects: ObjectLibrary) -> None:
    """The cpu profile trains around plans by default (the best measured recipe), the
    paper profile and absolute actions with the method's PPO; a saved run keeps the
    recipe it trained with; a planner recipe without its plans is refused."""
    assert TeacherSettings().recipe == CPU_RECIPE == "planner_fb"
    assert TeacherSettings(profile="paper").recipe == "ppo"
    assert TeacherSettings(residual_actions=False).recipe == "ppo"  # no base to add to
    assert TeacherSettings(embodiment="g1").recipe == "ppo"  # not measured with plans
    assert TeacherSettings(recipe="planner_psi", profile="paper").recipe == "planner_psi"
    saved = TeacherSettings().model_dump()
    assert saved["recipe"] == "planner_fb"
    assert TeacherSettings.model_validate(saved).recipe == "planner_fb"
    old = TeacherSettings(recipe="ppo").model_dump()  # a run from before the cpu default
    assert TeacherSettings.model_validate(old).recipe == "ppo"
    assert TeacherSettings.model_validate({**old, "recipe": "profile"}).recipe == "planner_fb"
    cs = prepare_clips([synthetic_clip("s1", "box", 0, 20, seed=0)], objects, TINY)
    for recipe, missing in [
        ("planner_fb", "psi_seeds and feedforward"),
        ("planner_ff", "psi_seeds and feedforward"),
        ("planner_psi", "psi_seeds were"),
        ("planner_bc", "psi_seeds were"),
    ]:
        s = TINY.model_copy(update={"recipe": recipe, "psi_rule": "confirm"})
        with pytest.raises(ValueError, match=f"recipe='{recipe}'.*{missing}.*recipe='ppo'"):
            train_teacher(cs, s, tmp_path / recipe)
        assert not (tmp_path / recipe).exists()  # refused before anything was written
    ff = {"s1_box_000": np.zeros((3, 153))}
    with pytest.raises(ValueError, match="but psi_seeds were not given"):
        train_teacher(cs, TINY.model_copy(update={"recipe": "planner_fb"}), None, feedforward=ff)


def test_train_resume_refine(tmp_path: Path, objects: ObjectLibrary) -> None:
    store = _store(tmp_path / "store")
    assert resolve_subject(store, "s1") == ("lab", "s1")

    first = train_subject_teacher(store, "lab", "s1", TINY, objects, evaluate=False)
    run = teacher_dir(store, "lab", "s1")
    assert first.run_dir == run and first.result.iterations == 3
    assert first.result.resumed_from is None
    assert [p.name for p in ckpt.list_checkpoints(run / "checkpoints")] == [
        "iter_000002",
        "iter_000003",
    ]
    c = ckpt.load_latest(run / "checkpoints")
    assert c is not None
    # the PSI buffer, the observation normaliser and the feed-forward actions (none for
    # recipe ppo) travel with the checkpoint
    assert set(c.state["objects"]) == {"psi.box", "obs_norm.box", "feedforward"}
    assert c.state["objects"]["feedforward"] == {}
    assert c.state["objects"]["psi.box"]["filled"].shape[1] == 3  # PSISettings.slots_per_frame
    assert [r["iteration"] for r in load_curve(run)] == [1, 2, 3]
    assert any((run / "tensorboard").iterdir())
    assert first.curve_png is not None and first.curve_png.is_file()

    # the same command with a larger budget continues from the last checkpoint
    more = TINY.model_copy(update={"env_steps": 5 * 4 * 8})
    second = train_subject_teacher(store, "lab", "s1", more, objects, evaluate=True)
    assert second.result.resumed_from == 3 and second.result.iterations == 5
    assert [r["iteration"] for r in load_curve(run)] == [1, 2, 3, 4, 5]
    ev = second.evaluation
    assert set(ev) >= {"success_rate", "mean_duration", "e_h_cm", "e_o_cm"}
    assert 0 <= ev["success_rate"] <= 1 and ev["e_h_cm"] >= 0
    assert json.loads((run / "teacher.json").read_text())["iterations"] == 5

    rep = refine_subject(store, "lab", "s1", more, objects)
    out = refined_dataset("lab")
    assert rep.refined_dataset == out == "lab-refined"
    assert sorted(rep.tracking) == ["s1_box_000", "s1_box_001"]
    refined = {c.meta.clip_id: c for c in store.read_subject(out, "s1")}
    raw = {c.meta.clip_id: c for c in store.read_subject("lab", "s1")}
    for cid, clip in refined.items():
        t = rep.tracking[cid]
        assert clip.n_frames == int(t["duration"]) + 1
        assert clip.meta.source_sha256 == refined_sha256(
            rep.teacher_sha256, raw[cid].meta.source_sha256
        )
        assert np.isfinite(clip.body_pos).all()
        # frame 0 is the MoCap start state the rollout began from, the humanoid put on
        # the ground (EnvSettings.ground_reference): same x, y; z moved by a few cm
        np.testing.assert_allclose(clip.root_pos[0, :2], raw[cid].root_pos[0, :2], atol=1e-4)
        assert abs(clip.root_pos[0, 2] - raw[cid].root_pos[0, 2]) < 0.1
    series = store.read_series(out, "s1", ROLLOUT, "s1_box_000")
    n = refined["s1_box_000"].n_frames
    assert series["qpos"].shape[0] == n and series["contact_forces"].shape == (n, 52, 3)
    assert series["key_body_error"][0] < 1e-3  # starts on the reference
    figs = Catalog(store.root).figures_wide(REFINED_STAGE)
    assert sorted(figs["clip"]) == ["s1_box_000", "s1_box_001"]
    assert {"success", "duration", "e_h_cm", "e_o_cm"} <= set(figs.columns)
    assert set(rep.before) == set(rep.after) == set(rep.tracking)
    assert "penetration_object_max" in rep.comparison()
    # the MoCap subject is untouched and the refined dataset is not taken for a subject
    assert resolve_subject(store, "s1") == ("lab", "s1")

    # settings that name no recipe (the cpu profile's planner_fb) refine this PPO
    # teacher as it was trained: the recipe comes from the run (a planner_fb actor would
    # take its mean against plan observations this run has not: 0 everywhere)
    unnamed = TeacherSettings(**{**more.model_dump(), "recipe": "profile"})
    assert unnamed.recipe == "planner_fb"
    again = refine_subject(store, "lab", "s1", unnamed, objects)
    assert again.tracking == rep.tracking


def test_best_attempt_is_longest_then_lowest_error(tmp_path: Path, objects: ObjectLibrary) -> None:
    store = _store(tmp_path / "store", n_clips=1)
    cs = prepare_clips(store.read_subject("lab", "s1"), objects, TINY)
    rollouts = evaluate(cs, TINY, None, attempts=3, noise=0.5)  # untrained policy
    (best,) = rollouts.values()
    assert best.arrays["qpos"].shape[0] == best.duration + 1
    s = summarize(rollouts)
    assert s["clips"] == 1 and s["mean_duration"] == best.duration
    picked = best_rollouts([best, _shorter(best)])
    assert picked[best.clip_id] is best


def test_every_attempt_says_why_it_ended(tmp_path: Path, objects: ObjectLibrary) -> None:
    """``ended_by`` agrees with the recorded errors: an attempt ended by a body or object
    error has that error above its threshold on its last frame, and no other has."""
    store = _store(tmp_path / "store", n_clips=1)
    cs = prepare_clips(store.read_subject("lab", "s1"), objects, TINY)
    term = TINY.env_settings().termination
    rollouts = [r for batch in iter_attempts(cs, TINY, None, attempts=4, noise=1.0) for r in batch]
    assert len(rollouts) == 4
    for r in rollouts:
        assert r.ended_by and set(r.ended_by) <= {*REASONS, "non_finite", "clip_end", "episode_cap"}
        assert (r.ended_by == ("clip_end",)) == r.success
        if r.duration <= term.grace_steps:  # only the root height applies there
            continue
        for reason, key, limit in (
            ("key_body_error", "key_body_error", term.max_key_body_error),
            ("object_error", "object_error", term.max_object_error),
        ):
            assert (reason in r.ended_by) == (r.arrays[key][-1] > limit), (r.ended_by, key)
    # the untrained policy under this much noise does not reach the short clip's end
    assert any(set(r.ended_by) <= set(REASONS) for r in rollouts)


def test_end_reasons_by_hand() -> None:
    assert end_reasons(True, False, {"root_height": True, "hand_contact": True}) == (
        "root_height",
        "hand_contact",
    )
    assert end_reasons(True, False, {"root_height": False}) == ("non_finite",)
    assert end_reasons(False, True, {"root_height": False}) == ("clip_end",)
    assert end_reasons(False, False, {}) == ("episode_cap",)


def _shorter(r: Any) -> Any:
    from dataclasses import replace

    arrays = {k: v[: max(1, r.duration)] for k, v in r.arrays.items()}
    return replace(r, attempt=9, duration=max(0, r.duration - 1), arrays=arrays)


def test_subject_without_ok_clips_is_a_clear_error(tmp_path: Path, objects: ObjectLibrary) -> None:
    store = _store(tmp_path / "store", frames=10)  # shorter than the 16-frame look-ahead
    with pytest.raises(NoClipsError, match="no ok clips.*17 needed"):
        train_subject_teacher(store, "lab", "s1", TINY, objects)
    with pytest.raises(NoClipsError, match="no ok clips"):
        resolve_subject(store, "nobody")
    # an unknown object mesh rejects the clips with the reason
    lib = ObjectLibrary(tmp_path / "no_objects")
    with pytest.raises(NoClipsError, match="box"):
        prepare_clips(store.read_subject("lab", "s1"), lib, TINY)


def test_refine_without_teacher_fails(tmp_path: Path, objects: ObjectLibrary) -> None:
    store = _store(tmp_path / "store", n_clips=1)
    with pytest.raises(CheckpointError, match="train-teacher"):
        refine_subject(store, "lab", "s1", TINY, objects)


def test_corrupted_latest_checkpoint_falls_back(
    tmp_path: Path, objects: ObjectLibrary, caplog: pytest.LogCaptureFixture
) -> None:
    store = _store(tmp_path / "store", n_clips=1)
    s = TINY.model_copy(update={"env_steps": 4 * 4 * 8, "tensorboard": False})
    train_subject_teacher(store, "lab", "s1", s, objects, evaluate=False)
    run = teacher_dir(store, "lab", "s1")
    latest = ckpt.list_checkpoints(run / "checkpoints")[-1]
    assert latest.name == "iter_000004"
    blob = bytearray((latest / "state.safetensors").read_bytes())
    blob[-1] ^= 0xFF
    (latest / "state.safetensors").write_bytes(bytes(blob))
    more = s.model_copy(update={"env_steps": 5 * 4 * 8})
    with caplog.at_level(logging.WARNING):
        rep = train_subject_teacher(store, "lab", "s1", more, objects, evaluate=False)
    assert "iter_000004 is corrupted" in caplog.text
    assert rep.result.resumed_from == 2 and rep.result.iterations == 5
    assert [r["iteration"] for r in load_curve(run)] == [1, 2, 3, 4, 5]


def test_residual_actions_offset_the_reference(tmp_path: Path, objects: ObjectLibrary) -> None:
    from intermimic.rl.teacher_env import build_teacher_env

    store = _store(tmp_path / "store", n_clips=1)
    cs = prepare_clips(store.read_subject("lab", "s1"), objects, TINY)
    env = build_teacher_env(cs, TINY)
    try:
        obs = env.reset()
        assert obs["policy"].shape == (4, env.obs_dim) and obs["critic"].shape == (4, 1)
        ref = env.reference_actions()
        _, reward, term, trunc, info = env.step(np.full((4, env.num_actions), 0.4))
        np.testing.assert_allclose(env.last_actions, ref + TINY.residual_scale * 0.4)
        assert reward.shape == (4,) and set(info) >= {"reward_terms", "success", "final"}
        np.testing.assert_array_equal(info["success"], trunc & ~term)
    finally:
        env.close()
    absolute = build_teacher_env(cs, TINY.model_copy(update={"residual_actions": False}))
    try:
        absolute.reset()
        absolute.step(np.full((4, absolute.num_actions), 0.4))
        np.testing.assert_allclose(absolute.last_actions, 0.4)
    finally:
        absolute.close()


def test_untrained_baseline_sees_identity_normalised_observations(
    tmp_path: Path, objects: ObjectLibrary
) -> None:
    """The untrained policy (the benchmark's baseline) must not act on statistics of the
    one reset batch the trainer observed while it was built: with zero variance they
    clip every observation to +-5, and the baseline then depended on which frames that
    reset happened to draw."""
    from intermimic.rl.teacher_env import build_teacher_env_exact
    from intermimic.rl.teacher_policy import load_teacher

    store = _store(tmp_path / "store", n_clips=1)
    cs = prepare_clips(store.read_subject("lab", "s1"), objects, TINY)
    env = build_teacher_env_exact(cs, TINY, dict.fromkeys(cs.groups, 2), psi=True)
    try:
        load_teacher(None, env, TINY, require=False)
        e = env.envs[0]
        assert e.normalizer.frozen and e.normalizer.count == 0
        obs = env.reset()["policy"]
        raw = e.observe_raw()
        np.testing.assert_allclose(obs.numpy(), np.clip(raw.numpy(), -5, 5), atol=1e-6)
    finally:
        env.close()


def test_resume_is_bit_exact(tmp_path: Path, objects: ObjectLibrary) -> None:
    """Stopping after a checkpoint and running again gives the weights, optimiser and PSI
    buffer of an uninterrupted run, to the bit (mujoco backend, CPU)."""
    from safetensors.numpy import load_file

    store = _store(tmp_path / "store")
    clips = store.read_subject("lab", "s1")
    four = TINY.model_copy(update={"env_steps": 4 * 4 * 8, "tensorboard": False})
    two = four.model_copy(update={"env_steps": 2 * 4 * 8})
    cs = prepare_clips(clips, objects, four)
    whole = train_teacher(cs, four, tmp_path / "whole")
    first = train_teacher(cs, two, tmp_path / "split")
    assert first.iterations == 2
    again = train_teacher(cs, four, tmp_path / "split")
    assert again.resumed_from == 2 and again.iterations == 4 == whole.iterations
    a = ckpt.load_latest(tmp_path / "whole" / "checkpoints")
    b = ckpt.load_latest(tmp_path / "split" / "checkpoints")
    assert a is not None and b is not None and a.iteration == b.iteration == 4
    for name in ("model.safetensors",):
        ta, tb = load_file(str(a.path / name)), load_file(str(b.path / name))
        assert ta.keys() == tb.keys()
        for k in ta:
            np.testing.assert_array_equal(ta[k], tb[k], err_msg=k)
    psi_a = a.state["objects"]["psi.box"]
    psi_b = b.state["objects"]["psi.box"]
    np.testing.assert_array_equal(psi_a["states"], psi_b["states"])
    np.testing.assert_array_equal(psi_a["failure"], psi_b["failure"])
    np.testing.assert_array_equal(
        a.state["env"]["env"]["env.box"]["backend"]["state"],
        b.state["env"]["env"]["env.box"]["backend"]["state"],
    )
