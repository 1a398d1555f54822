"""A trained teacher's deterministic actions on a :class:`~intermimic.rl.teacher_env.TeacherEnv`.

:func:`load_teacher` gives a :class:`TeacherPolicy` from the newest good checkpoint of a
run directory (or the untrained policy of the settings' seed: the baseline the
benchmark compares with).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from intermimic.rl import checkpoint as ckpt
from intermimic.rl.checkpoint import CheckpointError, checkpoint_sha256
from intermimic.rl.teacher_env import TeacherEnv
from intermimic.rl.teacher_settings import TeacherSettings
from intermimic.rl.train import Trainer
from intermimic.rl.vecenv import Array


class TeacherPolicy:
    """Deterministic actions of a trained teacher for a :class:`TeacherEnv`.

    Build with :func:`load_teacher`; :meth:`act` maps observations ``{group: [N, D]}``
    of ``env`` to the policy mean ``[N, A]``. The env's observation normalisers carry
    the checkpoint's statistics and are frozen.
    """

    def __init__(self, trainer: Trainer, env: TeacherEnv, checkpoint: Path | None) -> None:
        self.trainer = trainer
        self.env = env
        self.checkpoint = checkpoint
        self.sha256 = checkpoint_sha256(checkpoint) if checkpoint is not None else "untrained"
        for e in env.envs:
            if checkpoint is None:
                # The trainer's construction observed one reset batch; statistics of so
                # few rows (zero variance) would feed the untrained network clipped
                # garbage, so the baseline depended on which frames that reset drew.
                e.normalizer.reset()
            e.normalizer.frozen = True

    def act(self, obs: Mapping[str, Array]) -> NDArray[np.float32]:
        return self.trainer.act_deterministic(obs)


def load_teacher(
    run_dir: Path | None,
    env: TeacherEnv,
    settings: TeacherSettings,
    *,
    require: bool = True,
) -> TeacherPolicy:
    """The teacher of ``run_dir`` (newest good checkpoint) acting on ``env``.

    ``run_dir=None`` (or ``require=False`` and no checkpoint) gives the untrained policy
    of ``settings.seed``: the baseline the benchmark compares with.
    """
    trainer = Trainer(env, settings.train_settings(), None, stateful=env.stateful(psi=False))
    c = None
    if run_dir is not None:
        root = Path(run_dir) / "checkpoints"
        c = ckpt.load_latest(root)
        if c is None and require:
            raise CheckpointError(
                f"{root}: no usable teacher checkpoint; run `intermimic train-teacher` first"
            )
        if c is not None:
            _check_body(Path(run_dir), env, settings)
            # evaluation worlds are fresh by design: silence the trainer's resume warning
            train_log = logging.getLogger("intermimic.rl.train")
            level = train_log.level
            train_log.setLevel(logging.ERROR)
            try:
                trainer.load(c, env_state=False)
            finally:
                train_log.setLevel(level)
    return TeacherPolicy(trainer, env, c.path if c is not None else None)


def _check_body(run_dir: Path, env: TeacherEnv, settings: TeacherSettings) -> None:
    """Raise :class:`CheckpointError` when the run drove another body than ``env``'s
    (``embodiment``, ``hands``: a body-mode teacher has 63 actions, a full-hands one
    153): its weights cannot act there."""
    run = TeacherSettings.of_run(run_dir)
    mine = (settings.embodiment, settings.hands)
    if (run.embodiment, run.hands) != mine:
        raise CheckpointError(
            f"{run_dir}: the teacher was trained with embodiment={run.embodiment!r}, "
            f"hands={run.hands!r}, but the environment is built for embodiment={mine[0]!r}, "
            f"hands={mine[1]!r} ({env.num_actions} actions); build it with the run's own "
            "settings (TeacherSettings.of_run)"
        )
