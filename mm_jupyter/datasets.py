"""Dataset registration (YOLO folders, COCO json, image folders): scanning, the items index and the
content hash.

``register_dataset`` scans a dataset once, reads every image's size from its header, turns the
annotations into pixel boxes (detection) or class indices (classification), merges user fields from
an optional ``metadata.jsonl`` sidecar, and writes the dataset row and all its items in one
transaction. Items are read back through selections (``mm_jupyter.queries.items``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from PIL import Image

from .errors import Conflict, InvalidInput
from .queries.catalog import dataset_row
from .queries.items import SPLIT_TAGS, item_tags
from .store import Store

FORMATS = ("yolo", "coco", "imagefolder")
IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
SIDECAR = "metadata.jsonl"
TAG_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
BAD_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f/\\]")
BAD_PATH_CHARS = re.compile(r"[\x00-\x1f\x7f]")
INSERT_BATCH = 1000
COORD_TOLERANCE = 1e-3


@dataclass
class _Record:
    """One image found while scanning a dataset."""

    path: str
    width: int
    height: int
    annotations: dict
    tags: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    size: int = 0


@dataclass
class _Scan:
    root: Path
    format: str
    labels: list[str]
    records: list[_Record]


# --- registration ----------------------------------------------------------------------------


def register_dataset(store: Store, path: str | os.PathLike, name: str | None = None,
                     format: str | None = None, labels: list[str] | None = None) -> dict:
    """Scan the dataset at ``path``, index every image as an item, and return the dataset row.

    ``format`` is ``"yolo"``, ``"coco"`` or ``"imagefolder"`` (detected when None); ``labels``
    (class names in index order) renames YOLO classes, maps COCO categories and image-folder
    classes by name. Everything is written in one transaction: on any error nothing is left.
    """
    src = _dataset_path(path)
    name = _dataset_name(name, src)
    if store.first("datasets", name=name):
        raise Conflict(f"dataset name {name!r} already exists")
    scan = _scan(src, format, _check_labels(labels))
    _finish_records(scan)
    row = {"name": name, "root": str(scan.root), "format": scan.format, "labels": scan.labels,
           "content_hash": _content_hash(scan.format, scan.labels, scan.records)}
    with store.tx():
        try:
            row = store.insert("datasets", row)
        except sqlite3.IntegrityError:
            raise Conflict(f"dataset name {name!r} already exists") from None
        _insert_items(store, row["id"], scan.records)
    return dataset_row(store, row["id"])


def _dataset_path(path: Any) -> Path:
    """The resolved, existing dataset path (one-line errors for empty, NUL, control characters,
    over-long or missing paths)."""
    if not isinstance(path, str | os.PathLike):
        raise InvalidInput(f"dataset path must be a path, got {type(path).__name__}")
    text = os.fspath(path)
    if isinstance(text, bytes) or not text.strip():
        raise InvalidInput(f"dataset path must be a non-empty path, got {text!r}")
    if BAD_PATH_CHARS.search(text):
        raise InvalidInput(f"dataset path {text[:200]!r} contains control characters")
    try:
        src = Path(text).expanduser()
        if not src.exists():
            raise InvalidInput(f"dataset path {text[:200]!r} does not exist")
        return src.resolve()
    except (OSError, ValueError, RuntimeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise InvalidInput(f"dataset path {text[:200]!r} cannot be used: {reason}") from None


def _dataset_name(name: str | None, src: Path) -> str:
    if name is None:
        name = src.stem if src.is_file() else src.name
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"dataset name must be a non-empty string, got {name!r}")
    name = name.strip()
    if len(name) > 128 or BAD_NAME_CHARS.search(name):
        raise InvalidInput(f"dataset name {name!r} must be at most 128 characters, without '/' or control characters")
    return name


def _check_labels(labels: Any) -> list[str] | None:
    if labels is None:
        return None
    if isinstance(labels, str) or not isinstance(labels, list | tuple):
        raise InvalidInput(f"labels must be a list of class names, got {type(labels).__name__}")
    if not labels or not all(isinstance(x, str) and x for x in labels):
        raise InvalidInput("labels must be a non-empty list of non-empty strings")
    if len(set(labels)) != len(labels):
        raise InvalidInput(f"labels contain duplicates: {list(labels)}")
    return list(labels)


def _scan(src: Path, format: str | None, labels: list[str] | None) -> _Scan:
    if format is not None and format not in FORMATS:
        raise InvalidInput(f"unknown dataset format {format!r} (known: {', '.join(FORMATS)})")
    if format is not None:
        found = _DETECTORS[format](src)
        if isinstance(found, str):
            raise InvalidInput(f"'{src}' is not a {format} dataset: {found}")
        return _LOADERS[format](src, found, labels)
    reasons = []
    for fmt in FORMATS:
        found = _DETECTORS[fmt](src)
        if not isinstance(found, str):
            return _LOADERS[fmt](src, found, labels)
        reasons.append(f"{fmt}: {found}")
    raise InvalidInput(f"'{src}' is not a yolo, coco or imagefolder dataset (tried {'; '.join(reasons)})")


def _finish_records(scan: _Scan) -> None:
    """Sort records by path, add file sizes and the sidecar's user fields."""
    scan.records.sort(key=lambda r: r.path)
    by_path = {r.path: r for r in scan.records}
    if len(by_path) != len(scan.records):
        raise InvalidInput(f"dataset '{scan.root}' lists the same image twice")
    if not scan.records:
        raise InvalidInput(f"dataset '{scan.root}' has no images")
    for rec in scan.records:
        rec.size = (scan.root / rec.path).stat().st_size
    for rel, fields in _read_sidecar(scan.root, by_path):
        by_path[rel].metadata.update(fields)
    for rec in scan.records:
        rec.metadata.update(width=rec.width, height=rec.height)


