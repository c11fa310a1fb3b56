"""A small deterministic "shapes" dataset: rectangles, ellipses and triangles on varied backgrounds.

Used by ``mm demo``, the tests and the benchmarks. Every image draws from its own random generator
seeded by ``(seed, flavour, split, index)``, so the same seed gives byte-identical files. Each image
gets user fields in ``metadata.jsonl`` (lighting, background, brightness, n_objects, min_box_area,
mean_size) so that per-slice metrics have something to slice on.
"""

from __future__ import annotations

import colorsys
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageDraw

from .errors import InvalidInput

CLASSES = ("rectangle", "ellipse", "triangle")
SPLITS = ("train", "val", "test")
FLAVOURS = {"detect": 0, "detection": 0, "classify": 1, "classification": 1}
LIGHTING = {"dark": (0.45, 0.65), "normal": (0.9, 1.1), "bright": (1.3, 1.5)}
BACKGROUNDS = ("plain", "noise", "gradient")
GENERATED = ("images", "labels", *SPLITS, "data.yaml", "metadata.jsonl")
PNG_OPTIONS = {"format": "PNG", "compress_level": 6, "optimize": False}


@dataclass
class Shape:
    """One drawn object: its class index and exact pixel box ``[x1, y1, x2, y2]`` (x2, y2 exclusive)."""

    cls: int
    box: tuple[int, int, int, int]


def generate_shapes(out_dir: str | Path, *, flavour: str = "detect", n_train: int = 32, n_val: int = 16,
                    n_test: int = 16, size: int = 96, seed: int = 0, overwrite: bool = False) -> Path:
    """Write a shapes dataset to ``out_dir`` and return its (absolute) path.

    ``flavour="detect"``: YOLO layout (``images/<split>/*.png``, ``labels/<split>/*.txt``,
    ``data.yaml``) with 1-3 objects per image. ``flavour="classify"``: ``<split>/<class>/*.png`` with
    one big shape per image. Both write ``metadata.jsonl``. A non-empty ``out_dir`` is refused
    unless ``overwrite`` (which replaces only the generated entries).
    """
    if flavour not in FLAVOURS:
        raise InvalidInput(f"unknown shapes flavour {flavour!r} (known: detect, classify)")
    counts = [_count(n, name) for n, name in ((n_train, "n_train"), (n_val, "n_val"), (n_test, "n_test"))]
    if not sum(counts):
        raise InvalidInput("shapes dataset needs at least one image (n_train + n_val + n_test > 0)")
    if not isinstance(size, int) or isinstance(size, bool) or not 32 <= size <= 4096:
        raise InvalidInput(f"shapes image size must be an integer from 32 to 4096, got {size!r}")
    out = _prepare(Path(out_dir).expanduser().resolve(), overwrite)
    detect = FLAVOURS[flavour] == 0
    meta = []
    for split_index, (split, count) in enumerate(zip(SPLITS, counts, strict=True)):
        for index in range(count):
            rng = np.random.default_rng([seed, FLAVOURS[flavour], split_index, index])
            meta.append(_write_image(out, rng, split, index, size, detect))
    with open(out / "metadata.jsonl", "w", encoding="utf-8", newline="\n") as fh:
        fh.writelines(json.dumps(m, sort_keys=True) + "\n" for m in meta)
    if detect:
        _write_data_yaml(out)
    return out


def _count(n: object, name: str) -> int:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise InvalidInput(f"{name} must be a non-negative integer, got {n!r}")
    return n


def _prepare(out: Path, overwrite: bool) -> Path:
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"output path '{out}' exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise InvalidInput(f"output folder '{out}' is not empty (pass overwrite=True to replace it)")
        for name in GENERATED:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out


def _write_data_yaml(out: Path) -> None:
    data = {"path": str(out), "train": "images/train", "val": "images/val", "test": "images/test",
            "nc": len(CLASSES), "names": list(CLASSES)}
    (out / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _write_image(out: Path, rng: np.random.Generator, split: str, index: int, size: int,
                 detect: bool) -> dict:
    lighting = list(LIGHTING)[int(rng.integers(len(LIGHTING)))]
    background = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
    brightness = float(rng.uniform(*LIGHTING[lighting]))
    canvas = _background(rng, background, size)
    shapes = _draw_objects(rng, canvas, size, detect, index)
    pixels = np.clip(canvas * brightness, 0, 255).astype(np.uint8)
    stem = f"{split}_{index:05d}"
    if detect:
        rel = f"images/{split}/{stem}.png"
        _write_labels(out / "labels" / split / f"{stem}.txt", shapes, size)
    else:
        rel = f"{split}/{CLASSES[shapes[0].cls]}/{stem}.png"
    (out / rel).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, "RGB").save(out / rel, **PNG_OPTIONS)
    areas = [(s.box[2] - s.box[0]) * (s.box[3] - s.box[1]) / size**2 for s in shapes]
    return {"path": rel, "lighting": lighting, "background": background,
            "brightness": round(brightness, 3), "n_objects": len(shapes),
            "min_box_area": round(min(areas), 4), "mean_size": round(float(np.mean(np.sqrt(areas))), 4)}


