"""coco_evaluate against pycocotools on many random sets, per slice, and on bad input."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math

import numpy as np
import pytest

from mm_jupyter.metrics import MetricsInputError
from mm_jupyter.metrics.detection import coco_evaluate

pytest.importorskip("pycocotools")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

TOL = 1e-9


@contextlib.contextmanager
def quiet():
    """pycocotools prints progress and summaries to stdout."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def make_set(seed: int, n_images: int = 30, n_cats: int = 4, crowd: float = 0.1, crowded_image: bool = False,
             tie_scores: bool = False) -> tuple[dict, list[dict]]:
    """Random COCO gt + detections: empty images, crowd boxes, a category without detections, another
    without ground truth, jittered true positives, random false positives, optionally >100 dets on one image."""
    rng = np.random.default_rng(seed)
    images = [{"id": 10 + 3 * i, "width": 400, "height": 300} for i in range(n_images)]
    cats = [{"id": 1 + 2 * c, "name": f"cls{c}"} for c in range(n_cats + 1)]  # the last one: never in gt
    gt_cats = [c["id"] for c in cats[:-1]]
    anns, dets = [], []
    no_det_cat = gt_cats[0] if n_cats > 1 else None
    for img in images:
        n_gt = 0 if rng.random() < 0.2 else int(rng.integers(1, 9))
        for _ in range(n_gt):
            w, h = rng.uniform(4, 120, 2)
            x, y = rng.uniform(0, 280), rng.uniform(0, 180)
            cat = int(rng.choice(gt_cats))
            anns.append({"id": len(anns) + 1, "image_id": img["id"], "category_id": cat,
                         "bbox": [float(x), float(y), float(w), float(h)], "area": float(w * h),
                         "iscrowd": int(rng.random() < crowd)})
            for _ in range(int(rng.integers(0, 3))):  # jittered copies: true positives and duplicates
                jx, jy, jw, jh = rng.normal(0, 0.12, 4)
                dets.append({"image_id": img["id"], "category_id": cat if rng.random() < 0.85 else int(rng.choice(gt_cats)),
                             "bbox": [float(x + jx * w), float(y + jy * h), float(w * math.exp(jw)), float(h * math.exp(jh))],
                             "score": float(rng.beta(4, 2))})
        for _ in range(int(rng.integers(0, 5))):  # false positives, some in the gt-less category
            dets.append({"image_id": img["id"], "category_id": int(rng.choice([c["id"] for c in cats])),
                         "bbox": [float(v) for v in [*rng.uniform(0, 250, 2), *rng.uniform(0, 90, 2)]],
                         "score": float(rng.beta(2, 4))})
    if crowded_image:  # > 100 detections on one image, all of one category
        img, cat = images[1]["id"], gt_cats[-1]
        for _ in range(140):
            dets.append({"image_id": img, "category_id": cat,
                         "bbox": [float(v) for v in [*rng.uniform(0, 250, 2), *rng.uniform(5, 90, 2)]],
                         "score": float(rng.random())})
        anns.append({"id": len(anns) + 1, "image_id": img, "category_id": cat, "bbox": [10.0, 10.0, 50.0, 50.0],
                     "area": 2500.0, "iscrowd": 0})
    dets = [d for d in dets if d["category_id"] != no_det_cat]
    if tie_scores:
        for d in dets:
            d["score"] = round(d["score"], 1)
    return {"images": images, "annotations": anns, "categories": cats}, dets


def pycoco(gt: dict, dets: list[dict], img_ids: list | None = None, max_det: int = 100) -> COCOeval:
    with quiet():
        cgt = COCO()
        cgt.dataset = copy.deepcopy(gt)
        cgt.createIndex()
        if dets:
            cdt = cgt.loadRes(copy.deepcopy(dets))
        else:  # loadRes cannot take an empty list
            cdt = COCO()
            cdt.dataset = {"images": gt["images"], "categories": gt["categories"], "annotations": []}
            cdt.createIndex()
        ev = COCOeval(cgt, cdt, "bbox")
        if img_ids is not None:
            ev.params.imgIds = list(img_ids)
        ev.params.maxDets = [1, 10, 100] if max_det == 100 else [max_det] * 3  # evaluate() sorts them
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def as_ours(stat: float) -> float | None:
    return None if stat == -1 else float(stat)


