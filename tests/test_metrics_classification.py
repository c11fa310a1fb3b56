"""classification_metrics against scikit-learn, with slices and bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from mm_jupyter.metrics import MetricsInputError
from mm_jupyter.metrics.classification import classification_metrics

skm = pytest.importorskip("sklearn.metrics")
pytestmark = pytest.mark.filterwarnings("ignore:'k' .* greater than or equal to 'n_classes'")


def reference(y_true, y_pred, labels, scores=None, top_k=(1, 5), macro_labels=None) -> dict:
    """scikit-learn's figures; ``macro_labels``: the labels the macro averages (default ``labels``)."""
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    out = {
        "accuracy": skm.accuracy_score(y_true, y_pred),
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "per_class": {lab: (p[j], r[j], f[j], s[j]) for j, lab in enumerate(labels)},
    }
    for avg, labs in (("macro", labels if macro_labels is None else macro_labels), ("weighted", labels)):
        out[avg] = skm.precision_recall_fscore_support(y_true, y_pred, labels=labs, average=avg, zero_division=0)[:3]
    if scores is not None:
        for k in top_k:
            out[f"top{k}_accuracy"] = skm.top_k_accuracy_score(y_true, scores, k=k, labels=labels)
    return out


def assert_same(res: dict, ref: dict) -> None:
    assert res["accuracy"] == pytest.approx(ref["accuracy"], abs=1e-12)
    assert res["confusion_matrix"] == ref["confusion_matrix"]
    for lab, (p, r, f, s) in ref["per_class"].items():
        got = res["per_class"][lab]
        assert (got["precision"], got["recall"], got["f1"]) == pytest.approx((p, r, f), abs=1e-12)
        assert got["support"] == s
    for avg in ("macro", "weighted"):
        assert tuple(res[avg][k] for k in ("precision", "recall", "f1")) == pytest.approx(ref[avg], abs=1e-12)
    for key in ref:
        if key.startswith("top"):
            assert res[key] == pytest.approx(ref[key], abs=1e-12), key


@pytest.mark.parametrize("seed", range(12))
def test_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_cls = int(rng.integers(3, 12))
    n = int(rng.integers(5, 400))
    y_true = rng.integers(0, n_cls, n)
    scores = rng.random((n, n_cls)) + np.eye(n_cls)[y_true] * rng.uniform(0, 1.5)
    if seed % 3 == 0:
        scores = np.round(scores, 1)  # ties, broken as scikit-learn does
    y_pred = scores.argmax(1)
    if seed % 2:  # a class never predicted and one never true
        y_pred[y_pred == 0] = 1
        y_true[y_true == n_cls - 1] = 0
    labels = list(range(n_cls))
    res = classification_metrics(y_true, y_pred, labels=labels, scores=scores, top_k=(1, 2, 5))
    assert_same(res, reference(y_true, y_pred, labels, scores, (1, 2, 5)))
    assert res["labels"] == labels


def test_string_labels_default_order_and_lists() -> None:
    y_true = ["cat", "dog", "cat", "bird", "dog", "dog"]
    y_pred = ["cat", "cat", "cat", "bird", "dog", "fish"]
    res = classification_metrics(y_true, y_pred)
    labels = ["bird", "cat", "dog", "fish"]
    assert res["labels"] == labels
    assert_same(res, reference(y_true, y_pred, labels))
    assert "top1_accuracy" not in res


def present(y_true, y_pred) -> list:
    return sorted(set(np.asarray(y_true).tolist()) | set(np.asarray(y_pred).tolist()))


