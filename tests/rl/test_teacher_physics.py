"""A teacher run's physics: its rate and ground stiffness reach every scene built for it."""

from __future__ import annotations

from dataclasses import replace

import mujoco
import numpy as np
import pytest
import torch
from pydantic import ValidationError

from intermimic.contact.distances import HumanoidGeoms, geom_lowest_z, pose_geoms
from intermimic.errors import InputError
from intermimic.eval.evaluate import perturbed_scene
from intermimic.motion.synthetic import synthetic_clip, write_synthetic_objects
from intermimic.objects import ObjectLibrary
from intermimic.rl.clipset import ClipSet, prepare_clips
from intermimic.rl.student_env import _same_physics
from intermimic.rl.teacher_env import build_teacher_env_exact
from intermimic.rl.teacher_settings import TeacherSettings
from intermimic.sim.scene import SceneSettings

STIFF = TeacherSettings(physics_hz=240, ground_timeconst=0.0085, sim_threads=1, worlds=3)
SOFT = TeacherSettings(sim_threads=1, worlds=3)
DIRECT = TeacherSettings(ground_stiffness=2e4, sim_threads=1, worlds=3)


@pytest.fixture(scope="module")
def objects(tmp_path_factory: pytest.TempPathFactory) -> ObjectLibrary:
    return ObjectLibrary(write_synthetic_objects(tmp_path_factory.mktemp("phys_objects")))


def _clipset(objects: ObjectLibrary, s: TeacherSettings) -> ClipSet:
    return prepare_clips([synthetic_clip("s1", "box", 0, 20, seed=0)], objects, s)


def test_settings_reach_the_scene_and_the_substeps(objects: ObjectLibrary) -> None:
    cs = _clipset(objects, STIFF)
    scene = next(iter(cs.scenes.values()))
    m = scene.model
    assert m.opt.timestep == pytest.approx(1 / 240)
    np.testing.assert_allclose(m.geom_solref[scene.ground_geom_id], [0.0085, 1.0])
    # the object-ground pairs state it too (an explicit pair ignores the geoms')
    assert m.npair > 0
    np.testing.assert_allclose(m.pair_solref, np.tile([0.0085, 1.0], (m.npair, 1)))
    env = build_teacher_env_exact(cs, STIFF, {"box": 1}, psi=False)
    try:
        assert env.envs[0].substeps == 8  # 240 Hz physics, 30 Hz policy
    finally:
        env.close()
    # the defaults are MuJoCo's: the method's 120 Hz
    soft_scene = next(iter(_clipset(objects, SOFT).scenes.values()))
    assert soft_scene.model.opt.timestep == pytest.approx(1 / 120)
    np.testing.assert_allclose(soft_scene.model.geom_solref[soft_scene.ground_geom_id], [0.02, 1])
    # a teacher's evaluation scene takes its physics
    ev = perturbed_scene("box", objects, physics=STIFF.scene_settings()).model
    assert ev.opt.timestep == pytest.approx(1 / 240)


def test_a_direct_stiffness_reaches_the_ground_and_its_pairs(objects: ObjectLibrary) -> None:
    # MuJoCo's direct format, critically damped: (-k, -2 sqrt(k)), hand-computed
    assert DIRECT.ground_solref == (-2e4, pytest.approx(-282.842712))
    scene = next(iter(_clipset(objects, DIRECT).scenes.values()))
    m = scene.model
    assert m.opt.timestep == pytest.approx(1 / 120)
    np.testing.assert_allclose(m.geom_solref[scene.ground_geom_id], [-2e4, -282.842712])
    assert m.npair > 0
    np.testing.assert_allclose(m.pair_solref, np.tile([-2e4, -282.842712], (m.npair, 1)))
    # no step-count floor on it, but it replaces the time constant: one or the other
    TeacherSettings(ground_stiffness=1e5)
    with pytest.raises(ValidationError, match="set one of them"):
        TeacherSettings(ground_stiffness=2e4, ground_timeconst=0.02)
    with pytest.raises(ValidationError):
        TeacherSettings(ground_stiffness=0.0)
    SceneSettings(ground_solref=(-2e4, -283.0))
    with pytest.raises(ValidationError, match="both negative"):
        SceneSettings(ground_solref=(-2e4, 1.0))


