from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
import pytest
from pydantic import ValidationError

from intermimic.errors import InputError
from intermimic.motion.skeleton import SMPLX_BODY_NAMES
from intermimic.objects import SimObject
from intermimic.sim import PHYSICS_DT, SceneError, SceneSettings, build_scene
from intermimic.sim.scene import GROUND_PRIORITY, OBJECT_PRIORITY, Scene, pair_friction


def test_scene_indices(humanoid_spec: mujoco.MjSpec, box_object: SimObject) -> None:
    scene = build_scene(humanoid_spec, box_object)
    m = scene.model
    assert m.opt.timestep == pytest.approx(PHYSICS_DT)
    names = [m.body(int(i)).name for i in scene.humanoid_body_ids]
    assert names == list(SMPLX_BODY_NAMES)
    assert scene.humanoid_qpos_adr.shape == (160,)
    assert len(set(scene.humanoid_qpos_adr.tolist())) == 160
    assert scene.humanoid_dof_adr.shape == (159,)
    assert m.body(scene.object_body_id).name == "box"
    assert scene.object_qpos_adr.tolist() == list(range(160, 167))
    assert scene.object_dof_adr.tolist() == list(range(159, 165))
    # InterMimic's 21 key bodies (keyBodies of its teacher config)
    assert [m.body(int(i)).name for i in scene.key_body_ids] == [
        "L_Hip", "L_Knee", "L_Ankle", "L_Toe", "R_Hip", "R_Knee", "R_Ankle", "R_Toe",
        "Torso", "Spine", "Chest", "Neck", "Head", "L_Thorax", "L_Shoulder", "L_Elbow",
        "L_Wrist", "R_Thorax", "R_Shoulder", "R_Elbow", "R_Wrist",
    ]  # fmt: skip
    assert len(scene.hand_body_ids) == 32 and len(scene.foot_body_ids) == 4
    assert all(len(g) == 1 for g in scene.geoms_per_body)
    # The humanoid's own floor is replaced by exactly one ground plane.
    planes = np.flatnonzero(m.geom_type == mujoco.mjtGeom.mjGEOM_PLANE)
    assert planes.tolist() == [scene.ground_geom_id]
    assert m.geom(scene.ground_geom_id).name == "ground"
    # The ground's geom holds its pair value with the humanoid, (0.9 + 1.0) / 2 (see
    # test_contact_frictions_are_the_physx_averages); the material is the setting.
    assert SceneSettings().ground_friction == 0.9
    assert m.geom_friction[scene.ground_geom_id][0] == pytest.approx(0.95)
    assert m.body_mass[scene.object_body_id] == pytest.approx(box_object.mass)
    # The caller's spec is left alone.
    assert humanoid_spec.geom("floor") is not None


def test_scene_without_object(humanoid_spec: mujoco.MjSpec) -> None:
    scene = build_scene(humanoid_spec, None, SceneSettings(timestep=0.005))
    assert not scene.has_object
    assert scene.model.opt.timestep == 0.005
    assert scene.object_geom_ids.size == 0


def test_set_state_round_trip(humanoid_spec: mujoco.MjSpec, box_object: SimObject) -> None:
    scene = build_scene(humanoid_spec, box_object)
    d = scene.make_data()
    q = np.zeros(160)
    q[:3] = [1.0, 2.0, 0.9]
    q[3] = 1.0
    q[7:] = np.linspace(-0.5, 0.5, 153)
    scene.set_state(d, q, np.array([0.0, 1.0, 0.2]), np.array([1.0, 0, 0, 0]))
    mujoco.mj_kinematics(scene.model, d)
    assert np.allclose(d.qpos[scene.humanoid_qpos_adr], q)
    assert np.allclose(d.xpos[scene.humanoid_body_ids[0]], [1.0, 2.0, 0.9])
    assert np.allclose(d.xpos[scene.object_body_id], [0.0, 1.0, 0.2])


def test_missing_body_is_an_input_error() -> None:
    spec = mujoco.MjSpec()
    spec.worldbody.add_body(name="Pelvis").add_freejoint()
    with pytest.raises(SceneError, match="L_Hip") as info:
        build_scene(spec)
    assert isinstance(info.value, InputError)


def test_reference_mjcf(reference_mjcf: Path, box_object: SimObject) -> None:
    scene = build_scene(mujoco.MjSpec.from_file(str(reference_mjcf)), box_object)
    assert scene.humanoid_qpos_adr.tolist() == list(range(160))
    assert len(scene.humanoid_geom_ids) == 52


def _humanoid_pairs(scene: Scene, d: mujoco.MjData) -> list[tuple[int, int]]:
    hum = set(scene.humanoid_geom_ids.tolist())
    return [
        (int(c.geom1), int(c.geom2))
        for c in d.contact[: d.ncon]
        if int(c.geom1) in hum and int(c.geom2) in hum
    ]


