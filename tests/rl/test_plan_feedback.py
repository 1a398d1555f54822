"""Recipe ``planner_fb``: an actor whose mean is ``f(obs) - f(obs*)`` around its plan.

The property that matters: a *trained* (non-zero) feedback keeps the noiseless attempt
from the MoCap start on the plan to the bit, while off the plan it acts. Checked on the
tiny synthetic box clip of ``test_teacher_feedforward`` (8 planned frames).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import BaseModel
from tensordict import TensorDict

from intermimic.motion.synthetic import write_synthetic_objects
from intermimic.objects import ObjectLibrary
from intermimic.plan.seeds import PlannedClip, feedforward_actions
from intermimic.rl import checkpoint as ckpt
from intermimic.rl.clipset import ClipSet, prepare_clips
from intermimic.rl.models import PrecisionMLPModel
from intermimic.rl.plan_feedback import ON_PLAN_TOL, PLAN_GROUP, record_plan_observations
from intermimic.rl.rollout import evaluate
from intermimic.rl.student_env import StudentGroup, build_student_env
from intermimic.rl.student_settings import StudentSettings
from intermimic.rl.teacher_actor import load_teacher_actor
from intermimic.rl.teacher_env import build_teacher_env
from intermimic.rl.teacher_settings import SETTINGS_FILE, TeacherSettings
from intermimic.rl.teacher_training import train_teacher, zero_actor_mean
from intermimic.rl.train import Trainer
from tests.rl.test_teacher_feedforward import FRAMES, PLAN, _plan, _teacher_run, resting_box_clip

SETTINGS = TeacherSettings(
    env_steps=4 * 8, worlds=4, horizon=8, hidden_dims=[32], checkpoint_interval=1,
    sim_threads=1, tensorboard=False, recipe="planner_fb", psi_rule="confirm",
)  # fmt: skip


@pytest.fixture(scope="module")
def clipset(tmp_path_factory: pytest.TempPathFactory) -> ClipSet:
    objects = ObjectLibrary(write_synthetic_objects(tmp_path_factory.mktemp("fb_objects")))
    return prepare_clips([resting_box_clip()], objects, SETTINGS)


@pytest.fixture(scope="module")
def plan(clipset: ClipSet) -> PlannedClip:
    p = _plan(clipset)  # planned in planner_ff's settings: the same physics
    assert p.frames == FRAMES
    return p


def _model(obs_dim: int, actions: int = 3) -> PrecisionMLPModel:
    torch.manual_seed(0)
    obs = TensorDict({"policy": torch.zeros(2, obs_dim)}, batch_size=[2])
    dist = {"class_name": "GaussianDistribution", "init_std": 0.1, "std_type": "log"}
    return PrecisionMLPModel(
        obs, {"actor": ["policy"]}, "actor", actions, hidden_dims=[8],
        distribution_cfg=dist,
    )  # fmt: skip


def test_actor_mean_is_the_difference_and_exactly_zero_on_the_plan() -> None:
    m = _model(5)
    x = torch.randn(4, 5)
    star = torch.randn(4, 5)
    star[0] = x[0]  # on the plan
    covered = torch.tensor([1.0, 1.0, 0.0, 1.0])
    on_plan = torch.tensor([1.0, 0.0, 0.0, 0.0])
    plan = torch.cat([star, covered[:, None], on_plan[:, None]], dim=1)
    td = TensorDict({"policy": x, PLAN_GROUP: plan}, batch_size=[4])
    out = m(td)
    f = m.mlp
    with torch.no_grad():
        assert float(f(x[:1]).abs().max()) > 0  # a non-zero network
        np.testing.assert_array_equal(out[0].detach().numpy(), 0.0)
        np.testing.assert_allclose(out[1].detach(), (f(x[1:2]) - f(star[1:2]))[0], atol=1e-6)
        np.testing.assert_allclose(out[2].detach(), f(x[2:3])[0], atol=1e-6)  # not covered
        np.testing.assert_allclose(out[3].detach(), (f(x[3:4]) - f(star[3:4]))[0], atol=1e-6)
    # without the group: the plain MLP (critic, other recipes)
    plain = m(TensorDict({"policy": x}, batch_size=[4]))
    np.testing.assert_allclose(plain.detach(), f(x).detach(), atol=1e-6)
    # the gradient reaches the weights through both terms (PPO's update)
    m(td, stochastic_output=True)
    m.get_output_log_prob(torch.zeros(4, 3)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.mlp.parameters())
    with pytest.raises(ValueError, match="columns"):
        m(TensorDict({"policy": x, PLAN_GROUP: plan[:, :-1]}, batch_size=[4]))


def test_recorded_observations_cover_the_plan_and_leave_the_env_as_it_was(
    clipset: ClipSet, plan: PlannedClip
) -> None:
    env = build_teacher_env(clipset, SETTINGS)
    try:
        e = env.envs[0]
        norm_before = e.normalizer.state_dict()
        psi_before = e.psi.state_dict()
        assert env.plan_feedback and env.plan_obs == [None]
        env.set_feedforward(feedforward_actions({clipset.clips[0].meta.clip_id: plan}))
        table = env.plan_obs[0]
        assert table is not None and table.frames == FRAMES  # frames 0..7, the plan's
        assert table.covered[:FRAMES].all() and not table.covered[FRAMES:].any()
        for k, v in e.normalizer.state_dict().items():
            np.testing.assert_array_equal(v, norm_before[k])
        assert json.dumps({k: str(v) for k, v in e.psi.state_dict().items()}) == json.dumps(
            {k: str(v) for k, v in psi_before.items()}
        )
        # the observation at frame 0 is the MoCap start's, as an attempt sees it
        g = e.ref.clip_start[:1].astype(np.int64)
        e.reset_to(np.repeat(g, e.n_worlds), e.ref.states()[np.repeat(g, e.n_worlds)])
        np.testing.assert_array_equal(e.observe_raw()[0].numpy(), table.raw[0].numpy())
        obs = env.reset()
        assert obs[PLAN_GROUP].shape == (env.num_envs, env.obs_dim + 2)
        # no feed-forward: no table, the group says "not covered"
        env.set_feedforward({})
        assert env.plan_obs == [None]
        assert not env.reset()[PLAN_GROUP][:, -2:].any()
        assert record_plan_observations(e) is None
    finally:
        env.close()


def test_a_nonzero_feedback_keeps_the_noiseless_attempt_on_the_plan(
    tmp_path: Path, clipset: ClipSet, plan: PlannedClip
) -> None:
    """The plan's actions to the bit while the plan lasts, whatever f is (the same
    weights as planner_ff's f(obs) leave the plan at the first step)."""
    cid = clipset.clips[0].meta.clip_id
    ff = feedforward_actions({clipset.clips[0].meta.clip_id: plan})
    _teacher_run(tmp_path / "fb", clipset, ff, SETTINGS, zero=False)  # f not zeroed
    r = evaluate(clipset, SETTINGS, tmp_path / "fb", attempts=1, noise=0.0)[cid]
    assert r.duration >= FRAMES
    np.testing.assert_array_equal(r.arrays["actions"][:FRAMES], plan.actions[:FRAMES])
    # the same network as planner_ff (f(obs), no difference) leaves the plan at once
    ff = SETTINGS.model_copy(update={"recipe": "planner_ff"})
    (tmp_path / "fb" / SETTINGS_FILE).write_text(
        json.dumps({"settings": ff.model_dump(mode="json"), "clips": [cid]})
    )
    r_ff = evaluate(clipset, ff, tmp_path / "fb", attempts=1, noise=0.0)[cid]
    assert np.abs(r_ff.arrays["actions"][0] - plan.actions[0]).max() > 1e-6


