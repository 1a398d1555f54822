"""Blow-up and overflow detection on both backends (issue #20, item 2).

Each test forces a real blow-up in world 1 of three (no stand-in backend): a velocity far
beyond ``max_speed``, or a humanoid lying in the ground, whose contacts and constraints
overflow a deliberately small buffer (C MuJoCo: a 500 kB arena; MuJoCo Warp: a contact pool
of 16 per world). The environment must end world 1's episode as terminated, reset it and
count it; the backend must count it by cause; worlds 0 and 2 must go on as in a run
without the blow-up.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch

from intermimic.env import EnvSettings, TrackingEnv
from intermimic.humanoid import HumanoidSettings, build_spec
from intermimic.motion.synthetic import synthetic_clip
from intermimic.objects import SimObject
from intermimic.sim.factory import make_backend
from intermimic.sim.scene import Scene, build_scene

N = 3
#: C MuJoCo arena (bytes) that holds a standing humanoid's contacts and constraints, not
#: a lying one's (measured: ~0.55 MB standing, ~1 MB lying; below ~0.45 MB the stack
#: itself overflows, an engine error, counted as unstable instead).
SMALL_ARENA = 500_000
#: MuJoCo Warp contacts per world: a standing humanoid has about 12, a lying one 50.
SMALL_NCONMAX = 16

BACKENDS = [
    pytest.param("mujoco", id="mujoco"),
    pytest.param("warp", id="warp", marks=[pytest.mark.warp, pytest.mark.slow]),
]


@pytest.fixture(scope="module")
def scene(box_object: SimObject) -> Scene:
    return build_scene(build_spec(settings=HumanoidSettings(actuators="position")), box_object)


def _backend_opts(name: str, overflow: bool) -> dict[str, Any]:
    if name == "warp":
        pytest.importorskip("mujoco_warp")
        return {"device": "cpu", **({"nconmax": SMALL_NCONMAX} if overflow else {})}
    return {"n_threads": 1}


def _env(scene: Scene, name: str, opts: dict[str, Any]) -> TrackingEnv:
    clip = synthetic_clip(n_frames=40, seed=3)
    backend = make_backend(name, scene, N, **opts)
    return TrackingEnv(scene, [clip], backend, settings=EnvSettings(seed=0))


def _run(
    scene: Scene, name: str, opts: dict[str, Any], blow_up: Any
) -> tuple[TrackingEnv, TrackingEnv, dict[str, Any], torch.Tensor, torch.Tensor]:
    """One step of an env whose world 1 was blown up by ``blow_up(qpos, qvel)`` after
    its reset, and of a control env (same seed) without; both keep going one more step."""
    env, control = _env(scene, name, opts), _env(scene, name, opts)
    env.reset()
    control.reset()
    q, v = env.backend.qpos()[1:2], env.backend.qvel()[1:2]
    blow_up(q, v)
    env.backend.reset(np.array([1]), q, v)
    a = torch.as_tensor(env.reference_actions(), dtype=torch.float32)
    _, reward, term, _, info = env.step(a)
    control.step(a)
    return env, control, info, reward, term


def _check(
    env: TrackingEnv, control: TrackingEnv, info: dict[str, Any], reward: Any, term: Any
) -> None:
    assert info["nan_reset"].tolist() == [False, True, False]
    assert bool(term[1]) and float(reward[1]) == 0.0
    assert env.n_nan_resets == 1
    assert int(env.episode_len[1]) == 0  # reset by the env
    assert not env.backend.bad_worlds().any()
    # The other worlds went on exactly as without the blow-up (float32 on warp, whose
    # contact pool order changed with world 1's contacts).
    tol = 0.0 if env.backend.name == "mujoco" else 1e-5
    for get in ("qpos", "qvel"):
        got, want = getattr(env.backend, get)(), getattr(control.backend, get)()
        np.testing.assert_allclose(got[[0, 2]], want[[0, 2]], atol=tol, rtol=0)
    assert not info["nan_reset"][[0, 2]].any()


@pytest.mark.parametrize("name", BACKENDS)
def test_too_fast_world_is_flagged_reset_and_counted(scene: Scene, name: str) -> None:
    def fly(q: np.ndarray, v: np.ndarray) -> None:
        v[0, scene.object_dof_adr[2]] = 1e3  # the box leaves at 1 km/s: finite, unphysical

    env, control, info, reward, term = _run(scene, name, _backend_opts(name, False), fly)
    _check(env, control, info, reward, term)
    stats = env.backend.stats()
    assert (stats.unstable_worlds, stats.overflow_worlds) == (1, 0)
    assert control.backend.stats().unstable_worlds == 0
    # training goes on
    obs, *_ = env.step(torch.as_tensor(env.reference_actions(), dtype=torch.float32))
    assert torch.isfinite(obs).all() and env.n_nan_resets == 1


@pytest.mark.parametrize("name", BACKENDS)
def test_buffer_overflow_is_flagged_reset_and_counted(scene: Scene, name: str) -> None:
    opts = _backend_opts(name, True)
    if name == "mujoco":
        spec = scene.spec.copy()
        spec.memory = SMALL_ARENA
        scene = dataclasses.replace(scene, spec=spec)

    def lie_down(q: np.ndarray, v: np.ndarray) -> None:
        q[0, 3:7] = (np.cos(np.pi / 4), np.sin(np.pi / 4), 0.0, 0.0)  # on its back
        q[0, 2] = 0.1  # pelvis 10 cm up: the body in the ground, 50 contacts

    env, control, info, reward, term = _run(scene, name, opts, lie_down)
    _check(env, control, info, reward, term)
    stats = env.backend.stats()
    assert (stats.overflow_worlds, stats.unstable_worlds) == (1, 0)
    assert control.backend.stats().overflow_worlds == 0
    assert stats.peak_contacts > SMALL_NCONMAX  # the lying world
    if name == "warp":
        assert stats.contact_capacity == SMALL_NCONMAX
        assert stats.peak_contacts_total > N * SMALL_NCONMAX  # the demand, beyond the pool


def test_mujoco_stats_start_at_zero_and_track_peaks(scene: Scene) -> None:
    be = make_backend("mujoco", scene, 2, n_threads=1)
    assert be.stats().overflow_worlds == be.stats().unstable_worlds == 0
    from intermimic.sim.mujoco_backend import standing_qpos

    q0 = standing_qpos(scene)
    be.reset(np.arange(2), np.tile(q0, (2, 1)), np.zeros((2, scene.model.nv)))
    be.set_targets(np.tile(q0[scene.humanoid_qpos_adr[7:]], (2, 1)))
    be.step(4)
    s = be.stats()
    assert 2 <= s.peak_contacts <= s.peak_contacts_total <= 2 * s.peak_contacts
    assert s.peak_constraints >= s.peak_contacts  # pyramidal cones: rows per contact
    assert not be.bad_worlds().any()
