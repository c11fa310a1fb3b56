"""Dataset registration (YOLO folders, COCO json, image folders): scanning, the items index and the
content hash, and re-checking a registered dataset against its files.

``register_dataset`` scans a dataset once, reads every image's size from its header, turns the
annotations into pixel boxes (detection) or class indices (classification), merges user fields from
an optional ``metadata.jsonl`` sidecar, and writes the dataset row and all its items in one
transaction. Items are read back through selections (``mm_jupyter.queries.items``).

**The content hash** is a sha256 over the format, the labels and, for every item sorted by path, its
relative path, the sha256 of its image file's bytes, its annotations as parsed and its metadata (the
sidecar's fields, width, height). It does not depend on where the dataset lies.

**The file cache** (``dataset_files``): one row per file a dataset is made of (its images and the
files its annotations and metadata are read from: YOLO's data yaml and label files, the COCO json,
``metadata.jsonl``) with its size, mtime, ctime, inode and sha256. ``refresh_dataset`` stats every
file and reads only those whose stat differs from their row (a write changes size, mtime or ctime; a
rename over another file of the same size and mtime changes the inode and ctime); when every sha256
is the one cached, nothing else is read. A file that changed while a check was reading the dataset is
cached with an unknown sha256, so that the next check reads the whole dataset again.
``datasets.hashed_at`` is when the last check began.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sqlite3
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from PIL import Image

from .checks import finite_number
from .errors import Conflict, InvalidInput, NotFound
from .hashing import file_sha256
from .queries.catalog import dataset_row
from .queries.items import SPLIT_TAGS, item_tags
from .store import Store, now

FORMATS = ("yolo", "coco", "imagefolder")
IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
SIDECAR = "metadata.jsonl"
TAG_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
BAD_NAME_CHARS = re.compile(r"[\x00-\x1f\x7f/\\]")
BAD_PATH_CHARS = re.compile(r"[\x00-\x1f\x7f]")
INSERT_BATCH = 1000
DELETE_BATCH = 500
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
    sources: list[str] = field(default_factory=list)  # the annotation / metadata files read (relative)

    def files(self) -> list[str]:
        """Every file the dataset is made of, relative to its root, sorted."""
        return sorted({r.path for r in self.records} | set(self.sources))


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
    started = now()
    scan = _read_dataset(src, format, _check_labels(labels))
    files = _Files(scan.root, {}, None, started)
    row = {"name": name, "root": str(scan.root), "format": scan.format, "labels": scan.labels,
           "content_hash": _fingerprint(scan, files), "hashed_at": started}
    with store.tx():
        try:
            row = store.insert("datasets", row)
        except sqlite3.IntegrityError:
            raise Conflict(f"dataset name {name!r} already exists") from None
        _index_items(store, row["id"], scan.records)
        _save_files(store, row["id"], files.rows, {})
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


def _read_dataset(src: Path, format: str | None, labels: list[str] | None, sizes: dict | None = None) -> _Scan:
    """Scan a dataset and finish its records (sizes, sidecar fields): everything but the hash."""
    scan = _scan(src, format, labels, sizes)
    _finish_records(scan)
    return scan


def _scan(src: Path, format: str | None, labels: list[str] | None, sizes: dict | None = None) -> _Scan:
    """``sizes``: ``{relative path: (width, height)}`` known for images that did not change."""
    if format is not None and format not in FORMATS:
        raise InvalidInput(f"unknown dataset format {format!r} (known: {', '.join(FORMATS)})")
    if format is not None:
        found = _DETECTORS[format](src)
        if isinstance(found, str):
            raise InvalidInput(f"'{src}' is not a {format} dataset: {found}")
        return _LOADERS[format](src, found, labels, sizes)
    reasons = []
    for fmt in FORMATS:
        found = _DETECTORS[fmt](src)
        if not isinstance(found, str):
            return _LOADERS[fmt](src, found, labels, sizes)
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
    if (scan.root / SIDECAR).is_file():
        scan.sources.append(SIDECAR)
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
    """The content hash a dataset at ``path`` would get now (reads every file; ``refresh_dataset``
    re-checks a registered dataset through its file cache)."""
    src = Path(path).expanduser()
    if not src.exists():
        raise InvalidInput(f"dataset path '{src}' does not exist")
    scan = _read_dataset(src.resolve(), format, _check_labels(labels))
    return _fingerprint(scan, _Files(scan.root, {}, None, now()))


def _content_hash(format: str, labels: list[str], records: list[_Record], shas: dict[str, str]) -> str:
    """sha256 over the format, the labels and, sorted by path, every item's relative path, sha256 of
    its bytes, annotations and metadata."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": format, "labels": labels}, sort_keys=True).encode())
    for rec in sorted(records, key=lambda r: r.path):
        line = json.dumps([rec.path, shas[rec.path], rec.annotations, rec.metadata], sort_keys=True,
                          separators=(",", ":"))
        digest.update(b"\n" + line.encode())
    return digest.hexdigest()


