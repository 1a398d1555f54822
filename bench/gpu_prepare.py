"""Prepare the device check's carry folder (``.gpu_carry/``, git-ignored) on this machine.

The device machine starts bare, with no package registry and without ``../shared``: this
gathers what ``bench/gpu_check.sh`` needs there (see ``bench/gpu_carry.py`` for the
layout) and splits it into loads, one per device call, each small enough to travel with
the repository (64 MiB a call):

* the sample clip ``sub2_largetable_000`` as canonical npz (readable without torch), its
  object's mesh and surface points, and the mesh's convex decomposition (the cache
  ``intermimic.objects`` reads, so the device needs no coacd and no minutes of it);
* the wheels a CUDA machine with Python and torch lacks, at the versions of this
  environment, for each ``--python`` version: MuJoCo, MuJoCo Warp, pydantic, trimesh,
  rsl-rl-lib, tensordict and their small dependencies. warp-lang's wheel (150 MB) is
  repacked without its CPU compiler (``warp-clang.so``, examples, tests; ``--keep-clang``
  keeps the compiler) with LZMA and split into parts under 60 MB. numpy, scipy and torch
  are not carried (the machine's own are used; a CUDA torch is ~900 MB).

Usage::

    .venv/bin/python bench/gpu_prepare.py                       # wheels for 3.12
    .venv/bin/python bench/gpu_prepare.py --python 3.13         # for 3.13 only
    .venv/bin/python bench/gpu_prepare.py --no-wheels --out /tmp/carry   # sample only

It prints one JSON line: the loads, their sizes and what each holds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpu_carry import (
    CARRY_DIR,
    CLIP,
    FORMAT,
    MANIFEST,
    REPO,
    Package,
    sha256_file,
)

MIB = 1 << 20
#: A device call carries the repository and the carried paths: 64 MiB in all.
CALL_LIMIT = 64 * MIB
PART_LIMIT = 60 * 1000 * 1000 - 1  # each file under 60 MB
#: (distribution, import name, policy): what the check imports that a CUDA machine with
#: Python, numpy, scipy and torch may lack. "pin": these versions exactly (the
#: simulation stack must match itself); "min": the machine's own when at least as new.
PACKAGES: list[tuple[str, str, str]] = [
    ("mujoco", "mujoco", "pin"),
    ("mujoco-core", "mujoco", "pin"),
    ("mujoco-warp", "mujoco_warp", "pin"),
    ("warp-lang", "warp", "pin"),
    ("pydantic", "pydantic", "pin"),
    ("pydantic-core", "pydantic_core", "pin"),
    ("annotated-types", "annotated_types", "min"),
    ("typing-inspection", "typing_inspection", "min"),
    ("typing-extensions", "typing_extensions", "min"),
    ("trimesh", "trimesh", "min"),
    ("glfw", "glfw", "min"),
    ("absl-py", "absl", "min"),
    ("etils", "etils", "min"),
    ("rsl-rl-lib", "rsl_rl", "pin"),
    ("tensordict", "tensordict", "min"),
    ("pyvers", "pyvers", "min"),
    ("safetensors", "safetensors", "min"),
]
PLATFORMS = [
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
]
#: Left out of the repacked warp-lang wheel (not needed to run kernels on CUDA).
WARP_DROP = ("warp/examples/", "warp/tests/")
WARP_CLANG = "warp/bin/warp-clang.so"


def prepare_sample(dest: Path, clip_id: str) -> dict[str, Any]:
    """The clip (npz), its object and the object's convex cache under ``dest/sample``."""
    from intermimic.motion.formats.npz import write_npz
    from intermimic.motion.load import read_clip
    from intermimic.objects import ObjectLibrary, cache_path, default_cache_dir
    from intermimic.objects.mesh import load_mesh
    from intermimic.paths import sample_raw_dir, shared_data_dir

    raw, shared = sample_raw_dir(), shared_data_dir()
    src = raw / f"{clip_id}.pt" if raw is not None else None
    if src is None or shared is None or not src.is_file():
        raise SystemExit(
            f"the sample clip {clip_id} is not in ../shared/data (or $INTERMIMIC_SHARED_DATA)"
        )
    clip = read_clip(src)
    name = clip.meta.object_name
    root = dest / "sample"
    (root / "clips").mkdir(parents=True, exist_ok=True)
    write_npz(clip, root / "clips" / f"{clip_id}.npz", compressed=True)
    obj_src = shared / "objects" / name
    obj_dst = root / "objects" / name
    obj_dst.mkdir(parents=True, exist_ok=True)
    for f in (f"{name}.obj", "sample_points.npy"):
        shutil.copyfile(obj_src / f, obj_dst / f)
    cache = root / "cache"
    lib = ObjectLibrary(root / "objects", cache_dir=cache)
    mesh = load_mesh(obj_dst / f"{name}.obj", name=name)
    target = cache_path(mesh, lib.settings.decomposition, cache)
    known = cache_path(mesh, lib.settings.decomposition, default_cache_dir())
    if known.is_file() and not target.is_file():  # this machine decomposed it already
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(known, target)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the sample table mesh is not watertight
        lib.get(name)  # decomposes (CoACD, tens of seconds) unless cached
    return {
        "clip": clip_id,
        "frames": clip.n_frames,
        "object": name,
        "convex_cache": target.name,
        "convex_seconds": round(time.perf_counter() - t0, 1),
    }


