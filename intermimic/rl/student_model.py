"""Student networks: a Transformer over future reference frames, an MLP, and export.

Both students are rsl-rl models (they subclass :class:`rsl_rl.models.MLPModel`, so PPO,
its storage and the Gaussian action distribution use them unchanged) whose input is the
student observation of :func:`intermimic.env.observations.observe` with the student's
future offsets (default ``{1, 2, 4, 16}``), **unnormalised**: the running normaliser
(rsl-rl's ``EmpiricalNormalization``) is inside the model, followed by a clip to
``+-obs_clip``, so the saved weights are the whole policy and the ONNX export carries
the normaliser folded in.

:class:`TransformerStudent` cuts the observation into tokens (:class:`ObsLayout`):

* one *own-state* token: root height, body positions, rotations and velocities, the
  object state, the interaction graph and the contacts (everything not tied to a
  future frame);
* one *reference* token per future offset ``k``: the reference-minus-own body
  positions and rotations, root height, object pose and contact labels at frame
  ``t + k`` (the released layout adds that frame's velocity and nearest-point errors).

Each kind has its own linear embedding to ``width``; a sinusoidal encoding of the frame
offset (0 for the own state) is added (the positional encoding), then ``layers``
pre-norm Transformer blocks with ``heads`` heads; the own-state token's output is the
latent the action head (an MLP) reads. Attention is written out with matmuls so the
export is plain ONNX.

:class:`MLPStudent` is the alternative: normaliser, clip, MLP. The critic is rsl-rl's
:class:`~rsl_rl.models.MLPModel`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, cast

import torch
import torch.nn as nn
from rsl_rl.models import MLPModel
from rsl_rl.modules import MLP, EmpiricalNormalization
from rsl_rl.utils import resolve_class
from tensordict import TensorDict

from intermimic.env.observations import block_sizes
from intermimic.env.settings import ObsLayoutName


@dataclass(frozen=True)
class ObsLayout:
    """Where the blocks of a flat observation lie (see
    :mod:`intermimic.env.observations`): ``n_bodies`` bodies, ``n_ig`` graph edges
    (key bodies x object points), ``offsets`` future frames, the observation ``layout``
    (``ObservationSettings.layout``) and, for the released one, ``n_key`` key and
    ``n_spin`` spin bodies. A dict without ``layout`` (saved before there were layouts)
    reads as ``"compact"``."""

    n_bodies: int
    n_ig: int
    offsets: tuple[int, ...]
    layout: ObsLayoutName = "compact"
    n_key: int = 0
    n_spin: int = 0

    def _sizes(self) -> tuple[int, int, int]:
        return block_sizes(self.n_bodies, self.n_ig, self.layout, self.n_key, self.n_spin)

    @property
    def own_head(self) -> int:
        """Root height and the body blocks before the future frames."""
        return self._sizes()[0]

    @property
    def future(self) -> int:
        """Size of one future frame's block."""
        return self._sizes()[1]

    @property
    def own_tail(self) -> int:
        """Object, interaction graph (or nearest-point vectors) and contacts, after the
        future frames."""
        return self._sizes()[2]

    @property
    def own(self) -> int:
        return self.own_head + self.own_tail

    @property
    def dim(self) -> int:
        return self.own + len(self.offsets) * self.future

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["offsets"] = list(self.offsets)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ObsLayout:
        layout = str(d.get("layout", "compact"))
        if layout not in ("compact", "released"):
            raise ValueError(f"observation layout must be 'compact' or 'released', got {layout!r}")
        return cls(
            int(d["n_bodies"]),
            int(d["n_ig"]),
            tuple(int(k) for k in d["offsets"]),
            cast(ObsLayoutName, layout),
            int(d.get("n_key", 0)),
            int(d.get("n_spin", 0)),
        )

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x [N, dim]`` -> (own ``[N, own]``, future ``[N, O, future]``)."""
        a = self.own_head
        b = a + len(self.offsets) * self.future
        own = torch.cat([x[:, :a], x[:, b:]], dim=-1)
        fut = x[:, a:b].reshape(x.shape[0], len(self.offsets), self.future)
        return own, fut


def sinusoidal(positions: list[int], width: int) -> torch.Tensor:
    """``[len(positions), width]`` sine/cosine encodings of integer positions."""
    pos = torch.tensor(positions, dtype=torch.float32)[:, None]
    i = torch.arange(0, width, 2, dtype=torch.float32)
    freq = torch.exp(-math.log(10000.0) * i / width)
    out = torch.zeros(len(positions), width)
    out[:, 0::2] = torch.sin(pos * freq)
    out[:, 1::2] = torch.cos(pos * freq)[:, : out[:, 1::2].shape[1]]
    return out


class Block(nn.Module):
    """Pre-norm Transformer block: multi-head self-attention and a GELU MLP."""

    def __init__(self, width: int, heads: int, ff_dim: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} is not divisible by heads {heads}")
        self.heads = heads
        self.head_dim = width // heads
        self.scale = 1.0 / math.sqrt(width // heads)
        self.norm1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width)
        self.ff = nn.Sequential(nn.Linear(width, ff_dim), nn.GELU(), nn.Linear(ff_dim, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t = x.shape[0], x.shape[1]
        qkv = self.qkv(self.norm1(x)).reshape(n, t, 3, self.heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        att = torch.softmax((q @ k.transpose(-2, -1)) * self.scale, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(n, t, self.heads * self.head_dim)
        x = x + self.proj(y)
        return x + self.ff(self.norm2(x))


class _StudentBase(MLPModel):
    """What both students share: normaliser + clip in front, ``latent_from_flat``."""

    obs_clip: float

    def _setup_input(
        self,
        obs: TensorDict,
        obs_groups: dict[str, list[str]],
        obs_set: str,
        obs_normalization: bool,
        obs_clip: float,
    ) -> None:
        self.obs_groups, self.obs_dim = self._get_obs_dim(obs, obs_groups, obs_set)
        self.obs_normalization = obs_normalization
        self.obs_normalizer = (
            EmpiricalNormalization(self.obs_dim) if obs_normalization else nn.Identity()
        )
        self.obs_clip = float(obs_clip)

    def _setup_head(
        self,
        latent_dim: int,
        output_dim: int,
        hidden_dims: list[int],
        activation: str,
        distribution_cfg: dict | None,
    ) -> None:
        if distribution_cfg is not None:
            dist_class, dist_cfg = resolve_class(distribution_cfg)
            self.distribution = dist_class(output_dim, **dist_cfg)
            out_dim = self.distribution.input_dim
        else:
            self.distribution = None
            out_dim = output_dim
        self.mlp = MLP(latent_dim, out_dim, hidden_dims, activation)
        if self.distribution is not None:
            self.distribution.init_mlp_weights(self.mlp)

    def get_latent(
        self, obs: TensorDict, masks: torch.Tensor | None = None, hidden_state: Any = None
    ) -> torch.Tensor:
        x = torch.cat([obs[g] for g in self.obs_groups], dim=-1)
        return self.latent_from_flat(x)

    def latent_from_flat(self, x: torch.Tensor) -> torch.Tensor:
        """Latent of raw observations ``[N, obs_dim]`` (normalise, clip, encode)."""
        x = torch.clamp(self.obs_normalizer(x), -self.obs_clip, self.obs_clip)
        return self.encode(x)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def act_flat(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic action (the mean) of raw observations ``[N, obs_dim]``."""
        out = self.mlp(self.latent_from_flat(x))
        return self.distribution.deterministic_output(out) if self.distribution else out


