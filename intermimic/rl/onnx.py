"""Deployment export of a student: ONNX with the observation normaliser folded in.

The exported graph maps a raw student observation ``obs [N, obs_dim]`` (float32, the
blocks of :mod:`intermimic.env.observations` with the student's future offsets) to the
action mean ``actions [N, action_dim]`` in the student's action space (with residual
actions: offsets from the reference's next pose, in units of ``residual_scale``; see
the ``intermimic`` metadata props). Normalisation, clipping, the network and the head
are all in the graph: nothing else is needed at run time but onnxruntime.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from intermimic.errors import InterMimicError
from intermimic.rl.student_model import ExportedPolicy

OPSET = 17


class ExportError(InterMimicError):
    """The policy could not be exported or its export does not match torch."""


def export_onnx(
    policy: Any, out: Path, *, check: bool = True, atol: float = 1e-4
) -> dict[str, Any]:
    """Write ``policy`` (a :class:`~intermimic.rl.student_policy.StudentPolicy`) to ``out`` as
    ONNX (atomically); with ``check``, run it in onnxruntime on random observations and
    compare with torch. Returns ``{path, obs_dim, action_dim, max_abs_diff}``."""
    import onnx

    module = ExportedPolicy(policy.model)
    obs_dim = int(policy.meta["obs_dim"])
    action_dim = int(policy.meta["action_dim"])
    dummy = torch.zeros(2, obs_dim)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # the TorchScript exporter (exact, fast for this graph) warns that it is legacy
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                (dummy,),
                str(tmp),
                input_names=["obs"],
                output_names=["actions"],
                dynamic_axes={"obs": {0: "batch"}, "actions": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
        model = onnx.load(str(tmp))
        s = policy.settings
        props = {
            "intermimic": json.dumps(
                {
                    "kind": "student",
                    "mode": s.mode,
                    "architecture": s.architecture,
                    "future_offsets": list(s.future_offsets),
                    "residual_scale": s.residual_scale if s.residual_actions else None,
                    "layout": policy.meta.get("layout"),
                    "checkpoint_sha256": policy.sha256,
                }
            )
        }
        onnx.helper.set_model_props(model, props)
        onnx.checker.check_model(model)
        onnx.save(model, str(tmp))
        info: dict[str, Any] = {"path": str(out), "obs_dim": obs_dim, "action_dim": action_dim}
        if check:
            info["max_abs_diff"] = compare_onnx(module, tmp, obs_dim, atol=atol)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return info


def run_onnx(path: Path, obs: np.ndarray) -> np.ndarray:
    """Actions of the exported policy at ``path`` for raw observations ``[N, obs_dim]``."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = sess.run(["actions"], {"obs": np.asarray(obs, np.float32)})
    return np.asarray(out)


def compare_onnx(
    module: torch.nn.Module,
    path: Path,
    obs_dim: int,
    *,
    atol: float = 1e-4,
    n: int = 16,
    seed: int = 0,
) -> float:
    """Max |torch - onnxruntime| over ``n`` random observations; :class:`ExportError`
    above ``atol``."""
    rng = np.random.default_rng(seed)
    obs = (rng.standard_normal((n, obs_dim)) * 2).astype(np.float32)
    with torch.no_grad():
        ref = module(torch.from_numpy(obs)).numpy()
    got = run_onnx(path, obs)
    diff = float(np.max(np.abs(ref - got)))
    if not np.isfinite(diff) or diff > atol:
        raise ExportError(f"{path}: ONNX output differs from torch by {diff:.3g} (> {atol:g})")
    return diff
