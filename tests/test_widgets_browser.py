"""The widgets in a real browser: JupyterLab started by the test, headless Debian Chromium (Playwright)
opens the quickstart notebook, runs it, and the executions table shows a running then a successful
execution while the chart draws points. Saves docs/screenshots/widgets.png."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from support.browser_util import CHROMIUM, CHROMIUM_ARGS, JupyterLab

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "notebooks" / "examples" / "quickstart.ipynb"
SCREENSHOT = ROOT / "docs" / "screenshots" / "widgets.png"
SETTINGS = {  # per-test JupyterLab settings: every cell stays in the DOM, no news toast
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}
# The first error output of the notebook, if any (so a broken run fails fast, with its message).
NOTEBOOK_ERROR = r"""() => { const out = document.querySelector('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]');
  return out && /Error|Traceback/.test(out.textContent) ? out.textContent.slice(-1500) : null; }"""
# How many bqplot lines have at least two points (a path with a segment).
LINES_WITH_POINTS = r"""() => Array.from(document.querySelectorAll('.bqplot path'))
  .filter(p => !p.closest('.axis') && /^M[^M]*L/.test(p.getAttribute('d') || '')).length"""


@pytest.fixture
def lab(tmp_path):
    pytest.importorskip("playwright")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    root = tmp_path / "root"
    root.mkdir()
    home = root / "mmhome"
    nb = parameterize_notebook(load_notebook_node(str(QUICKSTART)), {"home": str(home)})
    (root / "quickstart.ipynb").write_text(json.dumps(nb))
    settings = tmp_path / "settings"
    for name, value in SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(value))
    server = JupyterLab(root, {"MM_HOME": str(home), "JUPYTERLAB_SETTINGS_DIR": str(settings),
                               "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")}, tmp_path / "lab.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()
        _abort_leftovers(home)


def _abort_leftovers(home: Path) -> None:
    """A failed run must not leave trainings running in the background."""
    if not (home / "mm.db").exists():
        return
    from mm_jupyter import api
    from mm_jupyter.executions import ACTIVE

    store = api.Store(home)
    for exe in store.find("executions"):
        if exe["status"] in ACTIVE:
            api.abort(exe["id"], store=store)
    store.close()


def test_quickstart_in_jupyterlab_shows_live_table_and_chart(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1500, "height": 1900})
        try:
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(lab.url("lab/tree/quickstart.ipynb"), timeout=60_000)
            page.locator(".jp-StatusBar-TextItem", has_text="| Idle").wait_for(timeout=90_000)
            page.locator("#jp-main-statusbar").wait_for(timeout=10_000)
            page.get_by_text("Run", exact=True).first.click()
            page.get_by_text("Run All Cells", exact=True).click()

            table = page.locator(".mm-executions")
            running = table.locator(".mm-s-in-progress").first
            deadline = time.monotonic() + 120
            while not running.is_visible():
                failure = page.evaluate(NOTEBOOK_ERROR)
                assert failure is None, f"the notebook failed: {failure}"
                assert time.monotonic() < deadline, "no running execution shown within 120 s"
                page.wait_for_timeout(200)
            running_at = time.monotonic()
            table.locator(".mm-s-success").first.wait_for(timeout=180_000)
            assert time.monotonic() > running_at
            page.wait_for_function(f"({LINES_WITH_POINTS})() > 0", timeout=30_000)
            lines = page.evaluate(LINES_WITH_POINTS)
            assert lines >= 7, lines  # the detection panels, drawn from the store's points
            names = table.locator(".mm-name").all_inner_texts()
            assert any(name.startswith("train ") for name in names), names

            # the last cell (Compare) has rendered: the whole notebook ran
            page.locator(".jp-OutputArea h4", has_text="Per-slice metrics").wait_for(timeout=180_000)
            statuses = table.locator(".mm-badge").all_inner_texts()
            assert statuses and set(statuses) == {"success"}, statuses
            assert not errors, errors
            # every chart axis labels each tick differently (no five "0.3"s on a narrow range)
            ticks = page.evaluate("""() => [...document.querySelectorAll('.bqplot g.axis')]
                .map(g => [...g.querySelectorAll('.tick text')].map(t => t.textContent).filter(Boolean))
                .filter(labels => labels.length)""")
            assert ticks and all(len(set(labels)) == len(labels) for labels in ticks), ticks
            # Compare marks a best value only where one value is better: never on a tie
            rows = page.evaluate("""() => [...document.querySelectorAll('.jp-OutputArea table tr')].map(tr => ({
                cells: [...tr.querySelectorAll('td')].slice(1).map(td => td.textContent.trim()),
                bold: tr.querySelectorAll('b').length}))""")
            ties = [r for r in rows if len(r["cells"]) >= 2 and len(set(r["cells"])) == 1 and r["cells"][0]]
            assert ties and not [r for r in ties if r["bold"]], rows

            page.locator("h2", has_text="The executions table").evaluate("el => el.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(500)
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.locator(".jp-NotebookPanel").screenshot(path=str(SCREENSHOT))
            assert SCREENSHOT.stat().st_size > 20_000
        except Exception:
            page.screenshot(path=str(tmp_path / "failure.png"))
            print(f"page at failure: {tmp_path / 'failure.png'}\nserver log:\n{lab.tail()}")
            raise
        finally:
            browser.close()
