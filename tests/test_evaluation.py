"""evaluation.py: the seeded stratified sample of evaluation during training, per-slice macro-F1 over the
labels present in the slice, and top-k accuracy in the results (and results.json)."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from mm_jupyter import evaluation
from mm_jupyter.adapter import BaseModelAdapter, RunContext, scalars
from mm_jupyter.errors import InvalidInput
from mm_jupyter.evaluation import classification_results, evaluate_predictions, sample_items, write_artifacts
from mm_jupyter.items import Item, Prediction
from mm_jupyter.tracker import Tracker

skm = pytest.importorskip("sklearn.metrics")

N_CLASSES, PER_CLASS = 10, 60
LABELS = [f"c{c}" for c in range(N_CLASSES)]


def class_folders(sizes: list[int] | None = None) -> list[Item]:
    """A class-per-folder set: ``c<k>/img<i>.png``, ids in path order (as a folder scan gives them)."""
    sizes = sizes or [PER_CLASS] * N_CLASSES
    items = []
    for c, size in enumerate(sizes):
        for i in range(size):
            items.append(Item(id=len(items) + 1, path=f"/data/c{c}/img{i:03d}.png", name=f"img{i:03d}.png",
                              dir=f"c{c}", annotations={"label": c}))
    return items


def predict_by_class(items: list[Item]) -> list[Prediction]:
    """Right on class 0 always, on class c about (1 - 0.08 c) of the time (a fixed pattern per item)."""
    out = []
    for it in items:
        c = it.annotations["label"]
        right = (it.id * 7919) % 100 < 100 * (1 - 0.08 * c)
        out.append(Prediction(item_id=it.id, label=c if right else (c + 1) % N_CLASSES))
    return out


def accuracy_on(items: list[Item]) -> float:
    return evaluate_predictions("classify", items, predict_by_class(items), LABELS, slice_by=[])["accuracy"]


# ---- the sample of evaluation during training ----

@pytest.mark.parametrize("seed", [0, 1, 7, 123])
def test_stratified_sample_accuracy_is_close_to_the_whole_set(seed: int) -> None:
    items = class_folders()
    true = accuracy_on(items)
    first_n = accuracy_on(items[:200])  # the old rule: the first 200 by path = classes 0..3 only
    assert abs(first_n - true) > 0.2, (first_n, true)
    sample = sample_items(items, 200, seed, "classify")
    assert len(sample) == 200
    assert Counter(it.annotations["label"] for it in sample) == dict.fromkeys(range(N_CLASSES), 20)
    assert abs(accuracy_on(sample) - true) < 0.08, (accuracy_on(sample), true)


def test_sample_is_proportional_with_one_per_class_and_id_ordered() -> None:
    sizes = [200, 100, 50, 20, 5, 1]
    items = class_folders(sizes)
    sample = sample_items(items, 50, 3, "classify")
    counts = Counter(it.annotations["label"] for it in sample)
    assert sum(counts.values()) == 50 and set(counts) == set(range(len(sizes)))
    for c, size in enumerate(sizes):
        assert abs(counts[c] - 50 * size / sum(sizes)) <= 1, (c, counts)
    assert [it.id for it in sample] == sorted(it.id for it in sample)
    assert len({it.id for it in sample}) == 50


def test_sample_is_deterministic_for_a_seed_whatever_the_order() -> None:
    items = class_folders()
    first = [it.id for it in sample_items(items, 37, 11, "classify")]
    shuffled = items[:]
    random.Random(5).shuffle(shuffled)
    assert [it.id for it in sample_items(shuffled, 37, 11, "classify")] == first
    assert [it.id for it in sample_items(items, 37, 11, "classify")] == first
    assert [it.id for it in sample_items(items, 37, 12, "classify")] != first


def test_sample_all_fewer_than_strata_and_bad_input() -> None:
    items = class_folders()
    shuffled = items[::-1]
    assert [it.id for it in sample_items(shuffled, None, 0, "classify")] == [it.id for it in items]
    assert len(sample_items(items, 10_000, 0, "classify")) == len(items)
    few = sample_items(items, 4, 2, "classify")
    assert len(few) == 4 and len({it.annotations["label"] for it in few}) == 4
    for bad in (0, -1, 2.5, True, "3"):
        with pytest.raises(InvalidInput, match="sample size"):
            sample_items(items, bad, 0, "classify")
    with pytest.raises(InvalidInput, match="unknown task"):
        sample_items(items, 3, 0, "segment")


def test_detection_sample_stratifies_by_dominant_label() -> None:
    items = []
    for i in range(90):  # 30 mostly-label-0 images, 30 mostly-label-1, 30 without boxes
        kind = i // 30
        boxes = [] if kind == 2 else [[0, 0, 5, 5]] * 3
        labels = [] if kind == 2 else [kind, kind, 1 - kind]
        items.append(Item(id=i, path=f"/d/{i:03d}.jpg", annotations={"boxes": boxes, "labels": labels}))
    sample = sample_items(items, 9, 4, "detect")
    kinds = Counter(it.id // 30 for it in sample)
    assert kinds == {0: 3, 1: 3, 2: 3}
    assert evaluation._stratum(Item(id=1, path="x", annotations={"labels": [2, 1, 1, 2]}), "detect") == (0, 1)


class _Tracker(Tracker):
    def __init__(self, config: dict) -> None:
        self.execution_id, self.attempt, self.rows = "e1", 1, []
        self.config = config

    def describe(self) -> dict:
        return {"execution": {"id": "e1"}, "model": {"id": "m1"},
                "snapshot": {"id": "s1", "config": self.config, "labels": LABELS}}

    def metric_points(self, points: list[tuple]) -> None:
        self.rows.extend({"name": p[0], "step": p[1], "epoch": p[2], "value": p[3], "ts": p[4]} for p in points)

    def started(self, *, runner_pid, host) -> bool:
        return True

    def heartbeat(self) -> bool:
        return True

    def kernel_started(self, pid) -> None: ...
    def notebook(self, path) -> None: ...
    def progress(self, percent) -> None: ...
    def event(self, message, level="info", type=None) -> None: ...
    def update_version(self, **fields) -> None: ...

    def outcome(self, outcome, error=None, *, retry=True):
        raise NotImplementedError

    def state(self) -> dict:
        return {}


class _Store:
    def __init__(self, root: Path) -> None:
        self.root = root

    def snapshot_dir(self, model_id: str, snapshot_id: str) -> Path:
        return self.root / model_id / snapshot_id

    def execution_dir(self, execution: dict) -> Path:
        return self.root / "executions" / execution["id"]


class _Classifier(BaseModelAdapter):
    task = "classify"

    def predict(self, batch: list[Item]) -> list[Prediction]:
        return predict_by_class(batch)


def test_maybe_evaluate_logs_accuracy_of_the_stratified_sample(tmp_path: Path) -> None:
    items = class_folders()
    config = {"eval_steps": 200, "eval_throttle_secs": 0.0, "seed": 5}
    tracker = _Tracker(config)
    ctx = RunContext(tracker, _Store(tmp_path))
    adapter = _Classifier({k: v for k, v in config.items() if k != "seed"}, labels=LABELS)
    seen: list[list[int]] = []

    def predict(batch: list[Item]) -> list[Prediction]:
        seen.append([it.id for it in batch])
        return predict_by_class(batch)

    ctx.maybe_evaluate(adapter, items, epoch=1, predict=predict)
    ctx.maybe_evaluate(adapter, items, epoch=2, predict=predict)
    assert seen[0] == seen[1] == [it.id for it in sample_items(items, 200, 5, "classify")]
    logged = [r["value"] for r in tracker.rows if r["name"] == "eval/accuracy"]
    assert len(logged) == 2 and logged[0] == pytest.approx(accuracy_on(sample_items(items, 200, 5, "classify")))
    assert abs(logged[0] - accuracy_on(items)) < 0.08 and abs(logged[0] - accuracy_on(items[:200])) > 0.2
    assert {r["name"] for r in tracker.rows} >= {"eval/top1_accuracy", "eval/macro_f1"}


# ---- per-slice macro-F1 ----

def test_a_slice_all_right_has_macro_f1_one_and_the_whole_set_keeps_every_label() -> None:
    items = class_folders([20, 20, 20])
    preds = [Prediction(item_id=it.id, label=it.annotations["label"] if it.dir != "c2" else 0) for it in items]
    labels = ["a", "b", "c", "unused"]
    res = evaluate_predictions("classify", items, preds, labels, slice_by=["dir"])
    assert res["slices"]["dir=c0"]["accuracy"] == 1.0
    # c0 alone: only label "a" is present (true and predicted)
    assert res["slices"]["dir=c0"]["macro_f1"] == 1.0 and res["slices"]["dir=c1"]["macro_f1"] == 1.0
    y_true = [it.annotations["label"] for it in items]
    y_pred = [p.label for p in preds]
    assert res["macro_f1"] == pytest.approx(skm.f1_score(y_true, y_pred, labels=[0, 1, 2, 3], average="macro",
                                                         zero_division=0))
    # c2: true "c", predicted "a": present labels a and c, both F1 0
    assert res["slices"]["dir=c2"]["macro_f1"] == 0.0


def test_slice_macro_matches_sklearn_on_present_labels() -> None:
    rng = np.random.default_rng(4)
    n = 240
    dirs = np.arange(n) % 3
    y_true = np.where(dirs == 0, rng.integers(0, 3, n), rng.integers(0, 8, n))  # d0: classes 0..2 only
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, 4, n))
    y_pred = np.where(dirs == 0, y_pred % 3, y_pred)
    items = [Item(id=i, path=f"{i}", dir=f"d{dirs[i]}", annotations={"label": int(y_true[i])}) for i in range(n)]
    preds = [Prediction(item_id=i, label=int(y_pred[i])) for i in range(n)]
    res = evaluate_predictions("classify", items, preds, [str(k) for k in range(8)], slice_by=["dir"])
    for d in range(3):
        rows = dirs == d
        present = sorted(set(y_true[rows]) | set(y_pred[rows]))
        want = skm.f1_score(y_true[rows], y_pred[rows], labels=present, average="macro", zero_division=0)
        assert res["slices"][f"dir=d{d}"]["macro_f1"] == pytest.approx(want, abs=1e-12), d
    every = skm.f1_score(y_true[dirs == 0], y_pred[dirs == 0], labels=list(range(8)), average="macro", zero_division=0)
    assert res["slices"]["dir=d0"]["macro_f1"] > every + 0.2  # the old rule divided by all 8 labels


# ---- top-k ----

def probs_case(n: int, n_cls: int, seed: int) -> tuple[list[Item], list[Prediction], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_cls, n)
    scores = rng.random((n, n_cls)) + np.eye(n_cls)[y] * 0.4
    scores /= scores.sum(1, keepdims=True)
    items = [Item(id=i, path=f"{i}.png", dir=f"d{i % 2}", annotations={"label": int(y[i])}) for i in range(n)]
    preds = [Prediction(item_id=i, label=int(scores[i].argmax()), probs=scores[i].tolist()) for i in range(n)]
    return items, preds, y, scores


@pytest.mark.parametrize("seed", range(4))
def test_top_k_matches_sklearn(seed: int) -> None:
    items, preds, y, scores = probs_case(300, 10, seed)
    res = evaluate_predictions("classify", items, preds, [f"k{j}" for j in range(10)], slice_by=["dir"])
    for k in (1, 3, 5):
        want = skm.top_k_accuracy_score(y, scores, k=k, labels=list(range(10)))
        assert res[f"top{k}_accuracy"] == pytest.approx(want, abs=1e-12)
        for d in (0, 1):
            rows = np.arange(300) % 2 == d
            want = skm.top_k_accuracy_score(y[rows], scores[rows], k=k, labels=list(range(10)))
            assert res["slices"][f"dir=d{d}"][f"top{k}_accuracy"] == pytest.approx(want, abs=1e-12)
    assert res["top1_accuracy"] == pytest.approx(res["accuracy"])
    assert res["top1_accuracy"] < res["top3_accuracy"] < res["top5_accuracy"] < 1.0
    assert {"top1_accuracy", "top3_accuracy", "top5_accuracy"} <= set(scalars(res))


@pytest.mark.parametrize(("n_cls", "keys"), [(2, {1}), (3, {1}), (4, {1, 3}), (5, {1, 3}), (6, {1, 3, 5})])
def test_top_k_only_below_the_number_of_classes(n_cls: int, keys: set[int]) -> None:
    items, preds, _, _ = probs_case(40, n_cls, 1)
    res = classification_results(items, preds, [str(j) for j in range(n_cls)])
    assert {k for k in (1, 3, 5) if f"top{k}_accuracy" in res} == keys


def test_without_probs_only_top1_equal_to_accuracy() -> None:
    items, preds, _, _ = probs_case(50, 10, 2)
    for p in preds:
        p.probs = None
    res = evaluate_predictions("classify", items, preds, [str(j) for j in range(10)], slice_by=["dir"])
    assert res["top1_accuracy"] == res["accuracy"]
    assert "top3_accuracy" not in res and "top5_accuracy" not in res
    assert all(s["top1_accuracy"] == s["accuracy"] and "top3_accuracy" not in s for s in res["slices"].values())


def test_bad_probs_and_labels_are_one_line_errors() -> None:
    items, preds, _, _ = probs_case(20, 6, 3)
    preds[4].probs = preds[4].probs[:5]
    with pytest.raises(InvalidInput, match="item 4 has 5 probs, expected 6") as info:
        evaluate_predictions("classify", items, preds, [str(j) for j in range(6)])
    assert "\n" not in str(info.value)
    preds[4].probs = None
    with pytest.raises(InvalidInput, match="item 4 has 0 probs"):
        evaluate_predictions("classify", items, preds, [str(j) for j in range(6)])
    items, preds, _, _ = probs_case(20, 6, 3)
    preds[2].label = 9
    with pytest.raises(InvalidInput, match="prediction for item 2 has label 9"):
        evaluate_predictions("classify", items, preds, [str(j) for j in range(6)])
    preds[2].label = 0
    with pytest.raises(InvalidInput, match="not among the evaluated items"):
        evaluate_predictions("classify", items[:5], preds[:6], [str(j) for j in range(6)])


def test_results_json_holds_top_k(tmp_path: Path) -> None:
    items, preds, y, scores = probs_case(120, 8, 5)
    res = evaluate_predictions("classify", items, preds, [f"k{j}" for j in range(8)], slice_by=["dir"])
    paths = write_artifacts(res, tmp_path)
    stored = json.loads(paths["results"].read_text())
    for k in (1, 3, 5):
        assert stored[f"top{k}_accuracy"] == pytest.approx(skm.top_k_accuracy_score(y, scores, k=k, labels=list(range(8))))
        assert f"top{k}_accuracy" in stored["slices"]["dir=d0"]
    header = paths["slices"].read_text().splitlines()[0].split(",")
    assert {"top1_accuracy", "top3_accuracy", "top5_accuracy", "macro_f1"} <= set(header)


def test_widget_recomputation_equals_results_json(tmp_path: Path, monkeypatch) -> None:
    """The compare widget's slice table recomputed from predictions.jsonl gives what results.json holds."""
    from dataclasses import asdict

    from mm_jupyter.widgets import slices as wslices

    items, preds, _, _ = probs_case(90, 7, 6)
    for it in items:
        it.metadata = {"lighting": ["dark", "day", "dusk"][it.id % 3]}
        if it.metadata["lighting"] == "dark":  # a slice all right, of classes 0 and 1 only
            it.annotations["label"] = preds[it.id].label = it.id % 2
            preds[it.id].probs = np.eye(7)[it.id % 2].tolist()
    labels = [f"k{j}" for j in range(7)]
    folder = tmp_path / "exe"
    folder.mkdir()
    (folder / "predictions.jsonl").write_text("".join(json.dumps(asdict(p)) + "\n" for p in preds))
    monkeypatch.setattr(wslices, "select_items", lambda store, dataset_id, selection: items)
    store = _Store(tmp_path)
    store.execution_dir = lambda execution: folder
    execution = {"id": "exe", "params": {"dataset_id": "d", "labels": labels}}
    recomputed = wslices.slice_metrics(store, execution, "classify")
    assert recomputed["metadata.lighting=dark"]["macro_f1"] == 1.0
    res = evaluate_predictions("classify", items, preds, labels, slice_by=["metadata.lighting"])
    write_artifacts(res, folder)
    numbers = {name: {k: v for k, v in r.items() if not isinstance(v, dict | list)}
               for name, r in res["slices"].items()}
    assert wslices.slice_metrics(store, execution, "classify") == recomputed == numbers
    assert all({"ci", "delta", "delta_ci", "worse"} <= set(r) for r in res["slices"].values())


def test_numpy_labels_are_accepted() -> None:
    items, preds, y, _ = probs_case(30, 6, 7)
    for it, p in zip(items, preds, strict=True):
        it.annotations["label"], p.label = np.int64(it.annotations["label"]), np.int64(p.label)
    res = evaluate_predictions("classify", items, preds, [])
    assert res["labels"] == [str(j) for j in range(6)]
    assert res["accuracy"] == pytest.approx(float(np.mean([p.label == t for p, t in zip(preds, y, strict=True)])))
    assert all(type(r["correct"]) is bool for r in res["items"])
