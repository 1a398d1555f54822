"""The tracking environment on the SMPL-X humanoid in body mode (fingers welded)."""

from __future__ import annotations

import numpy as np
import torch

from intermimic.env import TrackingEnv
from intermimic.humanoid.embodiment import SmplxEmbodiment
from intermimic.motion.clip import HOIClip
from intermimic.objects import SimObject
from intermimic.sim.scene import Scene, embodiment_scene


def test_body_mode_env_steps_with_the_full_observation(
    env_box: SimObject, env_scene: Scene, env_clip: HOIClip
) -> None:
    emb = SmplxEmbodiment(hands="body")
    scene = embodiment_scene(emb, env_box)
    assert scene.model.nq == 7 + 63 + 7 and scene.model.nu == 63
    assert len(scene.humanoid_body_ids) == 52 and len(scene.humanoid_qpos_adr) == 70
    env = TrackingEnv(scene, [env_clip], "mujoco", n_worlds=3)
    full = TrackingEnv(env_scene, [env_clip], "mujoco", n_worlds=3)
    try:
        assert env.action_dim == 63 and full.action_dim == 153
        assert env.obs_dim == full.obs_dim  # 52 bodies either way
        # the reference: the clip with its fingers at the weld pose (flat): the body
        # hinges' bodies where the full humanoid's reference has them
        fingers = ~np.isin(np.arange(52), scene.embodiment.index(_finger_names()))
        np.testing.assert_allclose(
            env.ref.body_pos[:, fingers], full.ref.body_pos[:, fingers], atol=1e-9
        )
        assert env.ref.qpos.shape[1] == scene.model.nq
        obs = env.reset()
        assert obs.shape == (3, env.obs_dim)
        for _ in range(4):
            obs, reward, _, _, info = env.step(np.zeros((3, 63)))
        assert torch.isfinite(obs).all() and torch.isfinite(reward).all()
        assert set(info["reward_terms"]) == set(full.step(np.zeros((3, 153)))[4]["reward_terms"])
        assert env.n_nan_resets == 0
        assert reward.max() > 0.0
    finally:
        env.close()
        full.close()


def _finger_names() -> tuple[str, ...]:
    from intermimic.humanoid.builder import welded_bodies
    from intermimic.motion.skeleton import SMPLX_BODY_NAMES

    return welded_bodies(SMPLX_BODY_NAMES, "body")
