"""Bootstrap confidence intervals of the evaluation metrics: the weighted (multiplicity) replicates equal
evaluating the repeated image set, intervals are seeded and sensible, slices significantly worse are
flagged, and the evaluation writes and shows them."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math

import numpy as np
import pytest

from mm_jupyter import runtime
from mm_jupyter.evaluation import evaluate_predictions, write_artifacts
from mm_jupyter.items import Item, Prediction
from mm_jupyter.metrics import MetricsInputError
from mm_jupyter.metrics import detection as det
from mm_jupyter.metrics.bootstrap import multiplicities
from mm_jupyter.metrics.classification import classification_metrics
from mm_jupyter.metrics.curves import at_confidence
from mm_jupyter.metrics.detection import coco_evaluate

HEADLINE = ("map50_95", "map50", "map75", "precision", "recall")


def boxes_set(seed: int, n_images: int = 24, n_cats: int = 3, crowd: float = 0.1, crowded_image: bool = False,
              bad: set[int] | None = None) -> tuple[dict, list[dict]]:
    """COCO gt + detections with distinct scores: jittered true positives (far off on the images of
    ``bad``), duplicates, false positives, crowd boxes, images without gt, optionally > 100 detections on
    one image."""
    rng = np.random.default_rng(seed)
    images = [{"id": 5 + 2 * i, "width": 400, "height": 300} for i in range(n_images)]
    cats = [{"id": c + 1, "name": f"c{c}"} for c in range(n_cats)]
    anns, dets = [], []
    for img in images:
        far = bad is not None and img["id"] in bad
        for _ in range(0 if rng.random() < 0.15 else int(rng.integers(1, 7))):
            w, h = rng.uniform(8, 110, 2)
            x, y = rng.uniform(0, 280), rng.uniform(0, 180)
            cat = int(rng.integers(1, n_cats + 1))
            anns.append({"id": len(anns) + 1, "image_id": img["id"], "category_id": cat, "bbox": [x, y, w, h],
                         "area": w * h, "iscrowd": int(rng.random() < crowd)})
            for _ in range(int(rng.integers(0, 3))):
                jx, jy, jw, jh = rng.normal(0, 0.6 if far else 0.1, 4)
                label = cat if rng.random() < 0.9 else int(rng.integers(1, n_cats + 1))
                dets.append({"image_id": img["id"], "category_id": label,
                             "bbox": [x + jx * w, y + jy * h, w * math.exp(jw), h * math.exp(jh)],
                             "score": float(rng.beta(4, 2))})
        for _ in range(int(rng.integers(0, 4))):
            dets.append({"image_id": img["id"], "category_id": int(rng.integers(1, n_cats + 1)),
                         "bbox": [*rng.uniform(0, 250, 2).tolist(), *rng.uniform(5, 90, 2).tolist()],
                         "score": float(rng.beta(2, 4))})
    if crowded_image:
        for _ in range(130):
            dets.append({"image_id": images[1]["id"], "category_id": 1,
                         "bbox": [*rng.uniform(0, 250, 2).tolist(), *rng.uniform(5, 90, 2).tolist()],
                         "score": float(rng.random())})
    for d in dets:  # distinct scores: copies of an image then tie only with themselves
        d["score"] = float(d["score"] * 0.999 + rng.random() * 1e-3)
    return {"images": images, "annotations": anns, "categories": cats}, dets


def repeated(gt: dict, dets: list[dict], counts: np.ndarray) -> tuple[dict, list[dict], dict[int, list[int]]]:
    """The set with image i (in id order) repeated counts[i] times under new ids; also each original
    id's copies."""
    by_id = sorted(gt["images"], key=lambda im: im["id"])
    images, anns, out, copies = [], [], [], {}
    for im, k in zip(by_id, counts.tolist(), strict=True):
        copies[im["id"]] = []
        for c in range(k):
            new = im["id"] * 1000 + c
            copies[im["id"]].append(new)
            images.append(dict(im, id=new))
            anns += [dict(a, image_id=new) for a in gt["annotations"] if a["image_id"] == im["id"]]
            out += [dict(d, image_id=new) for d in dets if d["image_id"] == im["id"]]
    for j, a in enumerate(anns):
        a["id"] = j + 1
    return dict(gt, images=images, annotations=anns), out, copies


def pycoco_stats(gt: dict, dets: list[dict], img_ids: list | None = None) -> list[float | None]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        cgt = COCO()
        cgt.dataset = copy.deepcopy(gt)
        cgt.createIndex()
        ev = COCOeval(cgt, cgt.loadRes(copy.deepcopy(dets)), "bbox")
        if img_ids is not None:
            ev.params.imgIds = list(img_ids)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [None if v == -1 else float(v) for v in ev.stats[:3]]


