"""The evaluation view's read layer and REST routes against a real store and a real Jupyter server:
evaluations with real results (``evaluation.evaluate_predictions`` + ``write_artifacts`` on a
registered shapes dataset, no training), their summary (metrics with intervals, slices flagged worse,
PR curves, confusion matrix), their items worst first (filtered by slice, confusion cell, class;
paged), item images (only inside the dataset's root), and a clear line for every bad input."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import requests
from support.eval_data import BAD_GROUP, evaluation_execution, shapes_dataset
from support.helpers import TOY
from support.server_util import start_server

from mm_jupyter.evaluation import load_results

SLICE_BY = ["metadata.group", "metadata.lighting*metadata.background"]


def strict(resp: requests.Response, status: int = 200) -> dict:
    """The response's JSON, refusing NaN/Infinity (a browser's JSON.parse would)."""
    assert resp.status_code == status, f"{resp.status_code}: {resp.text[:500]}"

    def no_constant(name: str):
        raise AssertionError(f"{name} in the JSON of {resp.url}")

    return json.loads(resp.text, parse_constant=no_constant)


def refused(resp: requests.Response, status: int, text: str) -> str:
    assert resp.status_code == status, f"{resp.status_code}: {resp.text[:500]}"
    message = resp.json()["message"]
    assert "\n" not in message and "Traceback" not in resp.text, message
    assert text.lower() in message.lower(), message
    return message


def folder_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        h.update(str(path).encode() + (path.read_bytes() if path.is_file() else b""))
    return h.hexdigest()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A store with detection and classification evaluations (and unfinished, failed, result-less
    ones) and a jupyter server on it."""
    import mm_jupyter as mm
    from mm_jupyter.store import Store

    base = tmp_path_factory.mktemp("evalview")
    home = base / "mmhome"
    store = Store(home)
    det = shapes_dataset(store, base / "det", n=60, groups=4, name="shapes-det")
    cls = shapes_dataset(store, base / "cls", flavour="classify", n=45, groups=3, name="shapes-cls")
    bad = shapes_dataset(store, base / "bad", n=8, groups=2, name="shapes-bad")
    mm.register_model("toy", TOY, store=store)
    snaps = {name: mm.create_snapshot("toy", dataset=name, store=store)["id"]
             for name in ("shapes-det", "shapes-cls", "shapes-bad")}
    exes = {
        "det": evaluation_execution(store, det, snaps["shapes-det"], slice_by=SLICE_BY),
        "plain": evaluation_execution(store, det, snaps["shapes-det"], slice_by=[], intervals=False),
        "cls": evaluation_execution(store, cls, snaps["shapes-cls"], task="classify", slice_by=["metadata.group"]),
        "bad": evaluation_execution(store, bad, snaps["shapes-bad"], slice_by=["metadata.group"]),
        "running": evaluation_execution(store, det, snaps["shapes-det"], status="in-progress", write=False),
        "failed": evaluation_execution(store, det, snaps["shapes-det"], status="failed", write=False),
        "missing": evaluation_execution(store, det, snaps["shapes-det"], write=False),
    }
    store.update("executions", exes["failed"]["id"], error="ValueError: toy failure")
    server = start_server(base / "jupyter", home)
    try:
        yield server, store, exes, {"det": det, "cls": cls, "bad": bad}
    finally:
        server.stop()
        store.close()


def all_items(server, exe_id: str, **params) -> list[dict]:
    out, offset = [], 0
    while True:
        page = strict(server.call("GET", f"executions/{exe_id}/evaluation/items",
                                  params={**params, "offset": offset, "limit": 7}))
        out += page["items"]
        offset += 7
        if offset >= page["total"]:
            assert len(out) == page["total"]
            return out


