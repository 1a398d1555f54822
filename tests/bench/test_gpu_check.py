"""The one-shot device check (bench/gpu_check.sh, bench/gpu.py): its tiny CPU mode end to
end, the hard error without the sample clip, and the carry's wheel and load handling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import gpu_carry  # noqa: E402

STAGES = ("versions", "agreement", "physics", "env", "teacher")
#: Keys each stage's JSON line must hold when it ran.
KEYS = {
    "setup": {"clip", "object", "device"},
    "versions": {"python", "torch", "warp", "mujoco", "mujoco_warp", "driver", "nvidia_smi"},
    "agreement": {"max_qpos_diff", "max_contact_force_diff_n", "warp_first_step_s", "clearances_m"},
    "physics": {"configs", "best"},
    "env": {"world_steps_per_s", "host_share", "policy_steps_per_s", "goal"},
    "teacher": {"hidden_dims", "iterations", "env_steps", "env_steps_per_s"},
    "summary": {"stages", "errors", "total_s"},
}


def _lines(out: Path) -> list[dict]:
    path = out / "gpu.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _env(tmp_path: Path, carry: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        OUT=str(tmp_path / "out"),
        GPU_CARRY=str(carry),
        GPU_CHECK_STASH=str(tmp_path / "stash"),
        GPU_CHECK_SITE=str(tmp_path / "site"),
        PYTHON=sys.executable,
    )
    return env


def test_missing_sample_is_a_hard_error(tmp_path: Path) -> None:
    carry = tmp_path / "carry"
    carry.mkdir()
    proc = subprocess.run(
        ["bash", str(REPO / "bench" / "gpu_check.sh"), "--device", "cpu"],
        env=_env(tmp_path, carry), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = _lines(tmp_path / "out")
    assert len(lines) == 1
    assert lines[0]["stage"] == "setup" and lines[0]["status"] == "error"
    assert "sample clip is missing" in lines[0]["error"]


def test_incomplete_carry_names_the_missing_load(tmp_path: Path) -> None:
    carry = tmp_path / "carry"
    (carry / "load1").mkdir(parents=True)
    manifest = {"clip": "c", "object": "o", "packages": [], "loads": {"load2": ["wheels/x.whl"]}}
    (carry / "load1" / "manifest.json").write_text(json.dumps(manifest))
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "gpu.py"), "--carry", str(carry), "--device", "cpu"],
        env=_env(tmp_path, carry), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 3
    (line,) = _lines(tmp_path / "out")
    assert line["missing_loads"] == ["load2"] and "incomplete" in line["error"]


def test_wheel_tags_and_install_of_split_parts(tmp_path: Path) -> None:
    fits = gpu_carry.wheel_fits
    assert fits("mujoco_core-4.0.0-cp312-cp312-manylinux_2_28_x86_64.whl", (3, 12))
    assert not fits("mujoco_core-4.0.0-cp312-cp312-manylinux_2_28_x86_64.whl", (3, 11))
    assert fits("pydantic-2.1-py3-none-any.whl", (3, 11))
    assert fits("safetensors-0.5-cp38-abi3-manylinux_2_17_x86_64.whl", (3, 12))
    # A wheel split in two parts, in a load and the stash, joins and installs.
    wheel = tmp_path / "demo_pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("demo_pkg_gpu_check/__init__.py", "VALUE = 7\n")
        z.writestr("demo_pkg-1.0.dist-info/METADATA", "Name: demo-pkg\nVersion: 1.0\n")
    data = wheel.read_bytes()
    load, stash = tmp_path / "carry" / "load2" / "wheels", tmp_path / "stash" / "wheels"
    load.mkdir(parents=True)
    stash.mkdir(parents=True)
    (stash / f"{wheel.name}.part1").write_bytes(data[:100])
    (load / f"{wheel.name}.part2").write_bytes(data[100:])
    pkg = {
        "name": "demo-pkg-gpu-check", "version": "1.0", "module": "demo_pkg_gpu_check",
        "policy": "pin", "joined": wheel.name, "sha256": gpu_carry.sha256_file(wheel),
        "files": [f"wheels/{wheel.name}.part1", f"wheels/{wheel.name}.part2"],
    }  # fmt: skip
    roots = gpu_carry.search_roots(tmp_path / "carry", tmp_path / "stash")
    site = tmp_path / "site"
    result = gpu_carry.install({"packages": [pkg]}, roots, site, joined_dir=tmp_path)
    assert result == {"installed": {"demo-pkg-gpu-check": "1.0"}, "kept": {}, "missing": []}
    assert (site / "demo_pkg_gpu_check" / "__init__.py").read_text() == "VALUE = 7\n"
    (stash / f"{wheel.name}.part1").unlink()
    assert gpu_carry.install({"packages": [pkg]}, roots, site)["missing"] == pkg["files"][:1]


@pytest.mark.slow
@pytest.mark.warp
def test_tiny_cpu_check_end_to_end(tmp_path: Path, shared_data: Path) -> None:
    """Prepare a carry (sample only) and run every stage at a few worlds on the CPU."""
    pytest.importorskip("mujoco_warp")
    carry = tmp_path / "carry"
    prepare = [sys.executable, str(REPO / "bench" / "gpu_prepare.py"), "--no-wheels"]
    prep = subprocess.run(
        [*prepare, "--out", str(carry)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert prep.returncode == 0, prep.stderr
    proc = subprocess.run(
        ["bash", str(REPO / "bench" / "gpu_check.sh"), "--device", "cpu"],
        env=_env(tmp_path, carry), capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    lines = _lines(tmp_path / "out")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    by = {line["stage"]: line for line in lines}
    assert [line["stage"] for line in lines] == ["setup", *STAGES, "summary"]
    for stage, keys in KEYS.items():
        assert by[stage]["status"] == "ok", by[stage]
        assert keys <= set(by[stage]), (stage, keys - set(by[stage]))
    assert by["teacher"]["hidden_dims"] == [1024, 1024, 512]
    assert by["agreement"]["max_qpos_diff"] < 0.05
    ran = [c for c in by["physics"]["configs"] if "world_steps_per_s" in c]
    assert {c["worlds"] for c in ran} == {4, 8}
    assert by["env"]["world_steps_per_s"] > 0 and 0 < by["env"]["host_share"] <= 1.5
