"""The Models sidebar in a real browser: JupyterLab started by the test (token, free loopback port,
its own MM_HOME with the shapes demo data and a YOLO model), headless Debian Chromium through
Playwright. It launches a training from the Train form, watches the row go from pending/in-progress
to success while the progress bar moves and the chart draws points, opens the executed notebook,
is offered no Abort on a finished run, and saves docs/screenshots/sidebar-*.png.
The executed notebook is a read-only viewer that never gets a kernel: not when opened, not through
Run All / Restart Kernel and Run All / Shift+Enter, and not after a page reload restores its tab."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import requests
from support.server_util import LABEXTENSION, start_server

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TRAINING_TIMEOUT = 240  # seconds for 3 YOLO epochs on 16 tiny images, kernel start included
STATE = """() => {
  const row = document.querySelector('.mm-executions .mm-row');
  const bar = row && row.querySelector('[role=progressbar]');
  const charts = [...document.querySelectorAll('.mm-execution .mm-chart-canvas')];
  return {id: row ? row.dataset.id : null, status: row ? row.dataset.status : null,
          progress: bar ? Number(bar.getAttribute('aria-valuenow')) : null,
          points: charts.reduce((n, c) => n + Number(c.dataset.points || 0), 0)};
}"""


@pytest.fixture
def lab(tmp_path):
    pytest.importorskip("playwright")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    if not (LABEXTENSION / "package.json").exists():
        pytest.fail("mm_jupyter/labextension is not built: npm ci && npm run build")
    from mm_jupyter import api
    from mm_jupyter.datasets import register_dataset
    from mm_jupyter.shapes import generate_shapes
    from mm_jupyter.store import Store

    home = tmp_path / "mmhome"
    store = Store(home)
    data = generate_shapes(tmp_path / "shapes", flavour="detect", n_train=16, n_val=8, n_test=8, size=96, seed=0)
    register_dataset(store, data, name="shapes")
    api.register_model("shapes-yolo", "yolo", description="YOLOv8n on the shapes demo", store=store)
    store.close()
    server = start_server(tmp_path / "jupyter", home, lab=True, timeout=120)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def browser_page(lab):
    """A Chromium page, and the list of uncaught page errors it collects."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.set_default_timeout(30_000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(f"{exc}\n{exc.stack}"))
            yield page, errors
        finally:
            browser.close()


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name))


def toast(page, text: str) -> str:
    """The text of the notification that contains ``text`` (waits for it)."""
    loc = page.locator(".Toastify__toast", has_text=text).first
    loc.wait_for(state="visible", timeout=15_000)
    return loc.inner_text()


def jupyter_get(lab, path: str):
    r = requests.get(f"{lab.url}/{path.lstrip('/')}", headers={"Authorization": f"token {lab.token}"}, timeout=15)
    r.raise_for_status()
    return r.json()


def assert_no_kernel(lab, why: str) -> None:
    """No session on an artifact path, and no kernel at all (runs use their own, outside the server)."""
    sessions, kernels = jupyter_get(lab, "api/sessions"), jupyter_get(lab, "api/kernels")
    assert not [s for s in sessions if "mm-artifacts" in s.get("path", "")], (why, sessions)
    assert kernels == [], (why, sessions, kernels)


def menu_item(page, menu: str, item: str):
    """Open a main menu and return its item whose label matches the regular expression ``item``."""
    page.keyboard.press("Escape")
    page.locator(".lm-MenuBar-item", has=page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$"))).click()
    page.locator(".lm-Menu .lm-Menu-item").first.wait_for(state="visible")
    loc = page.locator(".lm-Menu .lm-Menu-item", has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(item)))
    labels = page.locator(".lm-Menu .lm-Menu-itemLabel").all_inner_texts()
    assert loc.count() == 1, (menu, item, labels)
    return loc.first