def test_detection_summary_has_metrics_intervals_slices_and_curves(env):
    server, store, exes, data = env
    exe = exes["det"]
    folder = store.execution_dir(exe)
    before = folder_digest(folder)
    stored = load_results(folder)
    s = strict(server.call("GET", f"executions/{exe['id']}/evaluation"))
    assert s["state"] == "ready" and s["task"] == "detect" and s["main_metric"] == "mAP50-95"
    metrics = {m["name"]: m for m in s["metrics"]}
    assert list(metrics)[:5] == ["mAP50-95", "mAP50", "mAP75", "precision", "recall"]
    for name in ("mAP50-95", "mAP50", "recall"):
        assert metrics[name]["value"] == pytest.approx(stored[name])
        assert metrics[name]["ci"] == pytest.approx(stored["ci"][name])
    assert s["bootstrap"] == stored["bootstrap"] and s["n_items"] == 60
    assert s["labels"] == data["det"]["labels"] and set(s["pr_curves"]) == set(stored["pr_curve"])
    assert s["messages"] == [], s["messages"]
    rows = {r["name"]: r for r in s["slices"]}
    assert set(rows) == set(stored["slices"]) and len(rows) > 4
    groups = [r for r in rows.values() if r["field"] == "metadata.group"]
    assert len(groups) == 4 and sum(r["n"] for r in groups) == 60
    crossed = next(n for n in rows if "&" in n)
    assert rows[crossed]["field"] == "metadata.lighting*metadata.background"
    assert s["slice_fields"] == ["metadata.group", "metadata.lighting*metadata.background"]
    worst = rows[f"metadata.group={BAD_GROUP}"]
    assert "mAP50-95" in worst["worse"] and worst["delta"]["mAP50-95"] < 0
    assert worst["delta"]["mAP50-95"] == pytest.approx(worst["values"]["mAP50-95"] - stored["mAP50-95"])
    assert worst["ci"]["mAP50-95"] == pytest.approx(stored["slices"][f"metadata.group={BAD_GROUP}"]["ci"]["mAP50-95"])
    assert s["slice_metrics"] == ["mAP50-95", "mAP50", "mAP75", "precision", "recall"]
    assert folder_digest(folder) == before, "reading an evaluation never writes its records"


def test_detection_items_worst_first_paged_and_filtered(env):
    server, store, exes, data = env
    exe = exes["det"]
    items = all_items(server, exe["id"])
    assert len(items) == 60 and len({i["item_id"] for i in items}) == 60
    errors = [i["fp"] + i["fn"] for i in items]
    assert errors == sorted(errors, reverse=True) and errors[0] > 0
    conf = load_results(store.execution_dir(exe))["conf_threshold"]
    truth = {it.id: it for it in __import__("mm_jupyter").select_items(store, data["det"]["id"], {"tag": "test"})}
    labels = data["det"]["labels"]
    for item in items:
        ann = truth[item["item_id"]].annotations
        assert [b["box"] for b in item["gt_boxes"]] == ann["boxes"]
        assert [b["label"] for b in item["gt_boxes"]] == [labels[k] for k in ann["labels"]]
        assert all(b["score"] >= conf for b in item["pred_boxes"])
        assert item["image"] == {"ok": True, "problem": None} and item["width"] == 64
    # a slice: its items only, as many as the slice has
    name = f"metadata.group={BAD_GROUP}"
    sliced = all_items(server, exe["id"], slice=name)
    n = next(r["n"] for r in strict(server.call("GET", f"executions/{exe['id']}/evaluation"))["slices"]
             if r["name"] == name)
    assert len(sliced) == n and all(truth[i["item_id"]].metadata["group"] == BAD_GROUP for i in sliced)
    # a class: an item with that class among its ground truth or its shown predictions
    tri = all_items(server, exe["id"], cls="triangle")
    assert tri and all("triangle" in [b["label"] for b in i["gt_boxes"] + i["pred_boxes"]] for i in tri)
    assert len(tri) < 60
    both = all_items(server, exe["id"], cls="triangle", slice=name)
    assert {i["item_id"] for i in both} == {i["item_id"] for i in tri} & {i["item_id"] for i in sliced}


