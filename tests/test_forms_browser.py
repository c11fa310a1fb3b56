"""The sidebar's Train and Evaluate forms as a person uses them, in a real browser (Debian Chromium,
Playwright): every field of every step visible and reachable inside the form's panel, at 1400x900
and with a narrow main area, each step screenshotted at both (docs/screenshots/sidebar-train-form-
<step>.png, sidebar-evaluate-form-<step>.png, ``-narrow`` for the narrow main area); the Folder
picker sends the folder it shows (its count is that filter's count); Saved filter mode stays chosen;
the service step's Runner and Tracking URL are visible inside the panel at both widths, pre-filled
from the service, checked with the core's messages, sent as typed only when changed (an unreachable
tracking URL with a Dask runner is the core's one-line refusal in the form, and nothing is created);
Create & Train submits exactly what the form shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.browser_util import assert_controls_usable, models_sidebar, require_browser
from support.helpers import free_port
from support.server_util import start_server

import mm_jupyter as mm
from mm_jupyter.scheduler import ensure_service

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


FORM_PANEL = ".mm-FormPanel:visible"
NEW_SERVICE_FIELDS = (("service.runner", "Runner"), ("service.tracking_url", "Tracking URL"))
TRACKING_HINT = ("with a dask:// runner: workers that share nothing with this machine report here (a Jupyter server "
                 "or mm serve); empty: workers open this store")


def posted_bodies(page, path: str) -> list[dict]:
    """The JSON bodies the page POSTs to ``/mm-jupyter/api/<path>`` from now on (what the form sent)."""
    bodies: list[dict] = []

    def seen(request) -> None:
        if request.method == "POST" and request.url.split("?")[0].endswith(f"/mm-jupyter/api/{path}"):
            bodies.append(json.loads(request.post_data or "{}"))

    page.on("request", seen)
    return bodies


def assert_service_fields_usable(page, form, where: str) -> None:
    """Runner and Tracking URL: shown, with their hints, and every control inside the form's panel."""
    for name, label in NEW_SERVICE_FIELDS:
        field = form.locator(f'[data-field="{name}"]')
        assert field.is_visible() and field.get_by_label(label).is_visible(), f"{where}: {label} is not shown"
        assert assert_controls_usable(page, field, FORM_PANEL, f"{where}: {label}") == 1
    hint = form.locator('[data-field="service.tracking_url"] .mm-field-hint')
    if hint.count():  # (an error replaces the hint)
        assert hint.inner_text() == TRACKING_HINT


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
                if name == "service":
                    assert_service_fields_usable(page, form, where)
                step_screenshot(page, form, "sidebar-train-form", name, width)
        page.set_viewport_size({"width": 1400, "height": 900})

        # Runner and Tracking URL: the service's (defaults: local, none), checked as the core checks them
        form.locator('[data-step="2"]').click()
        runner, tracking = form.get_by_label("Runner"), form.get_by_label("Tracking URL")
        assert runner.input_value() == "local" and tracking.input_value() == ""
        runner_error = form.locator('[data-field="service.runner"] .mm-field-error')
        tracking_error = form.locator('[data-field="service.tracking_url"] .mm-field-error')
        runner.fill("dask://scheduler")
        assert runner_error.inner_text() == "runner must be 'local' or 'dask://host:port', got 'dask://scheduler'"
        assert form.locator(".mm-submit-create").is_disabled()
        runner.fill("local")
        tracking.fill("http://127.0.0.1:8888")
        assert tracking_error.inner_text() == ("service setting tracking_url needs a dask://host:port runner "
                                               "(a local run writes to the store directly)")
        assert form.locator(".mm-submit-create").is_disabled()

        # a Dask runner with a tracking URL nobody answers: sent as typed, refused by the core in one
        # line shown in the form; nothing is created
        sent = posted_bodies(page, "train")
        scheduler, dead = free_port(), free_port()
        runner.fill(f"dask://127.0.0.1:{scheduler}")
        tracking.fill(f"http://127.0.0.1:{dead}")
        assert not tracking_error.count() and not runner_error.count()
        assert_service_fields_usable(page, form, "dask runner typed")
        page.screenshot(path=str(SCREENSHOTS / "sidebar-train-form-service-remote.png"))
        n_versions = len(mm.snapshots("toy"))
        train_service = f"mgmt-train-{store.get('models', 'toy')['id']}"
        service_before = store.first("services", name=train_service)
        form.locator(".mm-submit-create").click()
        refusal = form.locator(".mm-server-error")
        refusal.wait_for(timeout=15_000)
        assert refusal.inner_text().startswith(f"tracking URL http://127.0.0.1:{dead} is unreachable: "), \
            refusal.inner_text()
        assert "\n" not in refusal.inner_text().strip()
        assert refusal.is_visible()
        page.screenshot(path=str(SCREENSHOTS / "sidebar-train-form-service-refused.png"))
        assert len(sent) == 1, sent
        assert sent[0]["service"]["runner"] == f"dask://127.0.0.1:{scheduler}"
        assert sent[0]["service"]["tracking_url"] == f"http://127.0.0.1:{dead}"
        assert mm.list_executions(kind="train", limit=5) == [] and len(mm.snapshots("toy")) == n_versions
        assert store.first("services", name=train_service) == service_before, "the service is not changed"

        # back to the service's own settings: a plain submit sends no runner or tracking URL
        runner.fill("local")
        tracking.fill("")

        # Create & Train sends what the form shows
        form.locator(".mm-submit-create").click()
        page.locator(".Toastify__toast", has_text="queued").first.wait_for(timeout=15_000)
        assert len(sent) == 2 and "runner" not in sent[1]["service"] and "tracking_url" not in sent[1]["service"], sent
    [exe] = mm.list_executions(kind="train", limit=5)
    params = store.get("executions", exe["id"])["params"]
    assert params["train_selection"] == {"dir": "train/blue"}
    assert params["validation_selection"] == {"query": {"dir": "train/red"}}, "the saved filter's query, recorded"
    mm.abort(exe["id"]) if exe["status"] not in ("success", "failed", "terminated", "aborted") else None
    assert not errors, errors


