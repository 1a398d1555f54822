"""The Dagster UI in a real browser: the asset graph, and one subject materialised from it.

Starts ``dagster dev`` on 127.0.0.1 with a temporary ``DAGSTER_HOME`` and drives headless
Chromium (Debian's ``chromium``) with Playwright. The screenshot is saved under
``test-artifacts/``. Skipped when Chromium or Playwright is not installed.
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

import dagster as dg
import pytest

from intermimic.motion.synthetic import write_synthetic_dataset

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

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dagster_ui(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(PROJECT / "dagster.yaml", home / "dagster.yaml")
    src = tmp_path / "src"
    write_synthetic_dataset(src, subjects=("ui1", "ui2"), clips_per_subject=2)
    store = tmp_path / "store"
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "INTERMIMIC_SOURCES": f"{src}:synthetic:interact-pt",
        "INTERMIMIC_STORE": str(store),
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
        yield url, store, home
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_materialise_one_subject_from_the_ui(dagster_ui: tuple[str, Path, Path]) -> None:
    url, store, home = dagster_ui
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROME_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(60_000)

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
