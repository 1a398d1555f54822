"""The one-shot device check of the GPU path (``warp`` backend): one JSON line per stage.

Run it through ``bench/gpu_check.sh`` (or ``make gpu-check``); it reads the carry folder
that ``bench/gpu_prepare.py`` made (``.gpu_carry/``: the sample clip, its object and
convex cache, the wheels a bare machine lacks; layout in ``bench/gpu_carry.py``), so the
machine needs neither ``../shared`` nor a package registry. After each stage it appends
one JSON line to ``$OUT/gpu.jsonl`` (and prints it), so a run stopped by a time limit
still leaves the stages it finished:

* ``setup``: the carry found (a hard error, exit 2, when the sample clip is missing;
  there is no synthetic fallback), loads stashed, wheels installed where missing;
* ``versions``: Python, torch, warp, mujoco, mujoco_warp, the driver, ``nvidia-smi``;
* ``agreement``: MuJoCo Warp on the device against the MuJoCo C engine, a few worlds from
  the clip's first frame at ground clearances other than the 1 mm contact margin: max
  qpos and contact-force differences over the steps, the first step's time (the kernel
  compile on a cold cache);
* ``physics``: ``backend.step`` alone (4 substeps) at 1024, 4096 and 8192 worlds, with and
  without the CUDA graph: world steps/s, build, first step (graph capture), GPU memory,
  peak contacts and constraints, overflowing and unstable worlds;
* ``env``: the tracking environment (:class:`intermimic.env.TrackingEnv`: PD targets,
  4 substeps, observations, rewards, IET, resets) at 4096 worlds: policy and world
  steps/s, and the host share of a step (time with ``backend.step`` a no-op over the
  full step's);
* ``teacher``: PPO (:func:`intermimic.rl.teacher_training.train_teacher`) with the
  method's settings (``profile=paper``: MLP [1024, 1024, 512], horizon 32, lr 2e-5,
  absolute PD targets) at 4096 worlds for 2 minutes: env steps/s of training, the
  episode lengths of its first and last iterations;
* ``summary``: the goal (>= 100k env world steps/s at 4096 worlds, host share < 20 %).

On a GPU the whole takes about 7 minutes (387 s on an H200 with a cold kernel cache, 187 of
them compiling; ``--deadline`` 540 s: a stage that would not
fit is skipped, and says so). Without torch on the machine (a CUDA torch does not fit the
carry) the stages that need it are skipped and say why: ``env`` and ``teacher`` always,
and, while the warp backend imports torch to hand tensors over, every stage after
``versions``. ``--tiny`` (implied by
``--device cpu``) runs every stage at a few worlds and steps, on the CPU in minutes (the
first warp compile of a cold kernel cache takes most of it)::

    bash bench/gpu_check.sh                  # on the device, OUT set by the caller
    bash bench/gpu_check.sh --device cpu     # tiny, on this machine
    .venv/bin/python bench/gpu.py --stages versions,physics --physics-worlds 4096
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import gpu_carry as carry  # noqa: E402  (standard library only)

SUBSTEPS = 4
STAGES = ("versions", "agreement", "physics", "env", "teacher")
#: The margin of the humanoid's body geoms (HumanoidSettings.margin): starting clearances
#: stay off it, where float32 and float64 can disagree on whether a contact is active.
GEOM_MARGIN = 1e-3
CLEARANCES = (0.4e-3, 2.5e-3, 5e-3, 10e-3)
GOAL_WORLD_STEPS = 100_000
GOAL_HOST_SHARE = 0.2


@dataclass(frozen=True)
class Scale:
    """How big each stage is."""

    agreement_worlds: int = 4
    agreement_steps: int = 30
    physics_worlds: tuple[int, ...] = (1024, 4096, 8192)
    physics_seconds: float = 3.0  # timed per configuration (at least min_steps)
    min_steps: int = 5
    max_steps: int = 2000
    env_worlds: int = 4096
    env_seconds: float = 6.0
    teacher_worlds: int = 4096
    teacher_seconds: float | None = 120.0
    teacher_iterations: int | None = None  # instead of seconds
    teacher_horizon: int | None = None  # None: the method's 32
    checkpoint_interval: int = 5
    deadline: float = 540.0  # seconds from the start of gpu_check.sh
    name: str = "gpu"


GPU = Scale()
TINY = Scale(
    agreement_worlds=2,
    agreement_steps=5,
    physics_worlds=(4, 8),
    physics_seconds=0.0,
    min_steps=2,
    env_worlds=4,
    env_seconds=0.0,
    teacher_worlds=4,
    teacher_seconds=None,
    teacher_iterations=2,
    teacher_horizon=4,
    checkpoint_interval=1,
    deadline=3600.0,
    name="tiny",
)


class CheckError(RuntimeError):
    """A failure that stops the check (exit status ``code``)."""

    def __init__(self, message: str, code: int = 2, **fields: Any) -> None:
        super().__init__(message)
        self.code = code
        self.fields = fields


class Report:
    """Appends one JSON line per stage to ``OUT/gpu.jsonl`` (flushed at once) and prints it."""

    def __init__(self, out: Path, t0: float) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.path = out / "gpu.jsonl"
        self.t0 = t0
        self.lines: list[dict[str, Any]] = []

    def elapsed(self) -> float:
        return time.time() - self.t0

    def write(self, stage: str, status: str = "ok", **fields: Any) -> dict[str, Any]:
        line = {"stage": stage, "status": status, "elapsed_s": round(self.elapsed(), 1)}
        line.update(fields)
        text = json.dumps(line, default=str)
        with open(self.path, "a") as f:
            f.write(text + "\n")
            f.flush()
            os.fsync(f.fileno())
        print(text, flush=True)
        self.lines.append(line)
        return line


@dataclass
class Context:
    """What the stages share."""

    args: argparse.Namespace
    scale: Scale
    report: Report
    clip_path: Path
    objects_root: Path
    cache_dir: Path
    device: str = "cpu"  # warp device
    torch_device: str | None = None  # None: no usable torch (env and teacher skipped)
    torch_missing: str | None = None
    _clip: Any = None
    _objects: Any = None
    _scene: Any = None

    def remaining(self) -> float:
        return self.scale.deadline - self.report.elapsed()

    @property
    def clip(self) -> Any:
        if self._clip is None:
            from intermimic.motion.load import read_clip

            self._clip = read_clip(self.clip_path)
        return self._clip

    @property
    def objects(self) -> Any:
        if self._objects is None:
            from intermimic.objects import ObjectLibrary

            self._objects = ObjectLibrary(self.objects_root, cache_dir=self.cache_dir)
        return self._objects

    @property
    def scene(self) -> Any:
        """The teacher's scene (humanoid with PD position actuators, the clip's object,
        ground): every stage steps the model the teacher trains, so MuJoCo Warp compiles
        its kernels once (in ``agreement``)."""
        if self._scene is None:  # = intermimic.rl.clipset.teacher_scene, without torch
            from intermimic.humanoid.embodiment import SmplxEmbodiment
            from intermimic.sim.scene import embodiment_scene

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the mesh-not-watertight note
                obj = self.objects.get(self.clip.meta.object_name)
            self._scene = embodiment_scene(SmplxEmbodiment(None), obj)
        return self._scene


# ---- setup: the carry, the sample, the wheels ----------------------------------------------
def setup(args: argparse.Namespace, report: Report) -> tuple[Path, Path, Path, dict[str, Any]]:
    """Stash the loads, find the sample (hard error without it), install missing wheels.
    Returns the clip file, the objects folder, the convex cache folder and the facts."""
    t0 = time.perf_counter()
    carry_dir: Path = args.carry
    stash_dir = carry.STASH_DIR
    local = [r for r in carry.search_roots(carry_dir, stash_dir) if r != stash_dir]
    manifest, manifest_path = carry.load_manifest(local)
    # A carry in several loads (wheels for a device) gathers them in the stash, call by
    # call; a carry of the sample alone is read where it is.
    multi = manifest is None or bool(manifest.get("packages")) or len(manifest["loads"]) > 1
    roots = [*local, stash_dir] if multi else local
    if manifest is None:
        manifest, manifest_path = carry.load_manifest([stash_dir])
    stashed = carry.stash(carry_dir, stash_dir) if multi and manifest is not None else []
    facts: dict[str, Any] = {
        "carry": str(carry_dir),
        "manifest": str(manifest_path) if manifest_path else None,
        "stashed_files": len(stashed),
    }
    clip_id = manifest["clip"] if manifest else args.clip
    if manifest is not None:
        wanted = sorted({f for names in manifest["loads"].values() for f in names})
        absent = [f for f in wanted if carry.find_file(f, roots) is None]
        if absent:
            loads = sorted(
                name for name, names in manifest["loads"].items() if set(names) & set(absent)
            )
            raise CheckError(
                f"the carry is incomplete: {len(absent)} files of {', '.join(loads)} are not "
                f"here or in the stash {stash_dir}; carry those loads (one device call each, "
                "while the machine stays warm) and run the check again",
                code=3,
                missing_loads=loads,
                missing_files=absent[:20],
                **facts,
            )
    clip_rel = f"sample/clips/{clip_id}.npz"
    clip_path = carry.find_file(clip_rel, roots)
    if clip_path is None:
        raise CheckError(
            f"the sample clip is missing: no {clip_rel} under {carry_dir} or {stash_dir}; "
            f"prepare the carry folder with `.venv/bin/python bench/gpu_prepare.py` (no "
            "synthetic fallback: the check measures the sample)",
            **facts,
        )
    sample = clip_path.parent.parent
    objects_root, cache_dir = sample / "objects", sample / "cache"
    object_name = manifest["object"] if manifest else None
    if object_name is not None and not (objects_root / object_name).is_dir():
        raise CheckError(f"the sample object {object_name} is missing under {objects_root}")
    convex = sorted(p.name for p in (cache_dir / "convex").glob("*.npz"))
    facts.update(
        {"clip": clip_id, "clip_file": str(clip_path), "object": object_name, "convex": convex}
    )
    # Wheels: this interpreter gets what it lacks, into a site folder put first on the path.
    if manifest is not None and manifest.get("packages"):
        if str(carry.SITE_DIR) not in sys.path:
            sys.path.insert(0, str(carry.SITE_DIR))
        importlib.invalidate_caches()
        result = carry.install(manifest, roots, carry.SITE_DIR)
        if result["missing"]:
            raise CheckError(
                "wheels for this machine are missing from the carry: "
                + "; ".join(result["missing"])
                + " (bench/gpu_prepare.py --python X.Y)",
                code=3,
                **facts,
            )
        importlib.invalidate_caches()
        facts.update(installed=result["installed"], kept=result["kept"], site=str(carry.SITE_DIR))
    facts["seconds"] = round(time.perf_counter() - t0, 1)
    return clip_path, objects_root, cache_dir, facts


def machine_lacks() -> list[str]:
    """Modules the check imports that neither the machine nor the carry provides."""
    need = ("numpy", "scipy", "mujoco", "mujoco_warp", "warp", "pydantic", "trimesh")
    return [m for m in need if importlib.util.find_spec(m) is None]


# ---- helpers --------------------------------------------------------------------------------
TORCH_NEEDED = "needs torch, which this machine lacks (the warp backend hands tensors over)"


def torch_absent(exc: BaseException) -> bool:
    return isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] == "torch"


def has_torch() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def _warp() -> Any:
    import warp as wp

    wp.config.quiet = True
    wp.config.log_level = wp.LOG_WARNING
    wp.init()
    return wp


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        _warp().synchronize_device(device)


def timed_steps(step: Callable[[], None], scale: Scale, seconds: float) -> tuple[int, float]:
    """Run ``step`` at least ``scale.min_steps`` times and until ``seconds`` have passed."""
    n, t0 = 0, time.perf_counter()
    while n < scale.min_steps or (time.perf_counter() - t0 < seconds and n < scale.max_steps):
        step()
        n += 1
    return n, time.perf_counter() - t0


def standing_states(ctx: Context, n: int) -> tuple[Any, Any, Any]:
    """``n`` states from the clip's first frame, the humanoid's lowest geom at clearances
    off the contact margin, and PD targets at that frame's pose with small per-world
    offsets (the worlds differ, so a mixed-up world axis shows)."""
    import numpy as np

    from intermimic.motion.kinematics import clip_to_qpos
    from intermimic.sim.mujoco_backend import standing_qpos

    scene, clip = ctx.scene, ctx.clip
    h0 = clip_to_qpos(clip)[0]
    base = {
        c: standing_qpos(scene, h0, clip.obj_pos[0], clip.obj_quat[0], clearance=c)
        for c in CLEARANCES
    }
    q = np.stack([base[CLEARANCES[i % len(CLEARANCES)]] for i in range(n)])
    v = np.zeros((n, scene.model.nv))
    rng = np.random.default_rng(0)
    targets = h0[7:][None] + rng.uniform(-0.05, 0.05, (n, h0.size - 7))
    return q, v, targets


def backend_stats(backend: Any) -> dict[str, Any]:
    """Peak contacts and constraints, overflowing and unstable worlds (``backend.stats()``,
    which every backend has)."""
    return dict(asdict(backend.stats()))


def gpu_memory(device: str) -> dict[str, Any]:
    if not device.startswith("cuda"):
        return {}
    wp = _warp()
    gib = 1 << 30
    out: dict[str, Any] = {}
    with contextlib.suppress(Exception):
        out["gpu_mem_in_use_gib"] = round(wp.get_mempool_used_mem_current(device) / gib, 3)
        out["gpu_mem_high_gib"] = round(wp.get_mempool_used_mem_high(device) / gib, 3)
    with contextlib.suppress(Exception):
        dev = wp.get_device(device)
        out["gpu_mem_free_gib"] = round(dev.free_memory / gib, 2)
    return out


def _close(backend: Any) -> None:
    with contextlib.suppress(Exception):
        backend.close()
    del backend
    gc.collect()


# ---- stages ------------------------------------------------------------------------------------
def stage_versions(ctx: Context) -> dict[str, Any]:
    import mujoco
    import mujoco_warp

    wp = _warp()
    out: dict[str, Any] = {
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "mujoco": mujoco.__version__,
        "mujoco_warp": getattr(mujoco_warp, "__version__", None)
        or carry.installed_version("mujoco-warp"),
        "warp": wp.config.version,
        "warp_cuda_devices": [str(d) for d in wp.get_cuda_devices()],
        "warp_device": ctx.device,
        "torch": None,
        "torch_device": ctx.torch_device,
    }
    if ctx.torch_missing:
        out["torch_note"] = ctx.torch_missing
    if has_torch():
        import torch

        out["torch"] = torch.__version__
        out["torch_cuda"] = torch.version.cuda
        out["torch_cuda_available"] = torch.cuda.is_available()
        if torch.cuda.is_available():
            out["gpu"] = torch.cuda.get_device_name(0)
    smi = shutil.which("nvidia-smi")
    if smi is None:
        out["driver"] = None
        out["nvidia_smi"] = "nvidia-smi not found"
    else:
        q = subprocess.run(
            [smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        out["gpu_query"] = q.stdout.strip()
        out["driver"] = q.stdout.split(",")[1].strip() if q.stdout.count(",") >= 2 else None
        full = subprocess.run([smi], capture_output=True, text=True, timeout=60)
        out["nvidia_smi"] = full.stdout
    return out


def stage_agreement(ctx: Context) -> dict[str, Any]:
    import numpy as np

    from intermimic.sim.factory import make_backend

    n, steps = ctx.scale.agreement_worlds, ctx.scale.agreement_steps
    q, v, targets = standing_states(ctx, n)
    ids = np.arange(n)
    runs: dict[str, dict[str, Any]] = {}
    timings: dict[str, float] = {}
    for name, opts in (("mujoco", {"n_threads": 2}), ("warp", {"device": ctx.device})):
        t0 = time.perf_counter()
        be = make_backend(name, ctx.scene, n, **opts)
        be.reset(ids, q, v)
        be.set_targets(targets)
        timings[f"{name}_build_s"] = round(time.perf_counter() - t0, 2)
        qs, fs = [], []
        for k in range(steps):
            t0 = time.perf_counter()
            be.step(SUBSTEPS)
            if k == 0:
                timings[f"{name}_first_step_s"] = round(time.perf_counter() - t0, 2)
            qs.append(be.qpos())
            fs.append(np.array(be.contact_forces()))
        runs[name] = {"q": np.stack(qs), "f": np.stack(fs), "bad": be.bad_worlds().copy()}
        _close(be)
    a, b = runs["mujoco"], runs["warp"]
    dq = np.abs(b["q"] - a["q"])  # [steps, worlds, nq]
    per_step = dq.max(axis=(1, 2))
    root = np.linalg.norm(b["q"][..., :3] - a["q"][..., :3], axis=-1).max(axis=1)
    df = np.abs(b["f"] - a["f"])
    total_a = a["f"].reshape(steps, n, -1).sum(axis=2)
    total_b = b["f"].reshape(steps, n, -1).sum(axis=2)
    marks = sorted({0, min(9, steps - 1), steps - 1})
    return {
        "worlds": n,
        "steps": steps,
        "substeps": SUBSTEPS,
        "clearances_m": [CLEARANCES[i % len(CLEARANCES)] for i in range(n)],
        "geom_margin_m": GEOM_MARGIN,
        "max_qpos_diff": float(dq.max()),
        "qpos_diff_at_step": {int(k + 1): float(per_step[k]) for k in marks},
        "max_root_pos_diff_m": float(root.max()),
        "max_contact_force_diff_n": float(df.max()),
        "mean_contact_force_total_n": {
            "mujoco": float(total_a.mean()),
            "warp": float(total_b.mean()),
        },
        "max_contact_force_total_diff_n": float(np.abs(total_b - total_a).max()),
        "bad_worlds": {"mujoco": int(a["bad"].sum()), "warp": int(b["bad"].sum())},
        **timings,
        "note": "warp_first_step_s holds the kernel compile on a cold warp cache",
    }


def stage_physics(ctx: Context) -> dict[str, Any]:
    import numpy as np

    from intermimic.sim.factory import make_backend

    scale = ctx.scale
    cuda = ctx.device.startswith("cuda")
    rows: list[dict[str, Any]] = []
    for n in scale.physics_worlds:
        for graph in (False, True):
            row: dict[str, Any] = {"worlds": n, "graph": graph}
            if graph and not cuda:
                rows.append({**row, "status": "skipped", "reason": "no CUDA graph on the cpu"})
                continue
            need = 12 + scale.physics_seconds + n / 1024  # a rough bound of one configuration
            if ctx.remaining() < need + reserve_after(ctx, "physics"):
                rows.append({**row, "status": "skipped", "reason": "deadline"})
                continue
            try:
                t0 = time.perf_counter()
                be = make_backend("warp", ctx.scene, n, device=ctx.device, graph=graph)
                q, v, targets = standing_states(ctx, n)
                be.reset(np.arange(n), q, v)
                be.set_targets(targets)
                _sync(ctx.device)
                row["build_s"] = round(time.perf_counter() - t0, 2)
                t0 = time.perf_counter()
                be.step(SUBSTEPS)  # compiles if the cache is cold; captures the graph
                _sync(ctx.device)
                row["first_step_s"] = round(time.perf_counter() - t0, 3)

                def step(be: Any = be) -> None:
                    be.step(SUBSTEPS)

                k, secs = timed_steps(step, scale, scale.physics_seconds)
                _sync(ctx.device)
                secs = max(secs, 1e-9)
                row.update(
                    {
                        "steps": k,
                        "step_ms": round(1e3 * secs / k, 3),
                        "policy_steps_per_s": round(k / secs, 2),
                        "world_steps_per_s": round(n * k / secs, 1),
                        "substeps_per_s_all_worlds": round(n * k * SUBSTEPS / secs, 1),
                    }
                )
                if graph:  # the first step captured the graph: its cost above a plain step
                    row["capture_s"] = round(max(row["first_step_s"] - secs / k, 0.0), 3)
                row.update(gpu_memory(ctx.device))
                row["stats"] = backend_stats(be)
                _close(be)
            except Exception as exc:  # e.g. out of memory: the next configuration runs
                if torch_absent(exc):
                    row.update({"status": "skipped", "reason": TORCH_NEEDED})
                else:
                    row.update({"status": "error", "error": f"{type(exc).__name__}: {exc}"})
            rows.append(row)
    done = [r for r in rows if "world_steps_per_s" in r]
    best = max(done, key=lambda r: r["world_steps_per_s"]) if done else None
    failed = any(r.get("status") == "error" for r in rows)
    return {
        "_status": "error" if failed else ("ok" if done else "skipped"),
        "substeps": SUBSTEPS,
        "configs": rows,
        "best": {k: best[k] for k in ("worlds", "graph", "world_steps_per_s")} if best else None,
    }


def reserve_after(ctx: Context, stage: str) -> float:
    """Seconds the stages after ``stage`` need (0 for those not run)."""
    later = STAGES[STAGES.index(stage) + 1 :]
    scale = ctx.scale
    need = {"env": 40.0 + 2 * scale.env_seconds, "teacher": 45.0 + (scale.teacher_seconds or 0)}
    if scale.name == "tiny":
        return 0.0
    return sum(need.get(s, 0.0) for s in later if s in ctx.args.stages)


def stage_env(ctx: Context) -> dict[str, Any]:
    import numpy as np

    from intermimic.env import TrackingEnv
    from intermimic.sim.factory import make_backend

    scale = ctx.scale
    n = scale.env_worlds
    t0 = time.perf_counter()
    backend = make_backend("warp", ctx.scene, n, device=ctx.device)
    env = TrackingEnv(ctx.scene, [ctx.clip], backend)
    env.reset()
    rng = np.random.default_rng(0)
    actions = rng.uniform(-0.1, 0.1, (n, env.action_dim)).astype(np.float32)
    env.step(actions)  # the graph capture (kernels compiled by the stages before)
    _sync(ctx.device)
    setup_s = time.perf_counter() - t0
    full_step = backend.step
    inside = [0.0]

    def timed_backend_step(substeps: int) -> None:
        t = time.perf_counter()
        full_step(substeps)
        _sync(ctx.device)  # the launches may be asynchronous: time them done
        inside[0] += time.perf_counter() - t

    backend.step = timed_backend_step  # type: ignore[method-assign]
    k, secs = timed_steps(lambda: env.step(actions), scale, scale.env_seconds)
    _sync(ctx.device)
    in_physics = inside[0]
    backend.step = lambda substeps: None  # type: ignore[method-assign]
    t0 = time.perf_counter()
    for _ in range(k):
        env.step(actions)
    _sync(ctx.device)
    noop = time.perf_counter() - t0
    backend.step = full_step  # type: ignore[method-assign]
    env.close()
    rate = k / max(secs, 1e-9)
    host_share = noop / max(secs, 1e-9)
    return {
        "worlds": n,
        "steps": k,
        "setup_s": round(setup_s, 2),
        "step_ms": round(1e3 * secs / k, 3),
        "policy_steps_per_s": round(rate, 2),
        "world_steps_per_s": round(rate * n, 1),
        "host_share": round(host_share, 3),
        "host_step_ms": round(1e3 * noop / k, 3),
        "host_share_by_timer": round(1 - in_physics / max(secs, 1e-9), 3),
        "note": "host_share: time of the same steps with backend.step a no-op over the full "
        "steps'; host_share_by_timer: 1 - time inside backend.step over the full steps'",
        "goal": {
            "world_steps_per_s": GOAL_WORLD_STEPS,
            "host_share_below": GOAL_HOST_SHARE,
            "met": bool(rate * n >= GOAL_WORLD_STEPS and host_share < GOAL_HOST_SHARE),
        },
    }


def stage_teacher(ctx: Context) -> dict[str, Any]:
    from intermimic.rl.clipset import prepare_clips
    from intermimic.rl.teacher_settings import TeacherSettings
    from intermimic.rl.teacher_training import train_teacher

    scale = ctx.scale
    n = scale.teacher_worlds
    extra: dict[str, Any] = {}
    if scale.teacher_horizon is not None:
        extra["horizon"] = scale.teacher_horizon
    settings = TeacherSettings(
        backend="warp",
        device=ctx.torch_device or "cpu",
        worlds=n,
        profile="paper",  # the method's network [1024, 1024, 512], lr 2e-5, horizon 32
        residual_actions=False,  # absolute PD targets, as the method
        env_steps=10**12,
        checkpoint_interval=scale.checkpoint_interval,
        tensorboard=False,
        attempts=1,
        **extra,
    )
    ts = settings.train_settings()
    if scale.teacher_iterations is not None:
        settings = settings.model_copy(
            update={"env_steps": scale.teacher_iterations * n * ts.ppo.horizon}
        )
    budget = None
    if scale.teacher_seconds is not None:
        budget = min(scale.teacher_seconds, ctx.remaining() - 30.0)
        if budget < 20:
            raise CheckError("deadline: less than 20 s left for the teacher", code=0)
    clipset = prepare_clips([ctx.clip], ctx.objects, settings, where="gpu-check")
    with tempfile.TemporaryDirectory() as tmp:
        result = train_teacher(clipset, settings, Path(tmp) / "run", max_seconds=budget)
    rows = result.curve
    keep = ("iteration", "env_steps", "mean_length", "success_rate", "mean_return", "seconds")
    return {
        "worlds": n,
        "profile": settings.profile,
        "hidden_dims": ts.policy.actor_hidden_dims,
        "critic_hidden_dims": ts.policy.critic_hidden_dims,
        "horizon": ts.ppo.horizon,
        "learning_rate": ts.ppo.learning_rate,
        "epochs": ts.ppo.num_learning_epochs,
        "mini_batches": ts.ppo.num_mini_batches,
        "residual_actions": settings.residual_actions,
        "budget_s": None if budget is None else round(budget, 1),
        "iterations": result.iterations,
        "env_steps": result.env_steps,
        "train_seconds": round(result.seconds, 1),
        "env_steps_per_s": round(result.env_steps / max(result.seconds, 1e-9), 1),
        "stopped_by_budget": result.stopped_by_budget,
        "first": {k: rows[0].get(k) for k in keep} if rows else None,
        "last": {k: rows[-1].get(k) for k in keep} if rows else None,
    }


STAGE_FUNCS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "versions": stage_versions,
    "agreement": stage_agreement,
    "physics": stage_physics,
    "env": stage_env,
    "teacher": stage_teacher,
}


# ---- main -----------------------------------------------------------------------------------
def resolve_devices(ctx: Context) -> None:
    """The warp device and the torch device of the env and the teacher (or why none)."""
    wp = _warp()
    req = ctx.args.device
    cuda_ok = wp.is_cuda_available()
    if req is None:
        ctx.device = "cuda:0" if cuda_ok else "cpu"
    elif req.startswith("cuda"):
        if not cuda_ok:
            raise CheckError(f"--device {req}: warp sees no CUDA device", code=4)
        ctx.device = "cuda:0" if req == "cuda" else req
    else:
        ctx.device = "cpu"
    if not has_torch():
        ctx.torch_missing = (
            "torch is not installed on this machine (a CUDA torch, ~900 MB, does not fit "
            "the carry's 64 MiB a call): the stages that need it are skipped"
        )
        return
    import torch

    if ctx.device.startswith("cuda") and not torch.cuda.is_available():
        ctx.torch_missing = (
            f"torch {torch.__version__} sees no CUDA device (a CPU build?): the env and "
            "teacher stages, whose tensors live on the GPU, are skipped"
        )
        return
    ctx.torch_device = ctx.device


@contextlib.contextmanager
def _stage_errors(ctx: Context, name: str) -> Iterator[None]:
    try:
        yield
    except CheckError as exc:
        if exc.code == 0:
            ctx.report.write(name, "skipped", reason=str(exc))
        else:
            raise
    except Exception as exc:
        if torch_absent(exc):
            ctx.report.write(name, "skipped", reason=TORCH_NEEDED)
            return
        tb = traceback.format_exc().splitlines()
        ctx.report.write(name, "error", error=f"{type(exc).__name__}: {exc}", traceback=tb[-12:])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default=None, help="cuda, cuda:N or cpu (default: cuda if any)")
    p.add_argument("--tiny", action="store_true", help="a few worlds and steps (cpu default)")
    p.add_argument("--carry", type=Path, default=carry.CARRY_DIR, help="the carry folder")
    p.add_argument("--out", type=Path, default=None, help="default: $OUT, else ./gpu_out")
    p.add_argument("--clip", default=carry.CLIP, help="without a manifest: the clip to find")
    p.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset")
    p.add_argument("--deadline", type=float, default=None, help="seconds for the whole check")
    p.add_argument("--physics-worlds", default=None, help="e.g. 1024,4096,8192")
    p.add_argument("--env-worlds", type=int, default=None)
    p.add_argument("--teacher-worlds", type=int, default=None)
    p.add_argument("--teacher-seconds", type=float, default=None)
    args = p.parse_args(argv)
    args.stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = sorted(set(args.stages) - set(STAGES))
    if unknown:
        p.error(f"unknown stages {unknown}; known: {', '.join(STAGES)}")
    return args


def scale_of(args: argparse.Namespace, device: str | None = None) -> Scale:
    """The GPU scale, or the tiny one (``--tiny``, or the check on the cpu)."""
    tiny = args.tiny or (device or args.device or "").startswith("cpu")
    scale = TINY if tiny else GPU
    changes: dict[str, Any] = {}
    if args.deadline is not None:
        changes["deadline"] = args.deadline
    if args.physics_worlds:
        changes["physics_worlds"] = tuple(int(x) for x in args.physics_worlds.split(","))
    if args.env_worlds:
        changes["env_worlds"] = args.env_worlds
    if args.teacher_worlds:
        changes["teacher_worlds"] = args.teacher_worlds
    if args.teacher_seconds is not None:
        changes.update(teacher_seconds=args.teacher_seconds, teacher_iterations=None)
    return replace(scale, **changes)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = float(os.environ.get("GPU_CHECK_T0") or time.time())
    out = args.out or Path(os.environ.get("OUT") or "gpu_out")
    report = Report(Path(out), t0)
    scale = scale_of(args)
    try:
        clip_path, objects_root, cache_dir, facts = setup(args, report)
        lacking = machine_lacks()
        if lacking:
            raise CheckError(
                f"this machine lacks {', '.join(lacking)} and the carry does not hold them "
                "(numpy and scipy are the machine's; the rest comes with bench/gpu_prepare.py)",
                code=3,
                **facts,
            )
    except CheckError as exc:
        report.write("setup", "error", error=str(exc), exit_code=exc.code, **exc.fields)
        return exc.code
    ctx = Context(args, scale, report, clip_path, objects_root, cache_dir)
    try:
        resolve_devices(ctx)
    except CheckError as exc:
        report.write("setup", "error", error=str(exc), exit_code=exc.code, **facts)
        return exc.code
    ctx.scale = scale = scale_of(args, ctx.device)  # no CUDA device found: the tiny scale
    facts.update(device=ctx.device, scale=scale.name, stages=args.stages)
    report.write("setup", **facts)
    for name in STAGES:
        if name not in args.stages:
            continue
        if name in ("env", "teacher") and ctx.torch_device is None:
            report.write(name, "skipped", reason=ctx.torch_missing)
            continue
        if name != "versions" and ctx.remaining() < 20:
            report.write(name, "skipped", reason="deadline")
            continue
        with _stage_errors(ctx, name):
            t = time.perf_counter()
            result = STAGE_FUNCS[name](ctx)
            status = result.pop("_status", "ok")
            report.write(name, status, seconds=round(time.perf_counter() - t, 1), **result)
    by = {line["stage"]: line for line in report.lines}
    env = by.get("env", {})
    errors = [s for s, line in by.items() if line.get("status") == "error"]
    report.write(
        "summary",
        "error" if errors else "ok",
        device=ctx.device,
        stages={s: by[s]["status"] for s in STAGES if s in by},
        errors=errors,
        env_world_steps_per_s=env.get("world_steps_per_s"),
        host_share=env.get("host_share"),
        goal_met=env.get("goal", {}).get("met"),
        physics_best=by.get("physics", {}).get("best"),
        teacher_env_steps_per_s=by.get("teacher", {}).get("env_steps_per_s"),
        total_s=round(report.elapsed(), 1),
    )
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
