"""The Dagster UI in a real browser: the asset graph, one subject materialised from it,
and the figures the stages draw shown on the asset pages.

Starts ``dagster dev`` on 127.0.0.1 with a temporary ``DAGSTER_HOME`` and drives headless
Chromium (Debian's ``chromium``) with Playwright. After the subject's ingestion (launched
from the UI), a tiny teacher and student are materialised in this process into the same
instance, and the browser opens the figure (the learning curve, ``metrics.png``) on the
``teacher_policy`` and ``student_evaluation`` pages and checks that it renders. The
screenshots are saved under ``test-artifacts/``. Skipped when Chromium or Playwright is
not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from assets_defs.resources import ObjectsResource, StoreResource
from assets_defs.student import student_evaluation, student_policy
from assets_defs.teacher import refined_rollouts, teacher_policy
from intermimic.motion.synthetic import write_synthetic_dataset, write_synthetic_objects

PROJECT = Path(__file__).resolve().parents[2]
ARTIFACTS = PROJECT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROME_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Budgets of the teacher and student materialised for the figures: seconds each.
TEACHER = {
    "env_steps": 2 * 4 * 8, "worlds": 4, "horizon": 8, "hidden_dims": [32],
    "checkpoint_interval": 2, "sim_threads": 1, "tensorboard": False, "attempts": 1,
    "recipe": "ppo",
}  # fmt: skip
STUDENT = {
    "env_steps": 2 * 4 * 8, "worlds": 4, "horizon": 8, "width": 32, "layers": 1, "heads": 2,
    "head_hidden_dims": [32], "critic_hidden_dims": [32], "checkpoint_interval": 2,
    "sim_threads": 1, "tensorboard": False, "missing_teacher": "skip",
}  # fmt: skip

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dagster_ui(tmp_path: Path) -> Iterator[tuple[str, Path, Path, Path]]:
    """``(url, store, DAGSTER_HOME, objects)`` of a running ``dagster dev``."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(PROJECT / "dagster.yaml", home / "dagster.yaml")
    src = tmp_path / "src"
    write_synthetic_dataset(src, subjects=("ui1", "ui2"), clips_per_subject=2)
    objects = write_synthetic_objects(tmp_path / "objects")
    store = tmp_path / "store"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "INTERMIMIC_SOURCES": f"{src}:synthetic:interact-pt",
        "INTERMIMIC_STORE": str(store),
        "INTERMIMIC_OBJECTS": str(objects),
    }
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("subjects", ["ui1", "ui2"])
    port = _free_port()
    log = open(tmp_path / "dagster-dev.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "dagster", "dev", "-m", "pipeline.definitions",
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(url + "/server_info", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((tmp_path / "dagster-dev.log").read_text()[-3000:]) from None
                time.sleep(1)
        # Tell the instance its "join the community" dialog was seen: it would otherwise
        # pop up over the page a second after the first visit, at a moment of its choosing.
        req = urllib.request.Request(
            url + "/graphql",
            data=json.dumps({"query": "mutation { setNuxSeen }"}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(req, timeout=30).read()
        yield url, store, home, objects
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def _materialise_teacher_and_student(home: Path, store: Path, objects: Path) -> None:
    """A tiny teacher of ``ui1`` and a student with its evaluation, recorded in the UI's
    instance (in this process: a run from the UI would need its config typed in)."""
    resources = {
        "store": StoreResource(root=str(store)),
        "objects": ObjectsResource(root=str(objects)),
    }
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = dg.materialize(
            [teacher_policy, refined_rollouts], partition_key="ui1", instance=instance,
            resources=resources,
            run_config=dg.RunConfig(
                ops={"teacher_policy": {"config": TEACHER}, "refined_rollouts": {"config": TEACHER}}
            ),
        )  # fmt: skip
        assert result.success
        result = dg.materialize(
            [student_policy, student_evaluation], instance=instance, resources=resources,
            run_config=dg.RunConfig(
                ops={
                    "student_policy": {"config": STUDENT},
                    "student_evaluation": {"config": {"sim_threads": 1}},
                }
            ),
        )  # fmt: skip
        assert result.success


def _show_figure(page: Any, url: str, asset: str, key: str) -> dict[str, int]:
    """Open ``asset``'s page, show the markdown entry ``key`` (the figure) and wait until
    its image has loaded; the image's natural and displayed size."""
    page.goto(f"{url}/assets/{asset}")
    row = page.locator("tr", has=page.get_by_text(key, exact=True)).first
    row.get_by_text("[Show Markdown]").click()
    dialog = page.get_by_role("dialog").filter(has_text=key).last
    img = dialog.locator("img").first
    img.wait_for()
    page.wait_for_function("i => i.complete && i.naturalWidth > 0", arg=img.element_handle())
    size: dict[str, int] = img.evaluate(
        "i => ({natural: i.naturalWidth, height: i.naturalHeight, shown: i.clientWidth})"
    )
    return size


#: How long the browser waits for an element. The UI answers in seconds on a quiet
#: machine; a 2-core one running the demo beside the suite once took over 60 s to list
#: the partitions in the picker.
UI_TIMEOUT_MS = 180_000


def test_materialise_one_subject_from_the_ui(dagster_ui: tuple[str, Path, Path, Path]) -> None:
    url, store, home, objects = dagster_ui
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(UI_TIMEOUT_MS)

        # every asset of the code location is listed in the catalog
        from pipeline.definitions import defs

        page.goto(url + "/assets")
        for key in defs.resolve_all_asset_keys():
            page.get_by_role("link", name=key.to_user_string()).first.wait_for()

        page.goto(url + "/assets/mocap_clips")
        page.get_by_role("button", name="Materialize…").first.click()
        dialog = page.locator("[role=dialog]")
        dialog.get_by_text("Select a partition or create one").click()
        page.get_by_text("ui1", exact=True).first.click()
        dialog.get_by_text("Launch runs to materialize").click()  # closes the picker
        dialog.get_by_text("Launch 1 run").wait_for()
        dialog.get_by_role("button", name="Launch 1 run").click()
        page.get_by_text("Launched run").wait_for()  # the UI's own confirmation

        # Wait for the run through the instance the UI writes to.
        deadline = time.monotonic() + 300
        with dg.DagsterInstance.from_config(str(home)) as instance:
            while True:
                runs = instance.get_runs()
                if runs and runs[0].is_finished:
                    break
                assert time.monotonic() < deadline, f"run not finished in time: {runs}"
                time.sleep(2)
            assert len(runs) == 1 and runs[0].tags.get("dagster/partition") == "ui1"
            assert runs[0].status == dg.DagsterRunStatus.SUCCESS, runs[0].status
        page.goto(url + "/runs")
        page.get_by_text("Success").first.wait_for()

        page.goto(url + "/assets/mocap_clips?view=partitions")
        page.get_by_text("Materialized (1)").wait_for()
        page.screenshot(path=str(ARTIFACTS / "dagster-ui-mocap_clips.png"))
        browser.close()

    # exactly that subject is in the store
    assert sorted(p.name for p in (store / "mocap" / "synthetic").iterdir()) == ["ui1"]

    # The figures: embedded in the metadata, rendered on the asset pages. (Materialised
    # outside Playwright's session: Dagster runs a step in an event loop of its own.)
    _materialise_teacher_and_student(home, store, objects)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(UI_TIMEOUT_MS)
        for asset, figure in (
            ("teacher_policy", "learning_curve_figure"),
            ("student_evaluation", "metrics_figure"),
        ):
            size = _show_figure(page, url, asset, figure)
            assert size["natural"] > 0 and size["height"] > 0 and size["shown"] > 0, size
            page.screenshot(path=str(ARTIFACTS / f"dagster-ui-{asset}.png"))
        browser.close()
