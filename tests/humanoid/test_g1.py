"""The Unitree G1 with hands as an embodiment: scene, PD standing, key-body map, one
teacher iteration on SMPL-X references (skipped without the robot's URDF)."""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
import pytest
import torch

from intermimic.humanoid.embodiment import SmplxEmbodiment, make_embodiment
from intermimic.humanoid.g1 import G1Embodiment, G1Settings, default_urdf
from intermimic.motion.synthetic import synthetic_clip, write_synthetic_objects
from intermimic.objects import ObjectLibrary
from intermimic.sim.factory import make_backend
from intermimic.sim.mujoco_backend import standing_qpos
from intermimic.sim.scene import Scene, embodiment_scene


@pytest.fixture(scope="module")
def g1() -> G1Embodiment:
    if not default_urdf().is_file():
        pytest.skip(f"G1 URDF not present ({default_urdf()})")
    return G1Embodiment()


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> ObjectLibrary:
    return ObjectLibrary(write_synthetic_objects(tmp_path_factory.mktemp("g1_objects")))


@pytest.fixture(scope="module")
def g1_scene(g1: G1Embodiment, objects: ObjectLibrary) -> Scene:
    return embodiment_scene(g1, objects.get("box"))


def test_model_layout_and_gains(g1: G1Embodiment) -> None:
    m = g1.model()
    assert len(g1.joint_names) == 43 and m.nu == 43
    assert m.jnt_type[0] == mujoco.mjtJoint.mjJNT_FREE and m.body(m.jnt_bodyid[0]).name == "pelvis"
    kp = dict(zip(g1.joint_names, m.actuator_gainprm[:, 0], strict=True))
    kd = {n: -m.actuator_biasprm[i, 2] for i, n in enumerate(g1.joint_names)}
    assert (kp["left_knee_joint"], kd["left_knee_joint"]) == (500, 50)
    assert (kp["waist_yaw_joint"], kp["left_elbow_joint"]) == (300, 300)
    assert (kp["left_wrist_roll_joint"], kd["left_wrist_roll_joint"]) == (200, 20)
    assert (kp["right_hand_index_1_joint"], kd["right_hand_index_1_joint"]) == (100, 10)
    # targets span the joint limits: the URDF's ranges are in the model
    knee = m.joint("left_knee_joint").id
    np.testing.assert_allclose(m.jnt_range[knee], [-0.087267, 2.8798])
    assert 0.7 < g1.height_ratio < 1.0


def test_key_body_map_covers_hands_and_feet(g1: G1Embodiment) -> None:
    assert 18 <= len(g1.tracked_bodies) <= 24
    mapped = {g1.smplx_bodies[i] for i in g1.tracked_index}
    for name in ("Pelvis", "Head", "L_Wrist", "R_Wrist", "L_Ankle", "R_Ankle", "L_Toe", "R_Toe",
                 "L_Index3", "R_Thumb3", "L_Elbow", "R_Knee"):  # fmt: skip
        assert name in mapped
    left = {g1.smplx_bodies[i] for i in g1.index(g1.left_hand)}
    assert {"L_Wrist", "L_Thumb1", "L_Index1", "L_Middle1"} <= left
    assert {g1.smplx_bodies[i] for i in g1.index(g1.feet)} == {
        "L_Ankle",
        "L_Toe",
        "R_Ankle",
        "R_Toe",
    }
    # every hand link with a collision geom is in a hand list (contact with the object)
    m = g1.model()
    with_geoms = {m.body(int(b)).name for b in m.geom_bodyid}
    hand_links = {n for n in with_geoms if "_hand_" in n}
    assert hand_links <= set(g1.left_hand) | set(g1.right_hand)


def test_rest_offsets_align_the_calibration_pose(g1: G1Embodiment) -> None:
    """In the common pose, the mapped SMPL-X directions elbow -> wrist agree."""
    from intermimic.humanoid.g1 import _smplx_tree, calibration_qpos
    from intermimic.motion.kinematics import fk

    pos, _ = fk(_smplx_tree(), calibration_qpos())
    m = g1.model()
    d = mujoco.MjData(m)
    mujoco.mj_kinematics(m, d)
    for side, s in (("left", "L"), ("right", "R")):
        human = (
            pos[g1.smplx_index[g1.index((f"{side}_wrist_yaw_link",))][0]]
            - pos[g1.smplx_index[g1.index((f"{side}_elbow_link",))][0]]
        )
        robot = (
            d.xpos[m.body(f"{side}_wrist_yaw_link").id] - d.xpos[m.body(f"{side}_elbow_link").id]
        )
        cos = human @ robot / np.linalg.norm(human) / np.linalg.norm(robot)
        assert cos > 0.95, (s, human, robot)


def test_scene_stands_under_pd_for_one_second(g1_scene: Scene) -> None:
    sc = g1_scene
    assert sc.embodiment.name == "g1" and sc.has_object
    q0 = standing_qpos(sc)
    be = make_backend("mujoco", sc, 2, n_threads=1)
    be.reset(np.arange(2), np.tile(q0, (2, 1)), np.zeros((2, sc.model.nv)))
    be.set_targets(np.tile(q0[sc.humanoid_qpos_adr[7:]], (2, 1)))
    for _ in range(30):  # 30 policy steps x 4 substeps = 1 s at 120 Hz
        be.step(4)
    qpos = be.qpos()
    assert not be.bad_worlds().any()
    assert np.all(qpos[:, 2] > q0[2] - 0.05)  # pelvis still up
    upright = qpos[:, 3]  # w of the root quaternion: ~1 while upright
    assert np.all(np.abs(upright) > 0.98)
    forces = be.contact_forces()
    feet = sc.embodiment.index(sc.embodiment.feet)
    weight = sc.model.body_subtreemass[sc.humanoid_body_ids[0]] * 9.81
    np.testing.assert_allclose(forces[:, feet, 1].sum(axis=1), weight, rtol=0.25)
    be.close()


