"""The sampling planner and the environment's start-from-state API it uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from intermimic.env.grounding import lowest_clearance
from intermimic.env.settings import TerminationSettings
from intermimic.env.termination import REASONS
from intermimic.motion.clip import hold_last_frame
from intermimic.motion.footlift import lift_swing_feet
from intermimic.motion.skeleton import SMPLX_BODY_NAMES
from intermimic.motion.synthetic import (
    BOX_EXTENTS,
    stepping_clip,
    synthetic_clip,
    write_synthetic_objects,
)
from intermimic.objects import ObjectLibrary
from intermimic.plan import MppiStep, PlannerSettings, plan_clip
from intermimic.plan.costs import GROUND_SLACK, PlanCost, foot_bodies
from intermimic.plan.mppi import _interpolation, _ObjectJerk, _rollout
from intermimic.plan.planner import _object_past, _Rewind
from intermimic.rl.clipset import ClipSet, prepare_clips
from intermimic.rl.rollout import SERIES, RecordingBackend, refined_clip
from intermimic.rl.teacher_env import build_teacher_env_exact
from intermimic.rl.teacher_settings import TeacherSettings
from tests.plan.box_clip import PLAN_SETTINGS

SETTINGS = PLAN_SETTINGS
TINY_PLAN = PlannerSettings(samples=4, horizon=3, knots=2, iterations=2, seed=3)


def _env(clipset: object, worlds: int) -> object:
    name = next(iter(clipset.groups))  # type: ignore[attr-defined]
    return build_teacher_env_exact(clipset, SETTINGS, {name: worlds})  # type: ignore[arg-type]


def _body_actuators(model: object) -> list[int]:
    """The actuators of body hinges, by name (not the library's finger test): SMPL-X's
    finger hinges are named after the fingers."""
    names = [model.actuator(i).name for i in range(model.nu)]  # type: ignore[attr-defined]
    fingers = ("Index", "Thumb", "Middle", "Ring", "Pinky")
    return [i for i, n in enumerate(names) if not any(f in n for f in fingers)]


def _replay(clipset: object, r: object) -> None:
    """Replay rollout ``r`` from its first recorded state (a fresh reset, as a teacher's
    attempt starts) with the recorded actions in one continuous simulation: every state
    must be the recorded one, to the bit (each planning call starts its samples with the
    committed step's solver warm start)."""
    tenv = _env(clipset, 1)
    env = tenv.envs[0]
    try:
        q, v = r.arrays["qpos"], r.arrays["qvel"]  # type: ignore[attr-defined]
        actions = r.arrays["actions"]  # type: ignore[attr-defined]
        env.reset_to(np.array([0]), np.concatenate([q[0], v[0]])[None])
        for t in range(r.duration):  # type: ignore[attr-defined]
            env.step(actions[t][None])
            np.testing.assert_array_equal(env.backend.qpos()[0], q[t + 1])
            np.testing.assert_array_equal(env.backend.qvel()[0], v[t + 1])
    finally:
        tenv.close()


def test_reset_to_starts_each_world_where_told(clipset: object) -> None:
    tenv = _env(clipset, 3)
    env = tenv.envs[0]
    try:
        frames = np.array([2, 5, 7])
        states = env.ref.states()[frames].copy()
        states[:, 2] += np.array([0.0, 0.01, 0.02])  # distinct root heights
        missing = np.array([[0, 0], [3, 1], [0, 9]])
        obs = env.reset_to(frames, states, missing, elapsed=4)
        assert obs.shape == (3, env.obs_dim) and torch.isfinite(obs).all()
        np.testing.assert_allclose(env.backend.qpos(), states[:, : env.scene.model.nq])
        clip, frame = env.clip_frame()
        np.testing.assert_array_equal(frame, frames)
        np.testing.assert_array_equal(clip, 0)
        np.testing.assert_array_equal(env.missing_hand.numpy(), missing)
        np.testing.assert_array_equal(env.episode_len.numpy(), 4)
        # the next reference pose of each world is its own frame's successor
        env.step(env.reference_actions())
        np.testing.assert_array_equal(env.clip_frame()[1], frames + 1)
    finally:
        tenv.close()


def test_reset_to_rejects_bad_shapes_and_frames(clipset: object) -> None:
    tenv = _env(clipset, 2)
    env = tenv.envs[0]
    try:
        states = env.ref.states()[[0, 1]]
        with pytest.raises(ValueError, match=r"frames \[2\] and states \[2, nq \+ nv"):
            env.reset_to(np.array([0, 1, 2]), states)
        with pytest.raises(ValueError, match="nq \\+ nv"):
            env.reset_to(np.array([0, 1]), states[:, :-1])
        with pytest.raises(ValueError, match="frames outside"):
            env.reset_to(np.array([0, env.ref.n_frames]), states)
    finally:
        tenv.close()


@pytest.mark.parametrize("rewinds", [0, 3])
def test_planner_commits_one_physics_step_per_frame(clipset: object, rewinds: int) -> None:
    """Every committed frame is the env's step from the previous committed state with the
    recorded action: the recorded actions replayed from the first state in one
    simulation give the recorded states to the bit; also after the planner went back to
    plan frames again (``backtrack``), whose discarded frames leave no trace."""
    clip = clipset.clips[0]  # type: ignore[attr-defined]
    scene = next(iter(clipset.scenes.values()))  # type: ignore[attr-defined]
    plan = TINY_PLAN.model_copy(update={"backtrack": 2 * bool(rewinds), "retries": rewinds})
    res = plan_clip(clip, scene, SETTINGS, plan)
    r = res.rollout
    # the box outruns the hands wherever the plan goes: every rewind is spent
    assert res.rewinds == rewinds
    # the synthetic box flies faster than a hand can carry it: the plan ends early
    assert 1 <= r.duration == len(res.costs) and r.success == (r.duration == clip.n_frames - 1)
    # why it stopped: every sample's first step terminated, for these reasons
    assert r.ended_by and set(r.ended_by) <= {*REASONS, "non_finite"}
    assert res.env_steps > 0 and res.seconds > 0
    assert set(SERIES) <= set(r.arrays)
    for key, v in r.arrays.items():
        assert v.shape[0] == r.duration + 1, key
    np.testing.assert_array_equal(r.arrays["actions"][-1], 0.0)
    assert r.arrays["key_body_error"][0] == pytest.approx(0.0, abs=1e-6)
    _replay(clipset, r)  # one step per frame, the rewound frames leave no trace
    # the same record a teacher's rollout is: refinement turns it into a clip
    out = refined_clip(r, clip, scene, dataset="lab-refined", source_sha256="0" * 64)
    assert out.n_frames == r.duration + 1
    np.testing.assert_allclose(out.obj_pos, r.arrays["obj_pos"], atol=1e-6)


def test_commit_steps_keeps_each_calls_first_steps_as_simulated(tmp_path: Path) -> None:
    """With ``commit_steps`` 2 each planning call commits its best sample's first two
    steps: the calls start every second frame (``plan_frames``), the whole motion is one
    continuous simulation (replayed from its first state with the recorded actions, the
    states agree to the bit), and the clip costs about half the rollouts of committing
    one step per call."""
    # seed 1's box can be carried for 7 frames (seed 0's, the fixture's, falls by frame 2)
    objects = ObjectLibrary(write_synthetic_objects(tmp_path))
    clipset = prepare_clips([synthetic_clip("s1", "box", 0, 20, seed=1)], objects, SETTINGS)
    clip = clipset.clips[0]
    scene = next(iter(clipset.scenes.values()))
    two = TINY_PLAN.model_copy(update={"commit_steps": 2})
    res = plan_clip(clip, scene, SETTINGS, two, max_frames=7)
    one = plan_clip(clip, scene, SETTINGS, TINY_PLAN, max_frames=7)
    r = res.rollout
    assert r.duration == one.rollout.duration == 7
    np.testing.assert_array_equal(res.plan_frames, [0, 2, 4, 6])
    np.testing.assert_array_equal(one.plan_frames, np.arange(7))
    assert len(res.costs) == 7 and res.costs[0] == res.costs[1]
    assert res.env_steps == pytest.approx(one.env_steps * 4 / 7, rel=0.2)
    for key, v in r.arrays.items():
        assert v.shape[0] == r.duration + 1, key
    _replay(clipset, r)
    # committing more steps than are simulated is refused
    with pytest.raises(ValueError, match="commit_steps=4 is longer than the horizon"):
        PlannerSettings.model_validate({**TINY_PLAN.model_dump(), "commit_steps": 4})


def test_commit_steps_rewinds_to_a_frame_it_planned_from(clipset: object) -> None:
    """With ``commit_steps`` 2 and rewinds, a rewind goes back to the last frame a call
    started from at or before the target: every rewind is spent on the falling box, the
    kept segments start at planned frames and replay exactly."""
    clip = clipset.clips[0]  # type: ignore[attr-defined]
    scene = next(iter(clipset.scenes.values()))  # type: ignore[attr-defined]
    plan = TINY_PLAN.model_copy(update={"commit_steps": 2, "backtrack": 1, "retries": 3})
    res = plan_clip(clip, scene, SETTINGS, plan)
    r = res.rollout
    assert res.rewinds == 3 and not r.success and len(res.costs) == r.duration
    assert res.plan_frames[0] == 0 and (np.diff(res.plan_frames) >= 1).all()
    assert (res.plan_frames < r.duration).all()
    _replay(clipset, r)


def test_planner_is_reproducible_and_stops_where_asked(clipset: object) -> None:
    clip = clipset.clips[0]  # type: ignore[attr-defined]
    scene = next(iter(clipset.scenes.values()))  # type: ignore[attr-defined]
    seen: list[int] = []
    a = plan_clip(
        clip, scene, SETTINGS, TINY_PLAN, max_frames=2, on_frame=lambda f, n: seen.append(f)
    )
    b = plan_clip(clip, scene, SETTINGS, TINY_PLAN, max_frames=2)
    assert seen == [1, 2] and a.rollout.duration == 2 and not a.success
    assert a.rollout.ended_by == ("episode_cap",)
    np.testing.assert_array_equal(a.rollout.arrays["qpos"], b.rollout.arrays["qpos"])
    c = plan_clip(clip, scene, SETTINGS, TINY_PLAN.model_copy(update={"seed": 4}), max_frames=2)
    assert not np.array_equal(a.rollout.arrays["actions"], c.rollout.arrays["actions"])
    # the joint-space drift, frame by frame: 0 at the MoCap start, then the RMS over the
    # 63 body hinges of the wrapped angle error, computed here from the saved states
    tenv = _env(clipset, 1)
    try:
        ref_q = tenv.envs[0].ref.qpos
        model = scene.model
        labels = np.asarray(tenv.envs[0].ref.contact[:3])
        hands = [h.cpu().numpy() for h in tenv.envs[0].hands]
    finally:
        tenv.close()
    body = _body_actuators(model)
    adr = model.jnt_qposadr[model.actuator_trnid[body, 0]]
    d = a.rollout.arrays["qpos"][:, adr] - ref_q[:3, adr]
    d = (d + np.pi) % (2 * np.pi) - np.pi
    assert a.hinge_error.shape == (3,) and a.hinge_error[0] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(a.hinge_error, np.sqrt((d**2).mean(axis=1)), atol=1e-9)
    assert a.hinge_error[2] > 0
    # where the held hands are on the object: one value per frame, NaN where no hand
    # is labelled in contact
    held = np.array([(labels[:, h] > 0).any(axis=1) for h in hands]).any(axis=0)
    assert a.hand_object_error.shape == (3,)
    np.testing.assert_array_equal(np.isnan(a.hand_object_error), ~held)


def test_settings_hash_and_validation() -> None:
    a, b = PlannerSettings(), PlannerSettings(samples=32)
    assert a.sha256() != b.sha256() and a.sha256() == PlannerSettings().sha256()
    # retries without backtracking change nothing, so they keep the plan's name (cache)
    assert PlannerSettings(retries=3).sha256() == a.sha256()
    back = PlannerSettings(backtrack=10)
    assert back.sha256() != a.sha256() != PlannerSettings(backtrack=10, retries=3).sha256()
    assert PlannerSettings(max_key_body_error=0.15).sha256() != a.sha256()
    # the hand-object term off keeps the name; on, it is another plan
    assert PlannerSettings(hand_object_weight=0.0).sha256() == a.sha256()
    assert PlannerSettings(hand_object_weight=5.0).sha256() != a.sha256()
    assert PlannerSettings(residual_weight=0.0).sha256() == a.sha256()
    assert PlannerSettings(residual_weight=5.0).sha256() != a.sha256()
    assert PlannerSettings(noise_basis=0).sha256() == a.sha256()
    assert PlannerSettings(noise_basis=8).sha256() != a.sha256()
    # one committed step per call is what plans were made with before the field
    assert PlannerSettings(commit_steps=1).sha256() == a.sha256()
    assert PlannerSettings(commit_steps=3).sha256() != a.sha256()
    for term in (
        "foot_height_weight",
        "foot_slide_weight",
        "object_velocity_weight",
        "swing_clearance",
        "object_jerk_weight",
        "ground_depth_weight",
    ):
        assert PlannerSettings(**{term: 0.0}).sha256() == a.sha256()
        assert PlannerSettings(**{term: 0.04}).sha256() != a.sha256()
    # the feet's noise as the other hinges' is what plans were made with before the field
    assert PlannerSettings(foot_noise=1.0).sha256() == a.sha256()
    assert PlannerSettings(foot_noise=0.5).sha256() != a.sha256()
    assert PlannerSettings(arm_noise=1.0).sha256() == a.sha256()
    assert PlannerSettings(arm_noise=0.5).sha256() != a.sha256()
    with pytest.raises(ValueError):
        PlannerSettings(foot_noise=1.5)
    with pytest.raises(ValueError):
        PlannerSettings(arm_noise=-0.1)
    assert PlannerSettings(swing_clearance=0.04, swing_lead=0).sha256() == (
        PlannerSettings(swing_clearance=0.04).sha256()
    )
    assert PlannerSettings(swing_clearance=0.04, swing_lead=3).sha256() != (
        PlannerSettings(swing_clearance=0.04).sha256()
    )
    with pytest.raises(ValueError, match="swing_lead"):
        PlannerSettings(swing_lead=3)
    # holding the last frame past the clip's end is how plans were made before the field
    assert PlannerSettings(end_hold=0).sha256() == a.sha256()
    assert PlannerSettings(end_hold=20).sha256() != a.sha256()
    with pytest.raises(ValueError):
        PlannerSettings(end_hold=-1)
    with pytest.raises(ValueError):
        PlannerSettings(samples=1)
    with pytest.raises(ValueError):
        PlannerSettings(samplez=3)  # type: ignore[call-arg]


def test_costs_against_hand_computed_values(clipset: object) -> None:
    """Each cost term alone, on the reference's own states (zero) and on shifted ones."""
    tenv = _env(clipset, 2)
    env = tenv.envs[0]
    try:
        names = list(env.scene.embodiment.body_names)
        feet = foot_bodies(names)
        assert {names[i] for i in feet} == {"L_Ankle", "L_Toe", "R_Ankle", "R_Toe"}
        frames = np.array([3, 3])
        env.reset_to(frames, env.ref.states()[frames])
        bs = env.backend.body_states()
        weights = ("hand", "object", "body", "root", "com", "foot", "action_rate")
        zero = PlannerSettings(**{f"{w}_weight": 0.0 for w in weights})
        only = {
            "root": zero.model_copy(update={"root_weight": 2.0}),
            "object": zero.model_copy(update={"object_weight": 3.0}),
            "com": zero.model_copy(update={"com_weight": 1.0}),
        }
        for s in only.values():
            np.testing.assert_allclose(PlanCost(env, s)(bs, frames), 0.0, atol=1e-6)
        # shift world 1's whole body and object by 10 cm in x: root and object pay
        # weight * 0.1; the balance offset (relative to the feet) does not change
        bs.pos[1] += np.array([0.1, 0.0, 0.0])
        bs.obj_pos[1] += np.array([0.1, 0.0, 0.0])
        np.testing.assert_allclose(PlanCost(env, only["root"])(bs, frames), [0, 0.2], atol=1e-6)
        # the root's height: 10 cm in x costs nothing; 5 cm down (or up) costs weight * 0.05
        height = PlanCost(env, zero.model_copy(update={"root_height_weight": 4.0}))
        np.testing.assert_allclose(height(bs, frames), 0.0, atol=1e-6)
        bs.pos[0, 0, 2] -= 0.05
        bs.pos[1, 0, 2] += 0.05
        np.testing.assert_allclose(height(bs, frames), [0.2, 0.2], atol=1e-6)
        np.testing.assert_allclose(PlanCost(env, only["root"])(bs, frames), [0, 0.2], atol=1e-6)
        bs.pos[0, 0, 2] += 0.05
        bs.pos[1, 0, 2] -= 0.05
        np.testing.assert_allclose(PlanCost(env, only["object"])(bs, frames), [0, 0.3], atol=1e-6)
        np.testing.assert_allclose(PlanCost(env, only["com"])(bs, frames), 0.0, atol=1e-6)
        # feet that the reference keeps still pay their horizontal speed
        foot = zero.model_copy(update={"foot_weight": 1.0})
        cost = PlanCost(env, foot)
        bs.linvel[:] = 0.0
        bs.linvel[1, feet, 0] = 0.5
        standing = cost.ref_foot_standing[3].sum()
        np.testing.assert_allclose(cost(bs, frames), [0.0, 0.5 * standing], atol=1e-9)
        # foot height: world 1's feet 3 cm above the reference's, each body pays 3 cm
        height = PlanCost(env, zero.model_copy(update={"foot_height_weight": 10.0}))
        bs.pos[1] = height.env.ref.body_pos[3]
        bs.pos[1, feet, 2] += 0.03
        np.testing.assert_allclose(height(bs, frames), [0.0, 10.0 * 0.03 * len(feet)], atol=1e-9)
        bs.pos[1, feet, 2] -= 0.06  # below is the same error
        np.testing.assert_allclose(height(bs, frames), [0.0, 10.0 * 0.03 * len(feet)], atol=1e-9)
        # foot slide: a foot body's horizontal speed, full up to 2 cm above its floor,
        # half at 3 cm, none from 4 cm, whatever the reference does
        slide = PlanCost(env, zero.model_copy(update={"foot_slide_weight": 2.0}))
        floor = slide.foot_floor
        bs.linvel[:] = 0.0
        bs.linvel[:, feet, 1] = 0.5
        for above, part in ((0.0, 1.0), (0.02, 1.0), (0.03, 0.5), (0.04, 0.0), (0.1, 0.0)):
            bs.pos[:, feet, 2] = floor + above
            want = 2.0 * 0.5 * part * len(feet)
            np.testing.assert_allclose(slide(bs, frames), [want, want], atol=1e-9)
        bs.pos[0, feet[0], 2] = floor[0] - 0.05  # below the floor: on the ground
        bs.pos[1, feet, 2] = floor + 0.1
        np.testing.assert_allclose(slide(bs, frames), [2.0 * 0.5, 0.0], atol=1e-9)
        # object velocity: world 1's object 0.3 m/s off in x and 0.4 in z (0.5 m/s) pays
        # weight * 0.5; world 0 moves as the reference's does and pays nothing
        ovel = PlanCost(env, zero.model_copy(update={"object_velocity_weight": 4.0}))
        bs.obj_linvel[:] = ovel.env.ref.obj_linvel[3]
        bs.obj_linvel[1] += np.array([0.3, 0.0, 0.4])
        np.testing.assert_allclose(ovel(bs, frames), [0.0, 4.0 * 0.5], atol=1e-9)
    finally:
        tenv.close()


def test_object_points_cost_is_the_object_error_in_the_world_frame(clipset: object) -> None:
    """``object_points_weight`` pays the mean surface-point error (E_o): nothing on the
    reference's object, weight * 0.1 for a 10 cm shift, and for a turn by ``a`` about the
    vertical through the object's origin, weight * mean(2 r sin(a / 2)) with ``r`` each
    point's horizontal distance from the origin (by hand, not through the library's
    point transform); object_weight (the centre) pays nothing for the turn."""
    tenv = _env(clipset, 3)
    env = tenv.envs[0]
    try:
        frames = np.array([3, 3, 3])
        env.reset_to(frames, env.ref.states()[frames])
        bs = env.backend.body_states()
        bs.obj_pos[:] = env.ref.obj_pos[3]
        bs.obj_quat[:] = env.ref.obj_quat[3]
        weights = ("hand", "object", "body", "root", "com", "foot", "action_rate")
        zero = PlannerSettings(**{f"{w}_weight": 0.0 for w in weights})
        points = PlanCost(env, zero.model_copy(update={"object_points_weight": 5.0}))
        centre = PlanCost(env, zero.model_copy(update={"object_weight": 5.0}))
        bs.obj_pos[1] += np.array([0.0, 0.1, 0.0])
        a = np.pi / 2  # a quarter turn, as the largetable plan's table
        turn = np.array([np.cos(a / 2), 0.0, 0.0, np.sin(a / 2)])  # wxyz about z
        w, v = bs.obj_quat[2, 0], bs.obj_quat[2, 1:]
        u0, u = turn[0], turn[1:]
        # turn (world frame) composed before the object's own rotation: turn * q
        bs.obj_quat[2] = np.concatenate([[u0 * w - u @ v], u0 * v + w * u + np.cross(u, v)])
        r = np.linalg.norm(env.ref.points[3][:, :2] - env.ref.obj_pos[3][:2], axis=-1)
        want = 5.0 * np.mean(2 * r * np.sin(a / 2))
        np.testing.assert_allclose(points(bs, frames), [0.0, 0.5, want], atol=1e-9)
        np.testing.assert_allclose(centre(bs, frames), [0.0, 0.5, 0.0], atol=1e-9)
        assert want > 0.5  # the table's points move more than 10 cm in a quarter turn
    finally:
        tenv.close()


def test_ground_depth_cost_is_the_deepest_geom_below_the_ground(clipset: object) -> None:
    """``ground_depth_weight`` pays the depth of the lowest humanoid geom below the
    ground beyond GROUND_SLACK; the depth agrees with MuJoCo's own geom-ground distance
    (an independent path) on the reference's poses lowered into the ground."""
    tenv = _env(clipset, 4)
    env = tenv.envs[0]
    try:
        frames = np.array([2, 2, 2, 2])
        states = env.ref.states()[frames].copy()
        scene = env.scene
        adr = scene.humanoid_qpos_adr
        # lower the pose by its clearance and then some: 5 cm above, 2, 6 and 20 mm in
        clear = lowest_clearance(scene, states[:1, adr])[0]
        states[:, 2] -= clear + np.array([-0.05, 0.002, 0.006, 0.02])
        env.reset_to(frames, states)
        bs = env.backend.body_states()
        mujoco_depth = -np.minimum(lowest_clearance(scene, states[:, adr]), 0.0)
        cost = PlanCost(env, PlannerSettings(ground_depth_weight=100.0))
        depth = cost.ground_depth(bs.pos, bs.quat)
        np.testing.assert_allclose(depth, mujoco_depth, atol=1e-6)
        np.testing.assert_allclose(depth, [0.0, 0.002, 0.006, 0.02], atol=1e-6)
        plain = PlanCost(env, PlannerSettings())
        extra = cost(bs, frames) - plain(bs, frames)
        np.testing.assert_allclose(extra, 100.0 * np.maximum(depth - GROUND_SLACK, 0.0), atol=1e-9)
    finally:
        tenv.close()


def test_grasp_cost_pays_the_missing_force_of_hands_labelled_in_contact(
    clipset: object,
) -> None:
    """weight x (1 - pressed / grasp_force), clipped to [0, 1], per hand that the labels
    put in contact; object forces on other bodies and forces on other partners don't
    count."""
    tenv = _env(clipset, 3)
    env = tenv.envs[0]
    try:
        weights = ("hand", "object", "body", "root", "com", "foot", "action_rate")
        s = PlannerSettings(
            **{f"{w}_weight": 0.0 for w in weights}, grasp_weight=2.0, grasp_force=20.0
        )
        cost = PlanCost(env, s)
        left, right = cost.hands
        # frame 1 of this env's reference: no contact labelled (the labels are read at
        # each call, so this env's copy can be edited)
        env.ref.contact[1] = 0
        env.ref.contact[2, left[0]] = env.ref.contact[2, right[0]] = 1
        frames = np.array([2, 2, 1])
        env.reset_to(frames, env.ref.states()[frames])
        bs = env.backend.body_states()
        forces = np.zeros((3, 52, 3))
        forces[0, left[0], 0] = 5.0  # left presses 5 N: 3/4 missing; right presses nothing
        forces[0, left[1], 0] = 0.0
        forces[1, left[:2], 0] = 15.0  # left 30 N: enough; right: 8 N on the ground only
        forces[1, right[0], 1] = 8.0
        forces[1, 0, 0] = 50.0  # the pelvis on the object is no grasp
        forces[2] = 0.0  # no contact labelled: free
        np.testing.assert_allclose(
            cost(bs, frames, forces), [2.0 * 0.75 + 2.0, 2.0, 0.0], atol=1e-12
        )
        # without forces (a caller that has none) the term is left out
        np.testing.assert_allclose(cost(bs, frames), 0.0, atol=1e-12)
    finally:
        tenv.close()


def test_hand_object_cost_is_where_the_hands_are_on_the_object(clipset: object) -> None:
    """weight x the hand bodies' mean distance from the reference's beyond 5 cm, in the
    object's frame, per hand the labels put in contact: a rigid motion of body and object
    together costs nothing, the object moved under still hands costs its displacement
    less the slack, per hand."""
    from scipy.spatial.transform import Rotation

    tenv = _env(clipset, 4)
    env = tenv.envs[0]
    try:
        weights = ("hand", "object", "body", "root", "com", "foot", "action_rate")
        s = PlannerSettings(**{f"{w}_weight": 0.0 for w in weights}, hand_object_weight=2.0)
        cost = PlanCost(env, s)
        left, right = cost.hands
        env.ref.contact[1] = 0
        env.ref.contact[2] = 0
        env.ref.contact[2, left[0]] = env.ref.contact[2, right[0]] = 1
        frames = np.array([2, 2, 2, 1])
        env.reset_to(frames, env.ref.states()[frames])
        bs = env.backend.body_states()
        assert cost(bs, frames) == pytest.approx(np.zeros(4), abs=1e-6)
        # world 1: everything turned 40 degrees about z around the object and moved
        turn = Rotation.from_euler("z", 40, degrees=True)
        o = bs.obj_pos[1].copy()
        bs.pos[1] = o + turn.apply(bs.pos[1] - o) + np.array([0.3, -0.2, 0.0])
        q = bs.obj_quat[1]
        qt = (turn * Rotation.from_quat([q[1], q[2], q[3], q[0]])).as_quat()
        bs.obj_quat[1] = [qt[3], qt[0], qt[1], qt[2]]
        bs.obj_pos[1] = o + np.array([0.3, -0.2, 0.0])
        # world 2: the object 12 cm up under still hands: 2 x (0.12 - 0.05) for each hand
        bs.obj_pos[2] += np.array([0.0, 0.0, 0.12])
        # world 3: no contact labelled at frame 1: free
        bs.obj_pos[3] += np.array([0.0, 0.0, 0.12])
        np.testing.assert_allclose(cost(bs, frames), [0.0, 0.0, 0.28, 0.0], atol=1e-6)
        # only labelled hands pay: the right one's label off at frame 2
        env.ref.contact[2, right[0]] = 0
        np.testing.assert_allclose(cost(bs, frames), [0.0, 0.0, 0.14, 0.0], atol=1e-6)
        # within the slack: free
        bs.obj_pos[2] -= np.array([0.0, 0.0, 0.08])
        np.testing.assert_allclose(cost(bs, frames), 0.0, atol=1e-6)
    finally:
        tenv.close()


def test_held_hand_errors_are_the_labelled_hands_distance_on_the_object(
    clipset: object,
) -> None:
    """The planner's hand-placement figure: per state the mean over the hands labelled in
    contact of each one's distance (no slack) from the reference's hand in the object's
    frame; NaN where no hand is labelled, 0 on the reference itself."""
    tenv = _env(clipset, 4)
    env = tenv.envs[0]
    try:
        cost = PlanCost(env, PlannerSettings())
        left, right = cost.hands
        env.ref.contact[1:3] = 0
        env.ref.contact[2, left[0]] = env.ref.contact[2, right[0]] = 1
        frames = np.array([2, 2, 2, 1])
        env.reset_to(frames, env.ref.states()[frames])
        bs = env.backend.body_states()
        bs.obj_pos[1] += np.array([0.0, 0.0, 0.12])  # both hands 12 cm off on the object
        bs.pos[2, left] += np.array([0.03, 0.0, 0.04])  # the left hand alone 5 cm off
        err = cost.held_hand_errors(bs.pos, bs.obj_pos, bs.obj_quat, frames)
        np.testing.assert_allclose(err[:3], [0.0, 0.12, 0.025], atol=1e-6)
        assert np.isnan(err[3])  # no hand labelled at frame 1
        # only the labelled hand counts: the right one's label off at frame 2
        env.ref.contact[2, right[0]] = 0
        err = cost.held_hand_errors(bs.pos, bs.obj_pos, bs.obj_quat, frames)
        np.testing.assert_allclose(err[:3], [0.0, 0.12, 0.05], atol=1e-6)
    finally:
        tenv.close()


def test_pose_cost_is_the_mean_wrapped_body_hinge_error(clipset: object) -> None:
    """weight x the mean over body hinges of |sim - ref| wrapped to (-pi, pi]: a whole
    turn costs nothing, fingers are left out, and the term needs the states' qpos."""
    tenv = _env(clipset, 4)
    env = tenv.envs[0]
    try:
        weights = ("hand", "object", "body", "root", "com", "foot", "action_rate")
        s = PlannerSettings(**{f"{w}_weight": 0.0 for w in weights}, pose_weight=3.0)
        cost = PlanCost(env, s)
        model = env.scene.model
        body = _body_actuators(model)
        finger = sorted(set(range(model.nu)) - set(body))
        assert len(body) == 63 and len(finger) == 90  # SMPL-X: 21 bodies, 30 finger joints
        adr = model.jnt_qposadr[model.actuator_trnid[:, 0]]
        frames = np.array([4, 4, 4, 4])
        qpos = np.repeat(env.ref.qpos[4][None], 4, axis=0).copy()
        qpos[1, adr[body[0]]] += 0.63  # one body hinge off by 0.63 rad
        qpos[1, adr[body[5]]] -= 0.63  # and another the other way
        qpos[2, adr[body[7]]] += 2 * np.pi  # a whole turn: the same pose
        qpos[3, adr[finger]] += 0.5  # fingers: free
        bs = env.backend.body_states()
        np.testing.assert_allclose(
            cost(bs, frames, None, qpos), [0.0, 3.0 * 1.26 / 63, 0.0, 0.0], atol=1e-9
        )
        # beyond half a turn the error wraps: 4 rad is 2pi - 4 away
        qpos[1] = env.ref.qpos[4]
        qpos[1, adr[body[0]]] += 4.0
        assert cost(bs, frames, None, qpos)[1] == pytest.approx(3.0 * (2 * np.pi - 4.0) / 63)
        # without qpos (a caller that has none) the term is left out
        np.testing.assert_allclose(cost(bs, frames), 0.0, atol=1e-12)
    finally:
        tenv.close()


def test_planner_bounds_tighten_the_environments_termination(clipset: object) -> None:
    env = TerminationSettings()  # 0.5 m on both (the paper's)
    assert PlannerSettings().termination(env) == env
    tight = PlannerSettings(max_key_body_error=0.1, max_object_error=0.8).termination(env)
    assert (tight.max_key_body_error, tight.max_object_error) == (0.1, 0.5)  # never looser
    off = env.model_copy(update={"max_key_body_error": None})
    assert PlannerSettings(max_key_body_error=0.2).termination(off).max_key_body_error == 0.2
    # planned within a bound no sample can keep (a micrometre of key-body error): every
    # sample terminates as soon as the environment's grace step is over, for that reason
    clip = clipset.clips[0]  # type: ignore[attr-defined]
    scene = next(iter(clipset.scenes.values()))  # type: ignore[attr-defined]
    r = plan_clip(
        clip, scene, SETTINGS, TINY_PLAN.model_copy(update={"max_key_body_error": 1e-6})
    ).rollout
    grace = SETTINGS.env_settings().termination.grace_steps
    assert r.duration == grace and "key_body_error" in r.ended_by
    with pytest.raises(ValueError):
        PlannerSettings(max_object_error=0.0)


def test_rewinds_go_further_back_while_a_failure_repeats() -> None:
    """Hand-worked: backtrack 10, 4 retries. A failure at 35 rewinds to 25; failing again
    at 30 (not past 35) rewinds to 35 - 20 = 15, at 35 again to 5, then at 50 (past 35)
    to 40, and the fifth failure gives up."""
    rewind = _Rewind(PlannerSettings(backtrack=10, retries=4))
    assert [rewind(f) for f in (35, 30, 35, 50, 60)] == [25, 15, 5, 40, None]
    assert rewind.used == 4
    deep = _Rewind(PlannerSettings(backtrack=10, retries=9))
    assert [deep(f) for f in (12, 12, 3)] == [2, 0, 0]  # never before the clip's start
    assert _Rewind(PlannerSettings())(35) is None  # backtrack 0: no rewinds


def test_first_knot_noise_zero_commits_the_warm_started_plan(clipset: object) -> None:
    """With no noise on the first knot every sample's first action is the nominal's, so
    the first committed action is the reference's own (zero residual) in every
    iteration and seed."""
    clip = clipset.clips[0]  # type: ignore[attr-defined]
    scene = next(iter(clipset.scenes.values()))  # type: ignore[attr-defined]
    quiet = TINY_PLAN.model_copy(update={"first_knot_noise": 0.0})
    a = plan_clip(clip, scene, SETTINGS, quiet, max_frames=1)
    b = plan_clip(clip, scene, SETTINGS, quiet.model_copy(update={"seed": 9}), max_frames=1)
    c = plan_clip(clip, scene, SETTINGS, TINY_PLAN, max_frames=1)
    np.testing.assert_array_equal(a.rollout.arrays["actions"][0], b.rollout.arrays["actions"][0])
    assert not np.array_equal(a.rollout.arrays["actions"][0], c.rollout.arrays["actions"][0])


def test_base_plan_is_replayed_by_the_noiseless_nominal(clipset: object) -> None:
    """With a base (an earlier plan's actions) and no noise every sample is the nominal
    residual 0, so the planner commits the base's actions and retraces the earlier plan's
    states exactly; with noise it plans around the base, not around the reference."""
    clip = clipset.clips[0]  # type: ignore[attr-defined]
    scene = next(iter(clipset.scenes.values()))  # type: ignore[attr-defined]
    first = plan_clip(clip, scene, SETTINGS, TINY_PLAN, max_frames=4).rollout
    base = first.arrays["actions"][:-1]  # the last row is 0: no step from it
    still = TINY_PLAN.model_copy(update={"sigma": 0.0, "finger_sigma": 0.0, "seed": 7})
    again = plan_clip(clip, scene, SETTINGS, still, max_frames=4, base=base).rollout
    np.testing.assert_array_equal(again.arrays["actions"], first.arrays["actions"])
    np.testing.assert_array_equal(again.arrays["qpos"], first.arrays["qpos"])
    ref = plan_clip(clip, scene, SETTINGS, still, max_frames=4).rollout
    assert not np.array_equal(ref.arrays["actions"], first.arrays["actions"])


def test_swing_clearance_plans_against_the_lifted_reference(tmp_path: Path) -> None:
    """With swing_clearance the planner tracks the clip with its swing feet lifted
    (lift_swing_feet over the reference's own tree): the same actions as the lifted clip
    given outright, and other than the captured clip's; but from the captured clip's
    MoCap start (where a teacher's attempts and a planner_fb table replay it), not the
    lifted clip's first state."""
    objects = ObjectLibrary(write_synthetic_objects(tmp_path / "objects"))
    clip = stepping_clip(20)
    cs = prepare_clips([clip], objects, SETTINGS)
    scene = next(iter(cs.scenes.values()))
    tree = scene.embodiment.reference_tree(scene.model, scene.humanoid_body_ids)
    lifted = lift_swing_feet(cs.clips[0], tree, SMPLX_BODY_NAMES, clearance=0.05)
    assert lifted.lift[:4, 0].max() > 0.01  # the left foot swings from the start
    plan = TINY_PLAN.model_copy(update={"sigma": 0.0, "finger_sigma": 0.0})
    up = plan.model_copy(update={"swing_clearance": 0.05})
    a = plan_clip(cs.clips[0], scene, SETTINGS, up, max_frames=3).rollout
    b = plan_clip(lifted.clip, scene, SETTINGS, plan, max_frames=3).rollout
    c = plan_clip(cs.clips[0], scene, SETTINGS, plan, max_frames=3).rollout
    np.testing.assert_array_equal(a.arrays["actions"], b.arrays["actions"])
    np.testing.assert_array_equal(a.arrays["qpos"][0], c.arrays["qpos"][0])
    np.testing.assert_array_equal(a.arrays["qvel"][0], c.arrays["qvel"][0])
    assert np.abs(a.arrays["qpos"][0] - b.arrays["qpos"][0]).max() > 1e-3  # legs differ
    tenv = build_teacher_env_exact(cs, SETTINGS, {cs.clips[0].meta.object_name: 1}, psi=False)
    try:
        start = tenv.envs[0].ref.states()[0]
        # the key-body error is against the captured clip, as a teacher's (the
        # environment's reference of it, by hand), not against the lifted one tracked
        ref, key = tenv.envs[0].ref, tenv.envs[0].key_idx
        n = len(a.arrays["body_pos"])
        diff = a.arrays["body_pos"][:, key] - ref.body_pos[:n][:, key]
        np.testing.assert_array_equal(
            a.arrays["key_body_error"], np.linalg.norm(diff, axis=-1).mean(axis=-1)
        )
    finally:
        tenv.close()
    nq = scene.model.nq
    np.testing.assert_array_equal(a.arrays["qpos"][0], start[:nq])
    np.testing.assert_array_equal(a.arrays["qvel"][0], start[nq:])
    lifted_ref = build_teacher_env_exact(
        prepare_clips([lifted.clip], objects, SETTINGS), SETTINGS,
        {cs.clips[0].meta.object_name: 1}, psi=False,
    )  # fmt: skip
    try:
        against_lift = lifted_ref.envs[0].ref.body_pos[:n][:, key]
        off = np.linalg.norm(a.arrays["body_pos"][:, key] - against_lift, axis=-1).mean(axis=-1)
        assert np.abs(off - a.arrays["key_body_error"]).max() > 1e-4  # the lift shows
    finally:
        lifted_ref.close()
    # swing_lead reaches the lift: the planner tracks the clip lifted with that lead
    led = lift_swing_feet(cs.clips[0], tree, SMPLX_BODY_NAMES, clearance=0.05, lead_frames=3)
    assert not np.array_equal(led.lift, lifted.lift)
    ahead = up.model_copy(update={"swing_lead": 3})
    d = plan_clip(cs.clips[0], scene, SETTINGS, ahead, max_frames=3).rollout
    e = plan_clip(led.clip, scene, SETTINGS, plan, max_frames=3).rollout
    np.testing.assert_array_equal(d.arrays["actions"], e.arrays["actions"])
    # noiseless, the committed actions are the reference's PD targets: only the
    # lifted left leg's differ
    model = scene.model
    names = [model.actuator(i).name for i in range(model.nu)]
    moved = {names[i] for i in np.flatnonzero((a.arrays["actions"] != c.arrays["actions"]).any(0))}
    assert moved and all(
        n.split("_")[:2] in (["L", "Hip"], ["L", "Knee"], ["L", "Ankle"]) for n in moved
    ), moved


def test_lifted_plans_cached_before_get_the_captured_errors_once(tmp_path: Path) -> None:
    """A plan against lifted feet cached before its errors were the capture's (no
    ``errors`` in its meta, lifted errors) is re-measured on reading, once: the same
    motion, the errors a fresh plan records, the file marked."""
    import json

    from intermimic.plan.seeds import plan_clips

    objects = ObjectLibrary(write_synthetic_objects(tmp_path / "objects"))
    cs = prepare_clips([stepping_clip(20)], objects, SETTINGS)
    up = TINY_PLAN.model_copy(update={"sigma": 0.0, "finger_sigma": 0.0, "swing_clearance": 0.05})
    cache = tmp_path / "cache"
    fresh = next(iter(plan_clips(cs, SETTINGS, up, cache_dir=cache).values())).rollout
    (path,) = cache.glob("*.npz")
    with np.load(path) as z:
        arrays = {k: np.asarray(z[k]) for k in z.files}
    meta = json.loads(str(arrays["__meta__"]))
    assert meta.pop("errors") == "captured"
    arrays["__meta__"] = np.array(json.dumps(meta))
    arrays["key_body_error"] = arrays["key_body_error"] + 0.01  # as if against the lift
    np.savez(path, **arrays)
    again = next(iter(plan_clips(cs, SETTINGS, up, cache_dir=cache).values())).rollout
    np.testing.assert_array_equal(again.arrays["key_body_error"], fresh.arrays["key_body_error"])
    np.testing.assert_array_equal(again.arrays["qpos"], fresh.arrays["qpos"])
    with np.load(path) as z:
        assert json.loads(str(z["__meta__"]))["errors"] == "captured"
        np.testing.assert_array_equal(z["key_body_error"], fresh.arrays["key_body_error"])


def _standing_clip(clipset: object, frames: int) -> object:
    """The box clip's first pose held ``frames`` frames, the box at rest on the floor
    a metre ahead and no contact labels: a clip the tiny planner tracks to its end."""
    clip = clipset.clips[0].slice(0, 1)  # type: ignore[attr-defined]
    still = clip.with_arrays(
        obj_pos=np.array([[1.0, 0.0, BOX_EXTENTS[2] / 2]], np.float32),
        obj_quat=np.array([[1.0, 0.0, 0.0, 0.0]], np.float32),
        contact=np.zeros_like(clip.contact),
        obj_contact=np.zeros_like(clip.obj_contact),
    )
    return still.with_arrays(**{k: np.repeat(v, frames, axis=0) for k, v in still.arrays().items()})


def test_hold_last_frame_repeats_every_field_and_says_so() -> None:
    clip = synthetic_clip("s1", "box", 0, 18, seed=0, dataset="lab")
    held = hold_last_frame(clip, 5)
    assert held.n_frames == 23 and held.meta == clip.meta and clip.n_frames == 18
    assert held.held_frames == 5 and clip.held_frames == 0 and "held_frames" not in clip.extra
    assert hold_last_frame(held, 2).held_frames == 7
    for key, v in held.arrays().items():
        np.testing.assert_array_equal(v[:18], getattr(clip, key), err_msg=key)
        np.testing.assert_array_equal(v[18:], np.repeat(v[17:18], 5, axis=0), err_msg=key)
    with pytest.raises(ValueError, match="hold"):
        hold_last_frame(clip, -1)


def test_a_held_tail_leaves_the_clip_wide_measures_as_they_were(clipset: object) -> None:
    """The reference's grounding and the planner's floor are measured on the captured
    frames: a clip with its last frame held has the same reference over those frames
    (the last one's velocities aside: its central difference now reaches the hold)."""
    clip = clipset.clips[0]  # type: ignore[attr-defined]
    scene = next(iter(clipset.scenes.values()))  # type: ignore[attr-defined]
    name = clip.meta.object_name
    refs, costs = [], []
    for c in (clip, hold_last_frame(clip, 12)):
        cs = ClipSet({name: [c]}, {name: scene})
        tenv = build_teacher_env_exact(cs, SETTINGS, {name: 1})  # type: ignore[arg-type]
        try:
            env = tenv.envs[0]
            refs.append(env.ref)
            costs.append(PlanCost(env, PlannerSettings()))
        finally:
            tenv.close()
    plain, held = refs
    n = clip.n_frames
    assert held.n_frames == n + 12 and held.held.sum() == 12 and not plain.held.any()
    assert held.held[n:].all() and held.ground_offsets == plain.ground_offsets
    np.testing.assert_array_equal(held.body_pos[:n], plain.body_pos)
    np.testing.assert_array_equal(held.qpos[:n], plain.qpos)
    np.testing.assert_array_equal(held.body_linvel[: n - 1], plain.body_linvel[: n - 1])
    np.testing.assert_array_equal(held.body_linvel[n:], 0.0)
    np.testing.assert_array_equal(costs[1].foot_floor, costs[0].foot_floor)


def test_end_hold_keeps_the_whole_horizon_to_the_clips_end(clipset: object) -> None:
    """With end_hold the last frames are planned with the whole horizon (against the
    last frame held): the same plan up to the first frame whose horizon reaches the
    clip's end, another after it, every rollout simulated to its full horizon, and the
    committed motion still ends at the clip's last frame."""
    clip = _standing_clip(clipset, 20)
    scene = next(iter(clipset.scenes.values()))  # type: ignore[attr-defined]
    p = TINY_PLAN  # horizon 3, 4 samples, 2 iterations
    a = plan_clip(clip, scene, SETTINGS, p)  # type: ignore[arg-type]
    b = plan_clip(clip, scene, SETTINGS, p.model_copy(update={"end_hold": 3}))  # type: ignore[arg-type]
    for r in (a.rollout, b.rollout):
        assert r.success and r.duration == 19 and r.clip_frames == 20
        assert r.ended_by == ("clip_end",) and len(r.arrays["qpos"]) == 20
    # frames 0..16 reach at most frame 19: planned alike; 17 and 18 see past the end
    act_a, act_b = a.rollout.arrays["actions"], b.rollout.arrays["actions"]
    np.testing.assert_array_equal(act_a[:17], act_b[:17])
    assert not np.array_equal(act_a[17:19], act_b[17:19])
    # without the hold frame 17's rollouts stop 1 step short, frame 18's 2: per step
    # 4 samples in each of 2 iterations
    assert b.env_steps - a.env_steps == (1 + 2) * 4 * 2
    # a hold longer than the horizon plans as one of the horizon does
    c = plan_clip(clip, scene, SETTINGS, p.model_copy(update={"end_hold": 10}))  # type: ignore[arg-type]
    np.testing.assert_array_equal(c.rollout.arrays["actions"], act_b)


def test_mppi_step_from_any_state_labels_it(clipset: object) -> None:
    """``MppiStep`` plans from a given state: noiseless, its committed action is the
    base (the reference's PD targets) of that frame; its warm start shifts the plan."""
    tenv = _env(clipset, TINY_PLAN.samples)
    env = tenv.envs[0]
    try:
        recorder = RecordingBackend(env.backend)
        env.backend = recorder
        still = TINY_PLAN.model_copy(update={"sigma": 0.0, "finger_sigma": 0.0})
        step = MppiStep(env, recorder, still, np.random.default_rng(0))
        frame = 5
        state = env.ref.states()[frame]
        env.reset_to(np.full(still.samples, frame), np.repeat(state[None], still.samples, 0))
        want = env.reference_actions()[0]
        best, steps = step(frame, state, np.zeros(2, np.int64), None)
        np.testing.assert_allclose(best["action"], np.clip(want, -1, 1))
        assert steps == still.samples * still.horizon * still.iterations
        assert best["survived"] == still.horizon and np.isfinite(best["cost"])
        step.nominal = np.arange(still.knots * env.action_dim, dtype=np.float64).reshape(
            still.knots, env.action_dim
        )
        committed = {"plan": step.nominal.copy()}
        step.advance(committed)
        seq = step.interp @ committed["plan"]
        shifted = np.concatenate([seq[1:], seq[-1:]])[step.t_knots]
        np.testing.assert_array_equal(step.nominal, shifted)
    finally:
        tenv.close()


def test_residual_cost_is_the_mean_squared_residual_of_every_step(clipset: object) -> None:
    """The control cost: the same samples from the same state cost exactly
    ``residual_weight`` x the sum over their steps of the mean squared interpolated
    residual more (the physics is deterministic, so every other term is equal)."""
    tenv = _env(clipset, 3)
    env = tenv.envs[0]
    try:
        recorder = RecordingBackend(env.backend)
        env.backend = recorder
        plain = PlannerSettings(samples=3, horizon=4, knots=2, termination_cost=0.0)
        priced = plain.model_copy(update={"residual_weight": 2.5})
        interp, _ = _interpolation(plain.horizon, plain.knots)
        plans = np.random.default_rng(0).normal(0.0, 0.02, (3, plain.knots, env.action_dim))
        plans[0] = 0.0  # the nominal: no residual, no control cost
        frame, state = 2, env.ref.states()[2]
        out = {}
        for p in (plain, priced):
            out[p.residual_weight] = _rollout(
                env, recorder, PlanCost(env, p), p, plans, interp,
                frame, state, np.zeros(2, np.int64), None,
            )  # fmt: skip
        assert (out[0.0]["survived"] == plain.horizon).all()
        seq = np.einsum("hp,kpa->kha", interp, plans)
        # by hand: 2 knots at steps 0 and 3, linear between
        np.testing.assert_allclose(seq[:, 1], plans[:, 0] * 2 / 3 + plans[:, 1] / 3)
        want = 2.5 * (seq**2).mean(axis=2).sum(axis=1)
        np.testing.assert_allclose(out[2.5]["cost"] - out[0.0]["cost"], want, rtol=1e-9)
        assert want[0] == 0.0 and (want[1:] > 0).all()
    finally:
        tenv.close()


def test_object_jerk_cost_is_the_third_difference_beyond_the_references(
    clipset: object,
) -> None:
    """``object_jerk_weight`` x the norm of the object's third difference (committed
    past, then the sample's steps) less the reference's, summed over the steps: the same
    samples cost exactly that more, computed here from the recorded positions; without
    the past the term starts at the third step."""
    tenv = _env(clipset, 3)
    env = tenv.envs[0]
    try:
        recorder = RecordingBackend(env.backend)
        env.backend = recorder
        plain = PlannerSettings(samples=3, horizon=4, knots=2, commit_steps=4, termination_cost=0.0)
        priced = plain.model_copy(update={"object_jerk_weight": 40.0})
        interp, _ = _interpolation(plain.horizon, plain.knots)
        plans = np.random.default_rng(0).normal(0.0, 0.02, (3, plain.knots, env.action_dim))
        frame, state = 2, env.ref.states()[2]
        ref = np.asarray(env.ref.obj_pos, np.float64)
        past = ref[[0, 1, 2]] + np.array([[0.0, 0.0, 0.0], [0.001, 0.0, 0.0], [0.0, 0.002, 0.0]])
        out = {}
        for p, given in ((plain, past), (priced, past), (priced, None)):
            out[p.object_jerk_weight, given is None] = _rollout(
                env, recorder, PlanCost(env, p), p, plans, interp,
                frame, state, np.zeros(2, np.int64), None, given,
            )  # fmt: skip
        base = out[0.0, False]
        assert (base["survived"] == plain.horizon).all()
        sim = np.stack([step["snap"]["bs"].obj_pos for step in base["record"]], axis=1)
        # positions [K, 3 + 4, 3]: the committed past, then the four steps
        x = np.concatenate([np.repeat(past[None], 3, 0), sim], axis=1)
        r = ref[:7]  # the reference at frames 0..6
        d3 = x[:, 3:] - 3 * x[:, 2:-1] + 3 * x[:, 1:-2] - x[:, :-3]
        r3 = r[3:] - 3 * r[2:-1] + 3 * r[1:-2] - r[:-3]
        each = np.linalg.norm(d3 - r3[None], axis=-1)  # [K, 4]
        want = 40.0 * each.sum(axis=1)
        np.testing.assert_allclose(out[40.0, False]["cost"] - base["cost"], want, rtol=1e-9)
        assert (want > 0).all()
        # no past: only the steps with three of the rollout's own positions before them
        np.testing.assert_allclose(
            out[40.0, True]["cost"] - base["cost"], 40.0 * each[:, 3], rtol=1e-9
        )
    finally:
        tenv.close()


def test_object_jerk_holds_the_reference_at_the_clip_start() -> None:
    """At the clip's first frames the reference's frames before it are its first."""
    ref = np.array([[0.0, 0, 0], [1.0, 0, 0], [3.0, 0, 0], [7.0, 0, 0]])
    jerk = _ObjectJerk(ref, 0, 0, np.zeros((3, 3)), 1)
    # sim 0, 0, 0, 2: d3 = 2; the reference over frames 0, 0, 0, 1: d3 = 1
    assert jerk(np.array([[2.0, 0.0, 0.0]]))[0] == pytest.approx(1.0)
    # sim 0, 0, 2, 2: d3 = -4; the reference over 0, 0, 1, 3: d3 = 0
    assert jerk(np.array([[2.0, 0.0, 0.0]]))[0] == pytest.approx(4.0)


def test_object_past_pads_the_clip_start_with_the_first_position() -> None:
    rec = [{"obj_pos": np.array([[float(i), 0.0, 1.0]])} for i in range(5)]
    np.testing.assert_array_equal(_object_past(rec[:1])[:, 0], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(_object_past(rec[:2])[:, 0], [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(_object_past(rec)[:, 0], [2.0, 3.0, 4.0])


def test_noise_basis_keeps_the_body_residual_in_the_motions_principal_directions(
    clipset: object,
) -> None:
    """With ``noise_basis=d`` the body hinges' residuals lie in the span of the ``d``
    directions along which the reference's PD targets change most (orthonormal, in
    order of variance), fingers keep their own noise; a basis larger than the body's
    hinges is refused."""
    tenv = _env(clipset, TINY_PLAN.samples)
    env = tenv.envs[0]
    try:
        recorder = RecordingBackend(env.backend)
        env.backend = recorder
        quiet = TINY_PLAN.model_copy(update={"noise_basis": 3, "sigma": 0.01, "iterations": 1})
        step = MppiStep(env, recorder, quiet, np.random.default_rng(0))
        basis, body = step.basis, step.body
        assert basis.shape == (3, len(body)) and 0 < len(body) < env.action_dim
        np.testing.assert_allclose(basis @ basis.T, np.eye(3), atol=1e-12)
        table = env.reference_base
        with pytest.raises(ValueError, match="read-only"):
            table[0, 0] = 0.5  # the environment's own table, not a copy to scribble on
        moves = np.diff(table[:, body], axis=0)
        moves -= moves.mean(axis=0)
        spread = [float(np.var(moves @ b)) for b in basis]
        assert spread[0] >= spread[1] >= spread[2] > 0
        # no unit direction spreads the motion more than the first principal one
        others = np.random.default_rng(1).normal(size=(200, len(body)))
        others /= np.linalg.norm(others, axis=1, keepdims=True)
        assert (np.var(moves @ others.T, axis=0) <= spread[0] + 1e-12).all()
        frame, state = 3, env.ref.states()[3]
        env.reset_to(np.full(quiet.samples, frame), np.repeat(state[None], quiet.samples, 0))
        base = env.reference_actions()[0]
        best, _ = step(frame, state, np.zeros(2, np.int64), None)
        residual = best["action"] - base
        body_res = residual[body]
        inside = basis.T @ (basis @ body_res)
        np.testing.assert_allclose(body_res, inside, atol=1e-9)
        fingers = np.setdiff1d(np.arange(env.action_dim), body)
        assert best["survived"] > 0 and np.abs(residual[fingers]).max() > 0
        too_many = TINY_PLAN.model_copy(update={"noise_basis": len(body) + 1})
        with pytest.raises(ValueError, match="noise_basis"):
            MppiStep(env, recorder, too_many, np.random.default_rng(0))
    finally:
        tenv.close()


@pytest.mark.parametrize("basis", [0, 3])
def test_foot_and_arm_noise_scale_their_hinges_noise(clipset: object, basis: int) -> None:
    """``foot_noise`` multiplies sigma on the hinges whose actuators are named after the
    ankles and toes, ``arm_noise`` on the collars', shoulders', elbows' and wrists' (named
    here by hand, not by the library's test): at 0 the committed residual leaves them at
    the reference's PD targets while every other hinge moves, with independent noise and
    with the motion-basis noise alike; at 0.5 and 0.25 their noise scales are that part of
    the other body hinges'."""
    tenv = _env(clipset, TINY_PLAN.samples)
    env = tenv.envs[0]
    try:
        recorder = RecordingBackend(env.backend)
        env.backend = recorder
        model = env.scene.model
        names = [model.actuator(i).name for i in range(model.nu)]
        feet = np.array([n.split("_")[1] in ("Ankle", "Toe") for n in names])
        arms = np.array(
            [n.split("_")[1] in ("Thorax", "Shoulder", "Elbow", "Wrist") for n in names]
        )
        assert feet.sum() == 12  # 2 ankles + 2 toes, 3 hinges each
        assert arms.sum() == 24  # 2 x (collar, shoulder, elbow, wrist), 3 hinges each
        body = np.zeros(len(names), bool)
        body[_body_actuators(model)] = True
        rest = body & ~feet & ~arms
        half = TINY_PLAN.model_copy(
            update={"foot_noise": 0.5, "arm_noise": 0.25, "noise_basis": basis}
        )
        step = MppiStep(env, recorder, half, np.random.default_rng(0))
        np.testing.assert_array_equal(step.scale[feet], 0.5 * half.sigma)
        np.testing.assert_array_equal(step.scale[arms], 0.25 * half.sigma)
        np.testing.assert_array_equal(step.scale[rest], half.sigma)
        np.testing.assert_array_equal(step.scale[~body], half.finger_sigma)
        # committing the MPPI average of the first iteration's samples (the last
        # iteration's sample 0): a mix of every noisy sample
        still = half.model_copy(
            update={"foot_noise": 0.0, "arm_noise": 0.0, "iterations": 2, "commit": "mean"}
        )
        step = MppiStep(env, recorder, still, np.random.default_rng(0))
        frame, state = 3, env.ref.states()[3]
        env.reset_to(np.full(still.samples, frame), np.repeat(state[None], still.samples, 0))
        base = env.reference_actions()[0]
        best, _ = step(frame, state, np.zeros(2, np.int64), None)
        assert best["survived"] > 0
        residual = best["action"] - np.clip(base, -1, 1)
        assert np.abs(residual[feet | arms]).max() == 0.0
        assert (np.abs(residual[rest]) > 0).mean() > 0.9
    finally:
        tenv.close()


def test_planner_needs_a_clip_with_frames(tmp_path: Path, clipset: object) -> None:
    scene = next(iter(clipset.scenes.values()))  # type: ignore[attr-defined]
    clip = clipset.clips[0]  # type: ignore[attr-defined]
    res = plan_clip(clip, scene, SETTINGS, TINY_PLAN, max_frames=0)
    assert res.rollout.duration == 0 and res.rollout.arrays["qpos"].shape[0] == 1


@pytest.mark.parametrize("rule", ["released", "confirm"])
def test_planner_states_seed_every_simulated_psi_slot(
    tmp_path: Path, clipset: object, rule: str
) -> None:
    from intermimic.plan.seeds import plan_clips, psi_seeds
    from intermimic.rl.teacher_env import build_teacher_env

    settings = SETTINGS.model_copy(update={"psi_rule": rule})
    plans = plan_clips(clipset, settings, TINY_PLAN, cache_dir=tmp_path)  # type: ignore[arg-type]
    ((cid, states),) = psi_seeds(plans).items()
    assert plans[cid].actions.shape[0] == len(states) and plans[cid].frames == len(states) - 1
    assert states.shape[0] >= 2 and len(list(tmp_path.glob(f"{cid}.*.npz"))) == 1
    again = plan_clips(clipset, settings, TINY_PLAN, cache_dir=tmp_path)  # type: ignore[arg-type]
    np.testing.assert_array_equal(again[cid].states, states)  # from the cache
    np.testing.assert_array_equal(again[cid].actions, plans[cid].actions)
    tenv = build_teacher_env(clipset, settings)  # type: ignore[arg-type]
    try:
        assert tenv.seed_psi({cid: states, "elsewhere": states}) == {
            cid: len(states),
            "elsewhere": 0,
        }
        psi = tenv.envs[0].psi
        n = len(states)
        for slot in range(1, psi.states.shape[1]):
            np.testing.assert_array_equal(psi.states[:n, slot].numpy(), states)
            assert psi.filled[:n, slot].all()
        if rule == "released":
            np.testing.assert_array_equal(psi.score[:n, 1:], 1.0)
        with pytest.raises(ValueError, match="nq \\+ nv"):
            tenv.envs[0].seed_psi(cid, states[:, :-1])
    finally:
        tenv.close()


def test_recipe_c_clones_the_plan_then_trains_and_resumes_without_cloning(
    tmp_path: Path, clipset: object
) -> None:
    import functools

    from intermimic.plan.clone import clone_planner
    from intermimic.plan.seeds import plan_clips, psi_seeds
    from intermimic.rl.teacher_training import train_teacher

    plans = plan_clips(clipset, SETTINGS, TINY_PLAN)  # type: ignore[arg-type]
    s = SETTINGS.model_copy(
        update={"env_steps": 4 * 8 * 2, "horizon": 8, "hidden_dims": [32], "tensorboard": False,
                "checkpoint_interval": 1, "psi_rule": "confirm", "recipe": "planner_bc"}
    )  # fmt: skip
    calls: list[dict[str, float]] = []

    def init(trainer: object, env: object) -> dict[str, float]:
        out = functools.partial(clone_planner, plans=plans, epochs=150)(trainer, env)  # type: ignore[arg-type]
        calls.append(out)
        return out

    run = tmp_path / "run"
    first = train_teacher(clipset, s, run, psi_seeds=psi_seeds(plans), init_actor=init)  # type: ignore[arg-type]
    assert first.iterations == 2 and len(calls) == 1
    fit = calls[0]
    assert fit["samples"] == next(iter(plans.values())).frames
    assert fit["loss_last"] < 0.3 * fit["loss_first"]
    more = s.model_copy(update={"env_steps": 4 * 8 * 3})
    again = train_teacher(clipset, more, run, psi_seeds=psi_seeds(plans), init_actor=init)  # type: ignore[arg-type]
    assert again.resumed_from == 2 and again.iterations == 3 and len(calls) == 1


def test_recipe_inputs_per_recipe(tmp_path: Path, clipset: object) -> None:
    from intermimic.plan.recipes import recipe_inputs

    only_ppo = SETTINGS.model_copy(update={"recipe": "ppo"})
    ppo = recipe_inputs(clipset, only_ppo, tmp_path)  # type: ignore[arg-type]
    assert ppo.plans == {} and ppo.psi_seeds is None and ppo.init_actor is None
    assert ppo.planner_seconds == 0.0 and not list(tmp_path.iterdir())
    psi = recipe_inputs(clipset, SETTINGS.model_copy(update={"recipe": "planner_psi"}), tmp_path)  # type: ignore[arg-type]
    ((cid, plan),) = psi.plans.items()
    assert psi.psi_seeds is not None and psi.init_actor is None
    np.testing.assert_array_equal(psi.psi_seeds[cid], plan.states)
    assert psi.planner_seconds == plan.seconds > 0
    bc = recipe_inputs(clipset, SETTINGS.model_copy(update={"recipe": "planner_bc"}), tmp_path)  # type: ignore[arg-type]
    assert callable(bc.init_actor) and bc.planner_seconds == psi.planner_seconds  # cached


@pytest.mark.warp
def test_planner_runs_on_the_warp_backend(clipset: object) -> None:
    """The planner drives a warp environment as it drives a mujoco one (the GPU path:
    thousands of samples per frame): noiseless, both commit the reference's PD targets
    and simulate the same frames to float32 precision."""
    clip = clipset.clips[0]  # type: ignore[attr-defined]
    scene = next(iter(clipset.scenes.values()))  # type: ignore[attr-defined]
    still = TINY_PLAN.model_copy(update={"sigma": 0.0, "finger_sigma": 0.0})
    a = plan_clip(clip, scene, SETTINGS, still, max_frames=3).rollout
    warp = SETTINGS.model_copy(update={"backend": "warp", "device": "cpu"})
    b = plan_clip(clip, scene, warp, still, max_frames=3).rollout
    assert a.duration == b.duration >= 1 and b.ended_by == a.ended_by
    np.testing.assert_allclose(b.arrays["actions"], a.arrays["actions"], atol=1e-5)
    np.testing.assert_allclose(b.arrays["qpos"], a.arrays["qpos"], atol=2e-3)


def test_plan_cache_key_names_the_simulated_system() -> None:
    import hashlib

    from intermimic.plan.seeds import SYSTEM_FIELDS, _key

    plan = PlannerSettings()
    base = TeacherSettings()
    # at the defaults the system fields stay out of the key (written out here: an
    # independent path); it names the carried warm start, so plans cached before it
    # (each frame from a cleared warm start) are not taken for today's; environment
    # fields added since (object_rest) stay out of it at their defaults
    env = base.env_settings(psi=False).model_dump_json(exclude={"object_rest", "object_rest_blend"})
    text = f"{plan.sha256()}|{env}|{base.hands}|src"
    old = hashlib.sha256(f"{text}|warm=carried".encode()).hexdigest()[:16]
    assert _key(plan, base, "src") == old
    assert _key(plan, base, "src") != hashlib.sha256(text.encode()).hexdigest()[:16]
    # each system field changes it: a plan made at 120 Hz must not replay at 240 Hz
    changed = {
        "physics_hz": 240,
        "ground_timeconst": 0.03,
        "ground_stiffness": 2e4,
        "object_timeconst": 0.03,
        "friction_cone": "elliptic",
        "impratio": 10.0,
        "embodiment": "g1",
        "fit_skeleton": True,
        "backend": "warp",
    }
    assert set(changed) == set(SYSTEM_FIELDS)
    keys = {_key(plan, base.model_copy(update={f: v}), "src") for f, v in changed.items()}
    assert len(keys) == len(changed) and old not in keys
    # and the key is a function of the settings, not of the object
    assert _key(plan, TeacherSettings(physics_hz=240), "src") == _key(
        plan, base.model_copy(update={"physics_hz": 240}), "src"
    )


def test_plan_cache_key_of_lifted_feet_plans_names_the_mocap_start() -> None:
    """Plans against lifted swing feet cached before they started at the MoCap start
    (they started at the lifted clip's first state) are not replayed as today's."""
    import hashlib

    from intermimic.plan.seeds import _key

    base = TeacherSettings()
    env = base.env_settings(psi=False).model_dump_json(exclude={"object_rest", "object_rest_blend"})

    def key(plan: PlannerSettings, extra: str = "") -> str:
        text = f"{plan.sha256()}|{env}|{base.hands}|src|warm=carried{extra}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    swing = PlannerSettings(swing_clearance=0.04)
    assert _key(swing, base, "src") == key(swing, "|start=mocap") != key(swing)
    flat = PlannerSettings()
    assert _key(flat, base, "src") == key(flat)
