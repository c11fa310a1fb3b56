"""Datasets versioned by content: the content hash (bytes, parsed annotations, sidecar metadata), the
per-file cache (``dataset_files``) and ``refresh_dataset`` (re-check, re-index with stable item ids)."""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import os
import shutil
import time
from pathlib import Path

import pytest
from PIL import Image

from mm_jupyter import datasets as ds
from mm_jupyter.datasets import compute_content_hash, delete_dataset, refresh_dataset, register_dataset
from mm_jupyter.errors import InvalidInput, NotFound
from mm_jupyter.queries.items import select_items
from mm_jupyter.shapes import generate_shapes
from mm_jupyter.store import Store

SMALL = {"n_train": 4, "n_val": 2, "n_test": 2, "size": 48}


@pytest.fixture()
def store(tmp_path):
    store = Store(tmp_path / "home")
    yield store
    store.close()


def write_bmp(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (16, 12)) -> None:
    """An uncompressed image: every image of one size has the same number of bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format="BMP")


def make_yolo(root: Path, n: int = 6) -> Path:
    """A YOLO folder of ``n`` same-size BMP images (the last two in val/), a label file each, a
    ``data.yaml`` and a ``metadata.jsonl``."""
    (root / "labels").mkdir(parents=True)
    (root / "data.yaml").write_text("names: [a, b]\n")
    meta = []
    for i in range(n):
        split = "train" if i < n - 2 else "val"
        write_bmp(root / "images" / split / f"im{i}.bmp", (40 * i % 256, 100, 7 * i % 256))
        label = root / "labels" / split / f"im{i}.txt"
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text(f"{i % 2} 0.5 0.5 0.25 0.5\n")
        meta.append(json.dumps({"path": f"images/{split}/im{i}.bmp", "site": f"s{i}"}))
    (root / "metadata.jsonl").write_text("\n".join(meta) + "\n")
    return root


def coco_doc(files: list[str]) -> dict:
    return {
        "images": [{"id": 10 + i, "file_name": f} for i, f in enumerate(files)],
        "categories": [{"id": 3, "name": "dog"}, {"id": 1, "name": "cat"}],
        "annotations": [{"id": 1, "image_id": 10, "category_id": 1, "bbox": [1, 2, 3, 4]},
                        {"id": 2, "image_id": 11, "category_id": 3, "bbox": [0, 0, 8, 8]}],
    }


def make_coco(root: Path) -> Path:
    """A COCO dataset registered by its json file, which lies in ``annotations/``."""
    for i, name in enumerate(("a.bmp", "b.bmp", "c.bmp")):
        write_bmp(root / "images" / name, (60 * i, 0, 0))
    ann = root / "annotations" / "instances_train.json"
    ann.parent.mkdir()
    ann.write_text(json.dumps(coco_doc(["a.bmp", "b.bmp", "c.bmp"])))
    return ann


@pytest.fixture()
def yolo(tmp_path) -> Path:
    return make_yolo(tmp_path / "yolo")


@pytest.fixture()
def sha_calls(monkeypatch) -> list[str]:
    """Relative paths passed to the hashing helper (every whole-file read of a check)."""
    calls: list[str] = []
    real = ds._file_sha256

    def counting(path, rel):
        calls.append(rel)
        return real(path, rel)

    monkeypatch.setattr(ds, "_file_sha256", counting)
    return calls


@pytest.fixture()
def opened(monkeypatch) -> list[Path]:
    """Every file opened from Python (``open``, ``Path.read_text``, PIL's ``Image.open``)."""
    seen: list[Path] = []
    real = builtins.open

    def counting(file, *args, **kwargs):
        if isinstance(file, str | os.PathLike):
            seen.append(Path(file))
        return real(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting)
    monkeypatch.setattr(io, "open", counting)
    return seen


def under(paths: list[Path], root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in paths if root in p.parents)


def register(store: Store, root: Path, **kwargs) -> dict:
    """Register ``root``, then a neighbour dataset whose items take the next ids: an item of
    ``root`` deleted and inserted again could not get its old id back."""
    row = register_dataset(store, root, **kwargs)
    register_dataset(store, make_yolo(root.parent / f"{root.name}-neighbour"), name=f"{row['name']}-neighbour")
    return row


def ids_by_path(store: Store, dataset_id: str, root: Path) -> dict[str, int]:
    return {Path(it.path).relative_to(root).as_posix(): it.id for it in select_items(store, dataset_id)}


def items_by_path(store: Store, dataset_id: str, root: Path) -> dict:
    return {Path(it.path).relative_to(root).as_posix(): it for it in select_items(store, dataset_id)}


def state(store: Store, dataset_id: str) -> tuple:
    """Everything the store holds about a dataset."""
    return (store.get("datasets", dataset_id), store.find("items", dataset_id=dataset_id, order="id"),
            store.find("dataset_files", dataset_id=dataset_id, order="path"))


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def legacy_hash(root: Path, format: str | None = None) -> str:
    """The hash before this change (path, size, annotations): what the tests below would not move."""
    return ds._legacy_hash(ds._read_dataset(root.resolve(), format, None))


# --- registration fills the cache --------------------------------------------------------------


def test_register_fills_the_file_cache(store, yolo):
    before = time.time()
    row = register_dataset(store, yolo)
    after = time.time()
    files = store.find("dataset_files", dataset_id=row["id"], order="path")
    expected = sorted(["data.yaml", "metadata.jsonl"]
                      + [p.relative_to(yolo).as_posix() for p in yolo.glob("images/*/*.bmp")]
                      + [p.relative_to(yolo).as_posix() for p in yolo.glob("labels/*/*.txt")])
    assert [f["path"] for f in files] == expected and len(expected) == 14
    for f in files:
        st = (yolo / f["path"]).stat()
        assert (f["size"], f["mtime_ns"], f["sha256"]) == (st.st_size, st.st_mtime_ns, sha(yolo / f["path"]))
    assert before <= row["hashed_at"] <= after
    assert compute_content_hash(yolo) == row["content_hash"]


def test_hash_covers_bytes_annotations_metadata_format_and_labels(store, yolo, tmp_path):
    first = register_dataset(store, yolo, name="first")["content_hash"]
    copy = Path(shutil.copytree(yolo, tmp_path / "elsewhere" / "copy"))
    assert compute_content_hash(copy) == first  # where it lies does not count
    relabelled = register_dataset(store, yolo, name="relabelled", labels=["x", "y"])["content_hash"]
    assert relabelled != first

    a, b = copy / "images/train/im0.bmp", copy / "images/train/im1.bmp"
    old = legacy_hash(copy)
    a_bytes, b_bytes = a.read_bytes(), b.read_bytes()
    assert len(a_bytes) == len(b_bytes) and a_bytes != b_bytes
    a.write_bytes(b_bytes)
    b.write_bytes(a_bytes)
    assert legacy_hash(copy) == old  # what the old hash missed
    assert compute_content_hash(copy) != first
    b.write_bytes(b_bytes)
    a.write_bytes(a_bytes)
    assert compute_content_hash(copy) == first

    sidecar = (copy / "metadata.jsonl").read_text()
    (copy / "metadata.jsonl").write_text(sidecar.replace('"site": "s0"', '"site": "s9"'))
    assert legacy_hash(copy) == old
    assert compute_content_hash(copy) != first


# --- refresh: nothing changed ------------------------------------------------------------------


def shapes_yolo(tmp_path: Path) -> Path:
    return generate_shapes(tmp_path / "shapes", **SMALL)


def shapes_classify(tmp_path: Path) -> Path:
    return generate_shapes(tmp_path / "classes", flavour="classify", **SMALL)


def coco_file(tmp_path: Path) -> Path:
    return make_coco(tmp_path / "coco")


@pytest.mark.parametrize("make", [shapes_yolo, shapes_classify, coco_file], ids=["yolo", "imagefolder", "coco"])
def test_untouched_refresh_reads_no_file(store, tmp_path, make, sha_calls, opened):
    row = register_dataset(store, make(tmp_path))
    root = Path(row["root"])
    n_files = store.count("dataset_files", dataset_id=row["id"])
    sha_calls.clear()
    opened.clear()
    ids = ids_by_path(store, row["id"], root)

    result = refresh_dataset(store, row["name"])
    assert result == {"dataset_id": row["id"], "changed": False, "content_hash": row["content_hash"],
                      "previous_hash": row["content_hash"], "files_read": 0}
    assert sha_calls == [] and under(opened, root) == []  # stats only
    assert n_files == store.count("dataset_files", dataset_id=row["id"]) > 0
    assert store.get("datasets", row["id"])["hashed_at"] == row["hashed_at"], "nothing read: nothing written"
    assert ids_by_path(store, row["id"], root) == ids


def test_touched_file_is_read_once_and_is_not_a_change(store, yolo, sha_calls, opened):
    row = register_dataset(store, yolo)
    label = yolo / "labels/train/im1.txt"
    os.utime(label, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    sha_calls.clear()
    opened.clear()
    result = refresh_dataset(store, row["id"])
    assert (result["changed"], result["files_read"], result["content_hash"]) == (False, 1, row["content_hash"])
    assert sha_calls == ["labels/train/im1.txt"] and under(opened, yolo) == ["labels/train/im1.txt"]
    assert store.first("dataset_files", dataset_id=row["id"], path="labels/train/im1.txt")["mtime_ns"] == \
        label.stat().st_mtime_ns
    assert refresh_dataset(store, row["id"])["files_read"] == 0


def test_whitespace_in_a_label_file_is_read_but_does_not_change_the_hash(store, yolo):
    row = register_dataset(store, yolo)
    label = yolo / "labels/train/im1.txt"
    label.write_text("\n" + label.read_text() + "\n\n")
    result = refresh_dataset(store, row["id"])
    assert (result["changed"], result["files_read"], result["content_hash"]) == (False, 1, row["content_hash"])
    assert store.first("dataset_files", dataset_id=row["id"], path="labels/train/im1.txt")["sha256"] == sha(label)
    assert refresh_dataset(store, row["id"])["files_read"] == 0


# --- refresh: changes --------------------------------------------------------------------------


def test_swapped_same_size_images(store, yolo, sha_calls):
    row = register(store, yolo)
    ids = ids_by_path(store, row["id"], yolo)
    before = items_by_path(store, row["id"], yolo)
    a, b = yolo / "images/train/im0.bmp", yolo / "images/train/im1.bmp"
    a_bytes, b_bytes = a.read_bytes(), b.read_bytes()
    a.write_bytes(b_bytes)
    b.write_bytes(a_bytes)
    sha_calls.clear()

    result = refresh_dataset(store, row["id"])
    assert result["changed"] and result["previous_hash"] == row["content_hash"] != result["content_hash"]
    assert sorted(sha_calls) == ["images/train/im0.bmp", "images/train/im1.bmp"] and result["files_read"] == 2
    assert result["content_hash"] == compute_content_hash(yolo) == store.get("datasets", row["id"])["content_hash"]
    assert ids_by_path(store, row["id"], yolo) == ids
    assert items_by_path(store, row["id"], yolo) == before  # the index holds no bytes: nothing else moved
    cached = store.first("dataset_files", dataset_id=row["id"], path="images/train/im0.bmp")
    assert cached["sha256"] == sha(a) == hashlib.sha256(b_bytes).hexdigest()
    again = refresh_dataset(store, row["id"])
    assert (again["changed"], again["files_read"], again["content_hash"]) == (False, 0, result["content_hash"])


def test_images_swapped_by_renaming_with_equal_size_and_mtime(store, yolo):
    """Same size, same mtime, both renamed: only their inode change (ctime) tells."""
    a, b = yolo / "images/train/im0.bmp", yolo / "images/train/im1.bmp"
    stamp = time.time_ns() - 10_000_000_000
    for path in (a, b):
        os.utime(path, ns=(stamp, stamp))
    row = register_dataset(store, yolo)
    a.rename(yolo / "tmp.bmp")
    b.rename(a)
    (yolo / "tmp.bmp").rename(b)
    assert (a.stat().st_size, a.stat().st_mtime_ns) == (b.stat().st_size, b.stat().st_mtime_ns)
    result = refresh_dataset(store, row["id"])
    assert result["changed"] and result["files_read"] == 2
    assert result["content_hash"] == compute_content_hash(yolo)


def test_edited_image_bytes(store, yolo, sha_calls, opened):
    row = register(store, yolo)
    ids = ids_by_path(store, row["id"], yolo)
    img = yolo / "images/val/im5.bmp"
    size = img.stat().st_size
    write_bmp(img, (1, 2, 3))
    assert img.stat().st_size == size
    sha_calls.clear()
    opened.clear()
    result = refresh_dataset(store, row["id"])
    assert result["changed"] and result["files_read"] == 1 and sha_calls == ["images/val/im5.bmp"]
    images_opened = [p for p in under(opened, yolo) if p.startswith("images/")]
    assert images_opened == ["images/val/im5.bmp", "images/val/im5.bmp"]  # hashed, then its header
    assert ids_by_path(store, row["id"], yolo) == ids


def test_edited_label_file(store, yolo, opened):
    row = register(store, yolo)
    ids = ids_by_path(store, row["id"], yolo)
    before = items_by_path(store, row["id"], yolo)
    (yolo / "labels/train/im2.txt").write_text("1 0.25 0.25 0.5 0.5\n")
    opened.clear()
    result = refresh_dataset(store, row["id"])
    assert result["changed"] and result["files_read"] == 1
    assert not [p for p in under(opened, yolo) if p.startswith("images/")]  # no image header read again
    after = items_by_path(store, row["id"], yolo)
    assert ids_by_path(store, row["id"], yolo) == ids
    assert after["images/train/im2.bmp"].annotations == {"boxes": [[0.0, 0.0, 8.0, 6.0]], "labels": [1],
                                                        "iscrowd": [0]}
    assert {p: it for p, it in after.items() if p != "images/train/im2.bmp"} == \
        {p: it for p, it in before.items() if p != "images/train/im2.bmp"}


def test_added_label_file_for_a_background_image(store, yolo):
    (yolo / "labels/val/im4.txt").unlink()
    row = register_dataset(store, yolo)
    assert items_by_path(store, row["id"], yolo)["images/val/im4.bmp"].annotations["boxes"] == []
    (yolo / "labels/val/im4.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    result = refresh_dataset(store, row["id"])
    assert result["changed"] and result["files_read"] == 1
    assert items_by_path(store, row["id"], yolo)["images/val/im4.bmp"].annotations["labels"] == [0]
    assert store.first("dataset_files", dataset_id=row["id"], path="labels/val/im4.txt")


def test_edited_metadata_sidecar(store, yolo):
    row = register(store, yolo)
    ids = ids_by_path(store, row["id"], yolo)
    sidecar = yolo / "metadata.jsonl"
    sidecar.write_text(sidecar.read_text().replace('"site": "s3"', '"site": "moved", "night": true'))
    result = refresh_dataset(store, row["id"])
    assert result["changed"] and result["files_read"] == 1
    assert ids_by_path(store, row["id"], yolo) == ids
    got = items_by_path(store, row["id"], yolo)
    assert got["images/train/im3.bmp"].metadata == {"site": "moved", "night": True, "width": 16, "height": 12}
    assert got["images/train/im2.bmp"].metadata == {"site": "s2", "width": 16, "height": 12}
    sidecar.unlink()
    result = refresh_dataset(store, row["id"])
    assert result["changed"] and result["files_read"] == 0
    assert items_by_path(store, row["id"], yolo)["images/train/im3.bmp"].metadata == {"width": 16, "height": 12}
    assert not store.first("dataset_files", dataset_id=row["id"], path="metadata.jsonl")


def test_edited_coco_json(store, tmp_path):
    ann = make_coco(tmp_path / "coco")
    row = register(store, ann)
    root = Path(row["root"])
    assert store.first("dataset_files", dataset_id=row["id"], path="annotations/instances_train.json")
    ids = ids_by_path(store, row["id"], root)
    doc = json.loads(ann.read_text())
    doc["annotations"][0]["bbox"] = [2, 2, 3, 4]
    ann.write_text(json.dumps(doc))
    result = refresh_dataset(store, row["id"])
    assert result["changed"] and result["files_read"] == 1
    got = items_by_path(store, row["id"], root)
    assert got["images/a.bmp"].annotations == {"boxes": [[2.0, 2.0, 5.0, 6.0]], "labels": [0], "iscrowd": [0]}
    assert got["images/a.bmp"].tags == ["train"]  # from the json's name, kept
    assert ids_by_path(store, row["id"], root) == ids

    doc["images"].append({"id": 13, "file_name": "d.bmp"})  # a new image, listed in the json
    write_bmp(root / "images" / "d.bmp", (9, 9, 9))
    ann.write_text(json.dumps(doc))
    result = refresh_dataset(store, row["id"])
    assert result["changed"] and result["files_read"] == 2
    new_ids = ids_by_path(store, row["id"], root)
    assert {p: i for p, i in new_ids.items() if p != "images/d.bmp"} == ids
    assert new_ids["images/d.bmp"] > max(ids.values())
    assert result["content_hash"] == compute_content_hash(ann)


def test_added_and_removed_images(store, yolo):
    row = register(store, yolo)
    ids = ids_by_path(store, row["id"], yolo)
    for path in (yolo / "images/val/im5.bmp", yolo / "labels/val/im5.txt"):
        path.unlink()
    write_bmp(yolo / "images/val/new.bmp", (5, 5, 5))
    (yolo / "labels/val/new.txt").write_text("1 0.5 0.5 0.5 0.5\n")
    with pytest.raises(InvalidInput, match="metadata.jsonl:6: path 'images/val/im5.bmp' is not an image"):
        refresh_dataset(store, row["id"])  # as registering it would: the sidecar names a removed image
    sidecar = yolo / "metadata.jsonl"
    sidecar.write_text("".join(line for line in sidecar.read_text().splitlines(True) if "im5" not in line))
    result = refresh_dataset(store, row["id"])
    assert result["changed"] and result["files_read"] == 3  # the new image, its labels, the sidecar
    new_ids = ids_by_path(store, row["id"], yolo)
    assert "images/val/im5.bmp" not in new_ids and new_ids["images/val/new.bmp"] > max(ids.values())
    assert {p: i for p, i in new_ids.items() if p != "images/val/new.bmp"} == \
        {p: i for p, i in ids.items() if p != "images/val/im5.bmp"}
    assert items_by_path(store, row["id"], yolo)["images/val/new.bmp"].tags == ["validation"]
    paths = [f["path"] for f in store.find("dataset_files", dataset_id=row["id"], order="path")]
    assert "images/val/new.bmp" in paths and "labels/val/new.txt" in paths
    assert "images/val/im5.bmp" not in paths and "labels/val/im5.txt" not in paths
    assert result["content_hash"] == compute_content_hash(yolo)
    assert refresh_dataset(store, row["id"])["files_read"] == 0


def test_user_tags_survive_a_reindex(store, yolo):
    row = register(store, yolo)
    ds.tag_items(store, row["id"], {"dir": "images/train"}, add=["reviewed"])
    (yolo / "labels/train/im0.txt").write_text("1 0.5 0.5 0.5 0.5\n")
    assert refresh_dataset(store, row["id"])["changed"]
    assert items_by_path(store, row["id"], yolo)["images/train/im0.bmp"].tags == ["train", "reviewed"]


def test_imagefolder_keeps_given_labels_while_they_fit(store, tmp_path):
    root = tmp_path / "pets"
    write_bmp(root / "dog" / "d1.bmp", (1, 1, 1))
    write_bmp(root / "cat" / "c1.bmp", (2, 2, 2))
    row = register_dataset(store, root, labels=["bird", "dog", "cat"])
    write_bmp(root / "cat" / "c2.bmp", (3, 3, 3))
    result = refresh_dataset(store, row["id"])
    assert result["changed"] and store.get("datasets", row["id"])["labels"] == ["bird", "dog", "cat"]
    assert {Path(it.path).name: it.annotations["label"] for it in select_items(store, row["id"])} == \
        {"d1.bmp": 1, "c1.bmp": 2, "c2.bmp": 2}
    write_bmp(root / "fish" / "f1.bmp", (4, 4, 4))  # a class the given labels lack: the folders' labels
    assert refresh_dataset(store, row["id"])["changed"]
    assert store.get("datasets", row["id"])["labels"] == ["cat", "dog", "fish"]
    assert {Path(it.path).name: it.annotations["label"] for it in select_items(store, row["id"])} == \
        {"d1.bmp": 1, "c1.bmp": 0, "c2.bmp": 0, "f1.bmp": 2}


# --- refresh: what it refuses, what it leaves alone --------------------------------------------


def test_vanished_root(store, yolo, tmp_path):
    row = register_dataset(store, yolo)
    before = state(store, row["id"])
    shutil.move(yolo, tmp_path / "moved")
    with pytest.raises(InvalidInput) as info:
        refresh_dataset(store, row["id"])
    assert str(info.value) == f"dataset 'yolo': its folder '{yolo}' does not exist any more"
    yolo.write_text("a file now")
    with pytest.raises(InvalidInput, match="is not a folder any more"):
        refresh_dataset(store, row["id"])
    assert state(store, row["id"]) == before


def test_unreadable_root(store, yolo, monkeypatch):
    row = register_dataset(store, yolo)
    before = state(store, row["id"])
    real = os.scandir
    refused = {yolo}

    def refusing(path="."):
        if Path(path) in refused:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", refusing)
    with pytest.raises(InvalidInput) as info:
        refresh_dataset(store, row["id"])
    assert str(info.value) == f"dataset 'yolo': cannot read its folder '{yolo}': Permission denied"
    assert state(store, row["id"]) == before

    refused = {yolo / "images" / "val"}  # a sub-folder: an error, not its images silently dropped
    with pytest.raises(InvalidInput) as info:
        refresh_dataset(store, row["id"])
    assert str(info.value) == f"cannot read folder '{yolo / 'images' / 'val'}': Permission denied"
    assert state(store, row["id"]) == before


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any folder")
def test_unreadable_image_folder(store, yolo):
    row = register_dataset(store, yolo)
    before = state(store, row["id"])
    (yolo / "images/val").chmod(0)
    try:
        with pytest.raises(InvalidInput, match="cannot read folder '.*images/val'"):
            refresh_dataset(store, row["id"])
    finally:
        (yolo / "images/val").chmod(0o755)
    assert state(store, row["id"]) == before


def test_broken_edit_fails_and_changes_nothing(store, yolo):
    row = register_dataset(store, yolo)
    before = state(store, row["id"])
    (yolo / "labels/train/im1.txt").write_text("7 0.5 0.5 0.2 0.2\n")
    with pytest.raises(InvalidInput) as info:
        refresh_dataset(store, row["id"])
    assert str(info.value) == "labels/train/im1.txt:1: class index 7 out of range (0-1)"
    assert state(store, row["id"]) == before
    (yolo / "labels/train/im1.txt").write_text("1 0.5 0.5 0.2 0.2\n")
    assert refresh_dataset(store, row["id"])["changed"]


def test_file_changed_while_checked_is_read_again_next_time(store, yolo, monkeypatch):
    """A file whose ctime is after the check began may have been read half-old: its cache row gets
    an unknown sha256, so the next check reads again (and finds the hash the same)."""
    real_now = ds.now
    monkeypatch.setattr(ds, "now", lambda: real_now() - 3600)  # the check "began" an hour ago
    row = register_dataset(store, yolo)
    monkeypatch.setattr(ds, "now", real_now)
    assert {f["sha256"] for f in store.find("dataset_files", dataset_id=row["id"])} == {""}
    result = refresh_dataset(store, row["id"])
    assert (result["changed"], result["files_read"], result["content_hash"]) == (False, 14, row["content_hash"])
    assert "" not in {f["sha256"] for f in store.find("dataset_files", dataset_id=row["id"])}
    assert refresh_dataset(store, row["id"])["files_read"] == 0


def test_dataset_registered_before_file_hashes(store, yolo):
    """No cache and the old hash: the first check compares with the old hash and writes the new one."""
    row = register(store, yolo)
    old = legacy_hash(yolo)
    store.update_where("datasets", {"content_hash": old, "hashed_at": None}, id=row["id"])
    store.delete("dataset_files", dataset_id=row["id"])
    ids = ids_by_path(store, row["id"], yolo)
    result = refresh_dataset(store, row["id"])
    assert result == {"dataset_id": row["id"], "changed": False, "content_hash": row["content_hash"],
                      "previous_hash": old, "files_read": 14}
    assert store.count("dataset_files", dataset_id=row["id"]) == 14
    assert ids_by_path(store, row["id"], yolo) == ids

    store.update_where("datasets", {"content_hash": old, "hashed_at": None}, id=row["id"])
    store.delete("dataset_files", dataset_id=row["id"])
    (yolo / "labels/train/im0.txt").write_text("1 0.5 0.5 0.5 0.5\n")
    assert refresh_dataset(store, row["id"])["changed"]


def test_delete_dataset_drops_its_file_cache(store, yolo, tmp_path):
    a = register_dataset(store, yolo, name="a")
    b = register_dataset(store, shutil.copytree(yolo, tmp_path / "b"), name="b")
    delete_dataset(store, "a")
    assert store.count("dataset_files", dataset_id=a["id"]) == 0
    assert store.count("dataset_files", dataset_id=b["id"]) == 14
    with pytest.raises(NotFound):
        refresh_dataset(store, "a")