def test_feedback_acts_off_the_plan(tmp_path: Path, clipset: ClipSet, plan: PlannedClip) -> None:
    env = build_teacher_env(clipset, SETTINGS)
    try:
        env.set_feedforward(feedforward_actions({clipset.clips[0].meta.clip_id: plan}))
        trainer = Trainer(env, SETTINGS.train_settings(), None, stateful=env.stateful())
        e = env.envs[0]
        g = np.repeat(e.ref.clip_start[:1].astype(np.int64), e.n_worlds)
        states = e.ref.states()[g].copy()
        states[1:, e.scene.humanoid_qpos_adr[7:]] += 0.05  # worlds 1.. pushed off the plan
        obs = e.reset_to(g, states)
        groups = env.groups_of([obs])
        on = groups[PLAN_GROUP][:, -1].numpy()
        assert on[0] == 1.0 and not on[1:].any()
        mean = trainer.act_deterministic(groups)
        np.testing.assert_array_equal(mean[0], 0.0)
        assert np.abs(mean[1:]).max() > 10 * ON_PLAN_TOL
    finally:
        env.close()


def test_training_keeps_the_plan(tmp_path: Path, clipset: ClipSet, plan: PlannedClip) -> None:
    cid = clipset.clips[0].meta.clip_id
    ff = feedforward_actions({cid: plan})
    run = tmp_path / "run"
    out = train_teacher(
        clipset, SETTINGS, run, psi_seeds={cid: plan.states}, init_actor=zero_actor_mean,
        feedforward=ff,
    )  # fmt: skip
    assert out.iterations == 1
    c = ckpt.load_latest(run / "checkpoints")
    assert c is not None
    last = [k for k in c.model if k.startswith("actor.mlp.") and k.endswith("weight")][-1]
    assert float(c.model[last].abs().max()) > 0  # PPO moved the zeroed layer
    r = evaluate(clipset, SETTINGS, run, attempts=1, noise=0.0)[cid]
    np.testing.assert_array_equal(r.arrays["actions"][:FRAMES], plan.actions[:FRAMES])
    with pytest.raises(ValueError, match="planner_fb.*needs residual_actions=True"):
        TeacherSettings(recipe="planner_fb", residual_actions=False)


