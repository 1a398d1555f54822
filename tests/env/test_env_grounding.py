"""Grounding the reference humanoid: its lowest geom ends on the ground, the object stays."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from intermimic.env import EnvSettings, TrackingEnv
from intermimic.env.grounding import ground_offset, lowest_clearance
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
