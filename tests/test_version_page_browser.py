"""The version page and the services panel as a person uses them, in a real browser (Debian
Chromium, Playwright) against a JupyterLab started by the test on real data (toy trainings through
the Python API): at 1400x900 and with a narrow main area (~700 px), every control lies inside its
panel and is big enough to use; notes and tags edited in the page are there after a page reload;
notes over 10,000 characters are refused with the server's message; the weights link downloads the
file's very bytes, a version without weights says so and has no link; a service paused and resumed
changes state; an edit refused by the core's checks shows its message; a service's name shows only
its executions; the row menu, sort headers and rows work from the keyboard. Screenshots go to
docs/screenshots/sidebar-version-page.png and sidebar-services-panel.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.browser_util import assert_controls_usable, models_sidebar, open_version, require_browser
from support.helpers import TOY, wait_for
from support.server_util import start_server

import mm_jupyter as mm
from mm_jupyter import scheduler

pytestmark = pytest.mark.slow
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
SIZES = ((1400, "1400x900"), (1000, "main area ~700 px"))


@pytest.fixture
def lab(store, toy, tmp_path):
    require_browser()
    parent = toy(epochs=2)
    trained = mm.train(parent, wait=True)
    assert trained["status"] == "success", trained
    child = mm.create_snapshot("toy", dataset="toy-data", parent=parent, name="toy-child")["id"]
    mm.register_model("other", TOY)
    other = mm.create_snapshot("other", config={"epochs": 1}, dataset="toy-data")["id"]
    other_run = mm.train(other, wait=True)
    assert other_run["status"] == "success", other_run
    server = start_server(tmp_path / "jupyter", store.home, lab=True, timeout=120)
    try:
        yield server, {"parent": parent, "child": child, "run": trained, "other_run": other_run}
    finally:
        server.stop()


def test_version_page_notes_tags_weights_lineage_in_a_real_browser(lab, store):
    server, ids = lab
    parent, child = ids["parent"], ids["child"]
    weights = Path(store.get("snapshots", parent)["weights_uri"])
    [weights_file] = sorted(weights.iterdir())
    with models_sidebar(server.url, server.token) as (page, sidebar, errors):
        # opened by a click on its row; every control inside the sidebar, wide and narrow
        view = open_version(sidebar, parent)
        assert view.locator(".mm-children .mm-version-link").inner_text() == "toy-child"
        assert view.locator('[data-section="record"]').inner_text().count("unchanged since training") == 1
        for width, where in SIZES:
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(300)
            if width == 1000:
                main = page.locator("#jp-main-dock-panel").bounding_box()
                assert main and 600 <= main["width"] <= 760, main
            assert assert_controls_usable(page, f'.mm-version-page[data-id="{parent}"]', "#mm-jupyter-sidebar .mm-tab-body",
                                          where) >= 8
        page.set_viewport_size({"width": 1400, "height": 900})

        # notes: saved with a counter; over 10,000 characters the server's message is shown
        notes = view.get_by_label("Notes")
        notes.fill("Good on dark images.\nBaseline for the spring data.")
        view.locator(".mm-notes-save").click()
        view.locator(".mm-notes-state", has_text="1 edit kept").wait_for()
        notes.fill("n" * 10_001)
        assert "mm-over" in view.locator(".mm-notes-counter").get_attribute("class")
        assert view.locator(".mm-notes-counter").inner_text() == "10,001 / 10,000"
        view.locator(".mm-notes-save").click()
        error = view.locator(".mm-notes-error")
        error.wait_for()
        assert "at most 10,000" in error.inner_text(), error.inner_text()
        view.locator(".mm-notes-revert").click()
        assert notes.input_value() == "Good on dark images.\nBaseline for the spring data."

        # tags: added with Enter and with Add, removed with its ×; a bad one is refused with a line
        tag_input = view.get_by_label("New tag")
        tag_input.fill("best")
        tag_input.press("Enter")
        view.locator('.mm-chip[data-tag="best"]').wait_for()
        tag_input.fill("dark")
        view.locator(".mm-add-tag").click()
        view.locator('.mm-chip[data-tag="dark"]').wait_for()
        tag_input.fill("t" * 51)
        view.locator(".mm-add-tag").click()
        assert "at most 50" in view.locator(".mm-tag-error").inner_text()
        view.get_by_label("Remove tag dark").click()
        view.locator('.mm-chip[data-tag="dark"]').wait_for(state="detached")
        tag_input.fill("")
        mm.add_tag(parent, "from-python", store=store)  # another face: the page follows the event stream
        view.locator('.mm-chip[data-tag="from-python"]').wait_for(timeout=15_000)
        mm.remove_tag(parent, "from-python", store=store)
        view.locator('.mm-chip[data-tag="from-python"]').wait_for(state="detached", timeout=15_000)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        view.locator('[data-section="notes"]').scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "sidebar-version-page.png"))

        # the download: the file's very bytes, as an attachment
        with page.expect_download() as info:
            view.locator(f'a.mm-download[data-file="{weights_file.name}"]').click()
        download = info.value
        assert Path(download.path()).read_bytes() == weights_file.read_bytes()
        assert download.suggested_filename.endswith(weights_file.name), download.suggested_filename

        # lineage: the child has no weights (a line, no link); its parent link leads back
        view.locator(".mm-children .mm-version-link").click()
        child_view = sidebar.locator(f'.mm-version-page[data-id="{child}"]')
        child_view.locator(".mm-no-weights").wait_for()
        assert child_view.locator(".mm-no-weights").inner_text() == "no weights yet: train this version first"
        assert child_view.locator("a.mm-download").count() == 0
        child_view.locator(".mm-parent .mm-version-link").click()
        view.locator(".mm-version-name").wait_for()

        # an execution opens its panel; the panel's version link and service link lead back
        view.locator(f'.mm-version-exe[data-id="{ids["run"]["id"]}"] .mm-name').click()
        panel = page.locator(f'.mm-execution[data-id="{ids["run"]["id"]}"]')
        panel.wait_for()
        sidebar.locator(".mm-version-page .mm-back").click()
        panel.locator(".mm-version-link").click()
        view.locator(".mm-version-name").wait_for()

        # after a reload the notes and tags are there; the Versions search finds the version by its tag
        page.reload()
        page.locator('.jp-SideBar [data-id="mm-jupyter-sidebar"]').wait_for(timeout=90_000)
        page.wait_for_timeout(1000)  # the layout restorer may open the sidebar itself
        if not sidebar.is_visible():
            page.locator('.jp-SideBar [data-id="mm-jupyter-sidebar"]').click()
        view = open_version(sidebar, parent)
        assert view.get_by_label("Notes").input_value() == "Good on dark images.\nBaseline for the spring data."
        assert [c.get_attribute("data-tag") for c in view.locator(".mm-tags .mm-chip").all()] == ["best"]
        view.locator(".mm-back").click()
        sidebar.get_by_label("Search versions by name, id or tag").fill("BEST")
        page.wait_for_function("() => document.querySelectorAll('.mm-versions .mm-snapshot').length === 1")
        assert sidebar.locator(".mm-snapshot").get_attribute("data-id") == parent

        # keyboard: a version row takes the focus, Enter opens its page
        sidebar.get_by_label("Search versions by name, id or tag").fill("")
        page.wait_for_function("() => document.querySelectorAll('.mm-versions .mm-snapshot').length === 3")
        sidebar.locator(f'.mm-snapshot[data-id="{child}"]').focus()
        page.keyboard.press("Enter")
        sidebar.locator(f'.mm-version-page[data-id="{child}"] .mm-version-name').wait_for()
    assert store.get("snapshots", parent)["weights_uri"] == str(weights), "the trained record is untouched"
    assert not errors, errors


def test_services_panel_pause_resume_edit_stop_and_a_services_executions(lab, store):
    server, ids = lab
    service = ids["run"]["service"]
    mine = {e["id"] for e in mm.list_executions(service=service, limit=500)}
    with models_sidebar(server.url, server.token) as (page, sidebar, errors):
        for tab in ("training", "evaluation", "versions", "services"):  # four tabs, none cut, whichever is chosen
            sidebar.locator(f'.mm-tab[data-tab="{tab}"]').click()
            cut = page.evaluate("() => [...document.querySelectorAll('.mm-tab')]"
                                ".filter(t => t.scrollWidth > t.clientWidth).map(t => t.textContent)")
            assert cut == [], (tab, cut)
        card = sidebar.locator(f'.mm-service[data-service="{service}"]')
        card.wait_for()
        assert card.locator(".mm-count-pending").get_attribute("data-count") == "0"
        for width, where in SIZES:
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(300)
            assert_controls_usable(page, ".mm-services", "#mm-jupyter-sidebar .mm-tab-body", where)
        page.set_viewport_size({"width": 1400, "height": 900})

        # pause, then resume: the card and the server agree
        card.locator(".mm-pause").click()
        page.wait_for_function(f"""() => document.querySelector('.mm-service[data-service="{service}"]')
            ?.dataset.paused === '1'""")
        assert "paused" in card.locator(".mm-service-health").inner_text()
        assert server.call("GET", f"services/{service}").json()["paused"] == 1
        page.screenshot(path=str(SCREENSHOTS / "sidebar-services-panel.png"))
        card.locator(".mm-resume").click()
        page.wait_for_function(f"""() => document.querySelector('.mm-service[data-service="{service}"]')
            ?.dataset.paused === '0'""")
        assert server.call("GET", f"services/{service}").json()["paused"] == 0

        # edit: a value the core refuses shows its line; a good one is saved and shown
        card.locator(".mm-edit").click()
        form = card.locator(".mm-service-form")
        form.get_by_label("Max concurrency").fill("0")
        form.locator(".mm-save-settings").click()
        card.locator(".mm-service-error").wait_for()
        assert "positive integer" in card.locator(".mm-service-error").inner_text()
        assert_controls_usable(page, f'.mm-service[data-service="{service}"]', "#mm-jupyter-sidebar .mm-tab-body",
                               "edit form")
        form.get_by_label("Max concurrency").fill("2")
        form.get_by_label("Drain time (s)").fill("45")
        form.locator(".mm-save-settings").click()
        form.wait_for(state="detached")
        saved = server.call("GET", f"services/{service}").json()
        assert (saved["concurrency"], saved["drain_time"]) == (2, 45.0), saved
        assert "2 × 1" in card.locator(".mm-service-settings").inner_text()

        # a change from elsewhere (the CLI, Python) shows up live
        scheduler.configure(store, service, {"max_attempts": 7})
        card.locator(".mm-service-settings dd", has_text="7").wait_for(timeout=15_000)

        # stop: confirmed first; the service stops taking work; resume cancels it
        card.locator(".mm-stop").click()
        page.locator(".jp-Dialog").get_by_role("button", name="Stop").click()
        page.wait_for_function(f"""() => document.querySelector('.mm-service[data-service="{service}"]')
            ?.dataset.paused === '1'""")
        assert server.call("GET", f"services/{service}").json()["paused"] == 1
        card.locator(".mm-resume").click()
        page.wait_for_function(f"""() => document.querySelector('.mm-service[data-service="{service}"]')
            ?.dataset.paused === '0'""")

        # the service's name: its kind's tab, only its executions, the filter a removable chip
        card.locator(".mm-service-name").click()
        chip = sidebar.locator(f'.mm-service-chip[data-service="{service}"]')
        chip.wait_for()
        page.wait_for_function("() => document.querySelectorAll('.mm-executions .mm-row').length >= 1")
        shown = {r.get_attribute("data-id") for r in sidebar.locator(".mm-executions .mm-row").all()}
        assert shown == mine and ids["other_run"]["id"] not in shown, (shown, mine)
        chip.get_by_role("button").click()
        page.wait_for_function("() => document.querySelectorAll('.mm-executions .mm-row').length >= 2")
        assert ids["other_run"]["id"] in {r.get_attribute("data-id") for r in sidebar.locator(".mm-executions .mm-row").all()}

        # keyboard: Tab from a row reaches its menu button, Enter opens the menu (not the panel)
        row = sidebar.locator(f'.mm-row[data-id="{ids["run"]["id"]}"]')
        row.focus()
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.classList.contains('mm-row-menu-button')")
        page.keyboard.press("Enter")
        page.locator(".mm-row-menu .lm-Menu-item").first.wait_for(state="visible")
        assert page.locator(".mm-execution").count() == 0, "Enter on the menu button opens the menu only"
        page.keyboard.press("Escape")
        page.locator(".mm-row-menu").wait_for(state="detached")
        header = sidebar.locator('.mm-sortable[data-sort="name"]')
        header.focus()
        page.keyboard.press("Enter")
        wait_for(lambda: header.get_attribute("aria-sort") == "descending", 10, "Enter to sort by name")
        page.keyboard.press(" ")
        wait_for(lambda: header.get_attribute("aria-sort") == "ascending", 10, "Space to sort the other way")
    assert not errors, errors