def _read_sidecar(root: Path, known: dict) -> list[tuple[str, dict]]:
    sidecar = root / SIDECAR
    if not sidecar.is_file():
        return []
    out = []
    for lineno, line in enumerate(_read_text(sidecar, SIDECAR).splitlines(), 1):
        if not line.strip():
            continue
        where = f"{SIDECAR}:{lineno}"
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            raise InvalidInput(f"{where}: not valid JSON") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("path"), str):
            raise InvalidInput(f"{where}: needs a JSON object with a 'path' string")
        rel = _norm_rel(obj.pop("path"))
        if rel not in known:
            raise InvalidInput(f"{where}: path {rel!r} is not an image of the dataset")
        out.append((rel, obj))
    return out


def compute_content_hash(path: str | os.PathLike, format: str | None = None,
                         labels: list[str] | None = None) -> str:
    """The content hash a dataset at ``path`` would get now (to tell whether a registered one changed)."""
    src = Path(path).expanduser()
    if not src.exists():
        raise InvalidInput(f"dataset path '{src}' does not exist")
    scan = _scan(src.resolve(), format, _check_labels(labels))
    _finish_records(scan)
    return _content_hash(scan.format, scan.labels, scan.records)


def _content_hash(format: str, labels: list[str], records: list[_Record]) -> str:
    """sha256 over the format, labels and sorted (relative path, size, annotations) of every item."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": format, "labels": labels}, sort_keys=True).encode())
    for rec in sorted(records, key=lambda r: r.path):
        line = json.dumps([rec.path, rec.size, rec.annotations], sort_keys=True, separators=(",", ":"))
        digest.update(b"\n" + line.encode())
    return digest.hexdigest()


def _insert_items(store: Store, dataset_id: str, records: list[_Record]) -> None:
    for start in range(0, len(records), INSERT_BATCH):
        store.insert_items(dataset_id, [
            (r.path, PurePosixPath(r.path).name, _parent(r.path), _json(r.tags), _json(r.metadata),
             _json(r.annotations))
            for r in records[start:start + INSERT_BATCH]
        ])


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _parent(rel: str) -> str:
    parent = PurePosixPath(rel).parent.as_posix()
    return "" if parent == "." else parent


# --- shared scanning helpers -----------------------------------------------------------------


def _norm_rel(rel: str) -> str:
    parts = [p for p in PurePosixPath(rel.replace("\\", "/")).parts if p not in (".", "")]
    return "/".join(parts)


def _images_under(folder: Path) -> list[Path]:
    """Image files below ``folder`` (hidden entries skipped), in a stable order."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(Path(dirpath) / f for f in sorted(filenames)
                     if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_EXTS)
    return found