def test_budget_spent_by_planning_leaves_the_plan_as_the_teacher(
    tmp_path: Path, clipset: ClipSet, plan: PlannedClip
) -> None:
    """A time budget the plans already spent (bench/teacher_curve.py: planning counts
    against it) trains no iteration, but the run still has a checkpoint, the plan with
    the zeroed actor, which evaluation loads and replays (it crashed with no checkpoint)."""
    cid = clipset.clips[0].meta.clip_id
    run = tmp_path / "run"
    out = train_teacher(
        clipset, SETTINGS, run, max_seconds=0.0, psi_seeds={cid: plan.states},
        init_actor=zero_actor_mean, feedforward=feedforward_actions({cid: plan}),
    )  # fmt: skip
    assert out.iterations == 0 and out.stopped_by_budget
    c = ckpt.load_latest(run / "checkpoints")
    assert c is not None and c.iteration == 0
    r = evaluate(clipset, SETTINGS, run, attempts=1, noise=0.0)[cid]
    np.testing.assert_array_equal(r.arrays["actions"][:FRAMES], plan.actions[:FRAMES])
    np.testing.assert_array_equal(r.arrays["qpos"][: FRAMES + 1], plan.rollout.arrays["qpos"])


def test_student_labels_of_a_feedback_teacher(
    tmp_path: Path, clipset: ClipSet, plan: PlannedClip
) -> None:
    """The student env replays the teacher's plan to get its observations: a teacher
    with a non-zero f labels the plan's own actions along the plan, to the bit."""
    ff = feedforward_actions({clipset.clips[0].meta.clip_id: plan})
    _teacher_run(tmp_path / "fb", clipset, ff, SETTINGS, zero=False)  # f not zeroed
    teacher = load_teacher_actor(tmp_path / "fb", "s1")
    name, clips = next(iter(clipset.groups.items()))
    groups = [StudentGroup("s1", name, clips, clipset.scenes[name])]
    s = StudentSettings(worlds=2, sim_threads=1, tensorboard=False, beta_start=1.0)
    env = build_student_env(groups, {"s1": teacher}, s, {groups[0].name: 2}, psi=False)
    try:
        e = env.envs[0]
        table = env._teacher_plan_obs[0]
        assert table is not None and table.frames == FRAMES
        g = np.repeat(e.ref.clip_start[:1].astype(np.int64), e.n_worlds)
        obs = e.reset_to(g, e.ref.states()[g])
        env.driven[:] = True
        env._obs([obs.numpy()])
        for f in range(FRAMES):
            np.testing.assert_array_equal(env._teacher_env, np.tile(plan.actions[f], (2, 1)))
            env.driven[:] = True
            env.step(np.zeros((2, env.num_actions)))
            np.testing.assert_array_equal(env.last_actions, np.tile(plan.actions[f], (2, 1)))
        with pytest.raises(ValueError, match="plan_group"):
            teacher.act(obs.numpy())
    finally:
        env.close()