def _download(args: list[str], dest: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--quiet", "--dest", str(dest), *args]  # fmt: skip
    subprocess.run(cmd, check=True)


def download_wheels(dest: Path, pythons: list[str]) -> list[Package]:
    """Wheels of :data:`PACKAGES` at this environment's versions, for each Python."""
    dest.mkdir(parents=True, exist_ok=True)
    platform = [a for p in PLATFORMS for a in ("--platform", p)]
    packages = []
    for dist, module, policy in PACKAGES:
        version = metadata.version(dist)
        before = set(dest.iterdir())
        for py in pythons:
            _download(
                ["--python-version", py, "--implementation", "cp", *platform, f"{dist}=={version}"],
                dest,
            )
        files = sorted(p.name for p in set(dest.iterdir()) - before)
        packages.append(Package(dist, version, module, policy, files=files))
    return packages


def repack_warp(wheel: Path, out_dir: Path, keep_clang: bool) -> tuple[Path, dict[str, Any]]:
    """warp-lang's wheel without what CUDA runs do not need, LZMA-compressed: a wheel still
    (zip), installable by pip or by unzipping."""
    dst = out_dir / wheel.name
    dropped = []
    with zipfile.ZipFile(wheel) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_LZMA) as zout:
        for info in zin.infolist():
            name = info.filename
            if name.startswith(WARP_DROP) or (name == WARP_CLANG and not keep_clang):
                dropped.append(name)
                continue
            if name.endswith(".dist-info/RECORD"):
                continue  # rewritten below without the dropped files
            zout.writestr(info.filename, zin.read(info), zipfile.ZIP_LZMA)
        record = next(n for n in zin.namelist() if n.endswith(".dist-info/RECORD"))
        lines = [
            line
            for line in zin.read(record).decode().splitlines()
            if line.split(",")[0] not in dropped
        ]
        zout.writestr(record, "\n".join(lines) + "\n", zipfile.ZIP_LZMA)
    info = {
        "original_bytes": wheel.stat().st_size,
        "repacked_bytes": dst.stat().st_size,
        "dropped_files": len(dropped),
        "cpu_compiler": keep_clang,
    }
    return dst, info


