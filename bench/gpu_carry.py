"""The device check's carry folder: what travels to a bare GPU machine, and its unpacking.

Standard library only: the device side runs it before anything is installed.

``bench/gpu_prepare.py`` fills the folder (git-ignored, ``.gpu_carry/``) on a machine with
the sample data and a package registry; ``bench/gpu.py`` (through ``bench/gpu_check.sh``)
reads it on the device. Layout::

    .gpu_carry/
      manifest.json              what is carried, in which load, sizes and hashes
      load1/ load2/ ...          one folder per device call, each under the call's limit
        manifest.json            (a copy in every load)
        sample/clips/<clip>.npz  the sample clip (canonical npz: no torch needed to read)
        sample/objects/<name>/   its object: mesh, surface points
        sample/cache/convex/     the mesh's convex decomposition (no coacd needed)
        wheels/*.whl             the wheels a bare machine lacks, per Python version
        wheels/<warp>.whl.partN  warp-lang (~150 MB) repacked and split into parts

A device call carries one load (a call carries at most 64 MiB with the repository). Every
run of the check first copies the files of the loads it finds into the stash
(``/tmp/intermimic-gpu-carry``, kept while the machine stays warm), so the loads can come
in successive calls; the last one completes the set and the check runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import sysconfig
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CARRY_DIR = REPO / ".gpu_carry"
MANIFEST = "manifest.json"
FORMAT = 1
CLIP = "sub2_largetable_000"
#: Where loads of earlier calls wait for the last one, and where wheels are installed.
STASH_DIR = Path(os.environ.get("GPU_CHECK_STASH", "/tmp/intermimic-gpu-carry"))
SITE_DIR = Path(os.environ.get("GPU_CHECK_SITE", "/tmp/intermimic-gpu-site"))


@dataclass
class Package:
    """One carried distribution: its wheels (one per Python tag) or split archive parts."""

    name: str
    version: str
    module: str  # what `import` finds when the distribution is installed
    policy: str = "min"  # "pin": install unless this version is there; "min": unless >= it
    files: list[str] = field(default_factory=list)  # wheels, or the parts of one wheel
    joined: str | None = None  # the wheel the parts join into
    sha256: str | None = None  # of the joined wheel

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def version_key(text: str) -> tuple[int, ...]:
    """A version as integers, enough to order the releases carried here."""
    return tuple(int(x) for x in re.findall(r"\d+", text.split("+")[0])[:4])


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---- which wheel fits this interpreter ------------------------------------------------
def wheel_fits(filename: str, version: tuple[int, int] | None = None) -> bool:
    """True when the wheel ``filename`` installs on this interpreter (CPython, Linux x86-64;
    ``version`` overrides the running Python's, for tests)."""
    major, minor = version or sys.version_info[:2]
    parts = filename[: -len(".whl")].split("-")
    if len(parts) < 5:
        return False
    pys, abis, plats = (set(p.split(".")) for p in parts[-3:])
    cp = f"cp{major}{minor}"
    py_ok = bool(pys & {cp, f"py{major}", f"py{major}{minor}"})
    if not py_ok and "abi3" in abis:  # abi3: any CPython at or above the tag's
        py_ok = any(p.startswith("cp3") and p[2:].isdigit() and int(p[3:]) <= minor for p in pys)
    abi_ok = bool(abis & {"none", "abi3", cp})
    machine = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    plat_ok = "any" in plats or (any(p.endswith("x86_64") for p in plats) and "x86_64" in machine)
    return py_ok and abi_ok and plat_ok


# ---- the device side ----------------------------------------------------------------------
def load_manifest(roots: Iterable[Path]) -> tuple[dict[str, Any] | None, Path | None]:
    """The first manifest found under ``roots`` (each root or its ``load*`` folders)."""
    for root in roots:
        for folder in [root, *sorted(root.glob("load*"))]:
            path = folder / MANIFEST
            if path.is_file():
                return json.loads(path.read_text()), path
    return None, None


def search_roots(carry: Path, stash: Path = STASH_DIR) -> list[Path]:
    """Where carried files are looked for: the loads of ``carry`` (and ``carry`` itself),
    then the stash."""
    roots = [*sorted(carry.glob("load*")), carry] if carry.is_dir() else []
    return [*roots, stash]


def find_file(relpath: str, roots: Iterable[Path]) -> Path | None:
    for root in roots:
        path = root / relpath
        if path.is_file():
            return path
    return None


def stash(carry: Path, stash_dir: Path = STASH_DIR) -> list[str]:
    """Copy every file of ``carry``'s loads into ``stash_dir`` (same relative paths);
    returns what was copied (files already there with the same size are kept)."""
    copied = []
    for load in sorted(carry.glob("load*")) if carry.is_dir() else []:
        for src in sorted(p for p in load.rglob("*") if p.is_file()):
            rel = src.relative_to(load)
            dst = stash_dir / rel
            if dst.is_file() and dst.stat().st_size == src.stat().st_size:
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            copied.append(str(rel))
    return copied


def installed_version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def needs_install(pkg: dict[str, Any]) -> bool:
    have = installed_version(pkg["name"])
    if have is None:
        return True
    if pkg.get("policy") == "pin":
        return version_key(have) != version_key(pkg["version"])
    return version_key(have) < version_key(pkg["version"])


def _unpack_wheel(wheel: Path, site: Path) -> None:
    # A wheel is a zip of the site-packages tree (plus `*.data/` folders, which none of the
    # carried wheels has but for purelib/platlib, unpacked into the site alike).
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            name = info.filename
            head, _, rest = name.partition("/")
            if head.endswith(".data") and rest:
                kind, _, sub = rest.partition("/")
                if kind not in ("purelib", "platlib") or not sub:
                    continue
                name = sub
            target = site / name
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def install(
    manifest: dict[str, Any],
    roots: list[Path],
    site: Path = SITE_DIR,
    joined_dir: Path | None = None,
) -> dict[str, Any]:
    """Install the carried packages this interpreter lacks into ``site`` (to be put first on
    ``sys.path``). Returns ``{"installed": {...}, "kept": {...}, "missing": [...]}``:
    ``missing`` names the files (parts of a later load, a wheel for another Python) that
    stop it; nothing is installed then."""
    plan: list[tuple[dict[str, Any], Path | list[Path]]] = []
    kept: dict[str, str | None] = {}
    missing: list[str] = []
    for pkg in manifest["packages"]:
        if not needs_install(pkg):
            kept[pkg["name"]] = installed_version(pkg["name"])
            continue
        if pkg.get("joined"):
            parts = [find_file(f, roots) for f in pkg["files"]]
            absent = [f for f, p in zip(pkg["files"], parts, strict=True) if p is None]
            missing += absent
            if not absent:
                plan.append((pkg, [p for p in parts if p is not None]))
            continue
        fits = [f for f in pkg["files"] if wheel_fits(Path(f).name)]
        found = [p for p in (find_file(f, roots) for f in fits) if p is not None]
        if not found:
            py = f"{sys.version_info[0]}.{sys.version_info[1]}"
            missing.append(f"{pkg['name']}=={pkg['version']} (no wheel for Python {py} carried)")
        else:
            plan.append((pkg, found[0]))
    if missing:
        return {"installed": {}, "kept": kept, "missing": missing}
    site.mkdir(parents=True, exist_ok=True)
    installed: dict[str, str] = {}
    for pkg, src in plan:
        if isinstance(src, list):  # parts of one wheel: join, check, install
            wheel = (joined_dir or site.parent) / pkg["joined"]
            with open(wheel, "wb") as out:
                for part in src:
                    with open(part, "rb") as f:
                        shutil.copyfileobj(f, out, 1 << 20)
            if pkg.get("sha256") and sha256_file(wheel) != pkg["sha256"]:
                raise RuntimeError(f"{wheel.name}: the joined parts do not match its sha256")
            _unpack_wheel(wheel, site)
            wheel.unlink()
        else:
            _unpack_wheel(src, site)
        installed[pkg["name"]] = pkg["version"]
    return {"installed": installed, "kept": kept, "missing": []}
