"""Policies that act on a :class:`~intermimic.rl.student_env.StudentEnv`: a trained
student, or a teacher evaluated like one.

:func:`load_student` reads a student run directory (its settings file and newest good
checkpoint) into a :class:`StudentPolicy` (deterministic actions for evaluation, tracking
and export); :class:`TeacherDriver` passes the env's teacher action through, so teachers
and students are evaluated by the same code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from intermimic.rl import checkpoint as ckpt
from intermimic.rl.checkpoint import CheckpointError, checkpoint_sha256
from intermimic.rl.student_env import StudentEnv
from intermimic.rl.student_model import ObsLayout, build_student_model
from intermimic.rl.student_ppo import student_config
from intermimic.rl.student_settings import SETTINGS_FILE, StudentSettings
from intermimic.rl.teacher_actor import TeacherActor


class StudentPolicy:
    """A trained student: raw student observations -> deterministic actions.

    ``model`` is the student network (normaliser inside); ``settings`` its
    :class:`StudentSettings`; ``env`` the :class:`StudentEnv` it acts on (set by whoever
    builds one, e.g. evaluation)."""

    kind = "student"

    def __init__(
        self,
        model: Any,
        settings: StudentSettings,
        checkpoint: Path | None,
        meta: dict[str, Any],
    ) -> None:
        self.model = model.eval()
        self.settings = settings
        self.checkpoint = checkpoint
        self.meta = meta
        self.sha256 = checkpoint_sha256(checkpoint) if checkpoint is not None else "untrained"
        self.env: StudentEnv | None = None

    @property
    def offsets(self) -> list[int]:
        return list(self.settings.future_offsets)

    @property
    def residual_scale(self) -> float | None:
        s = self.settings
        return s.residual_scale if s.residual_actions else None

    def act(self, obs: Mapping[str, NDArray[np.floating]]) -> NDArray[np.float32]:
        x = torch.as_tensor(np.asarray(obs["policy"], np.float32))
        with torch.inference_mode():
            return self.model.act_flat(x).numpy().astype(np.float32)


def load_student(run_dir: Path) -> StudentPolicy:
    """The student of ``run_dir`` (newest good checkpoint); :class:`CheckpointError`
    when there is none."""
    run_dir = Path(run_dir)
    meta_path = run_dir / SETTINGS_FILE
    if not meta_path.exists():
        raise CheckpointError(
            f"{run_dir}: no {SETTINGS_FILE}; not a student run (intermimic distill)"
        )
    meta = json.loads(meta_path.read_text())
    settings = StudentSettings(**meta["settings"])
    layout = ObsLayout.from_dict(meta["layout"])
    model = build_student_model(
        student_config(settings, layout)["actor"], int(meta["obs_dim"]), int(meta["action_dim"])
    )
    c = ckpt.load_latest(run_dir / "checkpoints")
    if c is None:
        raise CheckpointError(f"{run_dir / 'checkpoints'}: no usable student checkpoint")
    model.load_state_dict({k[6:]: v for k, v in c.model.items() if k.startswith("actor.")})
    return StudentPolicy(model, settings, c.path, meta)


class TeacherDriver:
    """A teacher evaluated like a student: the env computes its action (``teacher``
    group) and :meth:`act` passes it through. Build the env with the teacher's
    ``residual_scale`` so the two action spaces are the same."""

    kind = "teacher"

    def __init__(self, teacher: TeacherActor) -> None:
        self.teacher = teacher
        self.sha256 = teacher.sha256
        self.checkpoint = teacher.checkpoint
        self.env: StudentEnv | None = None

    @property
    def residual_scale(self) -> float | None:
        return self.teacher.residual_scale

    def act(self, obs: Mapping[str, NDArray[np.floating]]) -> NDArray[np.float32]:
        return np.asarray(obs["teacher"], np.float32)
