"""The evaluation view in a real browser (Debian Chromium, Playwright) against a JupyterLab started by
the test: a 2,000-image, 50-slice detection evaluation (real results from ``evaluate_predictions``,
no training) renders within 1 s of its data arriving (measured in the page, printed); its slice table
sorts, filters by field and flags the worse slice; the PR chart's legend toggles classes and shows
values on hover; the gallery draws boxes over the images, filters by slice, pages and opens a larger
view; a classification's confusion cell lists its items; an evaluation without slices, intervals or
some images and a failed one show a clear message. Every control lies inside its panel at 1400x900
and with a narrow main area; screenshots go to docs/screenshots/evaluation-view*.png."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support.browser_util import models_sidebar, require_browser
from support.eval_data import BAD_GROUP, evaluation_execution, shapes_dataset
from support.helpers import TOY
from support.server_util import start_server

pytestmark = pytest.mark.slow
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
BIG_SLICES = ["metadata.group", "metadata.lighting", "metadata.background"]  # 44 + 3 + 3 = 50 slices
RENDER_TARGET_MS = 1000.0
CONTROLS = {  # section → its controls
    ".mm-eval-slices": [".mm-eval-slice-field", ".mm-eval-delta-of", ".mm-eval-flagged-only input",
                        ".mm-eval-sort"],
    ".mm-eval-pr": [".u-legend .u-series"],
    ".mm-eval-confusion": [".mm-eval-cm-cell"],
    ".mm-eval-gallery": [".mm-eval-gallery-slice", ".mm-eval-gallery-class", ".mm-eval-prev", ".mm-eval-next",
                         ".mm-eval-thumb"],
}
DETECTION = (".mm-eval-slices", ".mm-eval-pr", ".mm-eval-gallery")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    require_browser()
    import mm_jupyter as mm
    from mm_jupyter.store import Store

    base = tmp_path_factory.mktemp("evalbrowser")
    home = base / "mmhome"
    store = Store(home)
    big = shapes_dataset(store, base / "big", n=2000, groups=44, name="shapes-2000")
    small = shapes_dataset(store, base / "cls", flavour="classify", n=45, groups=3, name="shapes-cls")
    other = shapes_dataset(store, base / "cls2", flavour="classify", n=30, groups=3, name="shapes-cls2")
    mm.register_model("toy", TOY, store=store)
    snap_big = mm.create_snapshot("toy", dataset="shapes-2000", store=store)["id"]
    snap_cls = mm.create_snapshot("toy", dataset="shapes-cls", store=store)["id"]
    snap_other = mm.create_snapshot("toy", dataset="shapes-cls2", store=store)["id"]
    exes = {"big": evaluation_execution(store, big, snap_big, slice_by=BIG_SLICES),
            "cls": evaluation_execution(store, small, snap_cls, task="classify", slice_by=["metadata.group"]),
            "plain": evaluation_execution(store, other, snap_other, task="classify", slice_by=[], intervals=False),
            "failed": evaluation_execution(store, small, snap_cls, task="classify", status="failed", write=False)}
    store.update("executions", exes["failed"]["id"], error="RuntimeError: out of memory")
    # two images of the plain evaluation are gone from disk
    from mm_jupyter.queries import evaluations

    gone = evaluations.items_page(store, exes["plain"]["id"], limit=2)["items"]
    for item in gone:
        (Path(other["root"]) / item["dir"] / item["name"]).unlink()
    store.close()
    server = start_server(base / "jupyter", home, lab=True, timeout=120)
    try:
        yield server, exes, [i["item_id"] for i in gone]
    finally:
        server.stop()


def open_evaluation(page, sidebar, exe_id: str):
    """Open an evaluation's panel from the sidebar's Evaluation tab; returns its view locator."""
    if not sidebar.is_visible():  # a layout restored with the sidebar open: models_sidebar's click closed it
        page.locator('.jp-SideBar [data-id="mm-jupyter-sidebar"]').click()
    sidebar.locator('.mm-tab[data-tab="evaluation"]').click()
    row = sidebar.locator(f'.mm-executions .mm-row[data-id="{exe_id}"]')
    row.wait_for()
    row.locator(".mm-name").first.click()
    view = page.locator(f'.mm-execution[data-id="{exe_id}"] .mm-eval')
    view.wait_for()
    page.wait_for_function(f"""() => !['loading'].includes(
        document.querySelector('.mm-execution[data-id="{exe_id}"] .mm-eval')?.dataset.state)""")
    return view


def inside(inner: dict | None, outer: dict | None, slack: float = 1.0) -> bool:
    return bool(inner and outer and inner["width"] > 0 and inner["height"] > 0
                and outer["x"] - slack <= inner["x"] and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + slack
                and outer["y"] - slack <= inner["y"] and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + slack)


def assert_controls_inside(page, view, sections=DETECTION) -> int:
    """Every control of each of ``sections``, scrolled into view, lies inside its section and inside
    the panel's visible body; returns how many were checked."""
    body = page.locator(".mm-ExecutionBody:visible")
    checked = 0
    for section in sections:
        sec = view.locator(section)
        for selector in CONTROLS[section]:
            loc = sec.locator(selector)
            assert loc.count(), (section, selector)
            for i in range(loc.count()):
                control = loc.nth(i)
                control.scroll_into_view_if_needed()
                box, panel, own = control.bounding_box(), body.bounding_box(), sec.bounding_box()
                assert inside(box, panel), (selector, i, box, panel)
                assert inside(box, own), (selector, i, box, own)
                checked += 1
    return checked