def precision_recall_at(gt: dict, dets: list[dict], conf: float, img_ids: list | None = None) -> tuple:
    """The existing code's class-mean precision/recall at ``conf`` (COCO matching at IoU 0.5)."""
    inp = det._prepare(gt, dets, 100)
    m = det._match(inp, 100)
    counted = np.ones(len(m.cat), dtype=bool)
    counted[m.ign_d[m.ign_t == det._T50]] = False
    keep_gt = ~inp.g_ignore
    if img_ids is not None:
        member = np.isin(np.asarray(inp.img_ids), img_ids)
        counted &= member[m.img]
        keep_gt &= member[inp.g_img]
    n_gt = np.bincount(inp.g_cat[keep_gt], minlength=len(inp.cat_keys))
    op = at_confidence(m.cat[counted], m.score[counted], m.tp[det._T50][counted], n_gt[None, :], conf)[0]
    return (None, None) if op is None else (op.precision, op.recall)


def replicates(gt: dict, dets: list[dict], slices: dict, weights: np.ndarray) -> tuple[list[dict], dict]:
    """Point results and weighted replicates ({metric: (B, 1 + slices)}) of one pass."""
    inp = det._prepare(gt, dets, 100)
    parts = det._slice_images(slices, inp)
    m = det._match(inp, 100)
    return det._summaries(inp, m, [None, *parts.values()], weights)


def close(a: float | None, b: float | None, tol: float = 1e-12) -> bool:
    if a is None or b is None:
        return a is None and (b is None or math.isnan(b))
    return abs(a - b) <= tol


@pytest.mark.parametrize("seed", range(4))
def test_all_ones_replicate_is_the_point_estimate(seed: int) -> None:
    gt, dets = boxes_set(seed, crowded_image=seed % 2 == 0)
    ids = [im["id"] for im in gt["images"]]
    slices = {"odd": ids[1::2], "head": ids[:5], "one": ids[3:4]}
    points, reps = replicates(gt, dets, slices, np.ones((1, len(ids)), dtype=np.int32))
    for s, point in enumerate(points):
        for key in HEADLINE:
            value = reps[key][0, s]
            assert close(point[key], None if math.isnan(value) else value), (s, key, point[key], value)


@pytest.mark.parametrize("seed", range(5))
def test_integer_multiplicities_equal_the_repeated_image_set(seed: int) -> None:
    """The weighted trick: a replicate's metrics equal pycocotools' (mAP) and the existing code's
    (precision/recall at the whole set's confidence) on the image set with every image repeated as often
    as drawn — for the whole set and for each slice."""
    pytest.importorskip("pycocotools")
    gt, dets = boxes_set(10 + seed, n_images=16, crowded_image=seed == 0)
    ids = sorted(im["id"] for im in gt["images"])
    slices = {"first": ids[:7], "evens": ids[::2]}
    rng = np.random.default_rng(seed)
    weights = np.vstack([rng.integers(0, 4, len(ids)), multiplicities(len(ids), 1, seed)[0]]).astype(np.int32)
    points, reps = replicates(gt, dets, slices, weights)
    conf = points[0]["conf_threshold"]
    for b, counts in enumerate(weights):
        big_gt, big_dets, copies = repeated(gt, dets, counts)
        sets = [None, *([c for i in members for c in copies[i]] for members in slices.values())]
        for s, members in enumerate(sets):
            if members == []:
                continue
            ref = pycoco_stats(big_gt, big_dets, members)
            for key, value in zip(("map50_95", "map50", "map75"), ref, strict=True):
                assert close(value, reps[key][b, s]), (b, s, key, value, reps[key][b, s])
            precision, recall = precision_recall_at(big_gt, big_dets, conf, members)
            assert close(precision, reps["precision"][b, s]) and close(recall, reps["recall"][b, s]), (b, s)