def _has_images(folder: Path) -> bool:
    for _dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        if any(not f.startswith(".") and Path(f).suffix.lower() in IMAGE_EXTS for f in filenames):
            return True
    return False


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_size(path: Path, rel: str) -> tuple[int, int]:
    """Width and height from the image header (the pixels are not decoded)."""
    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, ImportError) as exc:
        # ImportError: once ultralytics is imported, its patched Image.open tries pi_heif on bad files
        raise InvalidInput(f"cannot read image {rel!r}: {exc}") from None


def _read_text(path: Path, rel: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {rel}: {exc}") from None


def split_tag(name: str) -> str | None:
    """The split a folder or file-name token stands for (``val2017`` -> ``validation``), or None."""
    key = name.lower().rstrip("0123456789").rstrip("_-")
    return SPLIT_TAGS.get(key)


def _path_tags(rel: str) -> list[str]:
    for part in PurePosixPath(rel).parts[:-1]:
        tag = split_tag(part)
        if tag:
            return [tag]
    return []


# --- YOLO ------------------------------------------------------------------------------------


def _detect_yolo(src: Path) -> Path | str:
    if not src.is_dir():
        return "not a folder"
    if (src / "data.yaml").is_file():
        data_yaml = src / "data.yaml"
    else:
        yamls = sorted(p for p in src.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if not yamls:
            return "no data yaml"
        if len(yamls) > 1:
            return f"several yaml files ({', '.join(p.name for p in yamls)}) and no data.yaml"
        data_yaml = yamls[0]
    if not (src / "images").is_dir():
        return "no images/ folder"
    return data_yaml


def _yolo_names(data_yaml: Path) -> list[str]:
    try:
        data = yaml.safe_load(_read_text(data_yaml, data_yaml.name))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{data_yaml.name} is not valid YAML: {str(exc).splitlines()[0]}") from None
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, dict):
        try:
            keys = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            keys = []
        if keys != list(range(len(names))):
            raise InvalidInput(f"{data_yaml.name}: 'names' keys must be 0..{len(names) - 1}")
        names = [names[k] if k in names else names[str(k)] for k in keys]
    if not names:
        raise InvalidInput(f"{data_yaml.name} has no 'names' (the class names)")
    if not isinstance(names, list) or not all(isinstance(n, str | int) for n in names):
        raise InvalidInput(f"{data_yaml.name}: 'names' must be a list of class names")
    return [str(n) for n in names]


def _load_yolo(root: Path, data_yaml: Path, labels: list[str] | None) -> _Scan:
    names = _yolo_names(data_yaml)
    if labels is not None and len(labels) != len(names):
        raise InvalidInput(f"labels has {len(labels)} names but {data_yaml.name} has {len(names)}")
    labels = labels or names
    records = []
    for img in _images_under(root / "images"):
        rel = img.relative_to(root).as_posix()
        label_rel = "labels/" + PurePosixPath(rel).relative_to("images").with_suffix(".txt").as_posix()
        width, height = _image_size(img, rel)
        ann = _yolo_annotations(root / label_rel, label_rel, len(labels), width, height)
        records.append(_Record(rel, width, height, ann, _path_tags(rel)))
    return _Scan(root, "yolo", labels, records)


def _yolo_annotations(label_file: Path, rel: str, n_classes: int, width: int, height: int) -> dict:
    boxes: list[list[float]] = []
    classes: list[int] = []
    if label_file.is_file():
        for lineno, line in enumerate(_read_text(label_file, rel).splitlines(), 1):
            if line.strip():
                cls, box = _yolo_line(line, f"{rel}:{lineno}", n_classes)
                classes.append(cls)
                boxes.append([round(box[0] * width, 3), round(box[1] * height, 3),
                              round(box[2] * width, 3), round(box[3] * height, 3)])
    return {"boxes": boxes, "labels": classes, "iscrowd": [0] * len(boxes)}


def _yolo_line(line: str, where: str, n_classes: int) -> tuple[int, list[float]]:
    """``class cx cy w h`` (or ``class x1 y1 x2 y2 ...``, a polygon) as a class and a 0-1 xyxy box."""
    tokens = line.split()
    try:
        values = [float(t) for t in tokens]
    except ValueError:
        values = []
    polygon = len(values) >= 7 and len(values) % 2 == 1
    if not (len(values) == 5 or polygon) or not all(math.isfinite(v) for v in values):
        raise InvalidInput(f"{where}: malformed label line {line.strip()!r} (expected 'class cx cy w h')")
    if values[0] != int(values[0]):
        raise InvalidInput(f"{where}: class index {tokens[0]!r} is not an integer")
    cls = int(values[0])
    if not 0 <= cls < n_classes:
        raise InvalidInput(f"{where}: class index {cls} out of range (0-{n_classes - 1})")
    if polygon:
        xs, ys = values[1::2], values[2::2]
        box = [min(xs), min(ys), max(xs), max(ys)]
    else:
        cx, cy, w, h = values[1:]
        if w < 0 or h < 0:
            raise InvalidInput(f"{where}: negative box size")
        box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
    if any(v < -COORD_TOLERANCE or v > 1 + COORD_TOLERANCE for v in box):
        raise InvalidInput(f"{where}: box is outside the image (coordinates must be normalized 0-1)")
    return cls, [min(1.0, max(0.0, v)) for v in box]


# --- COCO ------------------------------------------------------------------------------------


def _detect_coco(src: Path) -> tuple[Path, dict] | str:
    if src.is_file():
        if src.suffix.lower() != ".json":
            return "not a .json file"
        doc = _load_json(src)
        return (src, doc) if _is_coco(doc) else f"{src.name} has no COCO 'images' list"
    candidates = sorted(src.glob("*.json")) + sorted(src.glob("annotations/*.json"))
    if not candidates:
        return "no .json file"
    found = [(p, d) for p in candidates if _is_coco(d := _load_json(p))]
    if not found:
        return f"no COCO json among {', '.join(p.name for p in candidates)}"
    if len(found) > 1:
        preferred = [f for f in found if f[0].name.startswith(("annotations", "instances"))]
        if len(preferred) != 1:
            names = ", ".join(str(p.relative_to(src)) for p, _ in found)
            raise InvalidInput(f"several COCO json files in '{src}' ({names}): register one by its path")
        found = preferred
    return found[0]


def _load_json(path: Path) -> Any:
    try:
        return json.loads(_read_text(path, path.name))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidInput(f"{path.name} is not valid JSON: {exc}") from None


def _is_coco(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("images"), list)


def _coco_root(src: Path, json_path: Path) -> Path:
    if src.is_dir():
        return src
    parent = json_path.parent
    return parent.parent if parent.name == "annotations" else parent


def _load_coco(src: Path, found: tuple[Path, dict], labels: list[str] | None) -> _Scan:
    json_path, doc = found
    root = _coco_root(src, json_path)
    names, cat_index = _coco_categories(doc, json_path.name, labels)
    anns = _coco_annotations(doc, json_path.name, cat_index)
    bases = list(dict.fromkeys([json_path.parent, json_path.parent / "images", root, root / "images"]))
    fallback = [t for t in map(split_tag, re.split(r"[_.\-]", json_path.stem)) if t][:1]
    records, seen_ids = [], set()
    for i, image in enumerate(doc["images"]):
        if not isinstance(image, dict) or not isinstance(image.get("file_name"), str) \
                or "id" not in image:
            raise InvalidInput(f"{json_path.name}: images[{i}] needs an 'id' and a 'file_name'")
        if image["id"] in seen_ids:
            raise InvalidInput(f"{json_path.name}: image id {image['id']!r} appears twice")
        seen_ids.add(image["id"])
        img = _coco_image_file(image["file_name"], bases, root, json_path.name)
        rel = img.relative_to(root).as_posix()
        width, height = _image_size(img, rel)
        boxes, classes, crowd = anns.pop(image["id"], ([], [], []))
        ann = {"boxes": boxes, "labels": classes, "iscrowd": crowd}
        records.append(_Record(rel, width, height, ann, _path_tags(rel) or list(fallback)))
    if anns:
        raise InvalidInput(f"{json_path.name}: annotation for unknown image_id {next(iter(anns))!r}")
    return _Scan(root, "coco", names, records)


def _coco_categories(doc: dict, fname: str, labels: list[str] | None) -> tuple[list[str], dict]:
    cats = doc.get("categories") or []
    if not isinstance(cats, list) or not all(isinstance(c, dict) and "id" in c and "name" in c for c in cats):
        raise InvalidInput(f"{fname}: 'categories' must be a list of objects with 'id' and 'name'")
    try:
        cats = sorted(cats, key=lambda c: c["id"])
    except TypeError:
        raise InvalidInput(f"{fname}: category ids must all be numbers") from None
    names = [str(c["name"]) for c in cats]
    if labels is None:
        return names, {c["id"]: i for i, c in enumerate(cats)}
    missing = [n for n in names if n not in labels]
    if missing:
        raise InvalidInput(f"{fname}: categories {missing} are not in labels {labels}")
    return labels, {c["id"]: labels.index(str(c["name"])) for c in cats}


def _coco_annotations(doc: dict, fname: str, cat_index: dict) -> dict:
    """image_id -> (pixel xyxy boxes, class indices, iscrowd flags)."""
    out: dict = {}
    anns = doc.get("annotations") or []
    if not isinstance(anns, list):
        raise InvalidInput(f"{fname}: 'annotations' must be a list")
    for i, ann in enumerate(anns):
        where = f"{fname}: annotations[{i}]"
        if not isinstance(ann, dict) or "image_id" not in ann:
            raise InvalidInput(f"{where} needs an 'image_id'")
        if ann.get("category_id") not in cat_index:
            raise InvalidInput(f"{where}: class index (category_id) {ann.get('category_id')!r} out of range")
        bbox = ann.get("bbox")
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(_finite(v) for v in bbox)) \
                or bbox[2] < 0 or bbox[3] < 0:
            raise InvalidInput(f"{where}: bbox must be [x, y, width, height] with width, height >= 0")
        x, y, w, h = (float(v) for v in bbox)
        boxes, classes, crowd = out.setdefault(ann["image_id"], ([], [], []))
        boxes.append([round(x, 3), round(y, 3), round(x + w, 3), round(y + h, 3)])
        classes.append(cat_index[ann["category_id"]])
        crowd.append(1 if ann.get("iscrowd") else 0)
    return out


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _coco_image_file(file_name: str, bases: list[Path], root: Path, fname: str) -> Path:
    rel = _norm_rel(file_name)
    for base in bases:
        candidate = (base / rel).resolve()
        if candidate.is_file():
            if root not in candidate.parents:
                raise InvalidInput(f"{fname}: image {file_name!r} is outside the dataset root '{root}'")
            return candidate
    looked = ", ".join(str(b) for b in bases)
    raise InvalidInput(f"{fname}: image {file_name!r} not found (looked in {looked})")