def test_stage_plans_with_the_given_planner_and_evaluates(tmp_path: Path) -> None:
    """``train_subject_teacher(..., planner=)`` plans with those settings (the cache key
    names them), trains planner_fb and evaluates it; the CLI refuses --plan for ppo."""
    from typer.testing import CliRunner

    from cli import app
    from data_catalog import Store
    from data_catalog.runs import teacher_dir
    from intermimic.motion.synthetic import synthetic_clip
    from intermimic.plan.seeds import _key
    from stages.teacher import train_subject_teacher

    objects = ObjectLibrary(write_synthetic_objects(tmp_path / "objects"))
    store = Store(tmp_path / "store")
    clip = synthetic_clip("s1", "box", 0, 20, seed=0, dataset="lab").with_meta(
        source_sha256="0" * 64
    )
    store.upsert_clips("lab", "s1", [clip])
    planner = PLAN.model_copy(update={"seed": 3})
    rep = train_subject_teacher(store, "lab", "s1", SETTINGS, objects, planner=planner)
    run = teacher_dir(store, "lab", "s1")
    cid = clip.meta.clip_id
    key = _key(planner, SETTINGS, "0" * 64)
    assert [p.name for p in (run / "psi_seed").iterdir()] == [f"{cid}.{key}.npz"]
    assert key != _key(PLAN, SETTINGS, "0" * 64)  # the defaults would be another file
    assert rep.result.iterations == 1 and rep.evaluation["clips"] == 1.0
    r = CliRunner().invoke(
        app,
        ["train-teacher", "--store", str(tmp_path / "store"), "--subject", "s1",
         "--set", "recipe=ppo", "--plan", "seed=1"],
    )  # fmt: skip
    assert r.exit_code == 2 and "--plan applies to the planner recipes" in r.output
    r = CliRunner().invoke(
        app,
        ["train-teacher", "--store", str(tmp_path / "store"), "--subject", "s1",
         "--preset", "fast"],
    )  # fmt: skip
    assert r.exit_code == 2 and "unknown preset 'fast'; known: tuned" in r.output
    # refined with settings of another recipe, the teacher acts as it was trained (the
    # recipe comes from the run: stages.refine.POLICY_FIELDS)
    from stages.refine import refine_subject

    own = refine_subject(store, "lab", "s1", SETTINGS, objects)
    other = SETTINGS.model_copy(update={"recipe": "ppo"})
    assert refine_subject(store, "lab", "s1", other, objects).tracking == own.tracking
    # ... and against the reference and base it was trained with
    other = SETTINGS.model_copy(update={"ground_window": 0.3, "gravity_compensation": 1.0})
    assert refine_subject(store, "lab", "s1", other, objects).tracking == own.tracking


