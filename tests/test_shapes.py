"""The synthetic shapes dataset: layout, exact boxes, metadata, determinism, speed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from mm_jupyter.errors import InvalidInput
from mm_jupyter.shapes import CLASSES, generate_shapes


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def meta_rows(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "metadata.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def detect(tmp_path_factory) -> Path:
    return generate_shapes(tmp_path_factory.mktemp("shapes") / "detect")


def test_detect_layout(detect):
    for split, n in (("train", 32), ("val", 16), ("test", 16)):
        images = sorted((detect / "images" / split).glob("*.png"))
        labels = sorted((detect / "labels" / split).glob("*.txt"))
        assert len(images) == len(labels) == n
        assert [p.stem for p in images] == [p.stem for p in labels]
    data = yaml.safe_load((detect / "data.yaml").read_text())
    assert data["names"] == ["rectangle", "ellipse", "triangle"]
    assert data["path"] == str(detect) and Path(data["path"]).is_absolute()
    assert (data["train"], data["val"], data["test"]) == ("images/train", "images/val", "images/test")
    with Image.open(next((detect / "images" / "train").glob("*.png"))) as im:
        assert im.size == (96, 96) and im.mode == "RGB"


def shape_colour(box_pixels: np.ndarray, ring_pixels: np.ndarray) -> np.ndarray:
    """The most frequent colour inside a box that does not occur around it (a shape is one colour)."""
    around = {tuple(p) for p in ring_pixels.reshape(-1, 3)}
    colours, counts = np.unique(box_pixels.reshape(-1, 3), axis=0, return_counts=True)
    ranked = [c for _, c in sorted(zip(-counts, colours.tolist(), strict=True)) if tuple(c) not in around]
    return np.array(ranked[0], dtype=box_pixels.dtype)


def test_detect_boxes_are_exact(detect):
    counts = []
    for label in sorted(detect.glob("labels/*/*.txt")):
        pixels = np.asarray(Image.open(detect / "images" / label.parent.name / (label.stem + ".png")))
        lines = label.read_text().splitlines()
        counts.append(len(lines))
        for line in lines:
            cls, *box = line.split()
            assert 0 <= int(cls) < len(CLASSES)
            cx, cy, w, h = (float(v) * 96 for v in box)
            x1, y1, x2, y2 = (round(v) for v in (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
            assert abs(x1 - (cx - w / 2)) < 1e-3 and abs(y2 - (cy + h / 2)) < 1e-3
            assert 0.2 * 96 - 1 <= x2 - x1 <= 0.6 * 96 + 1 and 0.2 * 96 - 1 <= y2 - y1 <= 0.6 * 96 + 1
            ring = np.zeros(pixels.shape[:2], bool)
            ring[max(0, y1 - 1):y2 + 1, max(0, x1 - 1):x2 + 1] = True
            ring[y1:y2, x1:x2] = False
            colour = shape_colour(pixels[y1:y2, x1:x2], pixels[ring])
            inside = np.all(pixels == colour, axis=-1)
            # the shape touches each side of its box ...
            assert inside[y1, x1:x2].any() and inside[y2 - 1, x1:x2].any()
            assert inside[y1:y2, x1].any() and inside[y1:y2, x2 - 1].any()
            # ... and fills a fair part of it, and no pixel of it lies in the ring around the box
            assert inside[y1:y2, x1:x2].mean() > 0.45
            assert not inside[ring].any()
            if CLASSES[int(cls)] == "rectangle":
                assert inside[y1:y2, x1:x2].all()
    assert set(counts) == {1, 2, 3}


def test_metadata_makes_slices(detect):
    rows = meta_rows(detect)
    assert len(rows) == 64
    assert {r["path"] for r in rows} == {p.relative_to(detect).as_posix() for p in detect.glob("images/*/*.png")}
    assert {r["lighting"] for r in rows} == {"dark", "normal", "bright"}
    assert {r["background"] for r in rows} == {"plain", "noise", "gradient"}
    by_light: dict[str, list[float]] = {}
    for r in rows:
        assert isinstance(r["n_objects"], int) and 1 <= r["n_objects"] <= 3
        assert isinstance(r["min_box_area"], float) and 0 < r["min_box_area"] <= r["mean_size"] ** 2 + 1e-3
        assert 0.15 < r["mean_size"] < 0.65
        label = (detect / r["path"].replace("images/", "labels/", 1)).with_suffix(".txt")
        assert r["n_objects"] == len(label.read_text().splitlines())
        by_light.setdefault(r["lighting"], []).append(float(np.asarray(Image.open(detect / r["path"])).mean()))
    means = {k: np.mean(v) for k, v in by_light.items()}
    assert means["dark"] < means["normal"] < means["bright"]


def test_classify_layout(tmp_path):
    root = generate_shapes(tmp_path / "cls", flavour="classify", n_train=9, n_val=3, n_test=3, size=64)
    assert not (root / "data.yaml").exists()
    for split, n in (("train", 9), ("val", 3), ("test", 3)):
        per_class = {c: len(list((root / split / c).glob("*.png"))) for c in CLASSES}
        assert sum(per_class.values()) == n and len(set(per_class.values())) == 1
    rows = meta_rows(root)
    assert len(rows) == 15 and all(r["n_objects"] == 1 for r in rows)
    assert all(0.3 < r["mean_size"] < 0.75 for r in rows)
    assert all((root / r["path"]).is_file() for r in rows)


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    for flavour in ("detect", "classify"):
        a = tree(generate_shapes(tmp_path / f"{flavour}-a", flavour=flavour, n_train=6, n_val=3, n_test=3, seed=7))
        b_root = generate_shapes(tmp_path / f"{flavour}-b", flavour=flavour, n_train=6, n_val=3, n_test=3, seed=7)
        b = tree(b_root)
        if flavour == "detect":  # data.yaml names its own absolute folder; everything else is equal
            ya, yb = yaml.safe_load(a.pop("data.yaml")), yaml.safe_load(b.pop("data.yaml"))
            assert {**ya, "path": None} == {**yb, "path": None}
        assert a == b
        again = tree(generate_shapes(b_root, flavour=flavour, n_train=6, n_val=3, n_test=3, seed=7,
                                     overwrite=True))
        again.pop("data.yaml", None)
        assert again == b
        c = tree(generate_shapes(tmp_path / f"{flavour}-c", flavour=flavour, n_train=6, n_val=3, n_test=3, seed=8))
        c.pop("data.yaml", None)
        assert c.keys() == a.keys()
        assert [k for k in a if k.endswith(".png") and a[k] == c.get(k)] == []


def test_fast_enough(tmp_path):
    start = time.perf_counter()
    generate_shapes(tmp_path / "speed", n_train=32, n_val=16, n_test=16, size=96)
    elapsed = time.perf_counter() - start
    assert elapsed < 2.0, f"64 images took {elapsed:.2f}s (target 1s)"


def test_overwrite_replaces_only_generated_entries(tmp_path):
    out = generate_shapes(tmp_path / "out", n_train=4, n_val=1, n_test=1)
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(InvalidInput, match="is not empty"):
        generate_shapes(out, n_train=2, n_val=1, n_test=1)
    generate_shapes(out, n_train=2, n_val=1, n_test=0, overwrite=True)
    assert len(list(out.glob("images/train/*.png"))) == 2 and not list(out.glob("images/test/*"))
    assert (out / "mine.txt").read_text() == "keep me"
    assert len(meta_rows(out)) == 3


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"flavour": "segment"}, "unknown shapes flavour 'segment'"),
    ({"n_train": -1}, "n_train must be a non-negative integer"),
    ({"n_val": 1.5}, "n_val must be a non-negative integer"),
    ({"n_train": 0, "n_val": 0, "n_test": 0}, "at least one image"),
    ({"size": 8}, "from 32 to 4096"),
])
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        generate_shapes(tmp_path / "bad", **kwargs)
    assert not (tmp_path / "bad").exists()