def test_slices_equal_metrics_on_subsets() -> None:
    rng = np.random.default_rng(3)
    y_true, scores = rng.integers(0, 6, 300), rng.random((300, 6))
    y_pred = scores.argmax(1)
    y_true[:20] %= 2  # "few": rows with classes 0 and 1 only, true and predicted
    y_pred[:20] = np.where(np.arange(20) % 3 == 0, 1 - y_true[:20], y_true[:20])
    slices = {"even": list(range(0, 300, 2)), "head": list(range(40)), "few": list(range(20)), "empty": []}
    labels = list(range(6))
    for how in ("present", "all"):
        res = classification_metrics(y_true, y_pred, labels=labels, scores=scores, slices=slices, slice_macro=how)
        assert_same(res, reference(y_true, y_pred, labels, scores))  # the whole set: every label
        for name, rows in slices.items():
            got = res["slices"][name]
            if not rows:
                assert got["accuracy"] is None and got["top1_accuracy"] is None and got["n"] == 0
                continue
            macro = present(y_true[rows], y_pred[rows]) if how == "present" else labels
            assert_same(got, reference(y_true[rows], y_pred[rows], labels, scores[rows], macro_labels=macro))
            assert got["n"] == len(rows)
            assert list(got["per_class"]) == labels
    default = classification_metrics(y_true, y_pred, labels=labels, slices=slices)["slices"]["few"]["macro"]["f1"]
    every = classification_metrics(y_true, y_pred, labels=labels, slices=slices, slice_macro="all")
    assert 0 < default == pytest.approx(3 * every["slices"]["few"]["macro"]["f1"])  # 2 labels present of 6


def test_a_slice_all_right_has_macro_one() -> None:
    y_true = ["cat", "cat", "dog", "bird", "bird", "fish"]
    y_pred = ["cat", "cat", "dog", "cat", "bird", "dog"]
    res = classification_metrics(y_true, y_pred, slices={"right": [0, 1, 2], "cats": [0, 1]})
    for name in ("right", "cats"):
        assert res["slices"][name]["macro"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert res["macro"]["f1"] < 1.0
    old = classification_metrics(y_true, y_pred, slices={"right": [0, 1, 2]}, slice_macro="all")
    assert old["slices"]["right"]["macro"]["f1"] == pytest.approx(0.5)  # 2 of 4 labels


def test_numpy_labels_give_json_result() -> None:
    y = np.array([0, 1, 2, 1])
    res = classification_metrics(y, y[::-1], labels=np.arange(3), scores=np.eye(3)[y], slices={"e": []})
    assert list(res["per_class"]) == [0, 1, 2] and type(res["labels"][0]) is int
    json.dumps(res, allow_nan=False)


def test_top_k_at_least_number_of_classes_is_one() -> None:
    res = classification_metrics([0, 1, 2], [1, 2, 0], labels=[0, 1, 2], scores=np.eye(3)[[1, 2, 0]])
    assert res["top1_accuracy"] == 0.0 and res["top5_accuracy"] == 1.0


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"y_true": [0, 1], "y_pred": [0]}, "y_true has 2 rows but y_pred has 1"),
    ({"y_true": [], "y_pred": []}, "no rows"),
    ({"y_true": [0, 7], "y_pred": [0, 1], "labels": [0, 1]}, "y_true has label 7"),
    ({"y_true": [0, 1], "y_pred": [0, 9], "labels": [0, 1]}, "y_pred has label 9"),
    ({"y_true": [0, 1], "y_pred": [0, 1], "labels": [0, 0, 1]}, "unique"),
    ({"y_true": [0, 1], "y_pred": [0, 1], "scores": np.zeros((2, 3))}, "scores must have shape (2, 2)"),
    ({"y_true": [0, 1], "y_pred": [0, 1], "scores": [[0.1, np.nan], [0, 1]]}, "non-finite"),
    ({"y_true": [0, 1], "y_pred": [0, 1], "scores": np.eye(2), "top_k": (0,)}, "top_k"),
    ({"y_true": [0, 1], "y_pred": [0, 1], "slices": {"s": [0, 5]}}, "slice 's' has row index 5 outside 0..1"),
    ({"y_true": [0, 1], "y_pred": [0, 1], "slices": {"s": [0.5]}}, "integer row indices"),
    ({"y_true": [0, 1], "y_pred": [0, 1], "slices": {"s": [0]}, "slice_macro": "some"}, "slice_macro"),
    ({"y_true": [0, "a"], "y_pred": [0, 1]}, "mixed types"),
    ({"y_true": [[0, 1]], "y_pred": [[0, 1]]}, "one-dimensional"),
])
def test_bad_input(kwargs: dict, message: str) -> None:
    with pytest.raises(MetricsInputError) as info:
        classification_metrics(**kwargs)
    assert message in str(info.value)


def test_imports_numpy_only() -> None:
    code = ("import sys, mm_jupyter.metrics.classification as c; "
            "c.classification_metrics([0, 1], [0, 1]); "
            "bad = [m for m in ('sklearn', 'scipy', 'faster_coco_eval', 'torch') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