class MLPStudent(_StudentBase):
    """Normaliser, clip, MLP: the alternative student."""

    def __init__(
        self,
        obs: TensorDict,
        obs_groups: dict[str, list[str]],
        obs_set: str,
        output_dim: int,
        hidden_dims: list[int] | tuple[int, ...] = (1024, 512),
        activation: str = "elu",
        obs_normalization: bool = True,
        obs_clip: float = 5.0,
        distribution_cfg: dict | None = None,
        layout: dict | None = None,
    ) -> None:
        nn.Module.__init__(self)
        self._setup_input(obs, obs_groups, obs_set, obs_normalization, obs_clip)
        self.layout = ObsLayout.from_dict(layout) if layout else None
        self._setup_head(self.obs_dim, output_dim, list(hidden_dims), activation, distribution_cfg)


class TransformerStudent(_StudentBase):
    """Transformer over the own-state token and one token per future reference frame."""

    def __init__(
        self,
        obs: TensorDict,
        obs_groups: dict[str, list[str]],
        obs_set: str,
        output_dim: int,
        layout: dict,
        width: int = 256,
        layers: int = 3,
        heads: int = 4,
        ff_dim: int | None = None,
        hidden_dims: list[int] | tuple[int, ...] = (256,),
        activation: str = "elu",
        obs_normalization: bool = True,
        obs_clip: float = 5.0,
        distribution_cfg: dict | None = None,
    ) -> None:
        nn.Module.__init__(self)
        self._setup_input(obs, obs_groups, obs_set, obs_normalization, obs_clip)
        self.layout = lay = ObsLayout.from_dict(layout)
        if lay.dim != self.obs_dim:
            raise ValueError(
                f"observation has {self.obs_dim} values, the layout {lay} expects {lay.dim}"
            )
        self.own_embed = nn.Linear(lay.own, width)
        self.future_embed = nn.Linear(lay.future, width)
        self.register_buffer("pos", sinusoidal([0, *lay.offsets], width)[None])
        self.blocks = nn.ModuleList(Block(width, heads, ff_dim or 2 * width) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self._setup_head(width, output_dim, list(hidden_dims), activation, distribution_cfg)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        own, fut = self.layout.split(x)
        tokens = torch.cat([self.own_embed(own)[:, None], self.future_embed(fut)], dim=1)
        tokens = tokens + self.pos
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens[:, 0])