# --- image folders (classification) ----------------------------------------------------------


def _detect_imagefolder(src: Path) -> list[tuple[Path, list[str]]] | str:
    """``[(group folder, tags)]``: the split folders, or the root itself when there are none."""
    if not src.is_dir():
        return "not a folder"
    if (src / "images").is_dir() and (src / "labels").is_dir():
        return "images/ and labels/ look like YOLO, not class folders"
    top = [d for d in _subdirs(src) if _has_images(d)]
    if not top:
        return "no class folders with images"
    if all(split_tag(d.name) for d in top):
        return [(d, [split_tag(d.name)]) for d in top]
    return [(src, [])]


def _load_imagefolder(root: Path, groups: list[tuple[Path, list[str]]], labels: list[str] | None) -> _Scan:
    found: list[tuple[Path, str, list[str]]] = []
    for group, tags in groups:
        for img in _images_under(group):
            parts = img.relative_to(group).parts
            if len(parts) < 2:
                rel = img.relative_to(root).as_posix()
                raise InvalidInput(f"image {rel!r} is not inside a class folder")
            found.append((img, parts[0], tags))
    classes = sorted({cls for _, cls, _ in found})
    if labels is not None:
        missing = [c for c in classes if c not in labels]
        if missing:
            raise InvalidInput(f"class folders {missing} are not in labels {labels}")
    labels = labels or classes
    records = []
    for img, cls, tags in found:
        rel = img.relative_to(root).as_posix()
        width, height = _image_size(img, rel)
        records.append(_Record(rel, width, height, {"label": labels.index(cls)}, list(tags)))
    return _Scan(root, "imagefolder", labels, records)


