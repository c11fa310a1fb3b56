"""build_slices: fields, quantile bins, crossing, and errors."""

from __future__ import annotations

import numpy as np
import pytest

from mm_jupyter.metrics import MetricsInputError
from mm_jupyter.metrics.slices import build_slices


def make_items(n: int = 40, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        meta = {"size": float(rng.uniform(5, 100)), "lighting": ["dark", "day", "dusk"][i % 3], "camera": i % 2}
        if i % 10 == 9:
            del meta["size"]
        items.append({"id": f"it{i}", "dir": f"d{i % 4}", "tags": ["train"] if i % 5 else ["test", "hard"],
                      "name": f"{i}.jpg", "metadata": meta})
    return items


def test_dir_and_tag() -> None:
    items = make_items()
    s = build_slices(items, ["dir", "tag"])
    assert [k for k in s if k.startswith("dir=")] == ["dir=d0", "dir=d1", "dir=d2", "dir=d3"]
    assert s["dir=d1"] == [it["id"] for it in items if it["dir"] == "d1"]
    assert s["tag=test"] == s["tag=hard"] == [it["id"] for it in items if "test" in it["tags"]]
    assert set(s["tag=train"]) | set(s["tag=test"]) == {it["id"] for it in items}


def test_numeric_quantile_bins() -> None:
    items = make_items(80)
    s = build_slices(items, ["metadata.size"], bins=4)
    sizes = {it["id"]: it["metadata"]["size"] for it in items if "size" in it["metadata"]}
    assert len(s) == 4
    edges = np.quantile(list(sizes.values()), [0, 0.25, 0.5, 0.75, 1])
    names = list(s)
    lo, hi = (repr(float(f"{e:.6g}")) for e in edges[:2])
    assert names[0] == f"metadata.size=[{lo},{hi})"
    assert names[-1].endswith("]") and all(n.endswith(")") for n in names[:-1])
    assert sorted(v for ids in s.values() for v in ids) == sorted(sizes)  # a partition of items having size
    for name, ids in s.items():
        lo, hi = (float(x) for x in name.split("=[")[1].strip("])").split(","))
        assert all(lo - 1e-4 <= sizes[i] <= hi + 1e-4 for i in ids)
    assert [len(v) for v in s.values()] == [18, 18, 18, 18]


def test_few_valued_numbers_and_strings_slice_by_value() -> None:
    s = build_slices(make_items(), ["metadata.camera", "metadata.lighting"])
    assert list(s) == ["metadata.camera=0", "metadata.camera=1", "metadata.lighting=dark",
                       "metadata.lighting=day", "metadata.lighting=dusk"]


def test_constant_numbers_single_bin() -> None:
    items = [{"id": i, "metadata": {"w": 640}} for i in range(5)]
    assert build_slices(items, ["metadata.w"], bins=1) == {"metadata.w=640": [0, 1, 2, 3, 4]}


def test_crossing() -> None:
    items = make_items()
    s = build_slices(items, ["metadata.lighting*tag"])
    assert "metadata.lighting=dark&tag=train" in s
    for name, ids in s.items():
        light, tag = name.split("&")
        want = [it["id"] for it in items if it["metadata"]["lighting"] == light.split("=")[1]
                and tag.split("=")[1] in it["tags"]]
        assert ids == want
    assert sum(len(v) for v in s.values()) == sum(len(it["tags"]) for it in items)
    three = build_slices(items, ["dir*metadata.camera*tag"])
    assert all(name.count("&") == 2 for name in three)


def test_missing_values_left_out() -> None:
    items = [{"id": 1, "metadata": {"x": 1.0}}, {"id": 2, "metadata": {"x": float("nan")}}, {"id": 3},
             {"id": 4, "metadata": {"x": None}}, {"id": 5, "tags": [], "metadata": {"x": 2.0}}]
    assert build_slices(items, ["metadata.x", "tag"]) == {"metadata.x=1.0": [1], "metadata.x=2.0": [5]}


@pytest.mark.parametrize(("by", "message"), [
    (["metadata.nope"], "unknown field 'metadata.nope'"),
    (["color"], "unknown field 'color'"),
    (["dir*colour"], "unknown field 'colour'"),
    (["metadata."], "unknown field 'metadata.'"),
])
def test_unknown_field(by: list, message: str) -> None:
    with pytest.raises(MetricsInputError) as info:
        build_slices(make_items(), by)
    assert message in str(info.value)


def test_bad_items_and_bins() -> None:
    with pytest.raises(MetricsInputError, match="item #1 has no 'id'"):
        build_slices([{"id": 1}, {"dir": "a"}], ["dir"])
    with pytest.raises(MetricsInputError, match="bins"):
        build_slices(make_items(), ["metadata.size"], bins=0)


def test_slices_feed_per_slice_macro_over_present_labels() -> None:
    """A slice built here whose items are all predicted right has macro-F1 1.0, however many labels the
    dataset has; the whole set's macro still averages every label."""
    from mm_jupyter.metrics.classification import classification_metrics

    items = make_items(60)
    labels = [f"k{j}" for j in range(10)]
    y_true = [labels[(i % 3) * 3 + i % 2] for i in range(60)]  # lighting dark: k0/k1, day: k3/k4, dusk: k6/k7
    y_pred = [t if it["metadata"]["lighting"] == "dark" else labels[9] for t, it in zip(y_true, items, strict=True)]
    s = build_slices(items, ["metadata.lighting"])
    row = {it["id"]: i for i, it in enumerate(items)}
    res = classification_metrics(y_true, y_pred, labels=labels,
                                 slices={k: [row[i] for i in ids] for k, ids in s.items()})
    assert res["slices"]["metadata.lighting=dark"]["macro"]["f1"] == 1.0
    assert res["slices"]["metadata.lighting=day"]["macro"]["f1"] == 0.0
    assert res["macro"]["f1"] == pytest.approx(0.2)  # k0 and k1 right, of 10 labels