def assert_cannot_run(page, lab, viewer, why: str) -> None:
    """Run All, Restart Kernel and Run All and Shift+Enter do nothing: no kernel, no prompt changes."""
    prompts = viewer.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
    assert prompts and any(re.search(r"\[\d+\]", p) for p in prompts), prompts  # it was executed by the run
    # (with no code runner for the current widget the items keep their generic labels)
    for menu, item in (("Run", r"^Run All( Cells)?$"), ("Kernel", r"^Restart Kernel and Run All( Cells)?…?$")):
        entry = menu_item(page, menu, item)
        assert "lm-mod-disabled" in (entry.get_attribute("class") or ""), (why, menu, item)
        entry.click(force=True)  # a disabled menu item does nothing
        page.keyboard.press("Escape")
    viewer.locator(".jp-CodeCell .jp-InputPrompt").first.click()  # select a cell (no editor focused)
    page.keyboard.press("Shift+Enter")
    page.keyboard.press("Control+Enter")
    time.sleep(3)  # what a kernel would need to start and run a cell
    assert not page.locator(".jp-Dialog").count(), (why, page.locator(".jp-Dialog").inner_text())
    assert viewer.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts() == prompts, why
    assert_no_kernel(lab, why)


def wait_for_saved_layout(lab, marker: str, timeout: float = 30) -> None:
    """Wait until the workspace JupyterLab saves on the server holds ``marker`` (the restored tab's key)."""
    deadline = time.monotonic() + timeout
    data = None
    while time.monotonic() < deadline:
        data = jupyter_get(lab, "lab/api/workspaces/default")
        if marker in json.dumps(data.get("data", {}).get("layout-restorer:data", {})):
            return
        time.sleep(0.5)
    raise AssertionError(f"{marker!r} not in the saved layout: {data}")