def test_detection_confusion_counts_boxes_and_its_cells_list_their_images(env):
    """Rows sum to the ground-truth boxes of each class, columns to the predictions shown (score at
    least the threshold) of each class; a cell lists the images holding a box of it."""
    server, store, exes, data = env
    exe = exes["det"]
    s = strict(server.call("GET", f"executions/{exe['id']}/evaluation"))
    labels = data["det"]["labels"]
    cm = s["confusion"]
    assert cm["unit"] == "boxes" and cm["labels"] == [*labels, "(background)"]
    matrix = cm["matrix"]
    truth = {it.id: it for it in __import__("mm_jupyter").select_items(store, data["det"]["id"], {"tag": "test"})}
    items = all_items(server, exe["id"])
    for k, name in enumerate(labels):
        gt = sum(ann.count(k) for ann in (t.annotations["labels"] for t in truth.values()))
        shown = sum(1 for i in items for b in i["pred_boxes"] if b["label"] == name)
        assert sum(matrix[k]) == gt, name
        assert sum(row[k] for row in matrix) == shown, name
    assert matrix[-1][-1] == 0
    assert sum(matrix[k][k] for k in range(len(labels))) > 0, "some boxes found and named right"
    records = [json.loads(line) for line in (store.execution_dir(exe) / "items.jsonl").read_text().splitlines()]
    for i, t in enumerate(cm["labels"]):
        for j, p in enumerate(cm["labels"]):
            if not matrix[i][j]:
                continue
            page = strict(server.call("GET", f"executions/{exe['id']}/evaluation/items",
                                      params={"true": t, "pred": p, "limit": 200}))
            expected = {r["item_id"] for r in records if [t, p] in r["confusion"]}
            assert {it["item_id"] for it in page["items"]} == expected and page["total"] == len(expected)
    refused(server.call("GET", f"executions/{exe['id']}/evaluation/items", params={"true": "nope"}), 400, "'nope'")


def test_classification_confusion_cells_list_their_items(env):
    server, store, exes, data = env
    exe = exes["cls"]
    s = strict(server.call("GET", f"executions/{exe['id']}/evaluation"))
    stored = load_results(store.execution_dir(exe))
    assert s["task"] == "classify" and s["confusion"] == {"labels": stored["labels"], "matrix": stored["confusion_matrix"],
                                                          "unit": "items"}
    assert {m["name"] for m in s["metrics"]} >= {"accuracy", "macro_f1"}
    assert s["pr_curves"] == {}
    labels = s["confusion"]["labels"]
    for i, t in enumerate(labels):
        for j, p in enumerate(labels):
            page = strict(server.call("GET", f"executions/{exe['id']}/evaluation/items",
                                      params={"true": t, "pred": p, "limit": 200}))
            assert page["total"] == s["confusion"]["matrix"][i][j], (t, p)
            assert all(it["true"] == t and it["pred"] == p for it in page["items"])
    items = all_items(server, exe["id"])
    wrong = [i for i in items if not i["correct"]]
    assert wrong and items[:len(wrong)] == wrong, "wrong predictions first"
    assert [i["confidence"] for i in wrong] == sorted((i["confidence"] for i in wrong), reverse=True)
    assert "gt_boxes" not in items[0]
    flagged = {r["name"] for r in s["slices"] if r["worse"]}
    assert f"metadata.group={BAD_GROUP}" in flagged


def test_slice_membership_from_records_or_recomputed_agree(env):
    """Records with ``slices`` (as the lead's items.jsonl will hold) give the same pages as the
    membership computed again from the items' fields."""
    from mm_jupyter.queries import evaluations

    server, store, exes, data = env
    exe = exes["det"]
    name = f"metadata.group={BAD_GROUP}"
    recomputed = evaluations.items_page(store, exe["id"], slice_name=name, limit=200)
    folder = store.execution_dir(exe)
    copy = store.insert("executions", {**{k: v for k, v in exe.items() if k not in ("id", "created_at")},
                                       "name": "evaluate with sliced records"})
    target = store.execution_dir(copy)
    target.mkdir(parents=True)
    for f in ("results.json", "predictions.jsonl", "slices.csv"):
        (target / f).write_bytes((folder / f).read_bytes())
    members = {i["item_id"] for i in recomputed["items"]}
    records = [json.loads(line) for line in (folder / "items.jsonl").read_text().splitlines()]
    (target / "items.jsonl").write_text("".join(
        json.dumps({**r, "slices": [name] if r["item_id"] in members else []}) + "\n" for r in records))
    from_records = evaluations.items_page(store, copy["id"], slice_name=name, limit=200)
    assert from_records["items"] and [i["item_id"] for i in from_records["items"]] == \
        [i["item_id"] for i in recomputed["items"]]
    assert "slices" not in from_records["items"][0]


