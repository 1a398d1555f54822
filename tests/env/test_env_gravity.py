"""Holding offsets: the torques that hold a reference pose up, checked by forward
dynamics, and servos that sag less with them."""

from __future__ import annotations

import copy

import mujoco
import numpy as np
import pytest

from intermimic.env import EnvSettings, TrackingEnv
from intermimic.env.gravity import (
    LIFT,
    STANCE_BAND,
    carried_share,
    hinge_gains,
    holding_offsets,
    holding_torques,
    stance_weights,
)
from intermimic.env.settings import PSISettings, TerminationSettings
from intermimic.motion.clip import HOIClip
from intermimic.sim.factory import make_backend
from intermimic.sim.scene import Scene


def _standing(clip: HOIClip) -> HOIClip:
    """Frame 0 of ``clip`` held still for every frame."""
    return clip.with_arrays(
        **{k: np.repeat(v[:1], clip.n_frames, axis=0) for k, v in clip.arrays().items()}
    )


def _env(scene: Scene, clip: HOIClip, gravity: float) -> TrackingEnv:
    return TrackingEnv(
        scene,
        [clip],
        make_backend("mujoco", scene, 1, n_threads=1),
        settings=EnvSettings(
            gravity_compensation=gravity,
            psi=PSISettings(hybrid_prob=1.0),  # start at frame 0, the MoCap state
            termination=TerminationSettings(enabled=False),
        ),
    )


def test_torques_and_foot_forces_hold_the_pose_still(env_scene: Scene, env_clip: HOIClip) -> None:
    env = _env(env_scene, env_clip, 0.0)
    qpos = env.ref.qpos
    stance = stance_weights(env_scene, qpos)
    t = int(np.flatnonzero((stance > 0).sum(axis=1) >= 2)[0])
    carried = np.ones(len(qpos))
    torques, wrenches = holding_torques(env_scene, qpos[t : t + 1], stance[t : t + 1], carried[:1])
    # forward dynamics, contacts off: the hinge torques, the foot forces at the ground
    # under the feet and half the object's weight on each wrist, from rest -> no motion
    m = copy.copy(env_scene.model)
    m.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_CONTACT)
    m.actuator_gainprm[:] = 0.0  # the servos make no force: the torques are applied
    m.actuator_biasprm[:] = 0.0
    d = mujoco.MjData(m)
    d.qpos[:] = qpos[t]
    mujoco.mj_kinematics(m, d)
    mujoco.mj_comPos(m, d)
    dof = env_scene.humanoid_dof_adr
    applied = np.zeros(m.nv)
    applied[dof[6:]] = torques[0]
    jac, jacr = np.zeros((3, m.nv)), np.zeros((3, m.nv))
    for k, b in enumerate(env_scene.foot_body_ids):
        point = d.xpos[b].copy()
        point[2] = 0.0
        mujoco.mj_jac(m, d, jac, jacr, point, int(b))
        applied += jac.T @ wrenches[0, k, :3] + jacr.T @ wrenches[0, k, 3:]
    weight = m.body_subtreemass[env_scene.object_body_id] * np.array([0.0, 0.0, -9.81])
    for b in (env_scene.left_hand_body_ids[0], env_scene.right_hand_body_ids[0]):
        mujoco.mj_jacBody(m, d, jac, None, int(b))
        applied += jac.T @ (0.5 * weight)
    d.qfrc_applied[:] = applied
    mujoco.mj_forward(m, d)
    # (1e-5 rad/s^2 left of g = 9.81 m/s^2: the 1e-9 ridge of the foot-force solve)
    np.testing.assert_allclose(d.qacc[dof], 0.0, atol=1e-4)
    d.qfrc_applied[:] = 0.0
    mujoco.mj_forward(m, d)
    assert np.abs(d.qacc[dof]).max() > 1.0  # without them it falls
    # the feet carry the body and the object: their vertical forces sum to the weight
    body = m.body_subtreemass[env_scene.humanoid_body_ids[0]]
    total = body + m.body_subtreemass[env_scene.object_body_id]
    np.testing.assert_allclose(wrenches[0, :, 2].sum(), 9.81 * total, rtol=1e-6)
    assert (wrenches[0, stance[t] == 0] == 0).all()
    env.close()