def test_small_chunks_blocks_and_windows_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Groups split into many chunks, one replicate per block, and the operating point's search past
    its window give the same replicates."""
    from mm_jupyter.metrics import weighted

    gt, dets = boxes_set(21, n_images=30, crowded_image=True)
    ids = [im["id"] for im in gt["images"]]
    slices = {"a": ids[::2], "b": ids[:9]}
    weights = multiplicities(len(ids), 6, 2)
    _, want = replicates(gt, dets, slices, weights)
    monkeypatch.setattr(weighted, "_WINDOW", 1)
    monkeypatch.setattr(weighted, "_CHUNK", 16)
    monkeypatch.setattr(weighted, "_BLOCK", 1)
    _, got = replicates(gt, dets, slices, weights)
    for key in HEADLINE:
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=1e-12, equal_nan=True)


def test_intervals_are_seeded_and_contain_the_estimate() -> None:
    gt, dets = boxes_set(3, n_images=150)
    ids = [im["id"] for im in gt["images"]]
    slices = {"a": ids[::3], "b": ids[1::3]}
    first = coco_evaluate(gt, dets, slices=slices, bootstrap=60, seed=7)
    again = coco_evaluate(gt, dets, slices=slices, bootstrap=60, seed=7)
    other = coco_evaluate(gt, dets, slices=slices, bootstrap=60, seed=8)
    assert first["ci"] == again["ci"] and first["slices"] == again["slices"]
    assert first["ci"] != other["ci"]
    assert first["bootstrap"] == {"replicates": 60, "seed": 7, "level": 0.95}
    for key in HEADLINE:
        lo, hi = first["ci"][key]
        assert lo <= first[key] <= hi, (key, lo, first[key], hi)
        assert lo < hi
    plain = coco_evaluate(gt, dets, slices=slices, bootstrap=0)
    for key in (*HEADLINE, "mar", "f1", "conf_threshold", "per_class", "pr_curve", "per_image"):
        assert plain[key] == first[key], key  # the point estimates do not depend on the bootstrap
    assert "ci" not in plain and "bootstrap" not in plain and "ci" not in plain["slices"]["a"]
    assert plain["slices"]["a"]["delta"] == first["slices"]["a"]["delta"]
    json.dumps(first, allow_nan=False)


def test_interval_narrows_with_more_images() -> None:
    widths = []
    for n in (40, 640):
        gt, dets = boxes_set(5, n_images=n)
        res = coco_evaluate(gt, dets, bootstrap=80, seed=1)
        widths.append({k: res["ci"][k][1] - res["ci"][k][0] for k in HEADLINE})
    for key in HEADLINE:
        assert widths[1][key] < 0.6 * widths[0][key], (key, widths)


def test_a_slice_clearly_worse_is_flagged_and_an_ordinary_one_is_not() -> None:
    ids = [5 + 2 * i for i in range(160)]
    bad = set(ids[:40])
    gt, dets = boxes_set(2, n_images=160, bad=bad)
    slices = {"bad": sorted(bad), "ordinary": ids[40::3], "empty": [], "background": []}
    no_gt = sorted(set(ids) - {a["image_id"] for a in gt["annotations"] if not a["iscrowd"]})
    slices["background"] = no_gt[:3]
    res = coco_evaluate(gt, dets, slices=slices, bootstrap=100, seed=0)
    worse = res["slices"]["bad"]
    assert {"map50_95", "map50", "map75"} <= set(worse["worse"]), worse
    assert worse["delta"]["map50"] < 0 and worse["delta_ci"]["map50"][1] < 0
    assert worse["delta"]["map50"] == res["slices"]["bad"]["map50"] - res["map50"]
    assert res["slices"]["ordinary"]["worse"] == []
    assert res["slices"]["bad"]["n"] == 40
    for name in ("empty", "background"):  # no ground truth: None metrics, no interval, never flagged
        row = res["slices"][name]
        assert row["map50"] is None and row["ci"]["map50"] is None and row["delta"]["map50"] is None
        assert row["delta_ci"]["map50"] is None and row["worse"] == []
    json.dumps(res, allow_nan=False)


@pytest.mark.parametrize("macro", ["present", "all"])
def test_classification_intervals_equal_a_naive_bootstrap(macro: str) -> None:
    """Resampling the rows (each repeated as often as drawn) and recomputing with the existing function
    gives the same replicate values, hence the same intervals."""
    rng = np.random.default_rng(1)
    n, n_cls = 90, 5
    y = rng.integers(0, n_cls, n)
    scores = rng.random((n, n_cls)) + np.eye(n_cls)[y] * 0.5
    pred = scores.argmax(1)
    slices = {"third": list(range(0, n, 3)), "few": list(range(8)), "empty": []}
    B, labels = 40, list(range(n_cls))
    res = classification_metrics(y, pred, labels=labels, scores=scores, top_k=(1, 3), slices=slices,
                                 slice_macro=macro, bootstrap=B, seed=4)
    naive: dict[str, dict[str, list[float]]] = {}
    for counts in multiplicities(n, B, 4):
        rows = np.repeat(np.arange(n), counts)
        copies = {i: np.flatnonzero(rows == i).tolist() for i in range(n)}
        sub = {k: [c for i in v for c in copies[i]] for k, v in slices.items()}
        r = classification_metrics(y[rows], pred[rows], labels=labels, scores=scores[rows], top_k=(1, 3),
                                   slices=sub, slice_macro=macro, bootstrap=0)
        for name, part in (("", r), *((k, r["slices"][k]) for k in slices)):
            values = naive.setdefault(name, {})
            for metric, v in (("accuracy", part["accuracy"]), ("macro_f1", (part["macro"] or {}).get("f1")),
                              ("top3_accuracy", part["top3_accuracy"])):
                values.setdefault(metric, []).append(np.nan if v is None else v)
    from mm_jupyter.metrics.bootstrap import interval

    for name, values in naive.items():
        got = res["ci"] if name == "" else res["slices"][name]["ci"]
        for metric, v in values.items():
            want = interval(np.asarray(v))
            if name == "empty":
                assert got[metric] is None
            else:
                assert got[metric] == pytest.approx(want, abs=1e-12), (name, metric)
    assert res["bootstrap"]["replicates"] == B
    json.dumps(res, allow_nan=False)


def test_bad_bootstrap_arguments_are_one_line_errors() -> None:
    gt, dets = boxes_set(0, n_images=4)
    for kwargs, message in (({"bootstrap": -1}, "bootstrap must be a non-negative integer"),
                            ({"bootstrap": 2.5}, "bootstrap must be"),
                            ({"bootstrap": True}, "bootstrap must be"),
                            ({"seed": -3}, "seed must be a non-negative integer")):
        with pytest.raises(MetricsInputError, match=message) as info:
            coco_evaluate(gt, dets, **kwargs)
        assert "\n" not in str(info.value)
        with pytest.raises(MetricsInputError, match=message):
            classification_metrics([0, 1], [0, 1], **kwargs)


# --- the evaluation: results, slices.csv and what the notebook shows


def detection_items(n: int = 120, bad_dir: str = "d0") -> tuple[list[Item], list[Prediction]]:
    rng = np.random.default_rng(0)
    items, preds = [], []
    for i in range(n):
        boxes, labels = [], []
        for _ in range(int(rng.integers(1, 4))):
            x, y = rng.uniform(0, 200, 2)
            w, h = rng.uniform(10, 60, 2)
            boxes.append([float(x), float(y), float(x + w), float(y + h)])
            labels.append(int(rng.integers(0, 3)))
        folder = f"d{i % 4}"
        items.append(Item(id=i, path=f"{folder}/{i}.jpg", name=f"{i}.jpg", dir=folder, tags=["test"],
                          metadata={"light": ["day", "night"][i % 2]},
                          annotations={"boxes": boxes, "labels": labels}))
        shift = 18.0 if folder == bad_dir else 1.0
        moved = [[b[0] + shift, b[1], b[2] + shift, b[3]] for b in boxes]
        preds.append(Prediction(item_id=i, boxes=moved, scores=rng.uniform(0.3, 1.0, len(boxes)).tolist(),
                                labels=labels))
    return items, preds


def test_evaluation_results_csv_and_display(tmp_path, capsys) -> None:
    items, preds = detection_items()
    res = evaluate_predictions("detect", items, preds, ["a", "b", "c"], slice_by=["dir", "metadata.light"])
    assert set(res["ci"]) == {"mAP50-95", "mAP50", "mAP75", "precision", "recall"}
    assert res["bootstrap"]["replicates"] > 0 and res["bootstrap"]["seed"] == 0
    bad, ok = res["slices"]["dir=d0"], res["slices"]["dir=d1"]
    assert bad["n"] == 30 and "mAP50-95" in bad["worse"] and ok["worse"] == []
    assert bad["delta"]["mAP50"] == pytest.approx(bad["mAP50"] - res["mAP50"])
    assert bad["ci"]["mAP50"][0] <= bad["mAP50"] <= bad["ci"]["mAP50"][1]
    json.dumps({k: res[k] for k in ("ci", "bootstrap", "slices")}, allow_nan=False)

    paths = write_artifacts(res, tmp_path)
    header, *lines = paths["slices"].read_text().splitlines()
    columns = header.split(",")
    for column in ("slice", "n", "mAP50", "mAP50_lo", "mAP50_hi", "mAP50_delta", "mAP50_delta_lo", "worse"):
        assert column in columns, column
    line = next(line for line in lines if line.startswith('"dir=d0"'))
    row = dict(zip(columns, line.split(","), strict=True))
    assert float(row["mAP50_lo"]) == pytest.approx(bad["ci"]["mAP50"][0])
    assert "mAP50-95" in row["worse"].split(";")
    stored = json.loads(paths["results"].read_text())
    assert stored["slices"]["dir=d0"]["worse"] == bad["worse"] and stored["ci"]["mAP50"] == res["ci"]["mAP50"]

    text = runtime.summary_table(res)
    lo, hi = res["ci"]["mAP50"]
    assert f"{res['mAP50']:.4f}  [{lo:.4f}, {hi:.4f}]" in text and "replicates" in text
    table = runtime.slice_table(res)
    assert table.index[0] == "dir=d0"  # worst first
    assert table.loc["dir=d0", "worse"].startswith("⚠") and table.loc["dir=d1", "worse"] == ""
    assert table.loc["dir=d0", "n"] == 30 and "mAP50 95% CI" in table.columns and "mAP50 Δ" in table.columns

    res_plain = evaluate_predictions("detect", items, preds, ["a", "b", "c"], slice_by=[], bootstrap=0)
    assert "ci" not in res_plain and res_plain["slices"] == {}
    capsys.readouterr()
    assert runtime.slice_table(res_plain) is None
    assert capsys.readouterr().out.startswith("no slices:")
    assert "[" not in runtime.summary_table(res_plain)
    write_artifacts(res_plain, tmp_path / "plain")  # nothing raises
    assert (tmp_path / "plain" / "slices.csv").read_text() == "slice\n"


def test_classification_evaluation_intervals(tmp_path) -> None:
    rng = np.random.default_rng(2)
    items, preds = [], []
    for i in range(150):
        label = int(rng.integers(0, 4))
        folder = f"d{i % 3}"
        wrong = folder == "d0" and rng.random() < 0.6
        items.append(Item(id=i, path=f"{folder}/{i}.png", name=f"{i}.png", dir=folder, tags=[], metadata={},
                          annotations={"label": label}))
        preds.append(Prediction(item_id=i, label=(label + 1) % 4 if wrong else label))
    res = evaluate_predictions("classify", items, preds, ["a", "b", "c", "d"], slice_by=["dir"], seed=3)
    assert set(res["ci"]) == {"accuracy", "macro_f1", "top1_accuracy"}
    assert res["ci"]["top1_accuracy"] == res["ci"]["accuracy"] and res["bootstrap"]["seed"] == 3
    assert {"accuracy", "top1_accuracy"} <= set(res["slices"]["dir=d0"]["worse"])
    assert res["slices"]["dir=d1"]["worse"] == [] and res["slices"]["dir=d0"]["n"] == 50
    table = runtime.slice_table(res)
    assert table.index[0] == "dir=d0" and table.loc["dir=d0", "worse"].startswith("⚠")
    write_artifacts(res, tmp_path)
    assert "accuracy_delta_hi" in (tmp_path / "slices.csv").read_text().splitlines()[0]


def test_the_evaluate_notebook_shows_intervals_and_slices(store, toy) -> None:
    """The executed evaluate notebook displays (not only saves) the metrics with their intervals and the
    per-slice table; an evaluation without slices shows one line instead of an empty table."""
    import nbformat

    import mm_jupyter as mm

    snap = toy(epochs=1)
    assert mm.train(snap, wait=True)["status"] == "success"
    for slice_by in (None, []):
        ev = mm.evaluate(snap, wait=True, slice_by=slice_by)
        assert ev["status"] == "success", ev["error"]
        folder = store.execution_dir(ev)
        results = json.loads((folder / "results.json").read_text())
        cells = nbformat.read(folder / "notebook.ipynb", as_version=4).cells
        summary = next(c for c in cells if "summary_table" in c.source)
        table = next(c for c in cells if c.source.strip() == "runtime.slice_table(results)")
        text = "".join(o.get("text", "") for o in summary.outputs)
        lo, hi = results["ci"]["accuracy"]
        assert f"[{lo:.4f}, {hi:.4f}]" in text and "replicates" in text
        if slice_by is None:
            html = "".join(o.get("data", {}).get("text/html", "") for o in table.outputs)
            assert "dir=test/red" in html and "95% CI" in html and "worse" in html
            assert {"ci", "delta", "delta_ci", "worse", "n"} <= set(results["slices"]["dir=test/red"])
        else:
            assert results["slices"] == {}
            shown = "".join(o.get("text", "") for o in table.outputs)
            assert shown.startswith("no slices:") and not any("data" in o for o in table.outputs)
            assert (folder / "slices.csv").read_text() == "slice\n"
