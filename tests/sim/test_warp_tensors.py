"""The ``warp`` backend's torch hand-over (issue #20, item 1), on the CPU device.

``read()`` must give what the numpy reads give (its tensors share Warp's memory),
``reset_tensor`` of some worlds must leave the others as they were, and a short
environment rollout on ``warp`` must match the one on ``mujoco``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from intermimic.env import EnvSettings, TrackingEnv
from intermimic.humanoid import HumanoidSettings, build_spec
from intermimic.motion.synthetic import synthetic_clip
from intermimic.objects import SimObject
from intermimic.sim.backend import BodyStates
from intermimic.sim.factory import make_backend
from intermimic.sim.mujoco_backend import standing_qpos
from intermimic.sim.scene import Scene, build_scene

pytestmark = pytest.mark.warp


@pytest.fixture(scope="module")
def scene(box_object: SimObject) -> Scene:
    return build_scene(build_spec(settings=HumanoidSettings(actuators="position")), box_object)


def test_read_shares_memory_and_partial_reset_keeps_the_others(scene: Scene) -> None:
    pytest.importorskip("mujoco_warp")
    n = 3
    be = make_backend("warp", scene, n, device="cpu")
    q0 = standing_qpos(scene)
    q, v = np.tile(q0, (n, 1)), np.zeros((n, scene.model.nv))
    v[:, :6] = [[0.3, -0.2, 0.1, 0.5, -0.4, 0.2]] * n
    be.reset(np.arange(n), q, v)
    targets = np.tile(q0[scene.humanoid_qpos_adr[7:]], (n, 1))
    targets[2] += 0.1
    be.set_targets_tensor(torch.as_tensor(targets, dtype=torch.float32))
    be.step(4)

    st = be.read()
    bs = be.body_states()
    for f in BodyStates.__dataclass_fields__:
        np.testing.assert_allclose(
            getattr(st.bodies, f).numpy(), getattr(bs, f), atol=1e-6, rtol=1e-6, err_msg=f
        )
    np.testing.assert_allclose(st.contact.numpy(), be.contact_forces(), rtol=1e-6, atol=1e-4)
    assert be.contact_forces().sum() > 100.0  # the feet carry the weight
    np.testing.assert_array_equal(st.qpos.numpy(), be.qpos())
    np.testing.assert_array_equal(st.qvel.numpy(), be.qvel())
    assert st.bad.dtype == torch.bool and not st.bad.any()
    assert st.qpos.dtype == torch.float32 and st.bodies.pos.dtype == torch.float32
    # float64 on request, same values
    np.testing.assert_allclose(be.read(torch.float64).bodies.pos.numpy(), bs.pos, atol=1e-6)
    # PSI's rows: gathered on the device, the host arrays' values widened to float64
    rows = be.state_rows(torch.tensor([2, 0]))
    assert rows.dtype == torch.float64 and rows.device == be.device
    np.testing.assert_array_equal(rows.numpy(), np.hstack([be.qpos(), be.qvel()])[[2, 0]])

    before = {
        "qpos": be.qpos(), "qvel": be.qvel(), "forces": be.contact_forces(),
        "pos": bs.pos, "linvel": bs.linvel,
    }  # fmt: skip
    q1 = q[:1].copy()
    q1[0, 0] += 0.5
    be.reset_tensor(
        torch.tensor([1]),
        torch.as_tensor(q1),
        torch.zeros((1, scene.model.nv), dtype=torch.float64),
    )
    after_bs = be.body_states()
    after = {
        "qpos": be.qpos(), "qvel": be.qvel(), "forces": be.contact_forces(),
        "pos": after_bs.pos, "linvel": after_bs.linvel,
    }  # fmt: skip
    for k in before:
        np.testing.assert_array_equal(after[k][[0, 2]], before[k][[0, 2]], err_msg=k)
    np.testing.assert_allclose(after["qpos"][1], q1[0], atol=1e-6)
    np.testing.assert_array_equal(after["qvel"][1], 0.0)
    np.testing.assert_array_equal(after["forces"][1], 0.0)  # no force has acted yet
    np.testing.assert_allclose(after["pos"][1, 0], q1[0, :3], atol=1e-6)
    # the reset world's row of a tensor read after the reset is current
    np.testing.assert_allclose(be.read().bodies.pos[1].numpy(), after_bs.pos[1], atol=1e-6)
    with pytest.raises(ValueError, match="NaN"):
        be.reset(np.array([0]), np.full_like(q1, np.nan), np.zeros((1, scene.model.nv)))
    be.close()


def test_env_rollout_on_warp_matches_mujoco(scene: Scene) -> None:
    pytest.importorskip("mujoco_warp")
    n, clip = 2, synthetic_clip(n_frames=40, seed=3)
    out = {}
    for name, opts in (("mujoco", {"n_threads": 1}), ("warp", {"device": "cpu"})):
        backend = make_backend(name, scene, n, **opts)
        env = TrackingEnv(scene, [clip], backend, settings=EnvSettings(seed=0))
        obs0 = env.reset()
        raw0 = env.observe_raw()
        rewards, raws = [], []
        for _ in range(2):
            a = torch.as_tensor(env.reference_actions(), dtype=torch.float32)
            _, reward, term, trunc, _ = env.step(a)
            assert not (term | trunc).any()
            rewards.append(reward)
            raws.append(env.observe_raw())
        out[name] = (obs0, raw0, torch.stack(rewards), torch.stack(raws), backend.qpos())
        assert not backend.bad_worlds().any()
        env.close()
    (o_a, r0_a, rw_a, raw_a, q_a), (o_b, r0_b, rw_b, raw_b, q_b) = out["mujoco"], out["warp"]
    # From the same start states (no physics yet), the same observations to float32.
    torch.testing.assert_close(r0_b, r0_a, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(o_b, o_a, atol=1e-3, rtol=1e-3)
    # After physics, the engines' solver differences (as test_warp_and_mujoco_agree).
    np.testing.assert_allclose(q_b, q_a, atol=2e-3)
    torch.testing.assert_close(rw_b, rw_a, atol=2e-2, rtol=2e-2)
    torch.testing.assert_close(raw_b, raw_a, atol=5e-2, rtol=5e-2)


def test_masked_reset_matches_the_index_reset(scene: Scene) -> None:
    """``reset_where`` (the masked reset a GPU run takes: nothing read back) writes what
    ``reset_tensor`` of the same worlds writes, leaves the unmarked rows as they were
    whatever they hold, and flags a marked world whose state is not finite as bad
    instead of writing it."""
    pytest.importorskip("mujoco_warp")
    n, nv = 3, scene.model.nv
    q0 = standing_qpos(scene)
    q, v = np.tile(q0, (n, 1)), np.zeros((n, nv))
    v[:, :6] = [[0.3, -0.2, 0.1, 0.5, -0.4, 0.2]] * n
    targets = torch.as_tensor(np.tile(q0[scene.humanoid_qpos_adr[7:]], (n, 1)))
    pair = []
    for _ in range(2):
        be = make_backend("warp", scene, n, device="cpu")
        be.reset(np.arange(n), q, v)
        be.set_targets_tensor(targets)
        be.step(4)
        pair.append(be)
    a, b = pair
    new_q = torch.as_tensor(q.copy())
    new_q[1, 0] += 0.5  # world 1 starts half a metre along x
    new_v = torch.zeros((n, nv), dtype=torch.float64)
    a.reset_tensor(torch.tensor([1]), new_q[1:2], new_v[1:2])
    junk = new_q.clone()
    junk[0] = torch.nan  # an unmarked row: ignored
    b.reset_where(torch.tensor([False, True, False]), junk, new_v)
    for f in ("qpos", "qvel", "contact_forces"):
        np.testing.assert_array_equal(getattr(b, f)(), getattr(a, f)(), err_msg=f)
    ra, rb = a.read(), b.read()
    for f in BodyStates.__dataclass_fields__:
        torch.testing.assert_close(getattr(rb.bodies, f), getattr(ra.bodies, f), rtol=0, atol=0)
    assert not b.bad_worlds().any()
    for be in pair:
        be.step(4)
    np.testing.assert_array_equal(b.qpos(), a.qpos())  # and they go on alike
    before = b.qpos()
    b.reset_where(torch.tensor([True, False, False]), junk, new_v)
    np.testing.assert_array_equal(b.qpos(), before)  # not written
    assert b.bad_worlds().tolist() == [True, False, False]
    for be in pair:
        be.close()


def test_env_masked_resets_on_warp_match_index_resets(scene: Scene) -> None:
    """The environment's two reset modes on ``warp`` (CPU): the same run, resets and all."""
    pytest.importorskip("mujoco_warp")
    from intermimic.env.settings import PSISettings, TerminationSettings

    n, clip = 3, synthetic_clip(n_frames=40, seed=3)
    settings = EnvSettings(
        seed=0, rollout_length=6, psi=PSISettings(hybrid_prob=0.5),
        termination=TerminationSettings(max_key_body_error=0.1),
    )  # fmt: skip
    runs = []
    for mode in ("index", "masked"):
        backend = make_backend("warp", scene, n, device="cpu")
        env = TrackingEnv(scene, [clip], backend, settings=settings, reset_mode=mode)
        assert env.masked_resets == (mode == "masked")
        out = [env.reset()]
        rng = np.random.default_rng(1)
        for _ in range(8):
            a = env.reference_actions() + rng.normal(0, 0.2, (n, env.action_dim))
            obs, reward, term, trunc, _ = env.step(np.clip(a, -1, 1))
            out += [obs, reward, term, trunc]
        runs.append((out, env.clip.clone(), env.frame.clone()))
        env.close()
    (oa, ca, fa), (ob, cb, fb) = runs
    assert sum(int((oa[i] | oa[i + 1]).sum()) for i in range(3, len(oa), 4)) >= 3  # resets
    for x, y in zip(oa, ob, strict=True):
        torch.testing.assert_close(y, x, rtol=0, atol=0)
    assert torch.equal(ca, cb) and torch.equal(fa, fb)