def test_stance_and_carried_ramps(env_scene: Scene, env_clip: HOIClip) -> None:
    qpos = _env(env_scene, env_clip, 0.0).ref.qpos
    w = stance_weights(env_scene, qpos)
    # the foot bodies' heights by an independent path: MuJoCo's forward kinematics
    m, d = env_scene.model, mujoco.MjData(env_scene.model)
    z = []
    for q in qpos:
        d.qpos[:] = q
        mujoco.mj_forward(m, d)
        z.append(d.xpos[list(env_scene.foot_body_ids), 2].copy())
    above = np.asarray(z) - np.percentile(z, 5, axis=0)
    np.testing.assert_array_equal(w[above <= STANCE_BAND], 1.0)
    np.testing.assert_array_equal(w[above >= 2 * STANCE_BAND], 0.0)
    mid = (above > STANCE_BAND) & (above < 2 * STANCE_BAND)
    np.testing.assert_allclose(w[mid], 2.0 - above[mid] / STANCE_BAND, atol=1e-12)
    # the object's weight: none up to LIFT above its rest, all from twice LIFT
    obj_z = 0.5 + np.array([0.0, 0.01, LIFT, 1.5 * LIFT, 2 * LIFT, 0.3])
    np.testing.assert_allclose(carried_share(obj_z), [0, 0, 0, 0.5, 1, 1], atol=1e-12)


def test_a_foot_takes_load_continuously(env_scene: Scene, env_clip: HOIClip) -> None:
    """A foot body that fades out of stance hands its load on smoothly: with a vanishing
    weight the torques are those without it, whatever support remains (one foot, whose
    bodies lie on a line, balances the root with its sole's moment)."""
    qpos = _env(env_scene, env_clip, 0.0).ref.qpos
    stance = stance_weights(env_scene, qpos)
    t = int(np.flatnonzero((stance > 0).sum(axis=1) >= 3)[0])
    carried = np.zeros(1)
    on = np.flatnonzero(stance[t] > 0)
    fade = int(on[-1])  # the last stance body fades beside two others, then all others
    for keep in (on[:2], on[:-1]):
        w = np.zeros((1, stance.shape[1]))
        w[0, keep] = 1.0
        off, _ = holding_torques(env_scene, qpos[t : t + 1], w, carried)
        w[0, fade] = 1e-7
        near, wrench = holding_torques(env_scene, qpos[t : t + 1], w, carried)
        np.testing.assert_allclose(near, off, atol=1e-3)  # N m
        assert np.abs(wrench[0, fade]).max() < 1e-3  # N


def test_offsets_change_smoothly_over_the_clip(env_scene: Scene, env_clip: HOIClip) -> None:
    ref = _env(env_scene, env_clip, 0.0).ref
    raw = holding_offsets(env_scene, ref.qpos, ref.obj_pos[:, 2], smooth=0.0)
    off = holding_offsets(env_scene, ref.qpos, ref.obj_pos[:, 2])
    assert np.abs(np.diff(off, axis=0)).max() < np.abs(np.diff(raw, axis=0)).max()
    # smoothing, not another signal (the synthetic clip moves fast: 0.03 against 0.23 rad)
    assert np.sqrt(((off - raw) ** 2).mean()) < 0.15 * np.sqrt((raw**2).mean())


def test_servos_with_holding_offsets_sag_less(env_scene: Scene, env_clip: HOIClip) -> None:
    clip = _standing(env_clip)
    err = {}
    for g in (0.0, 1.0):
        env = _env(env_scene, clip, g)
        env.reset()
        ref = env.ref.body_pos[0]
        for _ in range(8):  # 0.27 s of the base actions alone
            env.step(env.reference_actions())
        err[g] = float(np.linalg.norm(env.backend.body_states().pos[0] - ref, axis=-1).mean())
        env.close()
    assert err[1.0] < 0.9 * err[0.0], err  # 4.6 against 6.0 cm


def test_scale_and_off(env_scene: Scene, env_clip: HOIClip) -> None:
    envs = {g: _env(env_scene, env_clip, g) for g in (0.0, 0.5, 1.0)}
    kp = hinge_gains(env_scene)
    off = holding_offsets(env_scene, envs[0.0].ref.qpos, envs[0.0].ref.obj_pos[:, 2])
    assert off.shape == (env_clip.n_frames, len(kp)) and np.abs(off).max() > 0.01
    targets = {g: e.action_map.targets(e.reference_base) for g, e in envs.items()}
    # the base's targets move by the scaled offsets of the next frame (away from the
    # hinge limits, where the actions clip)
    nxt = np.minimum(np.arange(env_clip.n_frames) + 1, env_clip.n_frames - 1)
    inside = (np.abs(envs[1.0].reference_base) < 0.999) & (np.abs(envs[0.0].reference_base) < 0.999)
    np.testing.assert_allclose((targets[1.0] - targets[0.0])[inside], off[nxt][inside], atol=1e-9)
    np.testing.assert_allclose(
        (targets[0.5] - targets[0.0])[inside], 0.5 * off[nxt][inside], atol=1e-9
    )
    for e in envs.values():
        e.close()


def test_an_embodiment_without_one_servo_per_hinge_is_refused(env_scene: Scene) -> None:
    spec = env_scene.spec.copy()
    spec.delete(spec.actuators[0])
    model = spec.compile()
    with pytest.raises(ValueError, match="one to one"):
        hinge_gains(type(env_scene)(**{**env_scene.__dict__, "model": model}))