def test_evaluate_form_every_step_reachable_and_screenshotted(lab, store, toy):
    sid = toy(epochs=1)
    assert mm.train(sid, wait=True)["status"] == "success"
    model_id = store.get("snapshots", sid)["model_id"]
    scheduler, tracking_port = free_port(), free_port()
    ensure_service(store, model_id, "evaluate", {"runner": f"dask://127.0.0.1:{scheduler}",
                                                 "tracking_url": f"http://127.0.0.1:{tracking_port}"})
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
                assert assert_reachable(page, form, step, where) >= (3 if name == "data" else 4)
                if name == "service":
                    assert_service_fields_usable(page, form, where)
                step_screenshot(page, form, "sidebar-evaluate-form", name, width)
        # the service's own runner and tracking URL, pre-filled; unchanged, they are not sent
        assert form.get_by_label("Runner").input_value() == f"dask://127.0.0.1:{scheduler}"
        assert form.get_by_label("Tracking URL").input_value() == f"http://127.0.0.1:{tracking_port}"
        assert not form.locator('[data-field^="service."] .mm-field-error').count()
        sent = posted_bodies(page, "evaluate")
        form.locator(".mm-submit-evaluate").click()
        refusal = form.locator(".mm-server-error")
        refusal.wait_for(timeout=15_000)
        assert refusal.inner_text().startswith(f"tracking URL http://127.0.0.1:{tracking_port} is unreachable: ")
        assert len(sent) == 1 and "runner" not in sent[0]["service"] and "tracking_url" not in sent[0]["service"]
        assert mm.list_executions(kind="evaluate", limit=5) == []
    assert not errors, errors
