"""The sidebar's executions table and row actions as a person meets them, in a real browser (Debian
Chromium, Playwright) against a JupyterLab started by the test, at the sidebar's default width:
every cell readable (or its full value on hover), Abort offered only on runs that have not ended and
confirmed first, and "Show logs" bringing the log into view — again on a panel already open."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.browser_util import models_sidebar, require_browser
from support.server_util import start_server

import mm_jupyter as mm

pytestmark = pytest.mark.slow
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"


@pytest.fixture
def lab(store, toy, tmp_path):
    require_browser()
    ended = mm.train(toy(epochs=40, points_per_epoch=3), wait=True)  # a long log and three charts
    assert ended["status"] == "success", ended
    running = mm.train(toy(epochs=400, sleep=0.5))
    server = start_server(tmp_path / "jupyter", store.home, lab=True, timeout=120)
    try:
        yield server, ended, running
    finally:
        server.stop()


def in_box(inner: dict | None, outer: dict | None, slack: float = 1.0) -> bool:
    return bool(inner and outer and inner["width"] > 0 and inner["height"] > 0
                and outer["x"] - slack <= inner["x"] and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + slack
                and outer["y"] - slack <= inner["y"] and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + slack)


def menu_labels(page, row) -> list[str]:
    row.locator(".mm-row-menu-button").click()
    page.locator(".mm-row-menu .lm-Menu-item").first.wait_for(state="visible")
    labels = page.locator(".mm-row-menu .lm-Menu-item:visible .lm-Menu-itemLabel").all_inner_texts()
    return labels


def test_table_fits_the_default_sidebar_and_actions_apply_only_where_they_can(lab, tmp_path):
    server, ended, running = lab
    with models_sidebar(server.url, server.token) as (page, sidebar, errors):
        sidebar.locator('.mm-tab[data-tab="training"]').click()
        rows = sidebar.locator(".mm-executions .mm-row")
        page.wait_for_function("() => document.querySelectorAll('.mm-executions .mm-row').length >= 2")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        sidebar.screenshot(path=str(SCREENSHOTS / "sidebar-table-default-width.png"))

        # At the default width: every fact and header shown whole; the row's tooltip has the full values
        panel = sidebar.bounding_box()
        assert panel and panel["width"] < 320, f"the default sidebar is narrow ({panel})"
        cut = page.evaluate("""() => [...document.querySelectorAll(
            '.mm-executions .mm-row .mm-name, .mm-executions .mm-row .mm-created, .mm-executions .mm-row .mm-status,'
            + '.mm-executions .mm-row .mm-duration, .mm-executions .mm-row .mm-progress-line, .mm-executions th .mm-th')]
            .filter(el => el.scrollWidth > el.clientWidth + 1 || el.getBoundingClientRect().right
                          > el.closest('td, th').getBoundingClientRect().right + 1)
            .map(el => `${el.className}: ${el.textContent}`)""")
        assert cut == [], cut
        for i in range(rows.count()):
            row = rows.nth(i)
            for part in (".mm-name", ".mm-status", ".mm-progress", ".mm-duration", ".mm-row-menu-button"):
                assert in_box(row.locator(part).first.bounding_box(), panel), (part, row.get_attribute("data-id"))
        title = sidebar.locator(f'.mm-row[data-id="{ended["id"]}"]').get_attribute("title")
        assert ended["id"] in title and ended["service"] in title and "created 20" in title, title

        # Keyboard: a row takes the focus, Enter opens its panel
        sidebar.locator(f'.mm-row[data-id="{ended["id"]}"]').focus()
        page.keyboard.press("Enter")
        page.locator(f'.mm-execution[data-id="{ended["id"]}"]').wait_for()

        # Abort only where it applies; confirmed first
        done_row = sidebar.locator(f'.mm-row[data-id="{ended["id"]}"]')
        labels = menu_labels(page, done_row)
        assert not [x for x in labels if x.startswith("Abort")] and "Remove" in labels, labels
        page.keyboard.press("Escape")
        live_row = sidebar.locator(f'.mm-row[data-id="{running["id"]}"]')
        page.wait_for_function(f"""() => ['pending', 'in-progress'].includes(
            document.querySelector('.mm-row[data-id="{running["id"]}"]')?.dataset.status)""")
        labels = menu_labels(page, live_row)
        assert "Abort…" in labels and "Remove" not in labels, labels
        page.locator(".mm-row-menu .lm-Menu-item", has_text="Abort…").click()
        dialog = page.locator(".jp-Dialog")
        dialog.wait_for()
        assert "Stop" in dialog.inner_text() and running["name"] in dialog.inner_text()
        dialog.get_by_role("button", name="Keep running").click()
        dialog.wait_for(state="detached")
        time.sleep(1)
        assert server.call("GET", f"executions/{running['id']}").json()["status"] in ("pending", "in-progress")
        menu_labels(page, live_row)
        page.locator(".mm-row-menu .lm-Menu-item", has_text="Abort…").click()
        page.locator(".jp-Dialog").get_by_role("button", name="Abort").click()
        page.wait_for_function(f"""() => document.querySelector('.mm-row[data-id="{running["id"]}"]')
            ?.dataset.status === 'terminated'""")
        assert server.call("GET", f"executions/{running['id']}").json()["status"] == "terminated"

        # Show logs: the log in view, below the charts, and again on the panel already open
        menu_labels(page, done_row)
        page.locator(".mm-row-menu .lm-Menu-item", has_text="Show logs").click()
        view = page.locator(f'.mm-execution[data-id="{ended["id"]}"]')
        view.wait_for()
        log = view.locator(".mm-log")
        page.wait_for_function(f"""() => (document.querySelector('.mm-execution[data-id="{ended["id"]}"] .mm-log')
            ?.textContent || '').includes('epoch 40/40')""")
        page.wait_for_function(f"""() => document.querySelectorAll(
            '.mm-execution[data-id="{ended["id"]}"] .mm-chart-canvas[data-points]').length >= 3""")
        time.sleep(0.5)
        labels = {m: view.locator(f'.mm-chart[data-metric="{m}"] .mm-chart-canvas').get_attribute("aria-label")
                  for m in ("loss", "train/loss")}  # uPlot draws its axis titles on the canvas
        assert labels == {"loss": "loss by epoch", "train/loss": "train/loss by step"}, labels
        body = page.locator(".mm-ExecutionBody:visible").bounding_box()
        charts_top = view.locator(".mm-charts").bounding_box()
        top = log.bounding_box()
        assert body and top and body["y"] - 1 <= top["y"] < body["y"] + body["height"] - 40, (body, top)
        assert charts_top and charts_top["y"] < top["y"], "the charts are above the log, scrolled past"
        page.screenshot(path=str(SCREENSHOTS / "sidebar-show-logs.png"))
        page.mouse.move(body["x"] + body["width"] / 2, body["y"] + 100)
        for _ in range(20):
            page.mouse.wheel(0, -2000)
        log_top = f"""() => document.querySelector('.mm-execution[data-id="{ended["id"]}"] .mm-log')
            .getBoundingClientRect().top"""
        page.wait_for_function(f"() => ({log_top})() > {top['y']} + 150")  # the user scrolled up
        time.sleep(1)
        assert page.evaluate(log_top) > top["y"] + 150, "stays where the user scrolled (no pull back)"
        menu_labels(page, done_row)
        page.locator(".mm-row-menu .lm-Menu-item", has_text="Show logs").click()
        page.wait_for_function(f"() => Math.abs(({log_top})() - {top['y']}) < 3")
        assert page.locator(f'.mm-execution[data-id="{ended["id"]}"]').count() == 1, "one panel, not two"

        # The panel's buttons follow the same rule: an ended run offers Run again, not Abort
        head = view.locator(".mm-execution-head")
        assert head.locator(".mm-abort").count() == 0 and head.locator(".mm-rerun").count() == 1
    assert not errors, errors