_DETECTORS = {"yolo": _detect_yolo, "coco": _detect_coco, "imagefolder": _detect_imagefolder}
_LOADERS = {"yolo": _load_yolo, "coco": _load_coco, "imagefolder": _load_imagefolder}


# --- changing datasets ------------------------------------------------------------------------


def delete_dataset(store: Store, ref: str) -> None:
    """Remove a dataset, its items and the filters bound to it; refused while versions use it."""
    dataset = store.get("datasets", ref)
    with store.tx():
        used = store.count("snapshots", dataset_id=dataset["id"])
        if used:
            raise Conflict(f"dataset {dataset['name']!r} is used by {used} version(s)")
        for table in ("items", "filters"):
            store.delete(table, dataset_id=dataset["id"])
        store.delete("datasets", id=dataset["id"])


def tag_items(store: Store, dataset_ref: str, selection: dict | None, add: Any = (),
              remove: Any = ()) -> int:
    """Add and remove user tags on the selected items; returns how many items changed."""
    add, remove = _tag_list(add, "add"), _tag_list(remove, "remove")
    both = set(add) & set(remove)
    if both:
        raise InvalidInput(f"tag {sorted(both)[0]!r} is both added and removed")
    dataset = store.get("datasets", dataset_ref)
    changed = []
    with store.tx():
        for item_id, old in item_tags(store, dataset["id"], selection):
            new = [t for t in old if t not in remove]
            new += [t for t in add if t not in new]
            if new != old:
                changed.append((_json(new), item_id))
        store.set_item_tags(changed)
    return len(changed)


def _tag_list(tags: Any, what: str) -> list[str]:
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, list | tuple | set | frozenset):
        raise InvalidInput(f"{what} must be a list of tags, got {type(tags).__name__}")
    for tag in tags:
        if not isinstance(tag, str) or not TAG_NAME.fullmatch(tag):
            raise InvalidInput(f"tag {tag!r} must be 1-64 letters, digits, '_', '.', ':' or '-'")
    return list(dict.fromkeys(tags))