def assert_close(ours: float | None, ref: float | None) -> None:
    if ref is None:
        assert ours is None
    else:
        assert ours is not None and abs(ours - ref) <= TOL, (ours, ref)


def _mean(a: np.ndarray) -> float | None:
    return float(a[a > -1].mean()) if (a > -1).any() else None


def assert_matches(res: dict, ev: COCOeval) -> None:
    """Our numbers equal pycocotools' stats (or, for maxDets != 100, where ``stats[0]`` is always -1, the
    same means taken from its accumulated arrays)."""
    prec = ev.eval["precision"][:, :, :, 0, -1]
    if ev.params.maxDets[-1] == 100:
        for key, i in (("map50_95", 0), ("map50", 1), ("map75", 2), ("mar", 8)):
            assert_close(res[key], as_ours(ev.stats[i]))
    assert_close(res["map50_95"], _mean(prec))
    assert_close(res["map50"], _mean(prec[0]))
    assert_close(res["map75"], _mean(prec[5]))
    assert_close(res["mar"], _mean(ev.eval["recall"][:, :, 0, -1]))
    for k, cat in enumerate(ev.params.catIds):
        name = ev.cocoGt.cats[cat]["name"]
        p = prec[:, :, k]
        assert_close(res["per_class"][name]["ap50_95"], float(p.mean()) if (p > -1).any() else None)
        assert_close(res["per_class"][name]["ap50"], float(p[0].mean()) if (p > -1).any() else None)


SEEDS = range(24)


@pytest.mark.parametrize("seed", SEEDS)
def test_whole_set_equals_pycocotools(seed: int) -> None:
    gt, dets = make_set(seed, n_images=10 + seed, n_cats=1 + seed % 5, crowd=0.05 * (seed % 4),
                        crowded_image=seed % 3 == 0, tie_scores=seed % 4 == 1)
    res = coco_evaluate(gt, dets)
    assert_matches(res, pycoco(gt, dets))
    assert res["n_images"] == len(gt["images"]) and res["n_det"] == len(dets)


@pytest.mark.parametrize("seed", range(0, 24, 3))
def test_slices_equal_pycocotools_on_each_subset(seed: int) -> None:
    gt, dets = make_set(seed, n_images=25, n_cats=3, crowd=0.1, crowded_image=seed % 2 == 0)
    rng = np.random.default_rng(100 + seed)
    ids = [im["id"] for im in gt["images"]]
    no_gt = sorted(set(ids) - {a["image_id"] for a in gt["annotations"] if not a["iscrowd"]})
    slices = {f"rand{j}": [int(v) for v in rng.choice(ids, int(rng.integers(1, 20)), replace=False)] for j in range(4)}
    slices["one"] = [ids[3]]
    slices["all"] = ids[::-1]
    slices["no_gt"] = no_gt[:3]
    res = coco_evaluate(gt, dets, slices=slices)
    assert_matches(res, pycoco(gt, dets))
    for name, members in slices.items():
        if members:
            assert_matches(res["slices"][name], pycoco(gt, dets, img_ids=members))
        assert res["slices"][name]["n_images"] == len(set(members))
    assert res["slices"]["all"]["map50_95"] == res["map50_95"]


@pytest.mark.parametrize("max_det", [1, 5, 300])
def test_max_det(max_det: int) -> None:
    gt, dets = make_set(7, n_images=12, crowded_image=True)
    assert_matches(coco_evaluate(gt, dets, max_det=max_det), pycoco(gt, dets, max_det=max_det))