def _cli_options(flag: str, model: BaseModel) -> list[str]:
    """``model``'s explicitly set fields as the CLI's ``flag key=value`` options."""
    out: list[str] = []
    for key, value in model.model_dump(mode="json", include=model.model_fields_set).items():
        out += [flag, f"{key}={value if isinstance(value, str) else json.dumps(value)}"]
    return out


def test_stage_keeps_the_try_the_quality_rule_keeps(tmp_path: Path) -> None:
    """With ``tries`` > 1 the teacher stage plans every seed and starts from the plan the
    refine stage's quality choice keeps (the same choice made here over the same cached
    plans); the tries are in the report, the run summary and the CLI's output, and the
    planning time counts every try."""
    from typer.testing import CliRunner

    from cli import app
    from data_catalog import Store
    from data_catalog.runs import teacher_dir
    from intermimic.motion.synthetic import synthetic_clip
    from intermimic.plan.recipes import recipe_inputs
    from intermimic.plan.seeds import plan_clips
    from intermimic.rl.teacher_training import SUMMARY_FILE
    from stages.refine_choice import QualityChoice
    from stages.subjects import subject_clipset
    from stages.teacher import train_subject_teacher

    objects = ObjectLibrary(write_synthetic_objects(tmp_path / "objects"))
    store = Store(tmp_path / "store")
    clip = synthetic_clip("s1", "box", 0, 20, seed=0, dataset="lab").with_meta(
        source_sha256="0" * 64
    )
    store.upsert_clips("lab", "s1", [clip])
    planner = PLAN.model_copy(update={"seed": 3, "tries": 2})
    rep = train_subject_teacher(store, "lab", "s1", SETTINGS, objects, planner=planner)
    run = teacher_dir(store, "lab", "s1")
    cid = clip.meta.clip_id
    assert len(list((run / "psi_seed").glob(f"{cid}.*.npz"))) == 2
    ((tried_cid, tries),) = rep.tries.items()
    assert tried_cid == cid and [t["seed"] for t in tries] == [3, 4]
    assert sum(t["kept"] for t in tries) == 1
    # an independent path: the refine stage's choice over the same cached plans
    clipset = subject_clipset(store, "lab", "s1", SETTINGS, objects)
    choice = QualityChoice()
    plans = plan_clips(clipset, SETTINGS, planner, cache_dir=run / "psi_seed", choose=choice)
    kept = next(t["seed"] for t in tries if t["kept"])
    assert plans[cid].seed == choice.kept[cid] == kept
    # the teacher's plan is the kept one: its base actions are that plan's
    inputs = recipe_inputs(clipset, SETTINGS, run / "psi_seed", planner, choose=QualityChoice())
    assert inputs.feedforward is not None
    np.testing.assert_array_equal(inputs.feedforward[cid], plans[cid].actions[: plans[cid].frames])
    one = [
        plan_clips(clipset, SETTINGS, t, cache_dir=run / "psi_seed")[cid].seconds
        for t in planner.try_settings()
    ]
    assert inputs.planner_seconds == pytest.approx(sum(one)) and min(one) > 0
    summary = json.loads((run / SUMMARY_FILE).read_text())
    assert summary["planner_tries"] == rep.tries
    # the CLI (the same run again: nothing left to train, the plans from the cache)
    # prints the tries; its options are the fields set here, so the two cannot drift
    r = CliRunner().invoke(
        app,
        ["train-teacher", "--store", str(tmp_path / "store"), "--subject", "s1",
         "--objects", str(tmp_path / "objects"), "--no-evaluate",
         *_cli_options("--set", SETTINGS), *_cli_options("--plan", planner)],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "planner tries" in r.output and "yes" in r.output, r.output