def render_ms(page, view) -> float:
    page.wait_for_function("el => el.dataset.renderMs !== undefined", arg=view.element_handle(), timeout=30_000)
    return float(view.get_attribute("data-render-ms"))


def test_evaluation_view_at_1400x900(lab):
    server, exes, gone = lab
    big = exes["big"]["id"]
    with models_sidebar(server.url, server.token, width=1400, height=900) as (page, sidebar, errors):
        view = open_evaluation(page, sidebar, big)
        assert view.get_attribute("data-state") == "ready"
        ms = render_ms(page, view)
        print(f"\nevaluation view (2000 images, 50 slices) rendered {ms:.0f} ms after its data arrived "
              f"(DOM committed at {float(view.get_attribute('data-commit-ms')):.0f} ms)")
        assert ms <= RENDER_TARGET_MS, f"rendered {ms:.0f} ms after the data arrived (target <= {RENDER_TARGET_MS:.0f})"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "evaluation-view.png"))

        # headline: each metric with its interval; no one-dot charts for a finished evaluation
        cards = view.locator(".mm-eval-card")
        assert cards.count() >= 5 and "CI [" in cards.first.inner_text()
        assert page.locator(f'.mm-execution[data-id="{big}"] .mm-charts').count() == 0
        assert page.locator(f'.mm-execution[data-id="{big}"] .mm-log').count() == 1

        # the slice table: 50 rows, sorted worst first by mAP50-95 (ascending), the bad group flagged
        rows = view.locator(".mm-eval-slice-row")
        assert rows.count() == 50
        first = rows.first
        assert first.get_attribute("data-slice") == f"metadata.group={BAD_GROUP}"
        assert "mm-eval-worse" in first.get_attribute("class") and "worse" in first.inner_text()
        assert re.search(r"\d\.\d\d \[\d\.\d\d, \d\.\d\d\]", first.locator(".mm-eval-metric").first.inner_text())
        view.locator('.mm-eval-sort[data-key="metric:mAP50-95"]').click()
        assert rows.first.get_attribute("data-slice") != f"metadata.group={BAD_GROUP}"
        assert rows.last.get_attribute("data-slice") == f"metadata.group={BAD_GROUP}"
        view.locator('.mm-eval-sort[data-key="n"]').click()
        counts = [int(c) for c in view.locator(".mm-eval-slice-row td:nth-child(2)").all_inner_texts()]
        assert counts == sorted(counts)
        view.locator(".mm-eval-slice-field").select_option("metadata.lighting")
        assert rows.count() == 3 and all(n.startswith("metadata.lighting=")
                                         for n in [rows.nth(i).get_attribute("data-slice") for i in range(3)])
        view.locator(".mm-eval-slice-field").select_option("")
        view.locator(".mm-eval-flagged-only input").check()
        flagged = rows.count()
        assert 1 <= flagged < 50 and all("mm-eval-worse" in rows.nth(i).get_attribute("class") for i in range(flagged))
        view.locator(".mm-eval-flagged-only input").uncheck()

        # PR curves: one legend entry per class; a click hides a class; hovering shows values
        legend = view.locator(".mm-eval-pr .u-legend .u-series")
        assert legend.count() == 4, legend.all_inner_texts()  # recall + 3 classes
        legend.nth(1).click()
        assert "u-off" in legend.nth(1).get_attribute("class")
        legend.nth(1).click()
        assert "u-off" not in (legend.nth(1).get_attribute("class") or "")
        over = view.locator(".mm-eval-pr .u-over")
        over.scroll_into_view_if_needed()
        box = over.bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
        assert re.fullmatch(r"0\.\d{3}", legend.nth(0).locator(".u-value").inner_text()), legend.nth(0).inner_text()
        assert re.fullmatch(r"\d\.\d{3}", legend.nth(2).locator(".u-value").inner_text())

        # the gallery: worst first, boxes drawn over loaded images, filtered by a slice, paged
        gallery = view.locator(".mm-eval-gallery")
        gallery.scroll_into_view_if_needed()
        assert gallery.locator(".mm-eval-page").inner_text() == "1–24 of 2000"
        page.wait_for_function("""() => [...document.querySelectorAll('.mm-eval-thumb img')].slice(0, 4)
            .every(img => img.complete && img.naturalWidth === 64)""")
        thumb = gallery.locator(".mm-eval-thumb").first
        assert thumb.locator(".mm-eval-gt rect").count() >= 1
        assert thumb.locator("svg").get_attribute("viewBox") == "0 0 64 64"
        view.locator(f'.mm-eval-slice-row[data-slice="metadata.group={BAD_GROUP}"] .mm-eval-link').click()
        page.wait_for_function("""() => document.querySelector('.mm-eval-gallery-slice')?.value.endsWith('g00')
            && document.querySelector('.mm-eval-page')?.textContent.endsWith('of 46')""")
        gallery.locator(".mm-eval-next").click()
        page.wait_for_function("() => document.querySelector('.mm-eval-page')?.textContent === '25–46 of 46'")
        gallery.locator(".mm-eval-gallery-class").select_option("triangle")
        page.wait_for_function("() => document.querySelector('.mm-eval-page')?.textContent.startsWith('1–')")
        gallery.locator(".mm-eval-gallery-class").select_option("")
        gallery.locator(".mm-eval-gallery-slice").select_option("")
        page.wait_for_function("() => document.querySelector('.mm-eval-page')?.textContent === '1–24 of 2000'")
        gallery.locator(".mm-eval-thumb").first.click()
        large = page.locator(".mm-eval-large")
        large.wait_for()
        assert large.locator(".mm-eval-box-table tbody tr").count() >= 1
        page.wait_for_function("() => document.querySelector('.mm-eval-large img')?.naturalWidth === 64")
        page.keyboard.press("Escape")
        large.wait_for(state="detached")

        # the detection confusion matrix counts boxes, the background last; a cell lists the images
        # holding such a box (at most as many as its count)
        cm = view.locator(".mm-eval-confusion")
        cm.scroll_into_view_if_needed()
        assert cm.locator(".mm-eval-cm-pred").last.inner_text() == "(background)"
        assert "IoU" in cm.locator(".mm-sub").inner_text()
        cell = cm.locator('.mm-eval-cm-cell[data-true="(background)"]:not([disabled])').first
        boxes, pred = int(cell.inner_text()), cell.get_attribute("data-pred")
        cell.click()
        chip = view.locator(".mm-eval-gallery-cell")
        chip.wait_for()
        assert f"predicted {pred}" in chip.inner_text()
        page.wait_for_function("""n => { const m = /of (\\d+)$/.exec(document.querySelector('.mm-eval-page')?.textContent ?? '');
            return m && +m[1] > 0 && +m[1] <= n && +m[1] < 2000; }""", arg=boxes)

        page.locator(".mm-ExecutionBody:visible").evaluate("el => el.scrollTop = 0")
        checked = assert_controls_inside(page, view)
        page.locator(".mm-ExecutionBody:visible").evaluate("el => el.scrollTop = 0")
        view.locator(".mm-eval-gallery").scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "evaluation-view-gallery.png"))
        assert checked > 15
        assert errors == [], errors