def test_a_time_constant_below_two_steps_is_refused() -> None:
    with pytest.raises(ValidationError, match="below 2 physics steps"):
        TeacherSettings(ground_timeconst=0.01)  # 120 Hz: at least 0.0167
    TeacherSettings(physics_hz=480, ground_timeconst=0.005)
    with pytest.raises(ValidationError, match="positive"):
        SceneSettings(ground_solref=(0.0, 1.0))
    with pytest.raises(ValidationError, match="object_timeconst=0.01 s is below 2"):
        TeacherSettings(object_timeconst=0.01)
    TeacherSettings(physics_hz=240, object_timeconst=0.0085)
    with pytest.raises(ValidationError, match="object_solref needs a positive"):
        SceneSettings(object_solref=(0.01, 0.0))


def test_the_grip_reaches_hand_object_contacts_and_not_the_ground(
    objects: ObjectLibrary,
) -> None:
    """object_timeconst sets the solref MuJoCo gives every humanoid-object contact (the
    object's priority hands it over); the object's contacts with the ground keep the
    ground's (their explicit pairs state it)."""
    s = STIFF.model_copy(update={"object_timeconst": 0.01})
    scene = next(iter(_clipset(objects, s).scenes.values()))
    m = scene.model
    parts = [int(g) for g in scene.object_geom_ids if m.geom_contype[g] or m.geom_conaffinity[g]]
    assert parts
    np.testing.assert_allclose(m.geom_solref[parts], [[0.01, 1.0]] * len(parts))
    np.testing.assert_allclose(m.pair_solref, np.tile([0.0085, 1.0], (m.npair, 1)))
    # a hand pushed into the object: the contact MuJoCo makes carries the grip's solref
    d = mujoco.MjData(m)
    mujoco.mj_forward(m, d)
    hand = int(scene.right_hand_body_ids[0])
    d.qpos[scene.object_qpos_adr[:3]] = d.xpos[hand]
    mujoco.mj_forward(m, d)
    found = []
    for c in d.contact[: d.ncon]:
        bodies = {int(m.geom_bodyid[c.geom1]), int(m.geom_bodyid[c.geom2])}
        if scene.object_body_id in bodies and bodies & set(scene.humanoid_body_ids.tolist()):
            found.append(np.array(c.solref))
    assert found, "no humanoid-object contact"
    np.testing.assert_allclose(np.array(found), [[0.01, 1.0]] * len(found))
    # and at the default, MuJoCo's
    base = next(iter(_clipset(objects, STIFF).scenes.values())).model
    np.testing.assert_allclose(base.geom_solref[parts], [[0.02, 1.0]] * len(parts))


def _foot_penetration(objects: ObjectLibrary, s: TeacherSettings) -> np.ndarray:
    """Deepest foot geom below the ground (m) per world over 20 policy steps, holding
    the first frame's pose: standing, and landing at 1 and 2 m/s."""
    cs = _clipset(objects, s)
    scene = next(iter(cs.scenes.values()))
    geoms = HumanoidGeoms.from_scene(scene)
    feet = [i for i, n in enumerate(scene.embodiment.body_names) if "Ankle" in n or "Toe" in n]
    keep = np.isin(geoms.body, feet)
    geoms = replace(geoms, **{f: getattr(geoms, f)[keep] for f in ("body", "kind", "pos",
                    "rot", "size", "geom_id", "radius")})  # fmt: skip
    env = build_teacher_env_exact(cs, s, {"box": 3}, psi=False)
    try:
        e = env.envs[0]
        st = np.repeat(e.ref.states()[:1], 3, 0)
        nq = scene.model.nq
        z, vz = scene.humanoid_qpos_adr[2], nq + scene.humanoid_dof_adr[2]
        st[1, z] += 0.03
        st[1, vz] = -1.0
        st[2, z] += 0.06
        st[2, vz] = -2.0
        e.reset_to(np.zeros(3, np.int64), st)
        hold = torch.from_numpy(
            np.clip(e.action_map.actions(st[:, scene.humanoid_qpos_adr[7:]]), -1, 1)
        )
        deepest = np.zeros(3)
        for _ in range(20):
            e.backend.set_targets_tensor(e.action_map.targets_tensor(hold))
            e.backend.step(e.substeps)
            bs = e.backend.read(torch.float64).bodies
            pos, rot = pose_geoms(geoms, bs.pos.numpy(), bs.quat.numpy())
            deepest = np.maximum(deepest, -geom_lowest_z(geoms, pos, rot).min(axis=1))
        return deepest
    finally:
        env.close()