def test_slices_reuse_one_matching_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from mm_jupyter.metrics import detection

    calls = []
    original = detection._C.COCOevalEvaluateImages
    monkeypatch.setattr(detection._C, "COCOevalEvaluateImages", lambda *a: calls.append(1) or original(*a))
    gt, dets = make_set(3)
    coco_evaluate(gt, dets)
    whole = len(calls)
    ids = [im["id"] for im in gt["images"]]
    coco_evaluate(gt, dets, slices={f"s{i}": ids[i::5] for i in range(5)})
    assert len(calls) == 2 * whole


def test_no_ground_truth_gives_none() -> None:
    gt, dets = make_set(1, n_images=6)
    for crowd_only in (False, True):
        g = copy.deepcopy(gt)
        g["annotations"] = [dict(a, iscrowd=1) for a in g["annotations"]] if crowd_only else []
        ev = pycoco(g, dets)
        assert ev.stats[0] == -1 and ev.stats[1] == -1
        res = coco_evaluate(g, dets)
        for key in ("map50_95", "map50", "map75", "mar", "precision", "recall", "f1"):
            assert res[key] is None, key
        assert all(v["ap50_95"] is None for v in res["per_class"].values())
        assert res["pr_curve"] == {}


def test_empty_slice_and_empty_detections() -> None:
    gt, dets = make_set(2)
    res = coco_evaluate(gt, [], slices={"empty": []})
    assert res["map50_95"] == 0.0 and res["map50"] == 0.0 and res["precision"] == 0.0 and res["recall"] == 0.0
    assert_matches(res, pycoco(gt, []))
    assert res["slices"]["empty"]["map50_95"] is None and res["slices"]["empty"]["n_images"] == 0


def test_string_image_ids_and_odd_annotation_ids() -> None:
    gt, dets = make_set(5, n_images=8)
    ref = pycoco(gt, dets)
    renamed = {im["id"]: f"img_{im['id']:04d}" for im in gt["images"]}
    g = copy.deepcopy(gt)
    for im in g["images"]:
        im["id"] = renamed[im["id"]]
    for a in g["annotations"]:
        a["image_id"] = renamed[a["image_id"]]
        a["id"] = 0  # repeated and zero ids: pycocotools would mis-score these, we renumber
    d = [dict(x, image_id=renamed[x["image_id"]]) for x in dets]
    res = coco_evaluate(g, d, slices={"s": list(renamed.values())[:4]})
    assert_matches(res, ref)
    assert_matches(res["slices"]["s"], pycoco(gt, dets, img_ids=list(renamed)[:4]))


def test_boxes_outside_the_area_range_are_ignored_as_in_pycocotools() -> None:
    gt, dets = make_set(8, n_images=10)
    img, cat = gt["images"][2]["id"], gt["categories"][0]["id"]
    huge = [0.0, 0.0, 2e5, 2e5]  # area 4e10 > 1e10, outside pycocotools' "all" range
    gt["annotations"].append({"id": 10_000, "image_id": img, "category_id": cat, "bbox": huge, "area": 4e10,
                              "iscrowd": 0})
    dets += [{"image_id": img, "category_id": cat, "bbox": huge, "score": 0.99},
             {"image_id": gt["images"][3]["id"], "category_id": cat, "bbox": huge, "score": 0.98}]
    res = coco_evaluate(gt, dets, slices={"s": [img, gt["images"][3]["id"]]})
    assert_matches(res, pycoco(gt, dets))
    assert_matches(res["slices"]["s"], pycoco(gt, dets, img_ids=[img, gt["images"][3]["id"]]))


def test_missing_area_defaults_to_box_area() -> None:
    gt, dets = make_set(6, n_images=8)
    g = copy.deepcopy(gt)
    for a in g["annotations"]:
        del a["area"]
        a.pop("iscrowd")
    ref = copy.deepcopy(g)
    for a in ref["annotations"]:
        a["area"], a["iscrowd"] = a["bbox"][2] * a["bbox"][3], 0
    assert_matches(coco_evaluate(g, dets), pycoco(ref, dets))


