"""Grounding the reference humanoid: its lowest geom ends on the ground, the object stays."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from intermimic.env import EnvSettings, TrackingEnv
from intermimic.env.grounding import ground_offset, ground_offsets, lowest_clearance
from intermimic.motion.clip import HOIClip
from intermimic.sim.scene import Scene


def _lifted(clip: HOIClip, dz: float) -> HOIClip:
    arrays = {k: getattr(clip, k) for k in ("root_pos", "body_pos")}
    root = arrays["root_pos"].copy()
    root[:, 2] += dz
    body = arrays["body_pos"].copy()
    body[..., 2] += dz
    return replace(clip, root_pos=root, body_pos=body)


def test_clearance_is_the_lowest_geom_height(env_scene: Scene, env_clip: HOIClip) -> None:
    env = TrackingEnv(
        env_scene, [env_clip], n_worlds=1, settings=EnvSettings(ground_reference=False)
    )
    hq = env.ref.qpos[:, env_scene.humanoid_qpos_adr]
    base = lowest_clearance(env_scene, hq[:5])
    up = hq[:5].copy()
    up[:, 2] += 0.25
    # lifting the root lifts every geom by the same amount
    np.testing.assert_allclose(lowest_clearance(env_scene, up), base + 0.25, atol=1e-6)
    env.close()


def test_reference_is_grounded_whatever_the_captured_height(
    env_scene: Scene, env_clip: HOIClip
) -> None:
    envs = {dz: TrackingEnv(env_scene, [_lifted(env_clip, dz)], n_worlds=1) for dz in (0.0, 0.12)}
    for dz, env in envs.items():
        hq = env.ref.qpos[:, env_scene.humanoid_qpos_adr]
        # after the shift the clip's low percentile of clearance is zero
        assert abs(ground_offset(env_scene, hq)) < 1e-6, dz
    a, b = envs[0.0].ref, envs[0.12].ref
    # the captured height no longer matters: same reference humanoid, same object
    np.testing.assert_allclose(a.body_pos, b.body_pos, atol=1e-6)
    np.testing.assert_allclose(a.qpos, b.qpos, atol=1e-6)
    np.testing.assert_allclose(b.obj_pos, env_clip.obj_pos, atol=1e-9)
    np.testing.assert_allclose(b.ground_offsets[0] - a.ground_offsets[0], 0.12, atol=1e-6)
    for env in envs.values():
        env.close()


def test_grounding_can_be_turned_off(env_scene: Scene, env_clip: HOIClip) -> None:
    env = TrackingEnv(
        env_scene, [env_clip], n_worlds=1, settings=EnvSettings(ground_reference=False)
    )
    np.testing.assert_allclose(env.ref.qpos[:, 2], env_clip.root_pos[:, 2])
    assert env.ref.ground_offsets == []
    env.close()


def _standing(clip: HOIClip, ramp: float) -> HOIClip:
    """Frame 0 of ``clip`` held for every frame, lifted linearly from 0 to ``ramp`` metres:
    a capture whose floor drifts up while the body stands still."""
    arrays = {k: np.repeat(v[:1], clip.n_frames, axis=0) for k, v in clip.arrays().items()}
    dz = np.linspace(0.0, ramp, clip.n_frames)
    arrays["root_pos"][:, 2] += dz
    arrays["body_pos"][..., 2] += dz[:, None]
    return clip.with_arrays(**arrays)


def _grounded_clearance(scene: Scene, clip: HOIClip, window: float) -> np.ndarray:
    env = TrackingEnv(scene, [clip], n_worlds=1, settings=EnvSettings(ground_window=window))
    out = lowest_clearance(scene, env.ref.qpos[:, scene.humanoid_qpos_adr])
    env.close()
    return out


def test_a_windowed_offset_follows_a_drifting_floor(env_scene: Scene, env_clip: HOIClip) -> None:
    drifting = _standing(env_clip, 0.06)  # 6 cm over 40 frames (1.3 s)
    per_clip = _grounded_clearance(env_scene, drifting, 0.0)
    windowed = _grounded_clearance(env_scene, drifting, 0.3)
    # one offset per clip leaves the drift: the first frame below the floor, the last above
    assert per_clip[0] < -0.003 and per_clip[-1] > 0.04
    # per frame the body stands on the ground, within the bias of a low percentile over
    # a 9-frame window of a 1.5 mm/frame ramp (5 mm up), and level away from the ends
    assert np.abs(windowed).max() < 0.008, windowed
    assert np.ptp(windowed[5:-5]) < 0.002, windowed


def test_windowed_and_per_clip_offsets_agree_on_a_level_floor(
    env_scene: Scene, env_clip: HOIClip
) -> None:
    still = _standing(env_clip, 0.0)
    np.testing.assert_allclose(
        _grounded_clearance(env_scene, still, 0.5),
        _grounded_clearance(env_scene, still, 0.0),
        atol=1e-9,
    )
    hq = np.repeat(TrackingEnv(env_scene, [still], n_worlds=1).ref.qpos[:1], 4, axis=0)
    offs = ground_offsets(env_scene, hq[:, env_scene.humanoid_qpos_adr], 30.0, 0.5)
    assert offs.shape == (4,)
    with pytest.raises(ValueError, match="fps"):
        ground_offsets(env_scene, hq[:, env_scene.humanoid_qpos_adr], 0.0, 0.5)
