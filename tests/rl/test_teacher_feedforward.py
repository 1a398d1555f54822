"""Recipe ``planner_ff``: the planner's actions as the teacher's base, in checkpoints, in
evaluation and in the student's labels (a tiny synthetic box clip, 8 planned frames)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import mujoco
import numpy as np
import pytest

from data_catalog import Store
from data_catalog.runs import REFINE_FILE, teacher_dir
from intermimic.env.feedforward import FeedForwardError
from intermimic.motion.clip import HOIClip
from intermimic.motion.synthetic import synthetic_clip, write_synthetic_objects
from intermimic.objects import ObjectLibrary
from intermimic.plan import PlannerSettings, plan_clip
from intermimic.plan.seeds import PlannedClip, feedforward_actions
from intermimic.rl import checkpoint as ckpt
from intermimic.rl.clipset import ClipSet, prepare_clips
from intermimic.rl.rollout import evaluate
from intermimic.rl.student_env import StudentGroup, build_student_env
from intermimic.rl.student_settings import StudentSettings
from intermimic.rl.teacher_actor import load_teacher_actor
from intermimic.rl.teacher_env import build_teacher_env
from intermimic.rl.teacher_policy import load_teacher
from intermimic.rl.teacher_settings import SETTINGS_FILE, TeacherSettings
from intermimic.rl.teacher_training import train_teacher, zero_actor_mean
from intermimic.rl.train import Trainer
from intermimic.sim import mujoco_backend
from stages.refine import refine_subject

SETTINGS = TeacherSettings(
    env_steps=4 * 8, worlds=4, horizon=8, hidden_dims=[32], checkpoint_interval=1,
    sim_threads=1, tensorboard=False, recipe="planner_ff", psi_rule="confirm",
)  # fmt: skip
PLAN = PlannerSettings(samples=4, horizon=4, knots=2, iterations=1, seed=0)
FRAMES = 8


def resting_box_clip() -> HOIClip:
    """The synthetic clip's body motion with the box resting on the ground out of reach
    and no hand contact: the synthetic carry's box flies faster than hands can carry it,
    so its plan ends within 2 frames, where this one's lasts the 8 asked for."""
    clip = synthetic_clip("s1", "box", 0, 20, seed=0, dataset="lab")
    n = clip.n_frames
    contact = clip.contact.copy()
    contact[contact == 1] = 0
    return clip.with_arrays(
        obj_pos=np.tile(np.array([1.5, 1.5, 0.15], np.float32), (n, 1)),  # half its height
        obj_quat=np.tile(np.array([1, 0, 0, 0], np.float32), (n, 1)),
        contact=contact,
        obj_contact=np.zeros(n, np.int8),
    )


@pytest.fixture(scope="module")
def clipset(tmp_path_factory: pytest.TempPathFactory) -> ClipSet:
    objects = ObjectLibrary(write_synthetic_objects(tmp_path_factory.mktemp("ff_objects")))
    return prepare_clips([resting_box_clip()], objects, SETTINGS)


def _plan(clipset: ClipSet) -> PlannedClip:
    res = plan_clip(
        clipset.clips[0], next(iter(clipset.scenes.values())), SETTINGS, PLAN, max_frames=FRAMES
    )
    return PlannedClip(res.rollout, res.seconds)


@pytest.fixture(scope="module")
def plan(clipset: ClipSet) -> PlannedClip:
    p = _plan(clipset)
    assert p.frames == FRAMES  # the whole request: the replay covers 8 steps
    return p


def _teacher_run(
    run_dir: Path,
    clipset: ClipSet,
    ff: dict[str, Any],
    settings: TeacherSettings = SETTINGS,
    *,
    zero: bool = True,
) -> None:
    """An untrained teacher of ``settings`` (planner_ff) in ``run_dir``: the plan as base,
    the actor's mean zeroed (what train_teacher starts from; ``zero=False``: as the
    initialisation left it), saved as a checkpoint."""
    env = build_teacher_env(clipset, settings)
    try:
        env.set_feedforward(ff)
        trainer = Trainer(env, settings.train_settings(), run_dir, stateful=env.stateful())
        if zero:
            zero_actor_mean(trainer, env)
        trainer.save_checkpoint()
    finally:
        env.close()
    meta = {"settings": settings.model_dump(mode="json"), "clips": env.clip_ids}
    (run_dir / SETTINGS_FILE).write_text(json.dumps(meta))


@pytest.fixture(scope="module")
def teacher_run(
    tmp_path_factory: pytest.TempPathFactory, clipset: ClipSet, plan: PlannedClip
) -> Path:
    run = tmp_path_factory.mktemp("ff_teacher") / "run"
    _teacher_run(run, clipset, feedforward_actions({clipset.clips[0].meta.clip_id: plan}))
    return run


