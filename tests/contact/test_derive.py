"""Generated motion (joint rotations + object pose only): reading it and deriving the
missing body poses and contact labels, then tracking it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

from intermimic.contact import annotate
from intermimic.contact.derive import complete_reference, missing_fields
from intermimic.humanoid import HumanoidSettings, build_spec
from intermimic.motion.formats import format_for_path
from intermimic.motion.formats.generated import write_generated
from intermimic.motion.formats.smplx_npz import pose_bodies
from intermimic.motion.kinematics import quat_angle
from intermimic.motion.load import read_clip
from intermimic.motion.synthetic import synthetic_clip
from intermimic.objects import DecompositionSettings, ObjectSettings, SimObject, build_object
from intermimic.sim.scene import build_scene


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> SimObject:
    path = tmp_path_factory.mktemp("derive_objects") / "box.obj"
    trimesh.creation.box(extents=[0.3] * 3).export(path)
    s = ObjectSettings(decomposition=DecompositionSettings(method="hull"), n_points=256)
    return build_object(path, s, name="box")


def test_generated_file_reads_with_fk_bodies(tmp_path: Path) -> None:
    clip = synthetic_clip(n_frames=20, seed=1)
    path = tmp_path / "gen.npz"
    write_generated(clip, path)
    assert format_for_path(path).name == "generated-npz"  # type: ignore[union-attr]
    back = read_clip(path)
    assert back.extra["missing"] == ("contact", "obj_contact")
    assert back.extra["derived"] == ("body_pos", "body_quat")
    pos, _ = pose_bodies(clip.root_pos, clip.root_quat, clip.joint_rotvec)
    np.testing.assert_allclose(back.body_pos, pos, atol=1e-5)
    assert quat_angle(back.body_quat, clip.body_quat).max() < 1e-4  # orientations: any bones
    assert missing_fields(back) == {"contact", "obj_contact"}


def test_complete_reference_derives_contacts(tmp_path: Path, box: SimObject) -> None:
    clip = synthetic_clip(n_frames=20, seed=1)
    write_generated(clip, tmp_path / "gen.npz")
    raw = read_clip(tmp_path / "gen.npz")
    scene = build_scene(build_spec(), box)
    done = complete_reference(raw, scene=scene)
    assert missing_fields(done) == set()
    assert set(done.extra["derived"]) == {"body_pos", "body_quat", "contact", "obj_contact"}
    ann = annotate(raw, scene)
    np.testing.assert_array_equal(done.contact, ann.labels)
    assert (done.contact != 0).any()
    # nothing missing: returned unchanged
    assert complete_reference(done, scene=scene) is done


def test_reference_without_contacts_is_tracked(tmp_path: Path, box: SimObject) -> None:
    """What `track` does with a generated reference: complete it, then roll it out."""
    from intermimic.env import EnvSettings, TrackingEnv

    clip = synthetic_clip(n_frames=24, seed=2)
    write_generated(clip, tmp_path / "gen.npz")
    ref = complete_reference(read_clip(tmp_path / "gen.npz"), scene=build_scene(build_spec(), box))
    scene = build_scene(build_spec(settings=HumanoidSettings(actuators="position")), box)
    env = TrackingEnv(scene, [ref], "mujoco", n_worlds=2, settings=EnvSettings(seed=0))
    obs = env.reset()
    for _ in range(3):
        obs, reward, *_ = env.step(np.zeros((2, env.action_dim)))
    assert torch.isfinite(obs).all() and torch.isfinite(reward).all()
    env.close()