def test_nothing_printed(capfd: pytest.CaptureFixture) -> None:
    gt, dets = make_set(4)
    coco_evaluate(gt, dets, slices={"a": [gt["images"][0]["id"]]})
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_inputs_not_modified_and_result_is_json() -> None:
    gt, dets = make_set(4)
    gt0, dets0 = copy.deepcopy(gt), copy.deepcopy(dets)
    res = coco_evaluate(gt, dets, slices={"a": [gt["images"][0]["id"]], "b": []})
    assert gt == gt0 and dets == dets0
    json.dumps(res, allow_nan=False)


def test_pr_curve_is_cocos_interpolated_curve() -> None:
    gt, dets = make_set(9, n_images=20)
    res, ev = coco_evaluate(gt, dets), pycoco(gt, dets)
    prec = ev.eval["precision"][0, :, :, 0, -1]
    for k, cat in enumerate(ev.params.catIds):
        name = ev.cocoGt.cats[cat]["name"]
        if (prec[:, k] == -1).all():
            assert name not in res["pr_curve"]
            continue
        curve = res["pr_curve"][name]
        n = len(curve["precision"])
        assert curve["recall"] == pytest.approx(ev.params.recThrs[:n].tolist())
        assert curve["precision"] == pytest.approx(prec[:n, k].tolist(), abs=1e-4)
        assert np.all(prec[n:, k] == 0)


def _counted_detections(ev: COCOeval) -> dict[int, tuple[np.ndarray, np.ndarray, int]]:
    """Per class index: (scores, tp) of the detections pycocotools counts at IoU 0.5 (area all, last
    maxDets), in COCO's accumulation order, and the number of non-ignored gts."""
    n_area, n_img = len(ev.params.areaRng), len(ev.params.imgIds)
    out = {}
    for k in range(len(ev.params.catIds)):
        scores, tps, n_gt = [], [], 0
        for i in range(n_img):
            e = ev.evalImgs[k * n_area * n_img + i]
            if e is None:
                continue
            keep = ~e["dtIgnore"][0]
            scores += list(np.asarray(e["dtScores"])[keep])
            tps += list((e["dtMatches"][0] > 0)[keep])
            n_gt += int((~np.asarray(e["gtIgnore"], dtype=bool)).sum())
        order = np.argsort(-np.asarray(scores), kind="mergesort")
        out[k] = (np.asarray(scores)[order], np.asarray(tps, dtype=bool)[order], n_gt)
    return out


def _precision_recall_at(ev: COCOeval, conf: float) -> tuple[float, float]:
    """Class-mean precision/recall at ``conf`` with ultralytics' interpolation, from pycocotools' matches."""
    ps, rs = [], []
    for scores, tp, n_gt in _counted_detections(ev).values():
        if n_gt == 0:
            continue
        if not len(scores):
            ps.append(0.0)
            rs.append(0.0)
            continue
        tpc = np.cumsum(tp)
        rs.append(float(np.interp(-conf, -scores, tpc / (n_gt + 1e-16), left=0)))
        ps.append(float(np.interp(-conf, -scores, tpc / np.arange(1, len(tp) + 1), left=1)))
    return float(np.mean(ps)), float(np.mean(rs))


@pytest.mark.parametrize("seed", [2, 5, 13])
def test_slice_precision_recall_at_whole_set_operating_point(seed: int) -> None:
    gt, dets = make_set(seed, n_images=30, crowd=0.1, crowded_image=True)
    ids = [im["id"] for im in gt["images"]]
    slices = {"a": ids[::2], "b": ids[:7]}
    res = coco_evaluate(gt, dets, slices=slices)
    assert 0 < res["conf_threshold"] < 1
    for name, members in slices.items():
        got = res["slices"][name]
        assert got["conf_threshold"] == res["conf_threshold"]
        p, r = _precision_recall_at(pycoco(gt, dets, img_ids=members), res["conf_threshold"])
        assert abs(got["precision"] - p) <= TOL and abs(got["recall"] - r) <= TOL
        assert got["f1"] is not None


