"""A teacher in body mode (``hands="body"``: fingers welded, 63 actions): trains,
checkpoints, and refinement and evaluation load it with its own hands mode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cli.settings_options import SettingsError, parse_overrides
from data_catalog import Catalog, Store
from data_catalog.runs import refined_dataset_for, teacher_dir
from intermimic.motion.synthetic import synthetic_clip, write_synthetic_objects
from intermimic.objects import ObjectLibrary
from intermimic.rl import checkpoint as ckpt
from intermimic.rl.checkpoint import CheckpointError
from intermimic.rl.clipset import prepare_clips
from intermimic.rl.teacher_actor import load_teacher_actor
from intermimic.rl.teacher_env import build_teacher_env
from intermimic.rl.teacher_policy import load_teacher
from intermimic.rl.teacher_settings import TeacherSettings
from intermimic.rl.teacher_training import warm_start
from intermimic.rl.train import Trainer
from stages.refine import REFINED_STAGE, refine_subject
from stages.teacher import train_subject_teacher

BODY = TeacherSettings(
    recipe="ppo",  # trains without plans (the cpu default plans first)
    env_steps=2 * 4 * 8,
    worlds=4,
    horizon=8,
    hidden_dims=[32],
    checkpoint_interval=1,
    sim_threads=1,
    attempts=1,
    tensorboard=False,
    hands="body",
)


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> ObjectLibrary:
    return ObjectLibrary(write_synthetic_objects(tmp_path_factory.mktemp("hands_objects")))


def _store(root: Path) -> Store:
    store = Store(root)
    clips = [synthetic_clip("s1", "box", i, 30, seed=i, dataset="lab") for i in range(2)]
    store.upsert_clips(
        "lab", "s1", [c.with_meta(source_sha256=f"{i:064x}") for i, c in enumerate(clips)]
    )
    return store


def test_hands_setting_is_checked_naming_it() -> None:
    assert TeacherSettings().hands == "full" and TeacherSettings().embodiment_key == "smplx"
    s = parse_overrides(TeacherSettings, ["hands=body"])
    assert s.hands == "body" and s.embodiment_key == "smplx-body"
    with pytest.raises(SettingsError, match="hands"):
        parse_overrides(TeacherSettings, ["hands=fingers"])
    with pytest.raises(SettingsError, match="hands"):
        parse_overrides(TeacherSettings, ["hands=body", "embodiment=g1"])


def test_body_mode_teacher_trains_refines_and_evaluates(
    tmp_path: Path, objects: ObjectLibrary
) -> None:
    from intermimic.eval import EvalSettings, evaluate_teacher_runs

    store = _store(tmp_path / "store")
    rep = train_subject_teacher(store, "lab", "s1", BODY, objects, evaluate=True)
    run = teacher_dir(store, "lab", "s1", "smplx-body")
    assert rep.run_dir == run and run.parent.parent.name == "teachers-smplx-body"
    assert not teacher_dir(store, "lab", "s1").exists()  # full hands untouched
    assert rep.result.iterations == 2 and rep.evaluation["e_h_cm"] >= 0
    c = ckpt.load_latest(run / "checkpoints")
    assert c is not None
    assert TeacherSettings.of_run(run).hands == "body"

    # refinement finds the run by the hands mode and builds the env the run was trained
    # in; its SMPL-X clips hold the fingers at the weld pose (flat)
    refined = refine_subject(store, "lab", "s1", TeacherSettings(hands="body"), objects)
    assert refined.refined_dataset == refined_dataset_for("lab", "smplx-body")
    assert refined.refined_dataset == "lab-refined-smplx-body"
    clips = store.read_subject(refined.refined_dataset, "s1")
    assert len(clips) == 2
    for clip in clips:
        assert clip.joint_rotvec.shape[1:] == (51, 3) and clip.body_pos.shape[1] == 52
        fingers = [i - 1 for i, n in enumerate(_names()) if _finger(n)]
        np.testing.assert_allclose(clip.joint_rotvec[:, fingers], 0.0, atol=1e-6)
    assert set(refined.after) == set(refined.tracking)  # artifact figures measured
    figs = Catalog(store.root).figures_wide(f"{REFINED_STAGE}-smplx-body")
    assert sorted(figs["clip"]) == ["s1_box_000", "s1_box_001"]

    # evaluation: the run's own settings build its env
    raw = store.read_subject("lab", "s1")
    ev = evaluate_teacher_runs(
        {"s1": run}, raw, objects, EvalSettings(attempts=1, sim_threads=1, max_worlds=4)
    )
    assert len(ev.results) == 2 and not ev.rejected

    # a full-hands environment cannot take it, and the student cannot distil from it
    cs = prepare_clips(raw, objects, TeacherSettings(worlds=2))
    env = build_teacher_env(cs, TeacherSettings(worlds=2), psi=False)
    try:
        assert env.num_actions == 153
        with pytest.raises(CheckpointError, match="hands='body'"):
            load_teacher(run, env, TeacherSettings(worlds=2))
    finally:
        env.close()
    with pytest.raises(CheckpointError, match="hands='body'"):
        load_teacher_actor(run, "s1")

    # the curriculum's next stage: a full-hands run started from the body-mode teacher
    full = BODY.model_copy(update={"hands": "full", "init_from": str(run), "env_steps": 32})
    cs = prepare_clips(raw, objects, full)
    env = build_teacher_env(cs, full)
    try:
        trainer = Trainer(env, full.train_settings(), None, stateful=env.stateful())
        warm_start(trainer, env, run)
        actor = trainer.alg.save()["actor_state_dict"]
        emb = env.envs[0].scene.embodiment
        body = np.array([not _finger(n.rsplit("_", 1)[0]) for n in emb.joint_names])
        np.testing.assert_array_equal(
            actor["mlp.2.weight"][body].numpy(), c.model["actor.mlp.2.weight"].numpy()
        )
        assert not actor["mlp.2.weight"][~body].any() and not actor["mlp.2.bias"][~body].any()
        norm = c.state["objects"]["obs_norm.box"]
        np.testing.assert_array_equal(env.envs[0].normalizer.state_dict()["mean"], norm["mean"])
    finally:
        env.close()
    second = train_subject_teacher(store, "lab", "s1", full, objects, evaluate=False)
    assert second.run_dir == teacher_dir(store, "lab", "s1") and second.result.iterations == 1
    with pytest.raises(CheckpointError, match="no usable"):
        warm_start(trainer, env, tmp_path / "nowhere")


def _names() -> tuple[str, ...]:
    from intermimic.motion.skeleton import SMPLX_BODY_NAMES

    return SMPLX_BODY_NAMES


def _finger(name: str) -> bool:
    from intermimic.humanoid.skeleton_model import is_finger

    return is_finger(name)