def test_train_from_the_sidebar_and_watch_it_live(lab, browser_page):
    page, errors = browser_page
    page.goto(f"{lab.url}/lab?token={lab.token}")
    page.locator('#jp-left-stack, .jp-SideBar').first.wait_for(timeout=90_000)
    tab = page.locator('.jp-SideBar [data-id="mm-jupyter-sidebar"]')
    tab.wait_for(timeout=60_000)
    tab.click()
    sidebar = page.locator("#mm-jupyter-sidebar")
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first
    box = handle.bounding_box()
    if box:  # widen the sidebar like a user would, for readable screenshots
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 200)
        page.mouse.down()
        page.mouse.move(520, box["y"] + 200, steps=5)
        page.mouse.up()

    # Versions: the registered model; its Train form with the widgets' steps and defaults
    model = sidebar.locator('.mm-model[data-model="shapes-yolo"]')
    model.wait_for()
    model.locator(".mm-train-button").click()
    form = page.locator(".mm-train-form")
    form.wait_for()
    train_count = form.locator('.mm-subset[data-role="train"] .mm-count')
    page.wait_for_function("() => document.querySelector('.mm-subset[data-role=\"train\"] .mm-count')?.dataset.count > 0")
    assert train_count.inner_text() == "16 items"
    assert form.get_by_label("Dataset").locator("option:checked").inner_text().startswith("shapes")
    form.locator('.mm-subset[data-role="validation"] .mm-link').click()  # Show filter
    assert '"tags"' in form.locator(".mm-filter-json").inner_text()
    shot(page, "sidebar-train-form.png")

    form.locator('[data-step="1"]').click()
    epochs = form.get_by_label("epochs", exact=True)
    assert epochs.input_value() == "3"
    for key in ("epochs", "lr0", "eval_start_delay_secs", "eval_throttle_secs", "eval_steps"):  # every key, with help
        field = form.locator(f'[data-field="config.{key}"]')
        assert field.locator(".mm-field-help").inner_text().strip(), key
        assert field.locator(".mm-field-hint").inner_text().startswith(("integer", "number", "any")), key
    form.locator('[data-field="config.eval_steps"]').scroll_into_view_if_needed()
    assert form.get_by_label("eval_steps", exact=True).is_visible()
    assert form.get_by_label("eval_steps", exact=True).input_value() == ""
    epochs.fill("three")
    assert form.locator('[data-field="config.epochs"] .mm-field-error').inner_text() == "must be an integer"
    assert form.locator(".mm-submit-create").is_disabled()
    epochs.fill("3")
    form.get_by_label("batch", exact=True).fill("8")
    assert form.locator(".mm-submit-create").is_enabled()

    form.locator('[data-step="2"]').click()
    assert form.get_by_label("Execution timeout (s)").input_value() == "3600"
    assert form.get_by_label("Max attempts").input_value() == "3"
    assert form.get_by_label("Drain time (s)").input_value() == "300"
    assert form.get_by_label("Concurrency").input_value() == "1"
    assert form.get_by_label("On reset").input_value() == "fail"
    assert form.get_by_label("Kernel").input_value() == "python3"
    form.get_by_label("Max attempts").fill("0")
    assert "at least 1" in form.locator('[data-field="service.max_attempts"] .mm-field-error').inner_text()
    assert form.locator(".mm-submit-create").is_disabled()
    form.get_by_label("Max attempts").fill("3")
    assert form.locator(".mm-submit-train").is_disabled()  # no existing version chosen
    form.locator(".mm-submit-create").click()
    assert "queued" in toast(page, "Training")

    # Training: the new row, then its panel; watch status, progress and chart points until success
    row = sidebar.locator(".mm-executions .mm-row").first
    row.wait_for(timeout=15_000)
    row.click()
    page.locator(".mm-execution").wait_for()
    seen: list[dict] = []
    mid_run_shot = False
    deadline = time.monotonic() + TRAINING_TIMEOUT
    while time.monotonic() < deadline:
        state = page.evaluate(STATE)
        if not seen or state != seen[-1]:
            seen.append(state)
        if not mid_run_shot and state["status"] == "in-progress" and state["points"] and 0 < state["progress"] < 100:
            shot(page, "sidebar-training.png")
            mid_run_shot = True
        if state["status"] in ("success", "failed", "aborted", "terminated"):
            break
        time.sleep(0.25)
    final = seen[-1]
    assert final["status"] == "success", (seen, lab.log_tail())
    statuses = [s["status"] for s in seen]
    assert {"pending", "in-progress"} & set(statuses[:-1]), statuses
    running = [s for s in seen if s["status"] == "in-progress"]
    assert any(0 < s["progress"] < 100 for s in running), seen  # the bar moved before the end
    assert len({s["progress"] for s in seen}) >= 3, seen
    assert any(s["points"] > 0 for s in running), seen  # the chart drew while it ran
    page.wait_for_function("() => document.querySelectorAll('.mm-execution .mm-chart-canvas[data-points]').length >= 7")
    drawn = [s["points"] for s in seen if s["points"]]
    assert drawn[0] < drawn[-1] <= page.evaluate(STATE)["points"], seen  # points kept arriving
    assert mid_run_shot, seen
    assert page.locator(".mm-execution .mm-status").first.inner_text() == "success"
    assert "[mm] ended: success" in page.locator(".mm-execution .mm-log").inner_text()
    shot(page, "sidebar-execution.png")

    # Row menu: open the executed notebook (read-only, from the artifact root, no kernel)
    detail = lab.call("GET", f"executions/{final['id']}").json()
    label = f"{detail['name']} · {detail['id']}"  # the tab's label; its path stays mm-artifacts:<path>
    row.locator(".mm-row-menu-button").click()
    page.locator(".lm-Menu-item", has_text="Open executed notebook in JupyterLab").click()
    viewer = page.locator(".jp-NotebookPanel.mm-ExecutedNotebook").last
    viewer.wait_for(timeout=30_000)
    viewer.locator(".jp-OutputArea-output", has_text="weights saved to").first.wait_for(timeout=30_000)
    page.locator(".lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel", has_text=label).wait_for()
    assert viewer.locator(".mm-viewer-note").inner_text() == "Executed notebook · no kernel"
    shot(page, "sidebar-notebook.png")
    assert_no_kernel(lab, "opened from the sidebar")
    assert_cannot_run(page, lab, viewer, "opened from the sidebar")

    # An ended run's menu offers no Abort (the actions test covers aborting a running one)
    row.locator(".mm-row-menu-button").click()
    page.locator(".mm-row-menu .lm-Menu-item").first.wait_for(state="visible")
    labels = page.locator(".mm-row-menu .lm-Menu-item:visible .lm-Menu-itemLabel").all_inner_texts()
    assert "Remove" in labels and not [x for x in labels if x.startswith("Abort")], labels
    page.keyboard.press("Escape")
    # (jupyterlab_widgets 3.0.17 throws on any notebook opened without a kernel: not ours to fail on)
    assert not [e for e in errors if "/extensions/mm-jupyter/" in e], errors

    # Reload: the layout restorer brings the tab back as the viewer, still without a kernel
    wait_for_saved_layout(lab, f"mm-executed-notebook:mm-artifacts:{detail['notebook_path']}")
    page.reload()
    viewer = page.locator(".jp-NotebookPanel.mm-ExecutedNotebook").last
    viewer.wait_for(timeout=90_000)
    viewer.locator(".jp-OutputArea-output", has_text="weights saved to").first.wait_for(timeout=30_000)
    page.locator(".lm-TabBar-tab .lm-TabBar-tabLabel", has_text=label).first.wait_for()
    main = page.locator("#jp-main-dock-panel").bounding_box()
    cell = viewer.locator(".jp-Cell").first.bounding_box()
    assert main and cell and cell["width"] > 100 and cell["height"] > 10, (main, cell)
    assert main["x"] <= cell["x"] and cell["x"] + cell["width"] <= main["x"] + main["width"] + 1, (main, cell)
    assert main["y"] <= cell["y"] < main["y"] + main["height"], (main, cell)
    assert not page.locator(".jp-NotebookPanel:not(.mm-ExecutedNotebook)").count()  # not a notebook editor
    time.sleep(3)  # what a restored notebook would need to start its kernel
    assert_no_kernel(lab, "restored after a reload")
    assert_cannot_run(page, lab, viewer, "restored after a reload")
    viewer.locator(".mm-viewer-execution").click()  # the toolbar's way back to the execution's panel
    page.locator(f'.mm-execution[data-id="{detail["id"]}"]').wait_for()

    # "Copy to edit": an ordinary notebook in the server's root, which can have a kernel; the artifact none
    page.locator(".lm-TabBar-tab .lm-TabBar-tabLabel", has_text=label).first.click()
    viewer.locator(".mm-viewer-copy").click()
    copy = f"{detail['name']} ({detail['id']}).ipynb"
    page.locator(".lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel", has_text=copy).wait_for()
    editor = page.locator(".jp-NotebookPanel:not(.mm-ExecutedNotebook)").last
    editor.locator(".jp-OutputArea-output", has_text="weights saved to").first.wait_for(timeout=30_000)
    assert json.loads((lab.root / copy).read_text())["cells"], copy
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not [s for s in jupyter_get(lab, "api/sessions") if s["path"] == copy]:
        time.sleep(0.5)
    sessions = jupyter_get(lab, "api/sessions")
    assert [s["path"] for s in sessions] == [copy], sessions
    assert not [e for e in errors if "/extensions/mm-jupyter/" in e], errors


