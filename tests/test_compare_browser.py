"""Compare in the sidebar as a person uses it, in a real browser (Debian Chromium, Playwright) against a
JupyterLab started by the test on a real store (trainings logged through ``mm.start_run``, evaluations
with real results on a registered shapes dataset): two versions ticked in the Versions tab (one from
the keyboard) open the Compare panel — overlaid curves, final metrics with the best marked (none on a
tie), the config keys that differ, per-slice deltas with intervals, sortable; two training
executions of different models ticked in the Training tab open a panel that says why it has no slice
deltas. At 1400x900 and with a main area about 700 px wide, every control (checkboxes, buttons,
charts, tables) lies inside its panel. Screenshots: docs/screenshots/sidebar-compare.png, -narrow.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.browser_util import models_sidebar, require_browser
from support.eval_data import evaluation_execution, shapes_dataset
from support.helpers import TOY
from support.server_util import start_server

import mm_jupyter as mm
from mm_jupyter.adapter import scalars
from mm_jupyter.evaluation import load_results

pytestmark = pytest.mark.slow
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
SIZES = ((1400, "1400x900"), (1000, "main area ~700 px"))
SIDEBAR_PANEL = "#mm-jupyter-sidebar .mm-tab-body"
COMPARE_PANEL = ".mm-ComparePanel:visible"


def training(store, snapshot_id: str, epochs: int, scale: float) -> str:
    """Per-epoch loss and accuracy; accuracy reaches 0.9 at the end of any run of 2 or more epochs."""
    with mm.start_run(snapshot_id, store=store) as run:
        for epoch in range(1, epochs + 1):
            run.log_metrics({"loss": scale / epoch, "accuracy": min(0.9, 0.6 * scale + 0.3 * epoch)},
                            step=epoch, epoch=epoch)
    return run.execution_id


def evaluation(store, dataset: dict, snapshot_id: str, seed: int) -> dict:
    exe = evaluation_execution(store, dataset, snapshot_id, task="classify", slice_by=["metadata.group"], seed=seed)
    results = load_results(store.execution_dir(exe))
    store.insert_metrics([{"execution_id": exe["id"], "name": k, "value": v} for k, v in scalars(results).items()])
    return exe


@pytest.fixture
def lab(store, tmp_path):
    require_browser()
    cls = shapes_dataset(store, tmp_path / "cls", flavour="classify", n=45, groups=3, name="shapes-cls")
    mm.register_model("toy", TOY, store=store)
    mm.register_model("other", TOY, store=store)
    plan = {"toy-a": ("toy", 2, 0.5), "toy-b": ("toy", 3, 0.4), "other-c": ("other", 2, 0.6)}
    ids = {k: mm.create_snapshot(model, name=k, config={"epochs": n}, dataset="shapes-cls", store=store)["id"]
           for k, (model, n, _) in plan.items()}
    runs = {k: training(store, ids[k], n, scale) for k, (_, n, scale) in plan.items()}
    for seed, key in enumerate(("toy-a", "toy-b")):
        evaluation(store, cls, ids[key], seed)
    server = start_server(tmp_path / "jupyter", store.home, lab=True, timeout=120)
    try:
        yield server, ids, runs
    finally:
        server.stop()


def assert_inside(page, elements, panel_selector: str, where: str, *, min_size: tuple[int, int] = (12, 12)) -> int:
    """Each element can be scrolled into view, lies inside the panel both ways and is big enough."""
    panel = page.locator(panel_selector).bounding_box()
    n = elements.count()
    assert n, f"{where}: nothing to check"
    for i in range(n):
        el = elements.nth(i)
        el.scroll_into_view_if_needed()
        box = el.bounding_box()
        label = (el.get_attribute("aria-label") or el.get_attribute("data-metric") or el.get_attribute("class")
                 or f"#{i}")[:60]
        assert box and panel, (where, label)
        inside_x = panel["x"] - 1 <= box["x"] and box["x"] + box["width"] <= panel["x"] + panel["width"] + 1
        inside_y = panel["y"] - 1 <= box["y"] and box["y"] + box["height"] <= panel["y"] + panel["height"] + 1
        assert inside_x and inside_y, f"{where}: {label!r} {box} is not inside its panel {panel}"
        assert box["width"] >= min_size[0] and box["height"] >= min_size[1], f"{where}: {label!r} is too small ({box})"
    return n


def check_panel(page, sidebar, where: str, *, slices: bool) -> None:
    """Every control of the sidebar's selection and of the Compare panel inside its panel."""
    assert_inside(page, sidebar.locator(".mm-select:visible"), SIDEBAR_PANEL, f"{where} checkboxes")
    assert_inside(page, sidebar.locator(".mm-compare-button:visible"), SIDEBAR_PANEL, f"{where} button")
    view = page.locator(COMPARE_PANEL).locator(".mm-compare")
    assert_inside(page, view.locator(".mm-compare-chart"), COMPARE_PANEL, f"{where} charts", min_size=(200, 150))
    assert_inside(page, view.locator(".mm-compare-chart canvas"), COMPARE_PANEL, f"{where} canvases",
                  min_size=(200, 100))
    tables = ".mm-compare-final, .mm-compare-config" + (", .mm-compare-deltas" if slices else "")
    assert_inside(page, view.locator(tables), COMPARE_PANEL, f"{where} tables", min_size=(100, 30))
    assert_inside(page, view.locator("button, select"), COMPARE_PANEL, f"{where} controls")
    if not slices:
        assert_inside(page, view.locator(".mm-compare-reason"), COMPARE_PANEL, f"{where} reason")