def test_per_image_counts_at_operating_point() -> None:
    gt, dets = make_set(4, n_images=25, crowd=0.1, crowded_image=True)
    res, ev = coco_evaluate(gt, dets), pycoco(gt, dets)
    conf = res["conf_threshold"]
    n_area, n_img = len(ev.params.areaRng), len(ev.params.imgIds)
    for i, img in enumerate(ev.params.imgIds):
        tp = fp = n_gt = 0
        for k in range(len(ev.params.catIds)):
            e = ev.evalImgs[k * n_area * n_img + i]
            if e is None:
                continue
            use = ~e["dtIgnore"][0] & (np.asarray(e["dtScores"]) >= conf)
            tp += int((e["dtMatches"][0] > 0)[use].sum())
            fp += int((e["dtMatches"][0] == 0)[use].sum())
            n_gt += int((~np.asarray(e["gtIgnore"], dtype=bool)).sum())
        got = res["per_image"][img]
        assert (got["tp"], got["fp"], got["n_gt"], got["fn"]) == (tp, fp, n_gt, n_gt - tp), img
        assert got["n_det"] == sum(d["image_id"] == img for d in dets)


def test_slice_equals_evaluating_it_alone() -> None:
    gt, dets = make_set(21, n_images=30, crowd=0.1, crowded_image=True)
    members = [im["id"] for im in gt["images"]][5:19]
    alone_gt = dict(gt, images=[im for im in gt["images"] if im["id"] in members],
                    annotations=[a for a in gt["annotations"] if a["image_id"] in members])
    alone = coco_evaluate(alone_gt, [d for d in dets if d["image_id"] in members])
    sliced = coco_evaluate(gt, dets, slices={"s": members})["slices"]["s"]
    for key in ("map50_95", "map50", "map75", "mar", "n_images", "n_gt", "n_det", "pr_curve"):
        assert sliced[key] == alone[key], key
    for name, cls in alone["per_class"].items():
        for key in ("ap50_95", "ap50", "ap75", "n_gt", "n_det"):
            assert sliced["per_class"][name][key] == cls[key], (name, key)


def test_at_confidence_matches_np_interp() -> None:
    from mm_jupyter.metrics.curves import at_confidence

    rng = np.random.default_rng(0)
    n_sets, n_cls = 3, 5
    group = np.sort(rng.integers(0, n_sets * n_cls, 400))
    group = group[group % n_cls != 2]  # one class without detections in every set
    conf = np.round(rng.random(len(group)), 2)  # ties
    order = np.lexsort((-conf, group))
    group, conf = group[order], conf[order]
    tp = rng.random(len(group)) < 0.5
    n_gt = rng.integers(0, 30, (n_sets, n_cls))
    n_gt[:, 2] = 4
    for x in (0.0, conf[7], 0.333, conf.max(), 1.0):  # also exact hits on detection scores
        ops = at_confidence(group, conf, tp, n_gt, float(x))
        for s in range(n_sets):
            for k in range(n_cls):
                g = s * n_cls + k
                sel = group == g
                if n_gt[s, k] == 0:
                    assert np.isnan(ops[s].class_recall[k])
                    continue
                if not sel.any():
                    assert ops[s].class_recall[k] == 0 and ops[s].class_precision[k] == 0
                    continue
                tpc = np.cumsum(tp[sel])
                r = np.interp(-x, -conf[sel], tpc / (n_gt[s, k] + 1e-16), left=0)
                p = np.interp(-x, -conf[sel], tpc / np.arange(1, sel.sum() + 1), left=1)
                assert ops[s].class_recall[k] == r and ops[s].class_precision[k] == p, (x, s, k)


