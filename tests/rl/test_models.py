"""The mixed-precision MLP model: bfloat16 hidden layers, float32 head, same weights."""

from __future__ import annotations

import math

import pytest
import torch
from rsl_rl.models import MLPModel
from tensordict import TensorDict

from intermimic.rl.models import (
    MixedPrecisionMLP,
    PrecisionMLPModel,
    native_bfloat16,
    resolve_matmul_dtype,
)
from intermimic.rl.ppo import rsl_rl_config
from intermimic.rl.settings import PolicySettings, TrainSettings
from intermimic.rl.teacher_settings import TeacherSettings
from intermimic.rl.train import Trainer
from tests.rl.sanity_task import PointMassReach, evaluate, sanity_settings

needs_bf16 = pytest.mark.skipif(
    not native_bfloat16("cpu"), reason="this CPU has no native bfloat16 matmuls"
)

DIST = {"class_name": "GaussianDistribution", "init_std": math.exp(-2.9), "std_type": "log"}


def _obs(n: int, d: int = 300, seed: int = 0) -> TensorDict:
    g = torch.Generator().manual_seed(seed)
    return TensorDict({"policy": torch.randn(n, d, generator=g)}, batch_size=[n])


def _model(dtype: str, cls: type = PrecisionMLPModel) -> MLPModel:
    torch.manual_seed(0)
    kw = {"matmul_dtype": dtype} if cls is PrecisionMLPModel else {}
    return cls(  # type: ignore[no-any-return]
        _obs(4), {"actor": ["policy"]}, "actor", 20, hidden_dims=[64, 64],
        activation="relu", distribution_cfg=DIST, **kw,
    )  # fmt: skip


def test_resolve_choices() -> None:
    assert resolve_matmul_dtype("float32", "cpu") == torch.float32
    native = native_bfloat16("cpu")
    assert resolve_matmul_dtype("auto", "cpu") == (torch.bfloat16 if native else torch.float32)
    # a device without native bfloat16 matmuls: 'auto' falls back, an explicit choice fails
    assert not native_bfloat16("meta")
    assert resolve_matmul_dtype("auto", "meta") == torch.float32
    with pytest.raises(ValueError, match="matmul_dtype='bfloat16'.*no native bfloat16"):
        resolve_matmul_dtype("bfloat16", "meta")


def test_float32_is_rsl_rls_mlp_model() -> None:
    ours, theirs = _model("float32"), _model("float32", MLPModel)
    assert type(ours.mlp) is type(theirs.mlp)  # no wrapper
    obs = _obs(8)
    torch.testing.assert_close(ours(obs), theirs(obs), rtol=0, atol=0)


@needs_bf16
def test_bfloat16_keeps_keys_and_weights_and_a_float32_head() -> None:
    mixed, plain = _model("bfloat16"), _model("float32")
    assert isinstance(mixed.mlp, MixedPrecisionMLP)
    assert mixed.state_dict().keys() == plain.state_dict().keys()
    for v in mixed.state_dict().values():
        assert v.dtype == torch.float32
    plain.load_state_dict(mixed.state_dict())
    obs = _obs(32)
    with torch.inference_mode():
        out, ref = mixed(obs), plain(obs)
        # the head in float32 on the bfloat16 hidden features
        head = mixed.mlp[mixed.mlp.head_at]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            hidden = torch.nn.Sequential(*list(mixed.mlp)[: mixed.mlp.head_at])(obs["policy"])
        assert hidden.dtype == torch.bfloat16
        torch.testing.assert_close(out, head(hidden.float()), rtol=0, atol=0)
    assert out.dtype == torch.float32
    # bfloat16 rounding (8 bits of mantissa) of inputs, weights and features: about 1 %
    err = (out - ref).abs().max() / ref.abs().mean()
    assert 0 < err < 0.05


@needs_bf16
def test_bfloat16_log_probs_agree_between_acting_and_updating() -> None:
    """PPO's ratio compares the log-probability an action had while acting (small
    batches) with the one the update computes (large batches) at the same weights: they
    must be equal, or the ratio is noise from the first minibatch on."""
    model = _model("bfloat16")
    small, big = _obs(16, seed=1), _obs(512, seed=2)
    big["policy"][:16] = small["policy"]
    with torch.inference_mode():
        actions = model(small, stochastic_output=True)
        lp_act = model.get_output_log_prob(actions)
        model(big, stochastic_output=True)
        lp_upd = model.get_output_log_prob(torch.cat([actions, torch.zeros(496, 20)]))[:16]
    torch.testing.assert_close(lp_upd, lp_act, rtol=0, atol=1e-4)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
def test_onnx_and_script_paths_run_in_float32() -> None:
    # Exports trace the MLP outside autocast: a float32 graph from either model.
    if not native_bfloat16("cpu"):
        pytest.skip("this CPU has no native bfloat16 matmuls")
    mixed, plain = _model("bfloat16"), _model("float32")
    plain.load_state_dict(mixed.state_dict())
    x = _obs(3)["policy"]
    traced = torch.jit.trace(mixed.as_jit(), x)
    torch.testing.assert_close(traced(x), plain.as_jit()(x), rtol=0, atol=0)


def test_profiles_and_flat_setting() -> None:
    assert PolicySettings().matmul_dtype == "float32"  # the method
    assert PolicySettings.cpu().matmul_dtype == "auto"
    assert TeacherSettings().train_settings().policy.matmul_dtype == "auto"
    assert TeacherSettings(profile="paper").train_settings().policy.matmul_dtype == "float32"
    s = TeacherSettings(matmul_dtype="float32").train_settings()
    assert s.policy.matmul_dtype == "float32"
    cfg = rsl_rl_config(s)
    for part in ("actor", "critic"):
        assert cfg[part]["class_name"] == "intermimic.rl.models:PrecisionMLPModel"
        assert cfg[part]["matmul_dtype"] == "float32"
    with pytest.raises(ValueError, match="matmul_dtype"):
        TeacherSettings(matmul_dtype="float16")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="matmul_dtype"):
        TrainSettings(policy=PolicySettings(matmul_dtype="half"))  # type: ignore[arg-type]


@needs_bf16
def test_ppo_learns_point_mass_reach_in_bfloat16() -> None:
    base = sanity_settings(seed=0)
    settings = base.model_copy(
        update={"policy": base.policy.model_copy(update={"matmul_dtype": "bfloat16"})}
    )
    trainer = Trainer(PointMassReach(64, seed=0), settings)
    assert isinstance(trainer.alg.actor.mlp, MixedPrecisionMLP)
    trainer.train(40)
    assert evaluate(trainer.act_deterministic) > 35.0  # as test_rl_ppo_sanity's float32
