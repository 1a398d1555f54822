"""Contact intents: rules, flicker removal, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from intermimic.contact import (
    AnnotationError,
    ContactSettings,
    annotate,
    intents_from_distances,
    remove_flicker,
    scene_for_clip,
)
from intermimic.contact.intents import LEFT_HAND, RIGHT_HAND, SMPLX_PARTS, part_distances
from intermimic.motion.synthetic import synthetic_clip
from intermimic.objects import ObjectLibrary, UnknownObjectError


def test_remove_flicker_merges_short_runs():
    x = np.array([0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1], np.int8)
    out = remove_flicker(x, 3)
    assert out.tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]
    # Columns are independent; a short first run takes the next run's value.
    y = np.stack([x, np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])], axis=1)
    out = remove_flicker(y, 3)
    assert out[:, 1].tolist() == [0] * 15
    assert remove_flicker(x, 1).tolist() == x.tolist()


def test_carry_labels(box_scene, clean_clip):
    ann = annotate(clean_clip, box_scene)
    t = clean_clip.n_frames
    assert ann.labels.shape == (t, 52) and ann.labels.dtype == np.int8
    assert ann.distances.shape == (t, 52) and ann.obj_ground.shape == (t,)
    assert (ann.obj_contact == 1).all()  # lifted, held, touching
    assert (ann.hand_intent[:, 1] == 1).all()  # right hand holds it
    assert (ann.hand_intent[:, 0] == -1).all()  # left hand is far
    assert (ann.labels[:, LEFT_HAND] == -1).all()
    assert (ann.labels[:, RIGHT_HAND] == 1).any(axis=1).all()
    head = 13
    assert (ann.labels[:, head] == -1).all()


def test_annotation_never_reads_the_file_labels(box_scene, clean_clip):
    rng = np.random.default_rng(0)
    scrambled = clean_clip.with_arrays(
        contact=rng.integers(-1, 2, clean_clip.contact.shape).astype(np.int8),
        obj_contact=rng.integers(0, 2, clean_clip.n_frames).astype(np.int8),
    )
    a, b = annotate(clean_clip, box_scene), annotate(scrambled, box_scene)
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.obj_contact, b.obj_contact)


def test_object_far_from_the_human(box_scene, clean_clip):
    far = clean_clip.with_arrays(obj_pos=clean_clip.obj_pos + np.float32([5.0, 0, 0]))
    ann = annotate(far, box_scene)
    assert (ann.labels == -1).all()
    assert (ann.obj_contact == 0).all()  # forced off beyond the release distance
    assert (ann.hand_intent == -1).all()


def test_free_falling_object_is_not_held():
    t = 20  # 0.67 s: falls 2.2 m from 3 m, still in the air
    fps = 30.0
    time = np.arange(t) / fps
    pos = np.stack([np.zeros(t), np.zeros(t), 3.0 - 0.5 * 9.81 * time**2], axis=1)
    d = np.full((t, 52), 0.5)  # nobody near
    ann = intents_from_distances(d, pos[:, 2] - 0.1, pos, fps)
    assert ann.cues["lifted"].all()
    assert ann.cues["free_fall"][4:-4].all()
    assert not ann.cues["held"][4:-4].any()
    # The same object held still in the air is held; the flag still needs a body
    # within the release distance.
    still = np.tile([0.0, 0.0, 1.0], (t, 1))
    ann = intents_from_distances(np.full((t, 52), 0.05), np.full(t, 0.9), still, fps)
    assert ann.cues["held"].all() and (ann.obj_contact == 1).all()


def test_label_rule_thresholds():
    t = 10
    d = np.full((t, 52), 0.5)
    d[:, 13] = 0.003  # head: the nearest body
    d[:, 0] = 0.007  # pelvis: within min + 5 mm
    d[:, 9] = 0.02  # torso: between, unknown
    pos = np.tile([0.0, 0.0, 0.0], (t, 1))
    ann = intents_from_distances(d, np.zeros(t), pos, 30.0, ContactSettings())
    assert (ann.obj_contact == 1).all()  # minimum under 2 cm
    assert (ann.labels[:, [13, 0]] == 1).all()
    assert (ann.labels[:, 9] == 0).all()
    assert (ann.labels[:, 1] == -1).all()


def test_smplx_parts_share_labels():
    d = np.full((4, 52), 0.5)
    d[:, SMPLX_PARTS[3][0]] = 0.0  # one right finger touches: the four fingers share it
    pd = part_distances(d)
    assert (pd[:, SMPLX_PARTS[3]] == 0.0).all()
    ann = intents_from_distances(d, np.zeros(4), np.zeros((4, 3)), 30.0)
    assert (ann.labels[:, SMPLX_PARTS[3]] == 1).all()
    per_body = intents_from_distances(
        d, np.zeros(4), np.zeros((4, 3)), 30.0, ContactSettings(label_groups="body")
    )
    assert (per_body.labels[:, SMPLX_PARTS[3]] == 1).sum() == 4


def test_skeleton_mismatch_is_a_clear_error(box_scene, clean_clip):
    arrays = clean_clip.arrays()
    short = clean_clip.with_arrays(
        body_pos=arrays["body_pos"][:, :51],
        body_quat=arrays["body_quat"][:, :51],
        contact=arrays["contact"][:, :51],
    )
    with pytest.raises(AnnotationError, match="51 bodies"):
        annotate(short, box_scene)


def test_missing_object_mesh_names_the_object(tmp_path: Path):
    (tmp_path / "box").mkdir()
    clip = synthetic_clip(object_name="nosuchthing")
    with pytest.raises(UnknownObjectError, match="nosuchthing"):
        scene_for_clip(clip, ObjectLibrary(tmp_path))


def test_scene_without_object_is_refused(clean_clip):
    from intermimic.humanoid import build_spec
    from intermimic.sim import build_scene

    with pytest.raises(AnnotationError, match="no object"):
        annotate(clean_clip, build_scene(build_spec()))


def test_scene_for_clip_builds_the_clips_object(tmp_path: Path, clean_clip):
    import trimesh

    (tmp_path / "box").mkdir()
    trimesh.creation.box(extents=[0.3] * 3).export(tmp_path / "box" / "box.obj")
    from intermimic.objects import DecompositionSettings, ObjectSettings

    lib = ObjectLibrary(
        tmp_path, ObjectSettings(decomposition=DecompositionSettings(method="hull"))
    )
    scene = scene_for_clip(clean_clip, lib)
    assert scene.object is not None and scene.object.name == "box"
    assert (annotate(clean_clip, scene).hand_intent[:, 1] == 1).all()