def _replay_difference(clipset: ClipSet, plan: PlannedClip, run: Path) -> np.ndarray:
    """``[frames + 1]`` max |qpos| difference per frame between the plan and the
    teacher's noiseless attempt from the MoCap start; the actions must be the plan's."""
    cid = clipset.clips[0].meta.clip_id
    r = evaluate(clipset, SETTINGS, run, attempts=1, noise=0.0)[cid]
    n = plan.frames
    assert r.duration >= n
    # the executed actions are the plan's, to the bit: base = plan, residual = 0
    np.testing.assert_array_equal(r.arrays["actions"][:n], plan.actions[:n])
    return np.abs(r.arrays["qpos"][: n + 1] - plan.rollout.arrays["qpos"]).max(axis=1)


def test_untrained_teacher_replays_the_plan(
    clipset: ClipSet, plan: PlannedClip, teacher_run: Path
) -> None:
    """The plan's frames are its actions replayed from the MoCap start, to the bit: each
    frame's samples start with the committed step's solver warm start, as the replay's
    step does (before, a reset cleared it: 1e-13..2e-11 m apart on sub2_largetable_000
    once hand-table contacts start, grown to 11 cm by frame 120)."""
    diff = _replay_difference(clipset, plan, teacher_run)
    np.testing.assert_array_equal(diff, 0.0)