def _write_labels(path: Path, shapes: list[Shape], size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for s in shapes:
        x1, y1, x2, y2 = s.box
        cx, cy, w, h = (x1 + x2) / 2 / size, (y1 + y2) / 2 / size, (x2 - x1) / size, (y2 - y1) / size
        lines.append(f"{s.cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n")
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.writelines(lines)


# --- drawing ---------------------------------------------------------------------------------


def _background(rng: np.random.Generator, kind: str, size: int) -> np.ndarray:
    """A low-saturation background (float RGB, 0-255) so the saturated shapes stand out."""
    base = rng.uniform(60, 190) + rng.uniform(-20, 20, 3)
    canvas = np.broadcast_to(base, (size, size, 3)).astype(np.float64)
    if kind == "noise":
        canvas = canvas + rng.normal(0, 20, (size, size, 3))
    elif kind == "gradient":
        other = rng.uniform(40, 210) + rng.uniform(-20, 20, 3)
        angle = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:size, 0:size] / max(1, size - 1)
        t = (xx * np.cos(angle) + yy * np.sin(angle))
        t = (t - t.min()) / max(1e-9, float(t.max() - t.min()))
        canvas = canvas * (1 - t[..., None]) + other * t[..., None]
    return np.clip(canvas, 0, 255)


def _draw_objects(rng: np.random.Generator, canvas: np.ndarray, size: int, detect: bool,
                  index: int) -> list[Shape]:
    if not detect:
        cls = index % len(CLASSES)
        box = _place(rng, size, 0.35, 0.7, []) or (0, 0, size - 1, size - 1)
        return [_draw(rng, canvas, cls, box)]
    wanted = int(rng.integers(1, 4))
    high = {1: 0.6, 2: 0.45, 3: 0.38}[wanted]
    shapes: list[Shape] = []
    for _ in range(wanted):
        box = _place(rng, size, 0.2, high, [s.box for s in shapes])
        if box is not None:
            shapes.append(_draw(rng, canvas, int(rng.integers(len(CLASSES))), box))
    return shapes


def _place(rng: np.random.Generator, size: int, low: float, high: float,
           taken: list[tuple[int, int, int, int]], tries: int = 40) -> tuple[int, int, int, int] | None:
    """An integer box (inclusive corners) of 20-60% of the side that keeps 2 px clear of ``taken``."""
    for _ in range(tries):
        w, h = (int(round(rng.uniform(low, high) * size)) for _ in range(2))
        x1, y1 = int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))
        box = (x1, y1, x1 + w - 1, y1 + h - 1)
        if all(box[2] + 2 < t[0] or t[2] + 2 < box[0] or box[3] + 2 < t[1] or t[3] + 2 < box[1]
               for t in taken):
            return box
    return None


def _draw(rng: np.random.Generator, canvas: np.ndarray, cls: int, box: tuple[int, int, int, int]) -> Shape:
    """Paint one saturated shape into ``canvas``; its box is measured from the painted pixels."""
    size = canvas.shape[0]
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    x1, y1, x2, y2 = box
    if CLASSES[cls] == "rectangle":
        draw.rectangle(box, fill=255)
    elif CLASSES[cls] == "ellipse":
        draw.ellipse(box, fill=255)
    else:
        apex = int(rng.integers(x1, x2 + 1))
        points = [(x1, y2), (x2, y2), (apex, y1)] if rng.random() < 0.5 else [(x1, y1), (x2, y1), (apex, y2)]
        draw.polygon(points, fill=255)
    hue, sat, val = rng.uniform(0, 1), rng.uniform(0.85, 1.0), rng.uniform(0.85, 1.0)
    colour = np.array(colorsys.hsv_to_rgb(hue, sat, val)) * 255
    painted = np.asarray(mask) > 0
    canvas[painted] = colour
    return Shape(cls, mask.getbbox())