def _legacy_hash(scan: _Scan) -> str:
    """The content hash of stores before file hashes (path, size and annotations only): what a
    dataset registered then is compared with at its first check."""
    digest = hashlib.sha256()
    digest.update(json.dumps({"format": scan.format, "labels": scan.labels}, sort_keys=True).encode())
    for rec in sorted(scan.records, key=lambda r: r.path):
        line = json.dumps([rec.path, rec.size, rec.annotations], sort_keys=True, separators=(",", ":"))
        digest.update(b"\n" + line.encode())
    return digest.hexdigest()


def _fingerprint(scan: _Scan, files: _Files) -> str:
    """The content hash of a scanned dataset, the rows of all its files left in ``files.rows``."""
    shas = {rel: files.row(rel)["sha256"] for rel in scan.files()}
    return _content_hash(scan.format, scan.labels, scan.records, shas)


def _file_sha256(path: str | Path, rel: str) -> str:
    """The sha256 of a file's bytes (the only place a check reads a whole file)."""
    try:
        return file_sha256(Path(path))
    except OSError as exc:
        raise InvalidInput(f"cannot read {rel}: {exc.strerror or type(exc).__name__}") from None


def _stat(path: str | Path, rel: str) -> os.stat_result | None:
    """A file's stat (None when it is gone)."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise InvalidInput(f"cannot read {rel}: {exc.strerror or type(exc).__name__}") from None


class _Files:
    """The files of one check of a dataset, each stat-ed once and hashed at most once.

    A cached sha256 is taken while the file's size, mtime, ctime and inode are the cached ones (a
    write, a rename or a swap changes its ctime or inode, whatever the clocks say); otherwise the
    file is read (``read`` counts them). A file whose ctime is after ``started`` changed while this
    check ran: its row keeps an unknown sha256 ("") so that the next check reads the dataset again."""

    def __init__(self, root: Path, cached: dict[str, dict], previous: float | None, started: float):
        self.root = root
        self.prefix = os.path.join(root, "")
        self.cached = cached
        self.previous_ns = None if previous is None else int(previous * 1e9)
        self.started_ns = int(started * 1e9)
        self.rows: dict[str, dict] = {}
        self.read = 0

    def row(self, rel: str, st: os.stat_result | None = None) -> dict:
        if rel in self.rows:
            return self.rows[rel]
        path = self.prefix + rel
        st = st or _stat(path, rel)
        if st is None:
            raise InvalidInput(f"cannot read {rel}: it vanished while the dataset was being read")
        old = self.cached.get(rel)
        if old and old["sha256"] and self.previous_ns is not None and old["size"] == st.st_size \
                and old["mtime_ns"] == st.st_mtime_ns and old.get("ctime_ns") == st.st_ctime_ns \
                and old.get("ino") == st.st_ino:
            sha = old["sha256"]
        else:
            sha = _file_sha256(path, rel)
            self.read += 1
        self.rows[rel] = row = {"path": rel, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                                "ctime_ns": st.st_ctime_ns, "ino": st.st_ino, "sha256": sha,
                                "settled": st.st_ctime_ns < self.started_ns}
        return row


def _save_files(store: Store, dataset_id: str, rows: dict[str, dict], cached: dict[str, dict]) -> None:
    """Make the cache rows of a dataset ``rows`` (writing only the rows that differ)."""
    gone = [rel for rel in cached if rel not in rows]
    for start in range(0, len(gone), DELETE_BATCH):
        store.delete("dataset_files", dataset_id=dataset_id, path=tuple(gone[start:start + DELETE_BATCH]))
    changed = []
    for rel, row in rows.items():
        new = {"dataset_id": dataset_id, "path": rel, "size": row["size"], "mtime_ns": row["mtime_ns"],
               "ctime_ns": row["ctime_ns"], "ino": row["ino"], "sha256": row["sha256"] if row["settled"] else ""}
        old = cached.get(rel)
        if old is None or any(old.get(k) != new[k] for k in ("size", "mtime_ns", "ctime_ns", "ino", "sha256")):
            changed.append(new)
    if changed:
        store.db["dataset_files"].upsert_all(changed, pk=("dataset_id", "path"), batch_size=INSERT_BATCH)


def _index_items(store: Store, dataset_id: str, records: list[_Record]) -> None:
    """Make the items of a dataset ``records``: an existing path keeps its row (its id and tags; its
    annotations and metadata are updated), new paths are inserted, removed ones deleted. New rows
    are inserted before any is deleted, so they never take the id of an item removed here."""
    existing = {r["path"]: r for r in store.find("items", dataset_id=dataset_id)}
    _insert_items(store, dataset_id, [r for r in records if r.path not in existing])
    for rec in records:
        old = existing.get(rec.path)
        if old and (old["annotations"] != rec.annotations or old["metadata"] != rec.metadata):
            store.update_where("items", {"annotations": rec.annotations, "metadata": rec.metadata}, id=old["id"])
    kept = {r.path for r in records}
    gone = [path for path in existing if path not in kept]
    for start in range(0, len(gone), DELETE_BATCH):
        store.delete("items", dataset_id=dataset_id, path=tuple(gone[start:start + DELETE_BATCH]))


# --- re-checking a registered dataset --------------------------------------------------------


def refresh_dataset(store: Store, ref: str) -> dict:
    """Re-check a registered dataset against its files and return ``{"dataset_id", "changed",
    "content_hash", "previous_hash", "files_read"}``.

    Every file is stat-ed; only files that changed (see the module's note on the file cache) are
    read and hashed (``files_read`` counts them). When every file is as cached, nothing is read or
    written (a check before a refused launch leaves the store as it was); files touched without a
    change of content get their new stat and ``hashed_at`` written. Otherwise the dataset is scanned again (the headers of
    unchanged images are not read again) with the labels it has, or with those its files give when
    they no longer fit; when the content hash differs, its items are re-indexed (an unchanged path
    keeps its item id and tags), and the hash, the labels, the file cache and ``hashed_at`` are
    written in one transaction. A dataset registered before file hashes gets the new hash at its
    first check; ``changed`` then tells whether the old hash still matches.

    A dataset whose folder is gone or unreadable, or whose files no longer form a dataset, raises
    ``InvalidInput`` and nothing is written. Call it outside a transaction: it reads files first and
    holds the write lock only to write.
    """
    dataset = store.get("datasets", ref)
    started = now()
    root = _readable_root(dataset)
    cached = {r["path"]: r for r in store.find("dataset_files", dataset_id=dataset["id"])}
    files = _Files(root, cached, dataset["hashed_at"], started)
    previous = dataset["content_hash"]
    listing = _listing(root, dataset["format"], cached) if cached else None
    same_files = listing is not None and listing.keys() == cached.keys()
    for rel, st in (listing or {}).items():
        if st is None:
            same_files = False
        elif rel in cached:
            files.row(rel, st)
    unchanged = {rel for rel, row in files.rows.items() if row["sha256"] == cached[rel]["sha256"]}
    if same_files and len(unchanged) == len(cached):
        if files.read:  # files were touched (same content): remember their new stat, so they are not read again
            with store.tx():
                _save_files(store, dataset["id"], files.rows, cached)
                _set_dataset(store, dataset, hashed_at=started)
        return {"dataset_id": dataset["id"], "changed": False, "content_hash": previous,
                "previous_hash": previous, "files_read": files.read}

    items = store.find("items", dataset_id=dataset["id"])
    sizes = {it["path"]: (it["metadata"]["width"], it["metadata"]["height"]) for it in items
             if it["path"] in unchanged and _has_size(it["metadata"])}
    scan = _rescan(dataset, root, cached, sizes)
    content_hash = _fingerprint(scan, files)
    legacy = dataset["hashed_at"] is None
    changed = (_legacy_hash(scan) if legacy else content_hash) != previous
    with store.tx():
        if content_hash != previous:
            _index_items(store, dataset["id"], scan.records)
        _save_files(store, dataset["id"], {rel: files.rows[rel] for rel in scan.files()}, cached)
        _set_dataset(store, dataset, content_hash=content_hash, labels=scan.labels, hashed_at=started)
    return {"dataset_id": dataset["id"], "changed": changed, "content_hash": content_hash,
            "previous_hash": previous, "files_read": files.read}


def _readable_root(dataset: dict) -> Path:
    """The dataset's folder, or a one-line ``InvalidInput`` naming it when it is gone or unreadable."""
    root = Path(dataset["root"])
    try:
        if not stat.S_ISDIR(os.stat(root).st_mode):
            raise InvalidInput(f"dataset {dataset['name']!r}: '{root}' is not a folder any more")
        with os.scandir(root):
            pass
    except FileNotFoundError:
        raise InvalidInput(f"dataset {dataset['name']!r}: its folder '{root}' does not exist any more") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InvalidInput(f"dataset {dataset['name']!r}: cannot read its folder '{root}': {reason}") from None
    return root


def _listing(root: Path, format: str, cached: dict[str, dict]) -> dict[str, os.stat_result | None] | None:
    """The files a registered dataset is made of now, with their stats (None: gone), found by listing
    folders (no file is read): what its scan would read if nothing changed. None when telling would
    take reading (a COCO json's images are those cached while the json is unchanged) or the layout
    is no longer one."""
    prefix = os.path.join(root, "")
    if format == "yolo":
        data_yaml = _detect_yolo(root)
        if isinstance(data_yaml, str):
            return None
        found = [data_yaml.relative_to(root).as_posix()]
        for rel, label_rel in _yolo_images(root):
            found += (rel, label_rel)
    elif format == "imagefolder":
        groups = _detect_imagefolder(root)
        if isinstance(groups, str):
            return None
        found = [_rel(path, prefix) for group, _ in groups for path in _walk_images(str(group))]
    else:
        json_files = [rel for rel in cached if _coco_json(rel)]
        if len(json_files) != 1:
            return None
        found = json_files + [rel for rel in cached if _is_image(rel)]
    stats = {rel: _stat(prefix + rel, rel) for rel in [*found, SIDECAR]}
    return {rel: st for rel, st in stats.items() if rel in cached or st is not None and stat.S_ISREG(st.st_mode)}


def _is_image(rel: str) -> bool:
    return os.path.splitext(rel)[1].lower() in IMAGE_EXTS


def _rel(path: str, prefix: str) -> str:
    """``path`` (below the folder ``prefix`` ends with) relative to it, with '/' separators."""
    rel = path[len(prefix):]
    return rel if os.sep == "/" else rel.replace(os.sep, "/")


def _coco_json(rel: str) -> bool:
    return PurePosixPath(rel).suffix.lower() == ".json"


def _has_size(metadata: Any) -> bool:
    return isinstance(metadata, dict) and all(isinstance(metadata.get(k), int) for k in ("width", "height"))


def _rescan(dataset: dict, root: Path, cached: dict[str, dict], sizes: dict) -> _Scan:
    """Scan a registered dataset again: with its labels while they fit (they may have been given at
    registration), else with the labels its files give. A COCO dataset is read from its json."""
    coco = _coco_source(dataset, root, cached) if dataset["format"] == "coco" else None

    def read(labels: list[str] | None) -> _Scan:
        if coco is None:
            return _read_dataset(root, dataset["format"], labels, sizes)
        scan = _load_coco(root, coco, labels, sizes)
        _finish_records(scan)
        return scan

    try:
        labels = _check_labels(dataset["labels"])
    except InvalidInput:  # e.g. COCO categories with the same name twice: not labels one could give
        labels = None
    if labels is not None:
        try:
            return read(labels)
        except InvalidInput:
            pass
    return read(None)


def _coco_source(dataset: dict, root: Path, cached: dict[str, dict]) -> tuple[Path, dict] | None:
    """The COCO json a dataset was registered from, read (None when its cache does not tell)."""
    json_files = [rel for rel in cached if _coco_json(rel)]
    if len(json_files) != 1:
        return None
    path = root / json_files[0]
    if not path.is_file():
        raise InvalidInput(f"dataset {dataset['name']!r}: its annotations '{path}' do not exist any more")
    doc = _load_json(path)
    if not _is_coco(doc):
        raise InvalidInput(f"dataset {dataset['name']!r}: {path.name} has no COCO 'images' list")
    return path, doc


def _set_dataset(store: Store, dataset: dict, **fields: Any) -> None:
    if not store.update_where("datasets", fields, id=dataset["id"]):
        raise NotFound(f"dataset {dataset['name']!r} was deleted while it was being checked")


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
    """Image files below ``folder`` (hidden entries skipped), in a stable order; a folder that cannot
    be listed is an error (skipping it would drop its images from the index)."""
    return [Path(path) for path in _walk_images(str(folder))]


def _walk_images(top: str) -> list[str]:
    """``_images_under`` as strings (what a re-check lists: no ``Path`` per file)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(top, onerror=_walk_error):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(os.path.join(dirpath, f) for f in sorted(filenames) if not f.startswith(".") and _is_image(f))
    return found


def _walk_error(exc: OSError) -> None:
    raise InvalidInput(f"cannot read folder '{exc.filename}': {exc.strerror or type(exc).__name__}")


def _has_images(folder: Path) -> bool:
    for _dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        if any(not f.startswith(".") and Path(f).suffix.lower() in IMAGE_EXTS for f in filenames):
            return True
    return False


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _image_size(path: Path, rel: str, sizes: dict | None = None) -> tuple[int, int]:
    """Width and height from the image header (the pixels are not decoded), or from ``sizes`` (those
    of images known not to have changed)."""
    if sizes and rel in sizes:
        return sizes[rel]
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


def _yolo_images(root: Path) -> list[tuple[str, str]]:
    """``(image, its label file)`` relative paths of a YOLO folder: ``images/a/b.png`` is labelled by
    ``labels/a/b.txt``."""
    prefix = os.path.join(root, "")
    found = []
    for path in _walk_images(os.path.join(root, "images")):
        rel = _rel(path, prefix)
        found.append((rel, "labels/" + os.path.splitext(rel)[0].removeprefix("images/") + ".txt"))
    return found


def _load_yolo(root: Path, data_yaml: Path, labels: list[str] | None, sizes: dict | None = None) -> _Scan:
    names = _yolo_names(data_yaml)
    if labels is not None and len(labels) != len(names):
        raise InvalidInput(f"labels has {len(labels)} names but {data_yaml.name} has {len(names)}")
    labels = labels or names
    records, sources = [], [data_yaml.relative_to(root).as_posix()]
    for rel, label_rel in _yolo_images(root):
        width, height = _image_size(root / rel, rel, sizes)
        if (root / label_rel).is_file():
            sources.append(label_rel)
        ann = _yolo_annotations(root / label_rel, label_rel, len(labels), width, height)
        records.append(_Record(rel, width, height, ann, _path_tags(rel)))
    return _Scan(root, "yolo", labels, records, sources)


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


def _load_coco(src: Path, found: tuple[Path, dict], labels: list[str] | None, sizes: dict | None = None) -> _Scan:
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
        width, height = _image_size(img, rel, sizes)
        boxes, classes, crowd = anns.pop(image["id"], ([], [], []))
        ann = {"boxes": boxes, "labels": classes, "iscrowd": crowd}
        records.append(_Record(rel, width, height, ann, _path_tags(rel) or list(fallback)))
    if anns:
        raise InvalidInput(f"{json_path.name}: annotation for unknown image_id {next(iter(anns))!r}")
    return _Scan(root, "coco", names, records, [json_path.relative_to(root).as_posix()])


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
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(finite_number(v) for v in bbox)) \
                or bbox[2] < 0 or bbox[3] < 0:
            raise InvalidInput(f"{where}: bbox must be [x, y, width, height] with width, height >= 0")
        x, y, w, h = (float(v) for v in bbox)
        boxes, classes, crowd = out.setdefault(ann["image_id"], ([], [], []))
        boxes.append([round(x, 3), round(y, 3), round(x + w, 3), round(y + h, 3)])
        classes.append(cat_index[ann["category_id"]])
        crowd.append(1 if ann.get("iscrowd") else 0)
    return out


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


def _load_imagefolder(root: Path, groups: list[tuple[Path, list[str]]], labels: list[str] | None,
                      sizes: dict | None = None) -> _Scan:
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
        width, height = _image_size(img, rel, sizes)
        records.append(_Record(rel, width, height, {"label": labels.index(cls)}, list(tags)))
    return _Scan(root, "imagefolder", labels, records)


_DETECTORS = {"yolo": _detect_yolo, "coco": _detect_coco, "imagefolder": _detect_imagefolder}
_LOADERS = {"yolo": _load_yolo, "coco": _load_coco, "imagefolder": _load_imagefolder}


# --- changing datasets ------------------------------------------------------------------------


def delete_dataset(store: Store, ref: str) -> None:
    """Remove a dataset, its items, its file cache and the filters bound to it; refused while
    versions use it."""
    dataset = store.get("datasets", ref)
    with store.tx():
        used = store.count("snapshots", dataset_id=dataset["id"])
        if used:
            raise Conflict(f"dataset {dataset['name']!r} is used by {used} version(s)")
        for table in ("items", "filters", "dataset_files"):
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
