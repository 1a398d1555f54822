"""The ``mujoco`` backend (and ``warp`` where MuJoCo Warp runs): state, PD, contacts."""

from __future__ import annotations

import warnings
from pathlib import Path

import mujoco
import numpy as np
import pytest
import torch

from intermimic.errors import InputError
from intermimic.humanoid import HumanoidSettings, build_spec
from intermimic.motion.kinematics import clip_to_qpos
from intermimic.motion.load import read_clip
from intermimic.objects import ObjectLibrary, SimObject
from intermimic.sim.backend import PARTNERS, UnknownBackendError
from intermimic.sim.factory import BackendUnavailableError, make_backend, warp_available
from intermimic.sim.mujoco_backend import MujocoBackend, standing_qpos
from intermimic.sim.pd import ActionMap, ActionSettings, ActuatorError
from intermimic.sim.scene import Scene, build_scene

SUBSTEPS = ActionSettings().substeps(1 / 120)


@pytest.fixture(scope="module")
def scene(box_object: SimObject) -> Scene:
    """SMPL-X humanoid with position actuators + a 0.4 m box + ground."""
    return build_scene(build_spec(settings=HumanoidSettings(actuators="position")), box_object)


def _standing(
    scene: Scene, n: int, clearance: float = 1e-3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    q0 = standing_qpos(scene, clearance=clearance)
    targets = np.tile(q0[scene.humanoid_qpos_adr[7:]], (n, 1))
    return np.tile(q0, (n, 1)), np.zeros((n, scene.model.nv)), targets


def test_unknown_backend(scene: Scene) -> None:
    with pytest.raises(UnknownBackendError, match="mujoco, warp"):
        make_backend("physx", scene, 2)


def test_warp_without_extra_names_it(scene: Scene, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("intermimic.sim.factory.warp_available", lambda: False)
    with pytest.raises(BackendUnavailableError, match=r"pip install 'intermimic\[gpu\]'"):
        make_backend("warp", scene, 2)


def test_motor_humanoid_refused(box_object: SimObject) -> None:
    with pytest.raises(ActuatorError):
        make_backend("mujoco", build_scene(build_spec(), box_object), 1)


def test_reset_sets_exactly_the_given_state(scene: Scene) -> None:
    be = make_backend("mujoco", scene, 3, n_threads=2)
    rng = np.random.default_rng(1)
    q, v, _ = _standing(scene, 1)
    q[0, scene.humanoid_qpos_adr[7:]] += rng.uniform(-0.3, 0.3, 153)
    quat = rng.normal(size=4)
    q[0, 3:7] = quat / np.linalg.norm(quat)
    v[0] = rng.normal(size=scene.model.nv)
    before = be.qpos()
    be.reset(np.array([1]), q, v)
    assert np.array_equal(be.qpos()[1], q[0]) and np.array_equal(be.qvel()[1], v[0])
    np.testing.assert_array_equal(be.qpos()[[0, 2]], before[[0, 2]])
    bs = be.body_states()
    assert bs.pos.shape == (3, 52, 3) and bs.quat.shape == (3, 52, 4)
    np.testing.assert_allclose(bs.pos[1, 0], q[0, :3])
    np.testing.assert_allclose(bs.linvel[1, 0], v[0, :3], atol=1e-12)
    np.testing.assert_allclose(bs.obj_pos[1], q[0, scene.object_qpos_adr[:3]])
    np.testing.assert_array_equal(be.contact_forces()[1], 0.0)  # no force has acted yet
    view = be.qpos(copy=False)
    assert not view.flags.writeable
    # PSI's rows: the exact float64 state
    rows = be.state_rows(torch.tensor([1]))
    assert rows.dtype == torch.float64
    np.testing.assert_array_equal(rows.numpy()[0], np.concatenate([q[0], v[0]]))
    with pytest.raises(ValueError, match="NaN"):
        be.reset(np.array([0]), np.full_like(q, np.nan), v)


@pytest.mark.parametrize(
    "name",
    [
        "mujoco",
        pytest.param(
            "warp",
            marks=[
                pytest.mark.warp,
                pytest.mark.skipif(not warp_available(), reason="mujoco-warp not installed"),
            ],
        ),
    ],
)
def test_warm_start_carries_a_stepped_world_on_bit_for_bit(scene: Scene, name: str) -> None:
    """A world reset to another's stepped state steps on as that one does, to the bit,
    once it also has that one's solver warm start; the reset alone clears it."""
    opts = {"n_threads": 1} if name == "mujoco" else {"device": "cpu"}
    be = make_backend(name, scene, 3, **opts)
    q, v, targets = _standing(scene, 3)
    v[:, :6] = [0.3, -0.2, 0.1, 0.5, -0.4, 0.2]  # a push: the solver works every substep
    be.reset(np.arange(3), q, v)
    be.set_targets(targets)
    for _ in range(4):
        be.step(SUBSTEPS)
    warm = be.warmstart()
    assert warm.shape == (3, scene.model.nv) and np.abs(warm[0]).max() > 0
    # world 1 continues world 0 with its warm start, world 2 without (cleared by the reset)
    state_q, state_v = be.qpos()[[0, 0]], be.qvel()[[0, 0]]
    be.reset(np.array([1, 2]), state_q, state_v)
    np.testing.assert_array_equal(be.warmstart()[1:], 0.0)
    be.set_warmstart(np.array([1]), warm[[0]])
    np.testing.assert_array_equal(be.warmstart()[1], warm[0])
    for _ in range(3):
        be.step(SUBSTEPS)
    q_after, v_after = be.qpos(), be.qvel()
    np.testing.assert_array_equal(q_after[1], q_after[0])
    np.testing.assert_array_equal(v_after[1], v_after[0])
    assert np.abs(q_after[2] - q_after[0]).max() > 0  # the cold solver stopped elsewhere
    with pytest.raises(ValueError, match="NaN"):
        be.set_warmstart(np.array([0]), np.full((1, scene.model.nv), np.nan))
    with pytest.raises(ValueError, match="for 2 worlds"):
        be.set_warmstart(np.array([0, 1]), warm[[0]])  # two worlds, one row
    with pytest.raises(ValueError, match="one row of nv"):
        be.set_warmstart(np.array([0]), warm[[0], :-1])  # a row short
    be.close()


def test_pd_holds_a_standing_pose_and_feet_carry_the_weight(scene: Scene) -> None:
    n = 2
    be = make_backend("mujoco", scene, n, n_threads=2)
    q, v, targets = _standing(scene, n)
    be.reset(np.arange(n), q, v)
    be.set_targets(targets)
    for _ in range(30):  # 1 s at 30 Hz
        be.step(SUBSTEPS)
        assert (be.qpos()[:, 2] > 0.8).all()
    assert not be.bad_worlds().any()
    cf = be.contact_forces()
    assert cf.shape == (n, 52, len(PARTNERS))
    m = be.model  # type: ignore[attr-defined]
    weight = m.body_subtreemass[scene.humanoid_body_ids[0]] * -m.opt.gravity[2]
    ground = cf[..., PARTNERS.index("ground")]
    np.testing.assert_allclose(ground.sum(axis=1), weight, rtol=0.2)
    feet = [int(np.flatnonzero(scene.humanoid_body_ids == i)[0]) for i in scene.foot_body_ids]
    assert ground[:, feet].sum(axis=1) == pytest.approx(ground.sum(axis=1))
    np.testing.assert_array_equal(cf[..., PARTNERS.index("object")], 0.0)  # box 3 m away


def test_object_contact_lands_in_the_object_column(scene: Scene, box_half: float) -> None:
    # The box sits on the ground right under the left foot's front: the toe presses on it.
    q0 = standing_qpos(scene)
    d = mujoco.MjData(scene.model)
    d.qpos[:] = q0
    mujoco.mj_kinematics(scene.model, d)
    toe = int(scene.humanoid_body_ids[4])  # L_Toe
    assert scene.model.body(toe).name == "L_Toe"
    x, y = d.xpos[toe, :2]
    q = standing_qpos(scene, q0[scene.humanoid_qpos_adr], obj_pos=(x + box_half, y, box_half))
    be = make_backend("mujoco", scene, 1, n_threads=1)
    be.reset(np.array([0]), q[None], np.zeros((1, scene.model.nv)))
    be.set_targets(q[None, scene.humanoid_qpos_adr[7:]])
    be.step(SUBSTEPS)
    obj = be.contact_forces()[0, :, PARTNERS.index("object")]
    assert obj.sum() > 1.0
    assert obj[4] > 0.0  # L_Toe
    feet = [int(np.flatnonzero(scene.humanoid_body_ids == i)[0]) for i in scene.foot_body_ids]
    assert obj[feet].sum() == pytest.approx(obj.sum())  # the box is only under the feet


def test_body_velocities_match_mujoco(scene: Scene) -> None:
    be = make_backend("mujoco", scene, 2, n_threads=1)
    assert isinstance(be, MujocoBackend)
    q, v, targets = _standing(scene, 2)
    v[:, :6] = [0.3, -0.2, 0.1, 0.5, -0.4, 0.2]
    be.reset(np.arange(2), q, v)
    be.set_targets(targets)
    be.step(SUBSTEPS)
    bs = be.body_states()
    d = be.get_data(1)
    mujoco.mj_forward(be.model, d)
    res = np.zeros(6)
    for k in (0, 20, 51):
        b = int(scene.humanoid_body_ids[k])
        # XBODY: the body frame origin, where pos is (BODY would be the centre of mass)
        mujoco.mj_objectVelocity(be.model, d, mujoco.mjtObj.mjOBJ_XBODY, b, res, 0)
        np.testing.assert_allclose(bs.angvel[1, k], res[:3], atol=1e-9)
        np.testing.assert_allclose(bs.linvel[1, k], res[3:], atol=1e-9)
        np.testing.assert_allclose(bs.pos[1, k], d.xpos[b], atol=1e-12)


def test_unstable_world_is_flagged_and_others_go_on(scene: Scene) -> None:
    be = make_backend("mujoco", scene, 3, n_threads=2)
    q, v, targets = _standing(scene, 3)
    v[1, 10] = 1e12  # beyond MuJoCo's mjMAXVAL: the engine flags the world unstable
    be.reset(np.arange(3), q, v)
    be.set_targets(targets)
    be.step(SUBSTEPS)
    assert be.bad_worlds().tolist() == [False, True, False]
    frozen = be.qpos()[1]
    be.step(SUBSTEPS)  # a bad world is no longer stepped
    np.testing.assert_array_equal(be.qpos()[1], frozen)
    be.reset(np.array([1]), q[1:2], np.zeros((1, scene.model.nv)))
    assert not be.bad_worlds().any()
    be.step(SUBSTEPS)
    assert not be.bad_worlds().any()


def test_nan_targets_rejected(scene: Scene) -> None:
    be = make_backend("mujoco", scene, 2, n_threads=1)
    t = np.zeros((2, be.nu))
    t[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        be.set_targets(t)
    # Through the action map: raise by default, or sanitise to the range middle.
    a = np.zeros((2, be.nu))
    a[1, 5] = np.nan
    amap = ActionMap(scene.model, ActionSettings(non_finite="zero"))
    amap.targets(a, out=be.ctrl)  # type: ignore[attr-defined]
    assert np.isfinite(be.ctrl).all()  # type: ignore[attr-defined]


#: Half the 1 mm geom margin: every foot contact is well inside the margin from the first
#: substep in both engines. A clearance equal to the margin (standing_qpos's default) puts a
#: contact exactly at it, a float32 tie Warp keeps and C MuJoCo drops; one world then
#: diverged 5.7 cm in three policy steps (issue #20).
AGREEMENT_CLEARANCE = 5e-4


def _ground_margins(scene: Scene) -> np.ndarray:
    """The margin of each humanoid geom's contact with the ground (a dynamic pair: sum)."""
    m = scene.model
    return m.geom_margin[scene.humanoid_geom_ids] + m.geom_margin[scene.ground_geom_id]


@pytest.mark.warp
@pytest.mark.skipif(not warp_available(), reason="mujoco-warp not installed (gpu extra)")
def test_warp_and_mujoco_agree(scene: Scene) -> None:
    n = 2
    q, v, targets = _standing(scene, n, AGREEMENT_CLEARANCE)
    # No geom starts at its contact margin, where the two engines may decide differently.
    d = mujoco.MjData(scene.model)
    d.qpos[:] = q[0]
    mujoco.mj_kinematics(scene.model, d)
    dist = np.array(
        [
            mujoco.mj_geomDistance(scene.model, d, int(g), scene.ground_geom_id, 1.0, None)
            for g in scene.humanoid_geom_ids
        ]
    )
    assert np.abs(dist - _ground_margins(scene)).min() > 2e-4
    assert (dist < _ground_margins(scene)).sum() >= 2  # both feet are in contact
    targets[1] += 0.1  # the worlds differ, to catch a mixed-up world axis
    out = {}
    for name, opts in (("mujoco", {"n_threads": 1}), ("warp", {"device": "cpu"})):
        be = make_backend(name, scene, n, **opts)
        be.reset(np.arange(n), q, v)
        np.testing.assert_array_equal(be.contact_forces(), 0.0)
        be.set_targets(targets)
        for _ in range(3):
            be.step(SUBSTEPS)
        out[name] = (be.qpos(), be.qvel(), be.body_states(), be.contact_forces())
        assert not be.bad_worlds().any()
        be.close()
    (qa, va, ba, ca), (qb, vb, bb, cb) = out["mujoco"], out["warp"]
    # The worlds moved apart (world 1's targets), and each engine's worlds match the other's.
    assert np.abs(qa[1] - qa[0]).max() > 1e-2
    np.testing.assert_allclose(qb, qa, atol=2e-3)
    np.testing.assert_allclose(vb, va, atol=5e-2)
    np.testing.assert_allclose(bb.pos, ba.pos, atol=2e-3)
    ground = PARTNERS.index("ground")
    weight = ca[..., ground].sum(axis=1)
    assert (weight > 0).all()
    np.testing.assert_allclose(cb[..., ground].sum(axis=1), weight, rtol=0.1)


def test_pd_holds_frame_0_of_a_sample_clip(sample_raw: Path) -> None:
    paths = sorted(sample_raw.glob("sub2_largetable_*.pt"))
    if not paths:
        pytest.skip("no largetable clip in the sample")
    clip = read_clip(paths[0])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the sample table mesh is not watertight
            obj = ObjectLibrary().get(clip.meta.object_name)
    except InputError as exc:
        pytest.skip(f"sample object missing: {exc}")
    scene = build_scene(build_spec(settings=HumanoidSettings(actuators="position")), obj)
    h0 = clip_to_qpos(clip)[0]
    q0 = standing_qpos(scene, h0, clip.obj_pos[0], clip.obj_quat[0])
    be = make_backend("mujoco", scene, 1, n_threads=1)
    be.reset(np.array([0]), q0[None], np.zeros((1, scene.model.nv)))
    be.set_targets(h0[None, 7:])
    for _ in range(30):
        be.step(SUBSTEPS)
        assert be.qpos()[0, 2] > 0.8
    assert not be.bad_worlds().any()