def test_evaluation_view_narrow_classification_and_messages(lab):
    server, exes, gone = lab
    with models_sidebar(server.url, server.token, width=900, height=900) as (page, sidebar, errors):
        body = page.locator(".mm-ExecutionBody:visible")
        view = open_evaluation(page, sidebar, exes["big"]["id"])
        ms = render_ms(page, view)
        print(f"\nnarrow main area: rendered {ms:.0f} ms after its data arrived")
        width = body.bounding_box()["width"]
        assert width < 640, f"the main area is narrow ({width})"
        assert_controls_inside(page, view)
        table = view.locator(".mm-eval-slices .mm-eval-scroll")
        # a table wider than the panel scrolls sideways inside it, its slice names staying in view
        outer, panel = table.bounding_box(), body.bounding_box()
        assert panel["x"] <= outer["x"] and outer["x"] + outer["width"] <= panel["x"] + panel["width"], (outer, panel)
        table.evaluate("el => el.scrollLeft = el.scrollWidth")
        name = view.locator(".mm-eval-slice-row").first.locator("td").first
        name.scroll_into_view_if_needed()
        box = name.bounding_box()
        assert table.evaluate("el => el.scrollLeft") > 0 and box["x"] >= outer["x"] - 1, (box, outer)
        table.evaluate("el => el.scrollLeft = 0")
        page.locator(".mm-ExecutionBody:visible").evaluate("el => el.scrollTop = 0")
        view.locator(".mm-eval-slices").scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "evaluation-view-narrow.png"))

        # classification: the confusion matrix; a cell lists exactly its items
        view = open_evaluation(page, sidebar, exes["cls"]["id"])
        cell = view.locator(".mm-eval-cm-cell:not(.mm-eval-cm-diag):not([disabled])").first
        count, true, pred = int(cell.inner_text()), cell.get_attribute("data-true"), cell.get_attribute("data-pred")
        cell.click()
        chip = view.locator(".mm-eval-gallery-cell")
        chip.wait_for()
        assert f"true {true} → predicted {pred}" in chip.inner_text()
        page.wait_for_function(f"""() => [...document.querySelectorAll('.mm-eval-page')].some(
            el => el.textContent === '1–{count} of {count}')""")
        captions = view.locator(".mm-eval-thumb .mm-eval-wrong").all_inner_texts()
        assert len(captions) == count and all(f"true {true} → {pred}" in c for c in captions), captions
        assert_controls_inside(page, view, (".mm-eval-slices", ".mm-eval-confusion", ".mm-eval-gallery"))
        view.locator(".mm-eval-confusion").scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "evaluation-view-confusion.png"))

        # no slices, no intervals, two images gone: said so, the rest still shows
        view = open_evaluation(page, sidebar, exes["plain"]["id"])
        notes = view.locator(".mm-eval-note").all_inner_texts()
        assert any(n.startswith("this evaluation has no slices") for n in notes), notes
        assert any(n.startswith("no confidence intervals") for n in notes), notes
        assert view.locator(".mm-eval-slices").count() == 0
        assert view.locator(".mm-eval-gallery-slice").is_disabled()
        for item_id in gone:
            missing = view.locator(f'.mm-eval-thumb[data-item="{item_id}"] .mm-eval-missing')
            assert "is not on disk" in missing.inner_text()
        view.locator(".mm-eval-grid").scroll_into_view_if_needed()
        page.wait_for_function("""() => [...document.querySelectorAll('.mm-eval-thumb[data-image="ok"] img')]
            .slice(0, 3).every(img => img.complete && img.naturalWidth > 0)""")

        # a failed evaluation: one clear line, and the panel still works
        view = open_evaluation(page, sidebar, exes["failed"]["id"])
        message = view.locator(".mm-eval-message").inner_text()
        assert message == "the evaluation ended failed, without results: RuntimeError: out of memory", message
        assert errors == [], errors