def test_images_are_served_only_from_inside_the_dataset(env, tmp_path):
    server, store, exes, data = env
    exe = exes["det"]
    item = all_items(server, exe["id"])[0]
    resp = server.call("GET", item["image_url"])
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "image/png"
    path = Path(data["det"]["root"]) / item["dir"] / item["name"]
    assert resp.content == path.read_bytes()
    assert server.call("GET", item["image_url"], token=False).status_code == 403
    other = exes["cls"]
    refused(server.call("GET", f"executions/{exe['id']}/evaluation/items/999999/image"), 404,
            "is not among the items of evaluation")
    cls_item = all_items(server, other["id"])[0]["item_id"]
    if cls_item not in {i["item_id"] for i in all_items(server, exe["id"])}:
        refused(server.call("GET", f"executions/{exe['id']}/evaluation/items/{cls_item}/image"), 404, "not among")

    # the bad dataset: one image deleted, one replaced by a link to a file outside its folder
    bad = exes["bad"]
    items = all_items(server, bad["id"])
    root = Path(data["bad"]["root"])
    gone, linked = items[0], items[1]
    (root / gone["dir"] / gone["name"]).unlink()
    outside = tmp_path / "secret.png"
    outside.write_bytes((root / linked["dir"] / linked["name"]).read_bytes())
    (root / linked["dir"] / linked["name"]).unlink()
    os.symlink(outside, root / linked["dir"] / linked["name"])
    refused(server.call("GET", gone["image_url"]), 404, "is not on disk")
    message = refused(server.call("GET", linked["image_url"]), 404, "outside the dataset's folder")
    assert str(tmp_path) not in message
    shown = {i["item_id"]: i for i in all_items(server, bad["id"])}
    assert shown[gone["item_id"]]["image"] == {"ok": False, "problem": f"its image {gone['dir']}/{gone['name']} is not on disk"}
    assert not shown[linked["item_id"]]["image"]["ok"]
    assert "outside" in shown[linked["item_id"]]["image"]["problem"]
    assert sum(i["image"]["ok"] for i in shown.values()) == len(shown) - 2, "the other items still show"
    assert strict(server.call("GET", f"executions/{bad['id']}/evaluation"))["state"] == "ready"


def test_bad_input_gets_one_clear_line(env):
    server, store, exes, data = env
    plain = strict(server.call("GET", f"executions/{exes['plain']['id']}/evaluation"))
    assert plain["state"] == "ready" and plain["slices"] == [] and plain["slice_fields"] == []
    assert "this evaluation has no slices: it was run with slice_by=[]" in plain["messages"]
    assert any(m.startswith("no confidence intervals") for m in plain["messages"])
    assert all(m["ci"] is None for m in plain["metrics"]) and plain["bootstrap"] is None
    assert strict(server.call("GET", f"executions/{exes['plain']['id']}/evaluation/items"))["total"] == 60
    refused(server.call("GET", f"executions/{exes['plain']['id']}/evaluation/items", params={"slice": "dir=x"}),
            400, "unknown slice 'dir=x'")
    running = strict(server.call("GET", f"executions/{exes['running']['id']}/evaluation"))
    assert running["state"] == "running" and "has not finished (in-progress)" in running["message"]
    failed = strict(server.call("GET", f"executions/{exes['failed']['id']}/evaluation"))
    assert failed["state"] == "failed" and failed["message"] == \
        "the evaluation ended failed, without results: ValueError: toy failure"
    missing = strict(server.call("GET", f"executions/{exes['missing']['id']}/evaluation"))
    assert missing["state"] == "missing" and "no results.json" in missing["message"]
    refused(server.call("GET", f"executions/{exes['running']['id']}/evaluation/items"), 400, "has no items to show")
    det = exes["det"]["id"]
    items = f"executions/{det}/evaluation/items"
    refused(server.call("GET", items, params={"limit": "0"}), 400, "limit")
    refused(server.call("GET", items, params={"offset": "-1"}), 400, "offset")
    refused(server.call("GET", items, params={"true": "hexagon"}), 400, "true label 'hexagon' is not one of")
    refused(server.call("GET", items, params={"cls": "hexagon"}), 400, "class 'hexagon' is not one of")
    refused(server.call("GET", f"executions/{exes['cls']['id']}/evaluation/items", params={"pred": "hexagon"}),
            400, "pred label 'hexagon'")
    refused(server.call("GET", "executions/e-nope/evaluation"), 404, "unknown execution")
    train = store.insert("executions", {**{k: v for k, v in exes["det"].items() if k not in ("id", "created_at")},
                                        "kind": "train", "name": "a training"})
    refused(server.call("GET", f"executions/{train['id']}/evaluation"), 400, "is a train, not an evaluation")
    refused(server.call("GET", f"executions/{det}/evaluation/items/12x/image"), 404, "unknown route")