def test_no_self_collision_but_ground_and_object_collide(box_object: SimObject) -> None:
    """Humanoid geoms never collide with each other (InterMimic's collision filter), even
    in a pose with limbs through the body; they still collide with the object (the hands
    with their 5 mm margin) and the ground."""
    from intermimic.humanoid import HumanoidSettings, build_spec
    from intermimic.humanoid.skeleton_model import is_finger

    def scene_of(settings: HumanoidSettings) -> Scene:
        return build_scene(build_spec(settings=settings), box_object)

    scene = scene_of(HumanoidSettings(actuators="position"))
    m = scene.model
    g = scene.ground_geom_id
    assert (m.geom_contype[g], m.geom_conaffinity[g]) == (1, 3)
    assert (
        m.geom_conaffinity[scene.object_geom_ids[m.geom_contype[scene.object_geom_ids] > 0]] == 3
    ).all()
    # a tangled pose: every hinge at a random angle in +-1.5 rad
    q = np.zeros(160)
    q[2], q[3] = 1.0, 1.0
    q[7:] = np.random.default_rng(0).uniform(-1.5, 1.5, 153)
    tangled = []
    for sc in (scene, scene_of(HumanoidSettings(actuators="position", contype=1))):
        d = sc.make_data()
        sc.set_state(d, q, np.array([5.0, 0.0, 0.2]), np.array([1.0, 0, 0, 0]))
        mujoco.mj_forward(sc.model, d)
        tangled.append(len(_humanoid_pairs(sc, d)))
    assert tangled[0] == 0 and tangled[1] > 0  # self-collision on: the pose collides
    # the box around the left wrist: wrist and finger geoms touch it, with their margin
    d = scene.make_data()
    rest = np.zeros(160)
    rest[2], rest[3] = 1.0, 1.0
    scene.set_state(d, rest)
    mujoco.mj_kinematics(m, d)
    wrist = scene.humanoid_body_ids[SMPLX_BODY_NAMES.index("L_Wrist")]
    scene.set_state(d, rest, d.xpos[wrist] + np.array([0.0, 0.0, -0.2]), np.array([1.0, 0, 0, 0]))
    mujoco.mj_forward(m, d)
    obj = set(scene.object_geom_ids.tolist())
    hand = {int(x) for x in scene.humanoid_geom_ids if m.geom_bodyid[x] in scene.left_hand_body_ids}
    touching = [
        (int(c.geom1), int(c.geom2))
        for c in d.contact[: d.ncon]
        if {int(c.geom1), int(c.geom2)} & obj and {int(c.geom1), int(c.geom2)} & hand
    ]
    assert touching
    fingers = [x for x in hand if is_finger(m.body(int(m.geom_bodyid[x])).name)]
    np.testing.assert_allclose(m.geom_margin[fingers], 0.005)


def _measured_frictions(scene: Scene, d: mujoco.MjData) -> dict[str, set[float]]:
    """Sliding friction of every contact MuJoCo made, by pair kind, checked against
    :func:`pair_friction`; every contact is condim 3."""
    m = scene.model
    hum = set(scene.humanoid_geom_ids.tolist())
    obj = set(scene.object_geom_ids.tolist())
    out: dict[str, set[float]] = {}
    for c in d.contact[: d.ncon]:
        g = {int(c.geom[0]), int(c.geom[1])}
        kind = (
            "humanoid-object" if g & hum and g & obj
            else "object-ground" if g & obj
            else "humanoid-ground"
        )  # fmt: skip
        assert scene.ground_geom_id in g or kind == "humanoid-object"
        assert c.dim == 3
        # both tangential directions carry the sliding coefficient
        assert c.friction[0] == c.friction[1]
        assert c.friction[0] == pytest.approx(pair_friction(m, *sorted(g)))
        out.setdefault(kind, set()).add(round(float(c.friction[0]), 9))
    return out


