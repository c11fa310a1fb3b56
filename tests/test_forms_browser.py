"""The sidebar's Train and Evaluate forms as a person uses them, in a real browser (Debian Chromium,
Playwright): every field of every step visible and reachable inside the form's panel, at 1400x900
and with a narrow main area, each step screenshotted at both (docs/screenshots/sidebar-train-form-
<step>.png, sidebar-evaluate-form-<step>.png, ``-narrow`` for the narrow main area); the Folder
picker sends the folder it shows (its count is that filter's count); Saved filter mode stays chosen;
Create & Train submits exactly what the form shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.browser_util import models_sidebar, require_browser
from support.server_util import start_server

import mm_jupyter as mm

pytestmark = pytest.mark.slow
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
CONTROLS = "input:not([type=hidden]), select, button"
SIZES = ((1400, "1400x900"), (1000, "main area ~700 px"))
TRAIN_STEPS = ("data", "config", "service")
EVALUATE_STEPS = ("data", "service")


def step_screenshot(page, form, prefix: str, step: str, width: int) -> None:
    """The form's step in view, saved as ``<prefix>-<step>.png`` (``-narrow`` at the narrow main area)."""
    form.locator("h2").scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{prefix}-{step}{'' if width == 1400 else '-narrow'}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000, path


@pytest.fixture
def lab(store, toy, tmp_path):
    require_browser()
    mm.save_filter(store, "reds", {"dir": "train/red"})
    server = start_server(tmp_path / "jupyter", store.home, lab=True, timeout=120)
    try:
        yield server
    finally:
        server.stop()


def assert_reachable(page, form, step: int, where: str) -> int:
    """Every control of the step's body lies inside the form panel horizontally, is wide enough to
    use, and can be scrolled into view inside it; returns how many were checked."""
    panel = page.locator(".mm-FormPanel:visible").bounding_box()
    controls = form.locator(f'[data-step-body="{step}"]').locator(CONTROLS)
    n = controls.count()
    assert n, f"step {step} has no controls"
    for i in range(n):
        control = controls.nth(i)
        control.scroll_into_view_if_needed()
        box = control.bounding_box()
        label = control.get_attribute("aria-label") or control.inner_text() or f"#{i}"
        assert box and panel, (where, step, label)
        assert panel["x"] - 1 <= box["x"] and box["x"] + box["width"] <= panel["x"] + panel["width"] + 1, \
            f"{where}: step {step} control {label!r} is outside the panel horizontally ({box} vs {panel})"
        assert panel["y"] - 1 <= box["y"] and box["y"] + box["height"] <= panel["y"] + panel["height"] + 1, \
            f"{where}: step {step} control {label!r} cannot be scrolled into the panel ({box} vs {panel})"
        if control.evaluate("el => el.tagName") in ("INPUT", "SELECT") and \
                control.get_attribute("type") != "checkbox":
            assert box["width"] >= 80, f"{where}: step {step} control {label!r} is {box['width']:.0f} px wide"
    return n


def test_train_form_every_field_reachable_folder_and_saved_filter_send_what_they_show(lab, store):
    with models_sidebar(lab.url, lab.token) as (page, sidebar, errors):
        sidebar.locator('.mm-model[data-model="toy"] .mm-train-button').click()
        form = page.locator(".mm-train-form")
        form.wait_for()
        page.wait_for_function("() => document.querySelector('.mm-subset[data-role=\"train\"] .mm-count')"
                               "?.dataset.count > 0")

        # Folder: nothing chosen until a folder is picked; then it sends that folder, with its count
        train = form.locator('.mm-subset[data-role="train"]')
        train.get_by_label("Train subset by").select_option(label="Folder")
        value = train.get_by_label("Train subset value")
        assert value.locator("option:checked").inner_text() == "choose…"
        assert train.locator(".mm-field-error").inner_text() == "choose a subset"
        assert form.locator(".mm-submit-create").is_disabled()
        value.select_option(label="train/blue (2)")
        page.wait_for_function("() => document.querySelector('.mm-subset[data-role=\"train\"] .mm-count')"
                               "?.dataset.count === '2'")
        train.locator(".mm-link").click()  # Show filter
        assert json.loads(train.locator(".mm-filter-json").inner_text()) == {"dir": "train/blue"}
        assert train.get_by_label("Train subset by").input_value() == "dir"

        # Saved filter: the mode stays chosen, then the filter is the selection
        validation = form.locator('.mm-subset[data-role="validation"]')
        validation.get_by_label("Validation subset by").select_option(label="Saved filter")
        page.wait_for_timeout(500)
        assert validation.get_by_label("Validation subset by").input_value() == "filter", "snapped back"
        validation.get_by_label("Validation subset value").select_option("reds")
        page.wait_for_function("() => document.querySelector('.mm-subset[data-role=\"validation\"] .mm-count')"
                               "?.dataset.count === '2'")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "sidebar-train-form-subsets.png"))

        # Every step: every control inside the panel and usable, wide and narrow; each step screenshotted
        for width, where in SIZES:
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(300)
            if width == 1000:
                main = page.locator("#jp-main-dock-panel").bounding_box()
                assert main and 600 <= main["width"] <= 760, main
            for step, name in enumerate(TRAIN_STEPS):
                form.locator(f'[data-step="{step}"]').click()
                assert_reachable(page, form, step, where)
                step_screenshot(page, form, "sidebar-train-form", name, width)
        page.set_viewport_size({"width": 1400, "height": 900})

        # Create & Train sends what the form shows
        form.locator(".mm-submit-create").click()
        page.locator(".Toastify__toast", has_text="queued").first.wait_for(timeout=15_000)
    [exe] = mm.list_executions(kind="train", limit=5)
    params = store.get("executions", exe["id"])["params"]
    assert params["train_selection"] == {"dir": "train/blue"}
    assert params["validation_selection"] == {"query": {"dir": "train/red"}}, "the saved filter's query, recorded"
    mm.abort(exe["id"]) if exe["status"] not in ("success", "failed", "terminated", "aborted") else None
    assert not errors, errors


def test_evaluate_form_every_step_reachable_and_screenshotted(lab, store, toy):
    sid = toy(epochs=1)
    assert mm.train(sid, wait=True)["status"] == "success"
    with models_sidebar(lab.url, lab.token) as (page, sidebar, errors):
        sidebar.locator('.mm-tab[data-tab="versions"]').click()
        row = sidebar.locator(f'.mm-snapshot[data-id="{sid}"]')
        row.get_by_role("button", name="Evaluate…").click()
        form = page.locator(".mm-evaluate-form")
        form.wait_for()
        page.wait_for_function("() => document.querySelector('.mm-subset[data-role=\"test\"] .mm-count')"
                               "?.dataset.count > 0")
        assert form.get_by_label("Version").input_value() == sid
        assert form.locator(".mm-submit-evaluate").is_enabled(), "a trained version with its test subset: valid"
        for width, where in SIZES:
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(300)
            if width == 1000:
                main = page.locator("#jp-main-dock-panel").bounding_box()
                assert main and 600 <= main["width"] <= 760, main
            for step, name in enumerate(EVALUATE_STEPS):
                form.locator(f'[data-step="{step}"]').click()
                assert assert_reachable(page, form, step, where) >= (3 if name == "data" else 2)
                step_screenshot(page, form, "sidebar-evaluate-form", name, width)
    assert not errors, errors