def test_unreadable_results_and_non_finite_numbers(env):
    from mm_jupyter.queries import evaluations

    server, store, exes, data = env
    exe = store.insert("executions", {**{k: v for k, v in exes["det"].items() if k not in ("id", "created_at")},
                                      "name": "odd results"})
    folder = store.execution_dir(exe)
    folder.mkdir(parents=True)
    (folder / "results.json").write_text("{not json")
    s = strict(server.call("GET", f"executions/{exe['id']}/evaluation"))
    assert s["state"] == "missing" and s["message"].startswith("results.json of this evaluation cannot be read")
    (folder / "results.json").write_text('{"mAP50-95": NaN, "mAP50": 0.5, "conf_threshold": 0.3, '
                                         '"slices": {"dir=a": {"mAP50-95": NaN, "mAP50": 0.4, "n_images": 3}}}')
    os.utime(folder / "results.json", ns=(1, 1))  # a new modification time: read again
    s = strict(server.call("GET", f"executions/{exe['id']}/evaluation"))
    assert s["state"] == "ready" and {m["name"]: m["value"] for m in s["metrics"]} == {"mAP50": 0.5}
    row = s["slices"][0]
    assert row["values"] == {"mAP50-95": None, "mAP50": 0.4} and row["n"] == 3
    assert row["delta"]["mAP50"] == pytest.approx(-0.1) and row["delta"]["mAP50-95"] is None
    assert "this evaluation stored no per-item records (items.jsonl): no items to show" in s["messages"]
    assert evaluations.items_page(store, exe["id"])["total"] == 0


def test_the_widget_reads_slices_through_the_read_layer(env):
    from mm_jupyter.queries import evaluations
    from mm_jupyter.widgets import slices as wslices

    server, store, exes, data = env
    exe = store.get("executions", exes["det"]["id"])
    values = wslices.slice_metrics(store, exe, "detect")
    assert values == evaluations.slice_values(store, exe)
    stored = load_results(store.execution_dir(exe))["slices"]
    assert set(values) == set(stored)
    name = f"metadata.group={BAD_GROUP}"
    assert values[name]["mAP50-95"] == stored[name]["mAP50-95"] and "ci" not in values[name]


@pytest.mark.slow
def test_a_real_evaluation_run_reads_back(store, toy, tmp_path):
    """A toy version trained and evaluated by the runner (kernels, papermill): its view reads back."""
    import mm_jupyter as mm
    from mm_jupyter.queries import evaluations

    snap = toy(epochs=1)
    assert mm.train(snap, wait=True)["status"] == "success"
    ev = mm.evaluate(snap, wait=True)
    assert ev["status"] == "success", ev["error"]
    s = evaluations.summary(store, ev["id"])
    assert s["state"] == "ready" and s["task"] == "classify" and s["n_items"] == 4
    assert {r["name"] for r in s["slices"]} >= {"dir=test/blue", "dir=test/red"}
    page = evaluations.items_page(store, ev["id"], slice_name="dir=test/red")
    assert page["total"] == 2 and all(i["image"]["ok"] and i["correct"] for i in page["items"])
    assert evaluations.image_path(store, ev["id"], page["items"][0]["item_id"]).is_file()
