"""The Models sidebar in a real browser: JupyterLab started by the test (token, free loopback port,
its own MM_HOME with the shapes demo data and a YOLO model), headless Debian Chromium through
Playwright. It launches a training from the Train form, watches the row go from pending/in-progress
to success while the progress bar moves and the chart draws points, opens the executed notebook,
gets a 409 as a notification for aborting a finished run, and saves docs/screenshots/sidebar-*.png."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
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

    # Row menu: open the executed notebook (read-only, from the artifact root), then a wrong-state action
    row.locator(".mm-row-menu-button").click()
    page.locator(".lm-Menu-item", has_text="Open executed notebook in JupyterLab").click()
    notebook = page.locator(".jp-NotebookPanel").last
    notebook.wait_for(timeout=30_000)
    page.locator(".jp-NotebookPanel .jp-OutputArea-output", has_text="weights saved to").first.wait_for(timeout=30_000)
    assert page.locator(".lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel", has_text="notebook.ipynb").count()
    shot(page, "sidebar-notebook.png")

    row.locator(".mm-row-menu-button").click()
    page.locator(".lm-Menu-item", has_text="Abort").click()
    assert "already ended" in toast(page, "Cannot abort")
    # (jupyterlab_widgets 3.0.17 throws on any notebook opened without a kernel: not ours to fail on)
    assert not [e for e in errors if "/extensions/mm-jupyter/" in e], errors