@pytest.mark.parametrize(
    ("combine", "expected"),
    [
        # PhysX (InterMimic) averages: humanoid 1.0, object 0.6, ground 0.9
        ("average", {"humanoid-object": 0.8, "object-ground": 0.75, "humanoid-ground": 0.95}),
        # MuJoCo's own rule: the larger of the two
        ("max", {"humanoid-object": 1.0, "object-ground": 0.9, "humanoid-ground": 1.0}),
    ],
)
def test_contact_frictions_are_the_physx_averages(
    box_object: SimObject, combine: str, expected: dict[str, float]
) -> None:
    """The friction MuJoCo puts on contacts that formed, for the real SMPL-X humanoid."""
    from intermimic.humanoid import HumanoidSettings, build_spec
    from intermimic.sim.mujoco_backend import standing_qpos

    assert box_object.friction == 0.6
    spec = build_spec(settings=HumanoidSettings(actuators="position"))
    scene = build_scene(spec, box_object, SceneSettings(friction_combine=combine))  # type: ignore[arg-type]
    m = scene.model
    found: dict[str, set[float]] = {}
    # Standing, feet 2 mm into the ground, the box on the ground 2 m away, 2 mm deep.
    d = scene.make_data()
    d.qpos[:] = standing_qpos(scene, obj_pos=(2.0, 0.0, 0.2 - 0.002), clearance=-0.002)
    mujoco.mj_forward(m, d)
    for kind, values in _measured_frictions(scene, d).items():
        found.setdefault(kind, set()).update(values)
    # The box lifted around the left wrist: hand-object contacts only.
    mujoco.mj_kinematics(m, d)
    wrist = scene.humanoid_body_ids[SMPLX_BODY_NAMES.index("L_Wrist")]
    d.qpos[scene.object_qpos_adr[:3]] = d.xpos[wrist] + np.array([0.0, 0.0, -0.2])
    mujoco.mj_forward(m, d)
    touching = _measured_frictions(scene, d)
    assert set(touching) >= {"humanoid-object"}
    hand = {int(x) for x in scene.humanoid_geom_ids if m.geom_bodyid[x] in scene.left_hand_body_ids}
    assert any({int(c.geom[0]), int(c.geom[1])} & hand for c in d.contact[: d.ncon])
    for kind, values in touching.items():
        found.setdefault(kind, set()).update(values)
    assert {k: sorted(v) for k, v in found.items()} == {k: [v] for k, v in expected.items()}
    if combine == "average":
        assert m.npair == len(box_object.parts)  # one explicit pair per part, with the ground
        parts = scene.object_geom_ids[m.geom_contype[scene.object_geom_ids] > 0]
        assert (m.geom_priority[parts] == OBJECT_PRIORITY).all()
        assert m.geom_priority[scene.ground_geom_id] == GROUND_PRIORITY
        assert (m.geom_priority[scene.humanoid_geom_ids] == 0).all()
    else:
        assert m.npair == 0 and not m.geom_priority.any()


def test_average_friction_needs_one_humanoid_friction(
    humanoid_spec: mujoco.MjSpec, box_object: SimObject
) -> None:
    geoms = [g for g in humanoid_spec.geoms if g.type != mujoco.mjtGeom.mjGEOM_PLANE]
    geoms[3].friction = [0.5, 0.005, 0.0001]
    with pytest.raises(SceneError, match="friction_combine"):
        build_scene(humanoid_spec, box_object)
    scene = build_scene(humanoid_spec, box_object, SceneSettings(friction_combine="max"))
    assert scene.model.npair == 0


def test_average_friction_without_object(humanoid_spec: mujoco.MjSpec) -> None:
    scene = build_scene(humanoid_spec)
    m = scene.model
    assert m.npair == 0
    g, h = scene.ground_geom_id, int(scene.humanoid_geom_ids[0])
    assert pair_friction(m, g, h) == pytest.approx(0.95)


def test_bad_friction_combine_is_rejected() -> None:
    with pytest.raises(ValidationError, match="friction_combine"):
        SceneSettings(friction_combine="mean")  # type: ignore[arg-type]


def _box_creep(humanoid_spec: mujoco.MjSpec, box: SimObject, settings: SceneSettings) -> float:
    """How far (m) the box slides in 1 s on the ground under a steady horizontal push of
    half what friction can hold: a contact below its friction limit should not move."""
    from intermimic.sim.mujoco_backend import standing_qpos

    scene = build_scene(humanoid_spec, box, settings)
    m, d = scene.model, scene.make_data()
    half = float(m.geom_size[scene.object_geom_ids].max())
    d.qpos[:] = standing_qpos(scene, obj_pos=(2.0, 0.0, half), clearance=0.05)
    mujoco.mj_forward(m, d)
    body = scene.object_body_id
    mu = pair_friction(m, scene.ground_geom_id, int(scene.object_geom_ids[0]))
    weight = float(m.body_subtreemass[body]) * 9.81
    x0 = 0.0
    for k in range(int(1.25 / m.opt.timestep)):
        if k == int(0.25 / m.opt.timestep):  # settled: push from here on
            x0 = float(d.xpos[body, 0])
            d.xfrc_applied[body, 0] = 0.5 * mu * weight
        d.qvel[scene.humanoid_dof_adr] = 0.0  # the humanoid held in the air, out of the way
        mujoco.mj_step(m, d)
    return float(d.xpos[body, 0]) - x0


def test_friction_cone_and_impratio_reach_the_model_and_stop_creep(
    humanoid_spec: mujoco.MjSpec, box_object: SimObject
) -> None:
    plain = build_scene(humanoid_spec, box_object).model.opt
    assert plain.cone == mujoco.mjtCone.mjCONE_PYRAMIDAL and plain.impratio == 1.0
    hard = SceneSettings(friction_cone="elliptic", impratio=10.0)
    opt = build_scene(humanoid_spec, box_object, hard).model.opt
    assert opt.cone == mujoco.mjtCone.mjCONE_ELLIPTIC and opt.impratio == 10.0
    soft = _box_creep(humanoid_spec, box_object, SceneSettings())
    held = _box_creep(humanoid_spec, box_object, hard)
    # measured 2026-12-04: 1.8 mm against 0.13 mm
    assert soft > 5e-4 and held < 0.2 * soft
    with pytest.raises(ValidationError, match="impratio"):
        SceneSettings(impratio=0.0)