class ExportedPolicy(nn.Module):
    """Raw observation ``[N, obs_dim]`` -> action mean ``[N, A]``: the normaliser, the
    clip, the network and the head in one module (for ONNX / TorchScript)."""

    def __init__(self, model: _StudentBase) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).cpu().eval()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.model.act_flat(obs)


def student_model_cfg(
    architecture: str,
    layout: ObsLayout,
    *,
    width: int,
    layers: int,
    heads: int,
    head_hidden_dims: list[int],
    mlp_hidden_dims: list[int],
    init_log_std: float,
    learn_std: bool = False,
) -> dict[str, Any]:
    """rsl-rl model config (``class_name`` + kwargs) of a student."""
    distribution = {
        "class_name": "GaussianDistribution",
        "init_std": math.exp(init_log_std),
        "std_type": "log",
        "learn_std": learn_std,
    }
    if architecture == "transformer":
        return {
            "class_name": "intermimic.rl.student_model:TransformerStudent",
            "layout": layout.to_dict(),
            "width": width,
            "layers": layers,
            "heads": heads,
            "hidden_dims": list(head_hidden_dims),
            "distribution_cfg": distribution,
        }
    if architecture == "mlp":
        return {
            "class_name": "intermimic.rl.student_model:MLPStudent",
            "layout": layout.to_dict(),
            "hidden_dims": list(mlp_hidden_dims),
            "distribution_cfg": distribution,
        }
    raise ValueError(f"architecture must be 'transformer' or 'mlp', got {architecture!r}")


def build_student_model(cfg: dict[str, Any], obs_dim: int, action_dim: int) -> _StudentBase:
    """A student from its config, for inference (input group ``policy`` of ``obs_dim``)."""
    cls, kwargs = resolve_class(cfg)
    obs = TensorDict({"policy": torch.zeros(1, obs_dim)}, batch_size=[1])
    model = cls(obs, {"actor": ["policy"]}, "actor", action_dim, **kwargs)
    assert isinstance(model, _StudentBase)
    return model
