"""A trained teacher's actor, read back for distillation and evaluation.

:func:`load_teacher_actor` reads a teacher run directory's newest good checkpoint into a
:class:`TeacherActor`: the actor (an rsl-rl MLP) and the environment observation
normalisers it was trained with, acting on teacher observations. The student env asks
it for the teacher's action in every world that has one.

A teacher trained on a feed-forward base (recipe ``planner_ff``) acts as
``base + residual_scale * mean`` where ``base`` is its plan's action at the world's clip
frame (:attr:`TeacherActor.feedforward`, saved in its checkpoint) and the reference's
next-pose action elsewhere; the student env builds that base per tracking env
(:meth:`TeacherActor.feedforward_for`). Older checkpoints have none: the reference base.
A ``planner_fb`` teacher's mean also reads the plan's observation at each world's frame
(:meth:`TeacherActor.act`'s ``plan``; the student env records them by replaying the plan).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from rsl_rl.models import MLPModel
from rsl_rl.utils import resolve_class
from tensordict import TensorDict

from intermimic.env.feedforward import ClipFrames, FeedForward
from intermimic.rl import checkpoint as ckpt
from intermimic.rl.checkpoint import CheckpointError, checkpoint_sha256
from intermimic.rl.plan_feedback import PLAN_GROUP
from intermimic.rl.ppo import rsl_rl_config
from intermimic.rl.teacher_env import saved_feedforward
from intermimic.rl.teacher_settings import TeacherSettings


class MissingTeacherError(CheckpointError):
    """A subject the student needs a teacher for has no usable teacher checkpoint."""


@dataclass
class TeacherActor:
    """A trained teacher's actor and the observation statistics it was trained with."""

    subject: str
    run_dir: Path
    checkpoint: Path
    sha256: str
    settings: TeacherSettings
    actor: MLPModel
    obs_norm: dict[str, dict[str, np.ndarray]]
    """object name -> the tracking env's normaliser state (``mean``, ``var``, ``count``)."""
    feedforward: dict[str, NDArray[np.float64]] = field(default_factory=dict)
    """clip id -> the base actions ``[n, A]`` at the clip's frames ``0..n-1`` the teacher
    was trained on (recipe ``planner_ff``; empty: the reference base everywhere)."""

    def feedforward_for(self, ref: ClipFrames, action_dim: int) -> FeedForward | None:
        """This teacher's feed-forward over the frames of ``ref`` (a tracking env's
        reference), or None where it covers none of them. Plans of clip ids ``ref`` does
        not hold are ignored; a plan longer than its clip there is cut to it."""
        if not self.feedforward:
            return None
        ff = FeedForward.build(ref, action_dim, self.feedforward, truncate=True)
        return None if ff.empty else ff

    @property
    def residual_scale(self) -> float | None:
        s = self.settings
        return s.residual_scale if s.residual_actions else None

    @property
    def obs_dim(self) -> int:
        return int(self.actor.obs_dim)

    def act(
        self, obs: NDArray[np.floating], plan: NDArray[np.floating] | None = None
    ) -> NDArray[np.float64]:
        """Action means ``[n, A]`` of normalised teacher observations ``[n, D]``, within
        the action bound the teacher was trained under. A ``planner_fb`` teacher also
        needs ``plan [n, D + 2]``, the ``"plan"`` group of the same worlds
        (:func:`~intermimic.rl.plan_feedback.plan_group`).

        Off its own state distribution (a student driving) a teacher's mean can leave
        that bound; the student's own bound loss forbids following it there, so such a
        target would only fight the bound loss. Inside the bound the mean is unchanged.
        """
        x = torch.as_tensor(np.asarray(obs, np.float32))
        groups = {"policy": x}
        if self.settings.recipe == "planner_fb":
            if plan is None:
                raise ValueError(
                    f"{self.run_dir}: a planner_fb teacher acts on its plan's observations "
                    "too (plan=plan_group(...))"
                )
            groups[PLAN_GROUP] = torch.as_tensor(np.asarray(plan, np.float32))
        td = TensorDict(groups, batch_size=[x.shape[0]])
        with torch.inference_mode():
            mean = self.actor(td).numpy().astype(np.float64)
        return np.clip(mean, -self.action_bound, self.action_bound)

    @cached_property
    def action_bound(self) -> float:
        return self.settings.train_settings().ppo.action_bound


def load_teacher_actor(run_dir: Path, subject: str, action_dim: int = 153) -> TeacherActor:
    """The teacher in ``run_dir`` (newest good checkpoint); :class:`MissingTeacherError`
    naming ``subject`` when there is none."""
    run_dir = Path(run_dir)
    c = ckpt.load_latest(run_dir / "checkpoints")
    if c is None:
        raise MissingTeacherError(
            f"subject {subject!r} has no usable teacher checkpoint in {run_dir / 'checkpoints'}; "
            "run `intermimic train-teacher` for it (or --set missing_teacher=skip)"
        )
    settings = TeacherSettings.of_run(run_dir)
    if settings.hands != "full":
        raise CheckpointError(
            f"{run_dir}: this teacher was trained with hands={settings.hands!r} (welded "
            "fingers, fewer actions); distillation and tracking need a full-hands teacher "
            "(hands='full', 153 actions)"
        )
    state = {k[6:]: v for k, v in c.model.items() if k.startswith("actor.")}
    obs_dim = (
        int(state["obs_normalizer._mean"].shape[-1]) if "obs_normalizer._mean" in state else None
    )
    if obs_dim is None:
        # the input layer: the lowest-numbered MLP weight (a checkpoint's keys come in
        # no particular order)
        layers = [k for k in state if k.startswith("mlp.") and k.endswith(".weight")]
        first = min(layers, key=lambda k: int(k.split(".")[1]))
        obs_dim = int(state[first].shape[1])
    cls, kwargs = resolve_class(rsl_rl_config(settings.train_settings())["actor"])
    obs = TensorDict({"policy": torch.zeros(1, obs_dim)}, batch_size=[1])
    actor = cls(obs, {"actor": ["policy"]}, "actor", action_dim, **kwargs)
    actor.load_state_dict(state, strict=True)
    actor.eval()
    objects = c.state["objects"]
    norms = {k[len("obs_norm.") :]: v for k, v in objects.items() if k.startswith("obs_norm.")}
    ff = saved_feedforward(c.state)
    return TeacherActor(
        subject, run_dir, c.path, checkpoint_sha256(c.path), settings, actor, norms, ff
    )
