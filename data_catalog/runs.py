"""Where teacher and student runs live in the store.

Layout (under the store root)::

    STORE/teachers/<dataset>/<subject>/      one teacher (another embodiment than the
                                             SMPL-X humanoid: STORE/teachers-<embodiment>/)
        checkpoints/iter_NNNNNN/             atomic checkpoints (intermimic.rl.checkpoint)
        tensorboard/                         TensorBoard event files
        curve.json, curve.png                learning curve (rows written at checkpoints)
        settings.json                        TrainSettings; teacher_settings.json: ours + clips
        teacher.json                         summary of the last training call (evaluation)
        refine.json                          summary of the last refinement
    STORE/students/<name>/                   one student (a baseline: <name>-<mode>)
        checkpoints/, tensorboard/, curve.json, curve.png
        settings.json                        TrainSettings; student_settings.json: ours, the
                                             observation layout, groups, clips, teacher hashes
        student.json                         summary of the last distillation call
        evaluation/                          report.md, evaluation.json, metrics.png, artifacts.png
"""

from __future__ import annotations

from pathlib import Path

from data_catalog.layout import safe
from data_catalog.refined_layout import (
    refined_dataset,
)
from data_catalog.store import Store

TEACHERS = "teachers"


REFINE_FILE = "refine.json"


#: Held while a teacher trains (in its run folder).
TRAIN_LOCK = ".train.lock"


def teachers_root(store: Store, embodiment: str = "smplx") -> Path:
    """``STORE/teachers`` (another embodiment: ``STORE/teachers-<embodiment>``)."""
    root = TEACHERS if embodiment == "smplx" else f"{TEACHERS}-{safe(embodiment, 'embodiment')}"
    return store.root / root


def teacher_dir(store: Store, dataset: str, subject: str, embodiment: str = "smplx") -> Path:
    """``STORE/teachers/<dataset>/<subject>`` (another embodiment than the SMPL-X
    humanoid: ``STORE/teachers-<embodiment>/<dataset>/<subject>``)."""
    root = teachers_root(store, embodiment)
    return root / safe(dataset, "dataset") / safe(subject, "subject")


PLANNER = "planner"


def planner_dir(store: Store, dataset: str, subject: str, embodiment: str = "smplx") -> Path:
    """``STORE/planner/<dataset>/<subject>`` (``planner-<embodiment>`` for another
    embodiment): the sampling planner's refinement of a subject (its cached per-clip
    rollouts and ``refine.json``)."""
    root = PLANNER if embodiment == "smplx" else f"{PLANNER}-{safe(embodiment, 'embodiment')}"
    return store.root / root / safe(dataset, "dataset") / safe(subject, "subject")


def refined_dataset_for(dataset: str, embodiment: str = "smplx") -> str:
    """``<dataset>-refined`` (``<dataset>-refined-<embodiment>`` for a robot)."""
    out = refined_dataset(dataset)
    return out if embodiment == "smplx" else f"{out}-{embodiment}"


STUDENTS = "students"


EVALUATION = "evaluation"


def student_dir(store: Store, name: str) -> Path:
    """``STORE/students/<name>``."""
    return store.root / STUDENTS / safe(name, "student name")


def baseline_name(name: str, mode: str) -> str:
    return name if mode == "full" else f"{name}-{mode}"
