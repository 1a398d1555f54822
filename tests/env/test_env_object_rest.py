"""Setting the reference object down where the simulated floor holds it still."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from intermimic.env import EnvSettings, TrackingEnv
from intermimic.env.object_rest import (
    object_clearance,
    rest_on_floor,
    rest_runs,
    settled_pose,
)
from intermimic.motion.clip import HOIClip
from intermimic.plan import PlannerSettings
from intermimic.plan.seeds import _key_text, plans_sha256
from intermimic.rl.teacher_settings import TeacherSettings
from intermimic.sim.scene import Scene

from .conftest import BOX_EDGE

FPS = 30.0
HALF = BOX_EDGE / 2


def _quat(tilt_deg: float, yaw_deg: float = 20.0) -> np.ndarray:
    rot = Rotation.from_euler("zx", [yaw_deg, tilt_deg], degrees=True)
    return rot.as_quat(scalar_first=True)


def _tilt_deg(quat: np.ndarray) -> float:
    """Angle between the box's own z axis and the world's (0 or 90: on a face)."""
    z = Rotation.from_quat(quat, scalar_first=True).apply([0.0, 0.0, 1.0])
    return float(np.degrees(np.arccos(np.clip(abs(z[2]), 0.0, 1.0))))


def _resting_then_lifted(n: int = 40, rest: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """A box standing 1 cm into the floor, tilted 4 degrees, for ``rest`` frames, then
    lifted 1 m/s straight up."""
    pos = np.tile([0.6, 0.2, HALF - 0.01], (n, 1))
    pos[rest:, 2] += np.arange(1, n - rest + 1) / FPS
    quat = np.tile(_quat(4.0), (n, 1))
    return pos, quat


def test_clearance_is_the_lowest_hull_point(env_scene: Scene) -> None:
    pos = np.array([[0.0, 0.0, HALF + 0.05], [0.0, 0.0, HALF - 0.02], [0.0, 0.0, 1.0]])
    flat = np.tile(_quat(0.0), (3, 1))
    np.testing.assert_allclose(
        object_clearance(env_scene, pos, flat), [0.05, -0.02, 1.0 - HALF], atol=1e-6
    )
    # tilted: the lowest corner is half the edge times the sum of |R[2, :]| below the centre
    q = _quat(10.0)
    row = Rotation.from_quat(q, scalar_first=True).as_matrix()[2]
    drop = HALF * np.abs(row).sum() - HALF
    got = object_clearance(env_scene, pos[:1], q[None])
    np.testing.assert_allclose(got, [0.05 - drop], atol=1e-6)


def test_a_tilted_box_inside_the_floor_settles_flat_on_it(env_scene: Scene) -> None:
    p, q, still = settled_pose(env_scene, np.array([0.6, 0.2, HALF - 0.01]), _quat(4.0))
    assert still
    assert _tilt_deg(q) < 0.2  # on its face, not its edge
    assert abs(float(object_clearance(env_scene, p[None], q[None])[0])) < 2e-3
    # it fell and rocked in place, it did not fly off
    assert np.linalg.norm(p[:2] - [0.6, 0.2]) < 0.03


@pytest.mark.parametrize(
    ("still", "runs"),
    [
        ([1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1], [(0, 3), (8, 12)]),
        ([0, 0, 0], []),
        ([1, 1, 1], [(0, 3)]),
        ([0, 1, 1, 1, 0], [(1, 4)]),
    ],
)
def test_rest_runs_are_the_long_still_stretches(
    still: list[int], runs: list[tuple[int, int]]
) -> None:
    assert rest_runs(np.array(still, bool), min_frames=3) == runs


def test_a_resting_stretch_is_set_down_and_faded_into_the_lift(env_scene: Scene) -> None:
    pos, quat = _resting_then_lifted()
    new_pos, new_quat, runs = rest_on_floor(env_scene, pos, quat, FPS, blend_s=0.2)
    assert runs == [(0, 20)]
    p, q, _ = settled_pose(env_scene, pos[0], quat[0])
    np.testing.assert_allclose(new_pos[:20], np.tile(p, (20, 1)))
    np.testing.assert_allclose(np.abs(np.einsum("ti,i->t", new_quat[:20], q)), 1.0, atol=1e-9)
    clearance = object_clearance(env_scene, new_pos[:20], new_quat[:20])
    assert clearance.min() > -2e-3  # no longer 1.5 cm inside the floor
    # 0.2 s = 6 frames of fade after the run; the capture's own motion after that
    np.testing.assert_allclose(new_pos[26:], pos[26:])
    np.testing.assert_allclose(new_quat[26:], quat[26:])
    # continuous: no step larger than the capture's own plus the change spread over the fade
    change = np.linalg.norm(p - pos[19])
    steps = np.linalg.norm(np.diff(new_pos, axis=0), axis=1)
    assert steps.max() <= 1.0 / FPS + change / 6 + 1e-9
    angle = (
        Rotation.from_quat(new_quat[1:], scalar_first=True)
        * Rotation.from_quat(new_quat[:-1], scalar_first=True).inv()
    ).magnitude()
    assert angle.max() <= np.radians(4.0) / 6 + 1e-6


def test_an_object_off_the_floor_or_moving_is_left_as_captured(env_scene: Scene) -> None:
    n = 30
    held = np.tile([0.6, 0.2, 0.9], (n, 1))  # still, but in the hands
    quat = np.tile(_quat(4.0), (n, 1))
    pos, q, runs = rest_on_floor(env_scene, held, quat, FPS)
    assert runs == []
    np.testing.assert_array_equal(pos, held)
    np.testing.assert_array_equal(q, quat)
    dragged = np.tile([0.6, 0.2, HALF], (n, 1))
    dragged[:, 0] += 0.5 * np.arange(n) / FPS  # along the floor at 0.5 m/s
    assert rest_on_floor(env_scene, dragged, quat, FPS)[2] == []


def _box_down(clip: HOIClip) -> HOIClip:
    pos, quat = _resting_then_lifted(clip.n_frames, rest=clip.n_frames)
    pos[:, :2] = clip.root_pos[0, :2] + np.array([0.8, 0.0])  # beside the body, untouched
    return clip.with_arrays(obj_pos=pos, obj_quat=quat)


def _object_steps(env: TrackingEnv, n: int = 4) -> np.ndarray:
    import torch

    start = np.r_[env.ref.qpos[0], env.ref.qvel[0]][None]
    env.reset_to(np.array([0]), start)
    out = [env.ref.obj_pos[0]]
    for _ in range(n):
        env.step(env.reference_actions())
        out.append(env.backend.read(torch.float64).bodies.obj_pos[0].numpy().copy())
    return np.linalg.norm(np.diff(np.array(out), axis=0), axis=1)


def test_the_environment_starts_a_settled_object_still(env_scene: Scene, env_clip: HOIClip) -> None:
    clip = _box_down(env_clip)
    captured = TrackingEnv(env_scene, [clip], n_worlds=1)
    settled = TrackingEnv(env_scene, [clip], n_worlds=1, settings=EnvSettings(object_rest=True))
    try:
        assert captured.ref.object_rest_runs == []
        assert settled.ref.object_rest_runs == [[(0, clip.n_frames)]]
        # from the captured pose the box jumps out of the floor; set down, it stays
        assert _object_steps(captured).max() > 3e-3
        assert _object_steps(settled).max() < 5e-4
    finally:
        captured.close()
        settled.close()


def test_object_rest_names_other_plans_and_leaves_old_names() -> None:
    planner, base = PlannerSettings(), TeacherSettings()
    rest = base.model_copy(update={"object_rest": True})
    # off, the field is not in the plan cache's key: plans cached before it keep their names
    assert "object_rest" not in _key_text(planner, base, "", "")
    assert '"object_rest":true' in _key_text(planner, rest, "", "")
    assert plans_sha256(planner, rest) != plans_sha256(planner, base)