def test_replay_is_exact_without_the_warm_start(
    tmp_path: Path, clipset: ClipSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With MuJoCo's warm start off in every backend (planner and replay alike), the
    replay is the plan to the bit as well: the warm start is the only state a reset
    loses."""
    original = mujoco_backend.physics_model

    def cold(*args: Any, **kwargs: Any) -> Any:
        pm = original(*args, **kwargs)
        pm.model.opt.disableflags |= mujoco.mjtDisableBit.mjDSBL_WARMSTART
        return pm

    monkeypatch.setattr(mujoco_backend, "physics_model", cold)
    plan = _plan(clipset)
    _teacher_run(
        tmp_path / "run", clipset, feedforward_actions({clipset.clips[0].meta.clip_id: plan})
    )
    diff = _replay_difference(clipset, plan, tmp_path / "run")
    np.testing.assert_array_equal(diff, 0.0)


def test_checkpoint_carries_the_feedforward_and_old_ones_load(
    tmp_path: Path, clipset: ClipSet, plan: PlannedClip, teacher_run: Path, caplog: Any
) -> None:
    cid = clipset.clips[0].meta.clip_id
    c = ckpt.load_latest(teacher_run / "checkpoints")
    assert c is not None
    saved = c.state["objects"]["feedforward"]
    assert list(saved) == [cid]
    np.testing.assert_array_equal(saved[cid], plan.actions[: plan.frames])
    # round trip into a fresh env, as evaluation and refinement load it
    env = build_teacher_env(clipset, SETTINGS.model_copy(update={"worlds": 1}))
    try:
        load_teacher(teacher_run, env, SETTINGS)
        e = env.envs[0]
        assert e.feedforward is not None and e.feedforward.covered == {cid: plan.frames}
        np.testing.assert_array_equal(env.stateful()["feedforward"].state_dict()[cid], saved[cid])
        g = e.ref.global_index(np.zeros(1, np.int64), np.array([3]))
        e.reset_to(g, e.ref.states()[g])
        np.testing.assert_array_equal(env.reference_actions().numpy()[0], plan.actions[3])
        # a plan that does not fit raises naming the clip and changes nothing
        with pytest.raises(FeedForwardError, match=cid):
            env.set_feedforward({cid: np.zeros((40, env.num_actions))})
        assert e.feedforward is not None and e.feedforward.covered == {cid: plan.frames}
        np.testing.assert_array_equal(env.feedforward[cid], saved[cid])
    finally:
        env.close()
    # an older checkpoint (no feed-forward entry) loads and keeps the reference base
    del c.state["objects"]["feedforward"]
    old = tmp_path / "old"
    ckpt.save_checkpoint(old / "checkpoints", c.iteration, c.model, c.optimizer, c.state)
    (old / SETTINGS_FILE).write_text((teacher_run / SETTINGS_FILE).read_text())
    env = build_teacher_env(clipset, SETTINGS.model_copy(update={"worlds": 1}))
    try:
        trainer = Trainer(env, SETTINGS.train_settings(), None, stateful=env.stateful(psi=False))
        with caplog.at_level(logging.WARNING, logger="intermimic.rl.train"):
            trainer.load(ckpt.load_latest(old / "checkpoints"), env_state=False)  # type: ignore[arg-type]
        assert "no state for 'feedforward'" in caplog.text
        assert env.feedforward == {} and env.envs[0].feedforward is None
        e = env.envs[0]
        g = e.ref.global_index(np.zeros(1, np.int64), np.array([3]))
        e.reset_to(g, e.ref.states()[g])
        ref = e.ref.qpos[g + 1][:, e.scene.humanoid_qpos_adr[7:]]
        expected = np.clip(e.action_map.actions(ref), -1, 1)
        np.testing.assert_array_equal(env.reference_actions().numpy(), expected)
    finally:
        env.close()


def test_student_labels_use_the_teachers_feedforward(
    clipset: ClipSet, plan: PlannedClip, teacher_run: Path
) -> None:
    """The teacher's executed action is its plan (its base, zero mean) while the plan
    lasts, the reference after; the student's label is that, relative to the reference."""
    teacher = load_teacher_actor(teacher_run, "s1")
    cid = clipset.clips[0].meta.clip_id
    np.testing.assert_array_equal(teacher.feedforward[cid], plan.actions[: plan.frames])
    name, clips = next(iter(clipset.groups.items()))
    groups = [StudentGroup("s1", name, clips, clipset.scenes[name])]
    s = StudentSettings(worlds=2, sim_threads=1, tensorboard=False, beta_start=1.0)
    env = build_student_env(groups, {"s1": teacher}, s, {groups[0].name: 2}, psi=False)
    try:
        e = env.envs[0]
        assert env.residual_scale == teacher.residual_scale == SETTINGS.residual_scale
        obs = env.reset()
        for _ in range(plan.frames + 2):
            _, frame = e.clip_frame()
            ref = env.reference_actions()
            covered = frame < plan.frames
            step = np.minimum(frame, plan.frames - 1)
            expected = np.where(covered[:, None], plan.actions[step], ref)
            np.testing.assert_allclose(
                obs["teacher"], (expected - ref) / s.residual_scale, atol=1e-5
            )
            assert obs["driven"].all()
            obs, *_ = env.step(np.zeros((2, env.num_actions)))
            np.testing.assert_array_equal(env.last_actions, expected)
    finally:
        env.close()


def test_recipe_planner_ff(
    tmp_path: Path, clipset: ClipSet, plan: PlannedClip, monkeypatch: pytest.MonkeyPatch
) -> None:
    from intermimic.plan import recipes

    with pytest.raises(ValueError, match="planner_ff.*needs residual_actions=True"):
        TeacherSettings(recipe="planner_ff", residual_actions=False)
    cid = clipset.clips[0].meta.clip_id
    monkeypatch.setattr(recipes, "plan_clips", lambda *a, **k: {cid: plan})
    inputs = recipes.recipe_inputs(clipset, SETTINGS, tmp_path / "cache")
    assert inputs.init_actor is zero_actor_mean and inputs.feedforward is not None
    np.testing.assert_array_equal(inputs.feedforward[cid], plan.actions[: plan.frames])
    assert inputs.psi_seeds is not None
    np.testing.assert_array_equal(inputs.psi_seeds[cid], plan.states)
    # train_teacher installs it and every checkpoint carries it
    out = train_teacher(
        clipset, SETTINGS, tmp_path / "run", psi_seeds=inputs.psi_seeds,
        init_actor=inputs.init_actor, feedforward=inputs.feedforward,
    )  # fmt: skip
    assert out.iterations == 1
    c = ckpt.load_latest(tmp_path / "run" / "checkpoints")
    assert c is not None
    np.testing.assert_array_equal(c.state["objects"]["feedforward"][cid], inputs.feedforward[cid])
    with pytest.raises(ValueError, match="residual_actions must be True"):
        absolute = SETTINGS.model_copy(update={"recipe": "ppo", "residual_actions": False})
        train_teacher(clipset, absolute, None, feedforward=inputs.feedforward)


def test_refine_reports_how_far_the_teachers_plan_tracked(
    tmp_path: Path, clipset: ClipSet, plan: PlannedClip
) -> None:
    """Refining a planner_ff teacher reports each clip's plan length beside the teacher's
    own duration (report, table, refine.json), so a teacher worse than its plan shows."""
    cid = clipset.clips[0].meta.clip_id
    store = Store(tmp_path / "store")
    store.upsert_clips("lab", "s1", [clipset.clips[0]])
    objects = ObjectLibrary(write_synthetic_objects(tmp_path / "objects"))
    run = teacher_dir(store, "lab", "s1")
    run.mkdir(parents=True)
    _teacher_run(run, clipset, feedforward_actions({cid: plan}))
    rep = refine_subject(store, "lab", "s1", SETTINGS, objects, reference=None)
    assert rep.plan_frames == {cid: FRAMES}
    header, rows = rep.tracking_table()
    assert header[2:4] == ["duration", "plan frames"] and rows[0][3] == str(FRAMES)
    assert json.loads((run / REFINE_FILE).read_text())["plan_frames"] == {cid: FRAMES}
