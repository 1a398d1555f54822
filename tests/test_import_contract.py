"""The import contract: layers point one way and no two modules import each other.

The contract itself is ``[tool.importlinter]`` in ``pyproject.toml`` (``make lint`` runs
``lint-imports``); these tests run it in the default suite, so CI enforces it, and prove
that it would catch an upward import, one hidden inside a function included.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("intermimic", "data_catalog", "stages", "cli", "assets_defs", "pipeline")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    # The copy under test goes first on the path: grimp imports nothing, but it finds
    # each package where Python would.
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_contract_holds() -> None:
    out = _lint_imports(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 broken" in out.stdout, out.stdout


@pytest.fixture()
def tree_copy(tmp_path: Path) -> Path:
    for pkg in PACKAGES:
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.parametrize(
    ("module", "added", "broken"),
    [
        # the library reaching for the store, at module level and hidden in a function
        ("intermimic/motion/quat.py", "import data_catalog\n", "layers point one way"),
        (
            "intermimic/env/rewards.py",
            "def _later() -> None:\n    from data_catalog import Store  # noqa: F401\n",
            "layers point one way",
        ),
        # the store reaching for a stage, a stage for a front door
        ("data_catalog/store.py", "import stages.ingest\n", "layers point one way"),
        ("stages/ingest.py", "import cli.app\n", "layers point one way"),
        # Dagster below the front doors
        ("stages/publish/write.py", "import dagster\n", "import dagster"),
        # inside the library: the motion layer reaching up for the simulator
        ("intermimic/motion/clip.py", "import intermimic.sim.scene\n", "sub-packages"),
    ],
)
def test_an_upward_import_breaks_the_contract(
    tree_copy: Path, module: str, added: str, broken: str
) -> None:
    path = tree_copy / module
    path.write_text(path.read_text() + "\n\n" + added)
    out = _lint_imports(tree_copy)
    assert out.returncode != 0, out.stdout
    report = out.stdout.lower()
    assert "broken" in report and broken in report, out.stdout


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.find_modules_directly_imported_by(w)))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_no_two_modules_import_each_other() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for a, b in [("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")]:
        graph.add_import(importer=a, imported=b)
    assert _cycles(graph) == [["p.a", "p.b", "p.c"]]
