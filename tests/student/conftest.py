"""A small store for the student tests: one synthetic subject (two box clips), its
teacher trained for a few iterations, and a refined dataset.

The refined dataset holds the MoCap clips themselves (what a teacher that tracks
perfectly would produce): a teacher trained for seconds falls within a few frames, too
short for a reference. Everything else is real: store, teacher checkpoints, MuJoCo.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from data_catalog import Store
from intermimic.motion.synthetic import synthetic_clip, write_synthetic_objects
from intermimic.objects import ObjectLibrary
from intermimic.rl.student_settings import StudentSettings
from intermimic.rl.teacher_settings import TeacherSettings
from stages.teacher import train_subject_teacher

TEACHER = TeacherSettings(
    recipe="ppo",  # trains without plans (the cpu default plans first)
    env_steps=2 * 4 * 8, worlds=4, horizon=8, hidden_dims=[32], checkpoint_interval=2,
    sim_threads=1, tensorboard=False,
)  # fmt: skip
TINY = StudentSettings(
    env_steps=2 * 4 * 8, worlds=4, horizon=8, width=32, layers=1, heads=2,
    head_hidden_dims=[32], critic_hidden_dims=[32], checkpoint_interval=2, sim_threads=1,
    tensorboard=False, beta_anneal_iterations=2,
)  # fmt: skip


def make_store(root: Path, subjects: tuple[str, ...] = ("s1",), *, refined: bool = True) -> Store:
    """Two box clips per subject in dataset ``lab`` (and, with ``refined``, the same
    clips as ``lab-refined``)."""
    store = Store(root)
    for k, subj in enumerate(subjects):
        clips = [
            synthetic_clip(subj, "box", i, 30 + 4 * i, seed=i + 10 * k, dataset="lab").with_meta(
                source_sha256=f"{k:032x}{i:032x}"
            )
            for i in range(2)
        ]
        store.upsert_clips("lab", subj, clips)
        if refined:
            store.upsert_clips(
                "lab-refined", subj, [c.with_meta(dataset="lab-refined") for c in clips]
            )
    return store


@pytest.fixture(scope="session")
def objects_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_objects(tmp_path_factory.mktemp("student_objects"))


@pytest.fixture(scope="session")
def objects(objects_dir: Path) -> ObjectLibrary:
    return ObjectLibrary(objects_dir)


@pytest.fixture(scope="session")
def teacher_store(tmp_path_factory: pytest.TempPathFactory, objects: ObjectLibrary) -> Path:
    """Subjects s1 (with a teacher) and s2 (without one)."""
    store = make_store(tmp_path_factory.mktemp("student_store") / "store", ("s1", "s2"))
    train_subject_teacher(store, "lab", "s1", TEACHER, objects, evaluate=False)
    return store.root


@pytest.fixture
def store(teacher_store: Path, tmp_path: Path) -> Store:
    """A private copy of the session store."""
    dst = tmp_path / "store"
    shutil.copytree(teacher_store, dst)
    return Store(dst)
