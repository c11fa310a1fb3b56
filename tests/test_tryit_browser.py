"""Try it and deployments in the sidebar as a person uses them, in a real browser (Debian Chromium,
Playwright) against a JupyterLab started by the test on a real store: a detection version (the toy
detector's pre-trained weights, no torch) predicts an uploaded image and a picked dataset item, its
boxes drawn over the image where the record puts them, scaled to the displayed size, labelled with
their scores, filtered by the score slider; a trained toy classifier answers with its label, score and
top classes; Deploy on its page makes it ``deployed`` (predictions then come through the deployment),
the Services tab lists the deployment with its health, Undeploy there makes it ``trained`` again. A
file that is not an image is one red line and nothing else breaks. At 1400x900 and with a main area
about 700 px wide, every control, box and label lies inside its panel. Screenshots:
docs/screenshots/sidebar-tryit.png, sidebar-tryit-narrow.png, sidebar-deployments.png."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from support.browser_util import (
    SIDEBAR_PANEL,
    assert_controls_usable,
    models_sidebar,
    open_version,
    require_browser,
)
from support.eval_data import shapes_dataset
from support.server_util import start_server

import mm_jupyter as mm

pytestmark = pytest.mark.slow
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
SIZES = ((1400, "1400x900"), (1000, "main area ~700 px"))
PANEL = SIDEBAR_PANEL
DETECTOR = "toy_detector:ToyDetector"
# the toy detector's boxes (fractions of the image) over the threshold 0.25 the slider starts at
SHOWN = {"circle": ((0.10, 0.30, 0.55, 0.90), "0.92"), "square": ((0.60, 0.02, 0.97, 0.45), "0.55")}


def inside(box: dict, outer: dict, slack: float = 1.0) -> bool:
    return (outer["x"] - slack <= box["x"] and box["x"] + box["width"] <= outer["x"] + outer["width"] + slack
            and outer["y"] - slack <= box["y"] and box["y"] + box["height"] <= outer["y"] + outer["height"] + slack)


def assert_boxes_drawn(page, view, where: str) -> None:
    """The shown boxes lie where the record puts them on the image as displayed; boxes, labels and
    the image lie inside the panel."""
    frame = view.locator(".mm-tryit-frame")
    frame.scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('.mm-tryit-frame img')?.naturalWidth > 0")
    fb, panel = frame.bounding_box(), page.locator(PANEL).bounding_box()
    assert fb["width"] >= 150, (where, fb)
    assert inside(fb, panel), (where, fb, panel)
    boxes = view.locator(".mm-tryit-box")
    assert boxes.count() == len(SHOWN), (where, boxes.count())
    for i in range(boxes.count()):
        box = boxes.nth(i)
        (x1, y1, x2, y2), score = SHOWN[box.get_attribute("data-label")]
        bb = box.bounding_box()
        expected = {"x": fb["x"] + x1 * fb["width"], "y": fb["y"] + y1 * fb["height"],
                    "width": (x2 - x1) * fb["width"], "height": (y2 - y1) * fb["height"]}
        for k, v in expected.items():
            assert abs(bb[k] - v) <= 2.0, (where, box.get_attribute("data-label"), k, bb, expected)
        label = box.locator(".mm-tryit-box-label")
        assert label.is_visible() and label.inner_text() == f"{box.get_attribute('data-label')} {score}"
        lb = label.bounding_box()
        assert inside(lb, fb) and inside(lb, panel), (where, "label outside", lb, fb)


def shapes_image(path: Path, size=(320, 240)) -> Path:
    im = Image.new("RGB", size, (236, 239, 241))
    draw = ImageDraw.Draw(im)
    draw.ellipse((40, 80, 170, 210), fill=(33, 150, 243))
    draw.rectangle((200, 10, 300, 100), fill=(76, 175, 80))
    im.save(path)
    return path


@pytest.fixture
def lab(store, toy, tmp_path):
    require_browser()
    classifier = mm.create_and_train("toy", config={"epochs": 1}, dataset="toy-data", name="toy-cls", wait=True)
    assert classifier["status"] == "success", classifier
    shapes = shapes_dataset(store, tmp_path / "shapes", flavour="detect", n=20, size=128, name="shapes")
    mm.register_model("det", DETECTOR, labels=["circle", "square"], store=store)
    weights = tmp_path / "det-weights.json"
    weights.write_text('{"detector": "toy"}')
    detector = mm.add_pretrained("det", str(weights), name="det-pre", store=store)
    assert detector["status"] == "pre-trained", detector
    server = start_server(tmp_path / "jupyter", store.home, lab=True, timeout=120)
    try:
        yield server, {"classifier": classifier["snapshot_id"], "detector": detector["id"], "shapes": shapes["id"]}
    finally:
        for dep in mm.deployments(store=store):
            if dep["status"] in ("starting", "running"):
                mm.undeploy(dep["id"], store=store)
        server.stop()


def test_try_a_detection_version_upload_and_item_with_boxes_in_a_real_browser(lab, store, tmp_path):
    server, ids = lab
    good = shapes_image(tmp_path / "shapes-upload.png")
    bad = tmp_path / "notes.png"
    bad.write_text("not an image at all\n")
    with models_sidebar(server.url, server.token) as (page, sidebar, errors):
        view = open_version(sidebar, ids["detector"])
        assert view.locator(".mm-version-head .mm-status").inner_text() == "pre-trained"
        tryit = view.locator('[data-section="tryit"]')

        # an uploaded image: the busy line, then the boxes over 0.25 where the record puts them
        tryit.locator(".mm-tryit-file").set_input_files(str(good))
        tryit.locator('.mm-tryit-result[data-task="detection"]').wait_for(timeout=60_000)
        assert tryit.locator(".mm-tryit-result").get_attribute("data-via") == "kernel"
        assert tryit.locator(".mm-tryit-frame").get_attribute("data-width") == "320"
        assert tryit.locator(".mm-tryit-summary").inner_text() == "2 of 3 boxes at score ≥ 0.25"
        assert tryit.locator(".mm-error-line").count() == 0
        for width, where in SIZES:
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(300)
            if width == 1000:
                main = page.locator("#jp-main-dock-panel").bounding_box()
                assert main and 600 <= main["width"] <= 760, main
            assert_controls_usable(page, tryit, PANEL, where)
            assert_boxes_drawn(page, tryit, where)
            tryit.locator(".mm-tryit-frame").scroll_into_view_if_needed()
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / ("sidebar-tryit.png" if width == 1400 else "sidebar-tryit-narrow.png")))
        page.set_viewport_size({"width": 1400, "height": 900})

        # the score slider: Home shows every box, five steps up hides the 0.15 one again
        slider = tryit.get_by_label("Score threshold")
        slider.focus()
        page.keyboard.press("Home")
        assert tryit.locator(".mm-tryit-box").count() == 3
        assert tryit.locator(".mm-tryit-summary").inner_text() == "3 boxes"
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        assert tryit.locator(".mm-tryit-box").count() == 2

        # a file that is not an image: one red line, no image, no boxes; the section still works
        tryit.locator(".mm-tryit-file").set_input_files(str(bad))
        line = tryit.locator(".mm-tryit-error")
        line.wait_for(timeout=30_000)
        assert "'notes.png' is not an image" in line.inner_text(), line.inner_text()
        assert view.locator(".mm-error-line").count() == 1
        assert tryit.locator(".mm-tryit-result, .mm-tryit-frame, .mm-tryit-box").count() == 0

        # a dataset item: the shapes dataset, searched and paged; its image route with the boxes
        tryit.get_by_label("Dataset to pick an item from").select_option(ids["shapes"])
        # the previous dataset's page may show until the new one arrives: wait for the new total
        tryit.locator(".mm-tryit-page", has_text="1–8 of 20").wait_for()
        assert tryit.locator(".mm-tryit-item").count() == 8
        tryit.get_by_label("Next items").click()
        tryit.locator(".mm-tryit-page", has_text="9–16 of 20").wait_for()
        tryit.get_by_label("Search items by path").fill("00013")
        page.wait_for_function("() => document.querySelectorAll('.mm-tryit-item').length === 1")
        item = tryit.locator(".mm-tryit-item").first
        item_id = item.get_attribute("data-item")
        item.click()
        tryit.locator('.mm-tryit-result[data-task="detection"]').wait_for(timeout=60_000)
        assert tryit.locator(".mm-tryit-error").count() == 0, "a good prediction clears the red line"
        assert f"/items/{item_id}/image" in tryit.locator(".mm-tryit-frame img").get_attribute("src")
        assert tryit.locator(".mm-tryit-frame").get_attribute("data-width") == "128"
        assert item.get_attribute("aria-pressed") == "true"
        assert_boxes_drawn(page, tryit, "dataset item")
    assert not errors, errors


def test_try_a_classifier_deploy_and_undeploy_in_a_real_browser(lab, store, tmp_path):
    server, ids = lab
    version = ids["classifier"]
    upload = tmp_path / "red.png"
    Image.new("RGB", (48, 48), (255, 0, 0)).save(upload)
    with models_sidebar(server.url, server.token) as (page, sidebar, errors):
        view = open_version(sidebar, version)
        status = view.locator(".mm-version-head .mm-status")
        assert status.inner_text() == "trained"
        tryit = view.locator('[data-section="tryit"]')

        # an item of the version's own dataset (picked by default): its label, score and top classes
        page.wait_for_function("() => document.querySelectorAll('.mm-tryit-item').length >= 1")
        tryit.locator(".mm-tryit-item").first.click()
        result = tryit.locator('.mm-tryit-result[data-task="classification"]')
        result.wait_for(timeout=60_000)
        label = result.locator(".mm-tryit-label")
        assert label.get_attribute("data-label") in ("blue", "red") and label.locator(".mm-tryit-score").inner_text() == "1.00"
        assert result.locator(".mm-tryit-topk li").count() == 2
        assert result.get_attribute("data-via") == "kernel"
        for width, where in SIZES:
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(300)
            assert_controls_usable(page, tryit, PANEL, where)
            panel = page.locator(PANEL).bounding_box()
            for part in (label, result.locator(".mm-tryit-thumb"), result.locator(".mm-tryit-topk")):
                part.scroll_into_view_if_needed()
                assert part.is_visible() and inside(part.bounding_box(), panel), (where, part.bounding_box(), panel)
        page.set_viewport_size({"width": 1400, "height": 900})

        # Deploy: the version is deployed, its deployment runs and answers the next prediction
        deployments = view.locator('[data-section="deployments"]')
        deployments.locator(".mm-deploy").click()
        card = deployments.locator('.mm-deployment[data-status="running"]')
        card.wait_for(timeout=90_000)
        dep_id = card.get_attribute("data-id")
        page.wait_for_function(f"""() => document.querySelector('.mm-version-page[data-id="{version}"] .mm-version-head .mm-status')
            ?.textContent === 'deployed'""", timeout=15_000)
        assert deployments.locator(".mm-deploy").is_disabled()
        assert card.locator(".mm-deployment-health").inner_text() == "ok"
        tryit.locator(".mm-tryit-file").set_input_files(str(upload))
        tryit.locator(f'.mm-tryit-result[data-via="{dep_id}"]').wait_for(timeout=60_000)
        assert tryit.locator(".mm-tryit-label").get_attribute("data-label")  # the toy's first label
        assert_controls_usable(page, deployments, PANEL, "version page deployments")

        # the Services tab lists it: id, version, model, status, health, kernel; Undeploy there
        sidebar.locator('.mm-tab[data-tab="services"]').click()
        listed = sidebar.locator(f'.mm-deployments .mm-deployment[data-id="{dep_id}"]')
        listed.wait_for()
        text = listed.inner_text()
        for part in (dep_id, "running", "toy-cls", "toy", "ok", "Kernel"):
            assert part in text, (part, text)
        for width, where in SIZES:
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(300)
            assert_controls_usable(page, sidebar.locator(".mm-deployments"), PANEL, f"deployments {where}")
        page.set_viewport_size({"width": 1400, "height": 900})
        listed.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "sidebar-deployments.png"))
        listed.locator(".mm-undeploy").click()
        listed.wait_for(state="detached", timeout=30_000)
        sidebar.locator(".mm-no-deployments").wait_for()
        assert server.call("GET", f"deployments/{dep_id}").json()["status"] == "stopped"

        # back on its page: trained again, the ended deployment kept behind a link; Deploy offered again
        listed_version = sidebar.locator(".mm-deployments-all")
        listed_version.click()  # stopped ones too
        sidebar.locator(f'.mm-deployment[data-id="{dep_id}"][data-status="stopped"] .mm-version-link').click()
        view.locator(".mm-version-name").wait_for()
        page.wait_for_function(f"""() => document.querySelector('.mm-version-page[data-id="{version}"] .mm-version-head .mm-status')
            ?.textContent === 'trained'""", timeout=15_000)
        assert not deployments.locator(".mm-deploy").is_disabled()
        deployments.locator(".mm-deployments-ended").click()
        deployments.locator(f'.mm-deployment[data-id="{dep_id}"][data-status="stopped"]').wait_for()
    assert store.get("snapshots", version)["status"] == "trained", "the stored status is never rewritten"
    assert not errors, errors