def _ultralytics_reference(ev: COCOeval) -> tuple[float, float]:
    """The detections pycocotools counts at IoU 0.5, fed to ultralytics' ap_per_class."""
    from ultralytics.utils.metrics import ap_per_class

    tp, conf, pred_cls, target_cls = [], [], [], []
    for k, (scores, hits, n_gt) in _counted_detections(ev).items():
        tp += list(hits)
        conf += list(scores)
        pred_cls += [k] * len(scores)
        target_cls += [k] * n_gt
    out = ap_per_class(np.array(tp)[:, None], np.array(conf), np.array(pred_cls), np.array(target_cls))
    return float(out[2].mean()), float(out[3].mean())


@pytest.mark.parametrize("seed", [0, 3, 8])
def test_precision_recall_match_ultralytics(seed: int, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path))  # ultralytics writes a settings file on import
    monkeypatch.setenv("YOLO_OFFLINE", "1")
    pytest.importorskip("ultralytics.utils.metrics")
    gt, dets = make_set(seed, n_images=30, crowd=0.1, crowded_image=True)
    res, ev = coco_evaluate(gt, dets), pycoco(gt, dets)
    p, r = _ultralytics_reference(ev)
    assert abs(res["precision"] - p) <= TOL and abs(res["recall"] - r) <= TOL


BAD = [
    (lambda g, d: d.append(dict(d[0], image_id=999_999)), "unknown image_id 999999"),
    (lambda g, d: d.append(dict(d[0], category_id=77)), "unknown category_id 77"),
    (lambda g, d: d.append(dict(d[0], bbox=[1.0, 2.0, float("nan"), 3.0])), "non-finite bbox"),
    (lambda g, d: d.append(dict(d[0], bbox=[1.0, 2.0, -4.0, 3.0])), "negative width or height"),
    (lambda g, d: d.append(dict(d[0], bbox=[1.0, 2.0, 3.0])), "expected [x, y, width, height]"),
    (lambda g, d: d.append(dict(d[0], score=float("inf"))), "non-finite score"),
    (lambda g, d: d.append(dict(d[0], score=None)), "score None"),
    (lambda g, d: d.append({k: v for k, v in d[0].items() if k != "score"}), "has no 'score'"),
    (lambda g, d: g["annotations"].append(dict(g["annotations"][0], image_id=-5)), "annotation #"),
    (lambda g, d: g["annotations"].append(dict(g["annotations"][0], bbox=[0, 0, 1, float("inf")])), "non-finite"),
    (lambda g, d: g["annotations"].append(dict(g["annotations"][0], area=-1.0)), "negative area"),
    (lambda g, d: g.__setitem__("images", []), "no images"),
    (lambda g, d: g.__setitem__("categories", []), "no categories"),
    (lambda g, d: g.pop("annotations"), "no 'annotations'"),
    (lambda g, d: g["images"].append(dict(g["images"][0])), "repeated"),
]


@pytest.mark.parametrize(("mutate", "message"), BAD)
def test_bad_input_raises(mutate, message: str) -> None:
    gt, dets = make_set(11, n_images=5)
    mutate(gt, dets)
    with pytest.raises(MetricsInputError) as info:
        coco_evaluate(gt, dets)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_bad_slices_and_args() -> None:
    gt, dets = make_set(12, n_images=5)
    with pytest.raises(MetricsInputError, match="slice 'x' entry #1 refers to unknown image id 4242"):
        coco_evaluate(gt, dets, slices={"x": [gt["images"][0]["id"], 4242]})
    with pytest.raises(MetricsInputError, match="slice 'x' must be a list"):
        coco_evaluate(gt, dets, slices={"x": 5})
    with pytest.raises(MetricsInputError, match="max_det"):
        coco_evaluate(gt, dets, max_det=0)
    with pytest.raises(MetricsInputError, match="gt must be a COCO dict"):
        coco_evaluate([], dets)
    assert issubclass(MetricsInputError, ValueError)