def test_compare_versions_and_executions_in_a_real_browser(lab, store):
    server, ids, runs = lab
    with models_sidebar(server.url, server.token) as (page, sidebar, errors):
        # two versions: one ticked by a click, one from the keyboard (Space on its focused row)
        sidebar.locator('.mm-tab[data-tab="versions"]').click()
        button = sidebar.locator(".mm-compare-button")
        assert button.inner_text() == "Compare (0)" and button.is_disabled()
        sidebar.get_by_label("Select version toy-a to compare").click()
        assert button.inner_text() == "Compare (1)" and button.is_disabled()
        second = sidebar.get_by_label("Select version toy-b to compare")
        sidebar.locator(f'.mm-snapshot[data-id="{ids["toy-b"]}"]').focus()
        page.keyboard.press("Space")
        assert second.is_checked() and sidebar.locator(".mm-version-page").count() == 0, "Space selects, opens nothing"
        assert button.inner_text() == "Compare (2)" and button.is_enabled()
        button.click()

        view = page.locator(COMPARE_PANEL).locator(".mm-compare")
        view.wait_for()
        page.wait_for_function("() => document.querySelectorAll('.mm-ComparePanel .mm-compare-chart canvas').length >= 2")
        assert view.locator(".mm-compare-column").all_inner_texts()[0].startswith("toy-a")
        loss = view.locator('.mm-compare-chart[data-metric="loss"] .mm-compare-canvas')
        assert loss.get_attribute("data-x-label") == "epoch" and loss.get_attribute("data-lines") == "2"
        legend = view.locator('.mm-compare-chart[data-metric="loss"] .u-legend').inner_text()
        assert "toy-a" in legend and "toy-b" in legend, legend

        # the best marked once (the lower loss), a tie (accuracy 0.9 and 0.9) not at all
        final = view.locator(".mm-compare-final")
        loss_best = final.locator('tr[data-metric="loss"] .mm-compare-best')
        assert loss_best.count() == 1 and loss_best.locator("strong").inner_text() == "0.1333"
        assert final.locator('tr[data-metric="accuracy"] .mm-compare-best').count() == 0
        assert final.locator('tr[data-metric="accuracy"] td').all_inner_texts() == ["0.9", "0.9"]

        # the config diff: only the key that differs
        assert view.locator(".mm-compare-config tbody th").all_inner_texts() == ["config.epochs"]

        # slice deltas, sortable by the delta both ways
        deltas = view.locator(".mm-compare-deltas")
        assert deltas.locator("tbody tr[data-slice]").count() == 3
        assert "whole test set" in deltas.locator(".mm-compare-whole").inner_text()
        head = deltas.locator('button[data-sort="delta"]')
        shown_deltas = "rows => rows.map(r => Number(r.cells[4].textContent.replace('⚑', '').replace('−', '-')))"
        head.click()
        down = deltas.locator("tbody tr[data-slice]").evaluate_all(shown_deltas)
        assert deltas.locator('th[aria-sort="descending"]').count() == 1
        head.click()
        up = deltas.locator("tbody tr[data-slice]").evaluate_all(shown_deltas)
        assert down == sorted(down, reverse=True) and up == sorted(up) and sorted(up) == sorted(down), (down, up)
        assert deltas.locator('th[aria-sort="ascending"]').count() == 1

        for width, where in SIZES:
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(400)
            if width == 1000:
                main = page.locator("#jp-main-dock-panel").bounding_box()
                assert main and 600 <= main["width"] <= 760, main
            check_panel(page, sidebar, f"versions {where}", slices=True)
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            view.locator("h2").scroll_into_view_if_needed()
            name = "sidebar-compare.png" if width == 1400 else "sidebar-compare-narrow.png"
            page.screenshot(path=str(SCREENSHOTS / name))
        page.set_viewport_size({"width": 1400, "height": 900})

        # two executions of different models: compared, with a clear line why there are no slice deltas
        sidebar.locator('.mm-tab[data-tab="training"]').click()
        rows = sidebar.locator(".mm-executions .mm-row")
        rows.first.wait_for()
        sidebar.locator(f'.mm-row[data-id="{runs["toy-a"]}"] .mm-select').check()
        sidebar.locator(f'.mm-row[data-id="{runs["other-c"]}"]').focus()
        page.keyboard.press("Space")  # the keyboard path: Space on a focused row ticks it
        assert sidebar.locator(f'.mm-row[data-id="{runs["other-c"]}"] .mm-select').is_checked()
        assert page.locator(".mm-ExecutionPanel").count() == 0, "Space selects, opens nothing"
        button = sidebar.locator(".mm-compare-button")
        assert button.inner_text() == "Compare (2)"
        button.click()
        panel = page.locator(COMPARE_PANEL)
        reason = panel.locator(".mm-compare-reason")
        reason.wait_for()
        assert "different models" in reason.inner_text()
        assert "different models (toy, other)" in panel.locator(".mm-compare-note").first.inner_text()
        page.wait_for_function("() => [...document.querySelectorAll('.mm-ComparePanel')].some(p => "
                               "p.offsetParent && p.querySelectorAll('.mm-compare-chart canvas').length >= 2)")
        for width, where in SIZES:
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(400)
            check_panel(page, sidebar, f"executions {where}", slices=False)
        assert not errors, errors