def test_tracking_env_on_g1_maps_the_reference(g1: G1Embodiment, g1_scene: Scene) -> None:
    from intermimic.env import EnvSettings, TrackingEnv

    clip = synthetic_clip(n_frames=24, seed=1)
    env = TrackingEnv(g1_scene, [clip], "mujoco", n_worlds=2, settings=EnvSettings(seed=0))
    b = len(g1.body_names)
    assert env.ref.body_pos.shape == (24, b, 3) and env.ref.contact.shape == (24, b)
    pelvis = env.ref.body_pos[:, 0]
    np.testing.assert_allclose(pelvis, g1.height_ratio * clip.body_pos[:, 0], atol=0.05)
    obs = env.reset()
    assert obs.shape == (2, env.obs_dim) and env.action_dim == 43
    obs, reward, _, _, info = env.step(np.zeros((2, 43)))
    assert torch.isfinite(obs).all() and torch.isfinite(reward).all()
    assert set(info["reward_terms"]) >= {"body_pos", "interaction_graph", "hand_contact"}
    env.close()


def test_g1_keeps_its_range_middles(g1_scene: Scene) -> None:
    """InterMimic's recentring is a rule of its SMPL-X humanoid: the G1's asymmetric
    ranges keep their middles unless a run asks for the threshold itself."""
    from intermimic.env import EnvSettings, TrackingEnv
    from intermimic.sim.pd import ActionSettings

    clip = synthetic_clip(n_frames=24, seed=1)
    env = TrackingEnv(g1_scene, [clip], "mujoco", n_worlds=1, settings=EnvSettings(seed=0))
    assert env.action_map.recentred == ()
    forced = EnvSettings(seed=0, action=ActionSettings(non_finite="zero", recentre_threshold=0.1))
    env2 = TrackingEnv(g1_scene, [clip], "mujoco", n_worlds=1, settings=forced)
    assert len(env2.action_map.recentred) > 0
    env.close()
    env2.close()


def test_one_teacher_iteration_on_g1(
    tmp_path: Path, g1: G1Embodiment, objects: ObjectLibrary
) -> None:
    from intermimic.rl.clipset import prepare_clips
    from intermimic.rl.teacher_settings import TeacherSettings
    from intermimic.rl.teacher_training import train_teacher

    s = TeacherSettings(
        recipe="ppo",  # trains without plans (the cpu default plans first)
        env_steps=4 * 8, worlds=4, horizon=8, hidden_dims=[32], checkpoint_interval=1,
        sim_threads=1, tensorboard=False, embodiment="g1",
    )  # fmt: skip
    clips = [synthetic_clip("s1", "box", 0, 30, seed=0)]
    clipset = prepare_clips(clips, objects, s)
    assert clipset.scenes["box"].embodiment.name == "g1"
    r = train_teacher(clipset, s, tmp_path / "run")
    assert r.iterations == 1 and r.checkpoint is not None


def test_make_embodiment() -> None:
    assert isinstance(make_embodiment("smplx"), SmplxEmbodiment)
    with pytest.raises(ValueError, match="known: smplx, g1"):
        make_embodiment("atlas")
    assert G1Settings().gains.of("left_hand_thumb_0_joint").kp == 100


@pytest.mark.slow
def test_cli_train_and_refine_g1(tmp_path: Path, g1: G1Embodiment) -> None:
    """`train-teacher` and `refine` with `--embodiment g1`: the run lives beside the
    humanoid's, and the refined data names the embodiment and its joints."""
    from typer.testing import CliRunner

    import cli.teacher  # noqa: F401  (registers the commands)
    from cli import app
    from data_catalog import Store
    from data_catalog.runs import teacher_dir

    store = Store(tmp_path / "store")
    clip = synthetic_clip("s1", "box", 0, 30, seed=0, dataset="lab")
    store.upsert_clips("lab", "s1", [clip.with_meta(source_sha256="0" * 64)])
    objects = write_synthetic_objects(tmp_path / "objects")
    common = ["--store", str(store.root), "--subject", "s1", "--objects", str(objects)]
    tiny = ["--set", "worlds=4", "--set", "horizon=8", "--set", "hidden_dims=[32]",
            "--set", "sim_threads=1", "--set", "tensorboard=false",
            "--set", "recipe=ppo"]  # fmt: skip
    runner = CliRunner()
    r = runner.invoke(
        app, ["train-teacher", *common, "--embodiment", "g1", "--env-steps", "32", *tiny]
    )
    assert r.exit_code == 0, r.output
    run = teacher_dir(store, "lab", "s1", "g1")
    assert (run / "teacher_settings.json").exists()
    assert not teacher_dir(store, "lab", "s1").exists()
    r = runner.invoke(app, ["refine", *common, "--embodiment", "g1", "--set", "attempts=1"])
    assert r.exit_code == 0, r.output
    assert ("lab-refined-g1", "s1") in store.subjects()
    import zarr

    gen = store.generation_path("lab-refined-g1", "s1")
    attrs = dict(zarr.open_group(str(gen), mode="r")["rollout"].attrs)
    assert attrs["embodiment"] == "g1" and len(attrs["joint_names"]) == 43