@pytest.fixture(scope="module")
def soft(objects: ObjectLibrary) -> np.ndarray:
    """The default ground's penetrations, which both stiff grounds are measured against."""
    return _foot_penetration(objects, SOFT)


def test_a_stiff_ground_keeps_the_feet_out(objects: ObjectLibrary, soft: np.ndarray) -> None:
    """At 120 Hz MuJoCo's soft contacts let a landing foot sink centimetres; at 240 Hz
    with the stiffest time constant it stays within a few millimetres (sample clip,
    2026-12-02: 0.9 / 1.8 / 2.3 cm against 0.1 / 0.3 / 0.5 cm)."""
    stiff = _foot_penetration(objects, STIFF)
    assert (stiff < 0.006).all(), stiff
    assert soft[1:].min() > 0.01, soft  # the landings sink more than a centimetre
    assert (stiff[1:] < 0.5 * soft[1:]).all()


def test_a_direct_stiffness_keeps_the_feet_out_at_120_hz(
    objects: ObjectLibrary, soft: np.ndarray
) -> None:
    """MuJoCo's direct format is not held to 2 physics steps: k = 2e4 at 120 Hz (half the
    240 Hz ground's physics cost) keeps a standing foot out and lets landings at 1 and 2
    m/s sink less than half as deep (synthetic clip, 2026-12-03: 0.0 / 0.4 / 1.1 cm
    against 1.6 / 1.6 / 2.7 cm)."""
    direct = _foot_penetration(objects, DIRECT)
    assert direct[0] < 0.002, direct
    assert (direct < 0.5 * soft).all(), (direct, soft)


class _Teacher:
    """The part of a TeacherActor that _same_physics reads."""

    def __init__(self, settings: TeacherSettings) -> None:
        self.settings = settings
        self.checkpoint = "run/checkpoints/x"


def test_student_refuses_a_teacher_of_other_physics(objects: ObjectLibrary) -> None:
    cs = _clipset(objects, SOFT)
    env = build_teacher_env_exact(cs, SOFT, {"box": 1}, psi=False)
    try:
        e = env.envs[0]
        _same_physics(e, _Teacher(SOFT), "s1")  # type: ignore[arg-type]
        with pytest.raises(InputError, match="physics_hz=240"):
            _same_physics(e, _Teacher(STIFF), "s1")  # type: ignore[arg-type]
        hard = SOFT.model_copy(update={"friction_cone": "elliptic", "impratio": 10.0})
        with pytest.raises(InputError, match="elliptic friction cone, impratio 10"):
            _same_physics(e, _Teacher(hard), "s1")  # type: ignore[arg-type]
        grip = SOFT.model_copy(update={"object_timeconst": 0.03})
        with pytest.raises(InputError, match=r"object solref \(0.03, 1.0\)"):
            _same_physics(e, _Teacher(grip), "s1")  # type: ignore[arg-type]
    finally:
        env.close()
    # the cone and impratio of a run reach its scenes
    m = next(iter(_clipset(objects, hard).scenes.values())).model
    assert m.opt.cone == mujoco.mjtCone.mjCONE_ELLIPTIC and m.opt.impratio == 10.0
