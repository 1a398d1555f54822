"""Optional extras (pyproject.toml): a command that needs one which is not installed says
which to install, in one line, instead of an ImportError traceback.

Each case runs the command in a fresh process in which the extra's packages cannot be
imported (``sys.modules[name] = None``, as Python marks a module that is not there), so
the installed environment stays whole."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run_without(hidden: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    child = (
        "import sys\n"
        f"for name in {hidden!r}:\n"
        "    sys.modules[name] = None\n"
        "from cli import main\n"
        f"sys.argv = ['intermimic', *{list(args)!r}]\n"
        "main()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", child], capture_output=True, text=True, check=False, cwd=ROOT
    )


def _names_the_extra(out: subprocess.CompletedProcess[str], extra: str) -> None:
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert f"needs the {extra} extra" in lines[0]
    assert f"pip install 'intermimic[{extra}]'" in lines[0]


def test_export_policy_without_onnx(tmp_path: Path) -> None:
    onnx = tmp_path / "student.onnx"
    for hidden in (["onnx", "onnxruntime"], ["onnxruntime"]):
        out = _run_without(hidden, "export-policy", "--policy", str(tmp_path), "--onnx", str(onnx))
        _names_the_extra(out, "onnx")
        assert "intermimic export-policy needs" in out.stderr
    assert not onnx.exists()
    # without the check, onnxruntime is not needed: the command gets as far as the policy
    out = _run_without(
        ["onnxruntime"], "export-policy", "--policy", str(tmp_path), "--onnx", str(onnx),
        "--no-check",
    )  # fmt: skip
    assert out.returncode == 1 and "extra" not in out.stderr, out.stderr


def test_render_video_without_ffmpeg(tmp_path: Path) -> None:
    out = _run_without(
        ["imageio_ffmpeg"], "render", "--clip", str(tmp_path / "clip.npz"),
        "--out", str(tmp_path / "clip.mp4"),
    )  # fmt: skip
    _names_the_extra(out, "video")
    assert "render to .mp4" in out.stderr