def split(path: Path, limit: int, n_parts: int | None = None) -> list[Path]:
    """``path`` cut into ``n_parts`` (or as few as ``limit`` allows) files ``NAME.partK``."""
    size = path.stat().st_size
    n = n_parts or -(-size // limit)
    chunk = -(-size // n)
    if chunk > limit:
        raise ValueError(f"{path.name}: {n} parts of {chunk} bytes exceed {limit}")
    parts = []
    with open(path, "rb") as f:
        for k in range(1, n + 1):
            part = path.with_name(f"{path.name}.part{k}")
            part.write_bytes(f.read(chunk))
            parts.append(part)
    path.unlink()
    return parts


def pack_loads(items: dict[str, int], capacity: int) -> list[list[str]]:
    """First-fit decreasing of ``items`` (relative path -> bytes) into loads of
    ``capacity`` bytes; the sample and manifest files go to the last load."""
    loads: list[list[str]] = []
    room: list[int] = []
    for rel, size in sorted(items.items(), key=lambda kv: -kv[1]):
        if size > capacity:
            raise ValueError(f"{rel} ({size} bytes) does not fit a load of {capacity}")
        for i, free in enumerate(room):
            if size <= free:
                loads[i].append(rel)
                room[i] -= size
                break
        else:
            loads.append([rel])
            room.append(capacity - size)
    return loads


def repo_bytes() -> int:
    """What the repository's tracked files take (what travels beside the carry)."""
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True)
    files = [REPO / n for n in out.stdout.decode().split("\0") if n]
    return sum(p.stat().st_size for p in files if p.is_file())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=CARRY_DIR, help="the carry folder (replaced)")
    p.add_argument(
        "--python", dest="pythons", action="append", default=None,
        help="a Python version of the device machine (default 3.12, the lent H200's "
        "Python 3.12.3 with torch 2.11+cu130 as the device tool's KINDS.md records it; "
        "repeatable)",
    )  # fmt: skip
    p.add_argument("--clip", default=CLIP)
    p.add_argument("--no-wheels", action="store_true", help="the sample only (one load)")
    p.add_argument("--keep-clang", action="store_true", help="keep warp's CPU compiler")
    p.add_argument("--margin-mib", type=float, default=2.0, help="room left in each call")
    args = p.parse_args(argv)
    pythons = args.pythons or ["3.12"]
    t0 = time.perf_counter()

    out: Path = args.out
    if out.exists():
        shutil.rmtree(out)
    staging = out / "all"
    staging.mkdir(parents=True)
    report: dict[str, Any] = {"bench": "gpu_prepare", "carry": str(out)}
    report["sample"] = prepare_sample(staging, args.clip)
    packages: list[Package] = []
    if not args.no_wheels:
        with tempfile.TemporaryDirectory() as tmp:
            packages = download_wheels(Path(tmp), pythons)
            (staging / "wheels").mkdir()
            for pkg in packages:
                for f in pkg.files:
                    src = Path(tmp) / f
                    if pkg.name == "warp-lang":
                        packed, report["warp"] = repack_warp(
                            src, staging / "wheels", args.keep_clang
                        )
                        pkg.joined = packed.name
                        pkg.sha256 = sha256_file(packed)
                    else:
                        shutil.copyfile(src, staging / "wheels" / f)
            for pkg in packages:
                pkg.files = [f"wheels/{f}" for f in pkg.files]
    items = {
        str(f.relative_to(staging)): f.stat().st_size for f in staging.rglob("*") if f.is_file()
    }
    repo = repo_bytes()
    capacity = CALL_LIMIT - repo - int(args.margin_mib * MIB) - 64 * 1024  # manifest copies
    warp = next((pkg for pkg in packages if pkg.joined), None)
    if warp is not None:  # parts sized so that the loads come out as few as possible
        whole = f"wheels/{warp.joined}"
        total = sum(items.values())
        n_loads = -(-total // capacity)
        while True:
            n_parts = max(n_loads, -(-items[whole] // min(PART_LIMIT, capacity)))
            chunk = -(-items[whole] // n_parts)
            trial = {k: v for k, v in items.items() if k != whole}
            trial.update({f"{whole}.part{k}": chunk for k in range(1, n_parts + 1)})
            if len(pack_loads(trial, capacity)) <= n_loads:
                break
            n_loads += 1
        parts = split(staging / whole, PART_LIMIT, n_parts)
        warp.files = [f"wheels/{q.name}" for q in parts]
        items = trial
        items.update({f"wheels/{q.name}": q.stat().st_size for q in parts})
    loads = pack_loads(items, capacity)
    # The load holding the sample comes last: its call runs the check.
    loads.sort(key=lambda names: any(n.startswith("sample/") for n in names))
    manifest = {
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "clip": args.clip,
        "object": report["sample"]["object"],
        "pythons": [] if args.no_wheels else pythons,
        "packages": [pkg.as_dict() for pkg in packages],
        "loads": {f"load{i + 1}": sorted(names) for i, names in enumerate(loads)},
    }
    sizes = {}
    for i, names in enumerate(loads):
        load = out / f"load{i + 1}"
        for rel in names:
            (load / rel).parent.mkdir(parents=True, exist_ok=True)
            (staging / rel).rename(load / rel)
        text = json.dumps(manifest, indent=1)
        (load / MANIFEST).write_text(text)
        sizes[load.name] = sum(f.stat().st_size for f in load.rglob("*") if f.is_file())
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    shutil.rmtree(staging)
    report.update(
        {
            "pythons": manifest["pythons"],
            "repo_bytes": repo,
            "load_bytes": sizes,
            "call_bytes": {k: v + repo for k, v in sizes.items()},
            "call_limit_bytes": CALL_LIMIT,
            "loads": manifest["loads"],
            "seconds": round(time.perf_counter() - t0, 1),
        }
    )
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
