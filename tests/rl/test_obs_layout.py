"""The observation layout as a teacher setting: the student's ``ObsLayout``, teacher
settings (old runs read as compact), a released-layout teacher env, and a student env
over a released-layout teacher."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from cli.settings_options import SettingsError, parse_overrides
from intermimic.env.normalizer import RunningNormalizer
from intermimic.env.observations import observation_dim
from intermimic.errors import InputError
from intermimic.motion.synthetic import synthetic_clip, write_synthetic_objects
from intermimic.objects import ObjectLibrary
from intermimic.rl.clipset import ClipSet, prepare_clips
from intermimic.rl.student_env import StudentGroup, build_student_env
from intermimic.rl.student_model import ObsLayout
from intermimic.rl.student_settings import StudentSettings
from intermimic.rl.teacher_actor import TeacherActor
from intermimic.rl.teacher_env import build_teacher_env
from intermimic.rl.teacher_settings import SETTINGS_FILE, TeacherSettings

RELEASED = TeacherSettings(worlds=2, sim_threads=1, obs_layout="released", recipe="ppo")
STUDENT = StudentSettings(worlds=2, sim_threads=1, tensorboard=False)


@pytest.fixture(scope="module")
def clipset(tmp_path_factory: pytest.TempPathFactory) -> ClipSet:
    objects = ObjectLibrary(write_synthetic_objects(tmp_path_factory.mktemp("layout_objects")))
    clips = [synthetic_clip("s1", "box", i, 30 + 4 * i, seed=i, dataset="lab") for i in range(2)]
    return prepare_clips(clips, objects, RELEASED)


# ---- ObsLayout -------------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["compact", "released"])
def test_obs_layout_round_trips_and_splits(layout: str) -> None:
    n_key, n_spin = (21, 22) if layout == "released" else (0, 0)
    lay = ObsLayout(52, 21 * 16, (1, 2, 4, 16), layout, n_key, n_spin)  # type: ignore[arg-type]
    assert ObsLayout.from_dict(json.loads(json.dumps(lay.to_dict()))) == lay
    assert lay.dim == observation_dim(52, 336, 4, layout, n_key, n_spin)  # type: ignore[arg-type]
    x = torch.randn(3, lay.dim)
    own, fut = lay.split(x)
    assert own.shape == (3, lay.own_head + lay.own_tail) and fut.shape == (3, 4, lay.future)
    a = lay.own_head
    torch.testing.assert_close(fut[:, 1], x[:, a + lay.future : a + 2 * lay.future])
    torch.testing.assert_close(own[:, a:], x[:, a + 4 * lay.future :])
    if layout == "released":  # 198 more per offset; the 52 nearest vectors, not 336 edges
        assert lay.future == 530 + 198 and lay.own_tail == 15 + 156 + 52


def test_old_obs_layout_dicts_read_as_compact() -> None:
    old = {"n_bodies": 52, "n_ig": 80, "offsets": [1, 2, 4, 16]}  # saved before layouts
    lay = ObsLayout.from_dict(old)
    assert (lay.layout, lay.n_key, lay.n_spin) == ("compact", 0, 0)
    assert lay == ObsLayout(52, 80, (1, 2, 4, 16)) and lay.dim == 3208
    with pytest.raises(ValueError, match="layout"):
        ObsLayout.from_dict({**old, "layout": "full"})


# ---- teacher settings ----------------------------------------------------------------


def test_obs_layout_setting_maps_defaults_and_rejects(tmp_path: Path) -> None:
    assert TeacherSettings().obs_layout == "compact"
    assert TeacherSettings().env_settings().observation.layout == "compact"
    assert RELEASED.env_settings(psi=False).observation.layout == "released"
    # a run saved before the setting existed: compact
    old = TeacherSettings(worlds=8).model_dump()
    del old["obs_layout"]
    (tmp_path / SETTINGS_FILE).write_text(json.dumps({"settings": old}))
    assert TeacherSettings.of_run(tmp_path).obs_layout == "compact"
    with pytest.raises(ValidationError, match="obs_layout"):
        TeacherSettings(obs_layout="full")
    with pytest.raises(SettingsError, match="obs_layout"):
        parse_overrides(TeacherSettings, ["obs_layout=foo"])
    assert parse_overrides(TeacherSettings, ["obs_layout=released"]).obs_layout == "released"


# ---- environments ------------------------------------------------------------------------


def test_released_teacher_env_steps(clipset: ClipSet) -> None:
    env = build_teacher_env(clipset, RELEASED)
    try:
        assert env.obs_dim == observation_dim(52, 336, 2, "released", 21, 22) == 2460
        obs = env.reset()
        assert obs["policy"].shape == (2, env.obs_dim)
        obs, reward, *_ = env.step(np.zeros((2, env.num_actions)))
        assert obs["policy"].shape == (2, env.obs_dim)
        assert torch.as_tensor(obs["policy"]).isfinite().all()
        assert torch.as_tensor(reward).isfinite().all()
    finally:
        env.close()


class _ZeroActor:
    """A stand-in teacher actor: zero action means, ``obs_dim`` inputs."""

    def __init__(self, obs_dim: int) -> None:
        self.obs_dim = obs_dim

    def __call__(self, td: object) -> torch.Tensor:
        x = td["policy"]  # type: ignore[index]
        assert x.shape[1] == self.obs_dim
        return torch.zeros(x.shape[0], 153)


def _teacher(settings: TeacherSettings, obs_dim: int) -> TeacherActor:
    norm = RunningNormalizer(obs_dim).state_dict()
    return TeacherActor(
        "s1",
        Path("run"),
        Path("ckpt"),
        "0" * 64,
        settings,
        _ZeroActor(obs_dim),
        {"box": norm},  # type: ignore[arg-type]
    )


def test_student_env_over_a_released_teacher(clipset: ClipSet) -> None:
    scene = clipset.scenes["box"]
    clips = clipset.groups["box"]
    groups = [StudentGroup("s1", "box", clips, scene), StudentGroup("s2", "box", clips, scene)]
    teacher = _teacher(RELEASED, 2460)
    env = build_student_env(groups, {"s1": teacher}, STUDENT, {"s1.box": 1, "s2.box": 1}, psi=False)
    try:
        # the teacher's layout, for the teacher-less group too: one student observes all
        assert [e.obs_layout for e in env.envs] == ["released", "released"]
        lay = env.layout
        assert (lay.layout, lay.n_key, lay.n_spin) == ("released", 21, 22)
        assert lay.dim == observation_dim(52, 336, 4, "released", 21, 22)
        obs = env.reset()
        assert obs["policy"].shape == (2, lay.dim)
        assert ObsLayout.from_dict(lay.to_dict()) == lay
    finally:
        env.close()
    compact = _teacher(TeacherSettings(worlds=2, sim_threads=1, recipe="ppo"), 2916)
    with pytest.raises(InputError, match="different layouts"):
        build_student_env(
            groups, {"s1": teacher, "s2": compact}, STUDENT, {"s1.box": 1, "s2.box": 1}, psi=False
        )