OLD_NOTEBOOK = {
    "cells": [{"cell_type": "code", "execution_count": 1, "id": "c1", "metadata": {}, "source": "print('stored run')",
               "outputs": [{"name": "stdout", "output_type": "stream", "text": "stored run\n"}]}],
    "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                 "language_info": {"name": "python"}},
    "nbformat": 4, "nbformat_minor": 5,
}


def test_a_notebook_tab_on_an_artifact_from_an_older_layout_gets_no_kernel(lab, browser_page):
    """A workspace saved before the viewer existed restores an ordinary Notebook tab on an
    ``mm-artifacts:`` path (which used to start a kernel): it opens, but without a kernel."""
    page, errors = browser_page
    rel = "models/m-old/snapshots/s-old/executions/e-old/notebook.ipynb"
    path = lab.home / "artifacts" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(OLD_NOTEBOOK))
    key = f"notebook:mm-artifacts:{rel}"
    workspace = {"data": {
        "layout-restorer:data": {"main": {"dock": {"type": "tab-area", "currentIndex": 0, "widgets": [key]},
                                          "current": key}},
        key: {"data": {"path": f"mm-artifacts:{rel}", "factory": "Notebook"}},
    }, "metadata": {"id": "default"}}
    r = requests.put(f"{lab.url}/lab/api/workspaces/default", json=workspace, timeout=15,
                     headers={"Authorization": f"token {lab.token}"})
    assert r.status_code in (200, 204), r.text
    page.goto(f"{lab.url}/lab?token={lab.token}")
    notebook = page.locator(".jp-NotebookPanel").last
    notebook.wait_for(timeout=90_000)
    assert not page.locator(".mm-ExecutedNotebook").count()  # JupyterLab's own Notebook editor
    notebook.locator(".jp-OutputArea-output", has_text="stored run").wait_for(timeout=30_000)
    time.sleep(3)  # what it would need to start its kernel
    assert_no_kernel(lab, "a Notebook tab restored from an older layout")
    page.locator(".jp-NotebookPanel .jp-Toolbar-kernelName", has_text="No Kernel").wait_for()
    assert not [e for e in errors if "/extensions/mm-jupyter/" in e], errors
