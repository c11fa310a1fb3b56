"""Dataset registration (YOLO, COCO, image folders), selections, tags, content hashes, bad inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from mm_jupyter import datasets as ds
from mm_jupyter.api import save_filter
from mm_jupyter.datasets import compute_content_hash, delete_dataset, register_dataset, tag_items
from mm_jupyter.errors import Conflict, InvalidInput, NotFound
from mm_jupyter.queries.catalog import dataset_row as get_dataset
from mm_jupyter.queries.catalog import datasets as list_datasets
from mm_jupyter.queries.items import count_items, select_items
from mm_jupyter.shapes import generate_shapes
from mm_jupyter.store import Store

SMALL = {"n_train": 4, "n_val": 2, "n_test": 2, "size": 48}


@pytest.fixture()
def store(tmp_path):
    store = Store(tmp_path / "home")
    yield store
    store.close()


@pytest.fixture(scope="module")
def yolo_src(tmp_path_factory) -> Path:
    return generate_shapes(tmp_path_factory.mktemp("gen") / "yolo", **SMALL)


@pytest.fixture()
def yolo(tmp_path, yolo_src) -> Path:
    """A private copy of a small generated YOLO set (tests may damage it)."""
    return Path(shutil.copytree(yolo_src, tmp_path / "yolo"))


def counts(store: Store) -> tuple[int, int]:
    return (store.conn.execute("SELECT COUNT(*) FROM datasets").fetchone()[0],
            store.conn.execute("SELECT COUNT(*) FROM items").fetchone()[0])


def write_png(path: Path, size: tuple[int, int], colour=(200, 30, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


# --- YOLO ------------------------------------------------------------------------------------


def test_register_yolo(store, yolo):
    row = register_dataset(store, yolo)
    assert row["name"] == "yolo" and row["format"] == "yolo"
    assert row["labels"] == ["rectangle", "ellipse", "triangle"]
    assert row["root"] == str(yolo.resolve()) and row["n_items"] == 8
    assert len(row["content_hash"]) == 64

    items = select_items(store, "yolo")
    assert [it.id for it in items] == sorted(it.id for it in items)
    assert [Path(it.path).relative_to(yolo).as_posix() for it in items] == sorted(
        p.relative_to(yolo).as_posix() for p in yolo.glob("images/*/*.png"))
    meta = {json.loads(line)["path"]: json.loads(line) for line in (yolo / "metadata.jsonl").open()}
    for it in items:
        rel = Path(it.path).relative_to(yolo).as_posix()
        assert Path(it.path).is_file() and it.name == Path(rel).name and it.dir == str(Path(rel).parent)
        split = rel.split("/")[1]
        assert it.tags == [{"train": "train", "val": "validation", "test": "test"}[split]]
        assert it.metadata["width"] == 48 and it.metadata["height"] == 48
        assert it.metadata["lighting"] == meta[rel]["lighting"]
        assert it.metadata["n_objects"] == len(it.annotations["boxes"]) == meta[rel]["n_objects"]
        lines = (yolo / "labels" / split / (Path(rel).stem + ".txt")).read_text().split("\n")
        expected_boxes, expected_labels = [], []
        for line in filter(None, lines):
            c, cx, cy, w, h = (float(v) for v in line.split())
            expected_labels.append(int(c))
            expected_boxes.append([(cx - w / 2) * 48, (cy - h / 2) * 48, (cx + w / 2) * 48, (cy + h / 2) * 48])
        assert it.annotations["labels"] == expected_labels
        assert it.annotations["iscrowd"] == [0] * len(expected_labels)
        for got, want in zip(it.annotations["boxes"], expected_boxes, strict=True):
            assert got == pytest.approx(want, abs=1e-3)
            assert all(v == int(v) for v in got)  # the generator's boxes are whole pixels


def test_selections(store, yolo):
    row = register_dataset(store, yolo, name="shapes")
    assert count_items(store, "shapes") == count_items(store, "shapes", {}) == 8
    assert count_items(store, row["id"], {"tag": "train"}) == 4
    assert count_items(store, row["id"][:6], {"tag": "validation"}) == 2
    assert count_items(store, "shapes", {"tag": "val"}) == 2
    assert count_items(store, "shapes", {"tag": "nope"}) == 0
    assert select_items(store, "shapes", {"tag": "nope"}) == []
    assert {Path(it.path).parent.name for it in select_items(store, "shapes", {"dir": "images/val"})} == {"val"}
    assert count_items(store, "shapes", {"dir": "images"}) == 8
    assert count_items(store, "shapes", {"dir": "./images/test/"}) == 2
    assert count_items(store, "shapes", {"dir": "images/va"}) == 0
    assert count_items(store, "shapes", {"dir": ""}) == 8
    query = {"metadata.lighting": {"$in": ["dark", "bright"]}}
    expected = [it.id for it in select_items(store, "shapes") if it.metadata["lighting"] != "normal"]
    assert [it.id for it in select_items(store, "shapes", {"query": query})] == expected
    assert [it.id for it in select_items(store, "shapes", {"query": json.dumps(query)})] == expected
    save_filter(store, "not-normal", query)
    assert [it.id for it in select_items(store, "shapes", {"filter": "not-normal"})] == expected
    both = select_items(store, "shapes", {"filter": "not-normal", "tag": "train"})
    assert [it.id for it in both] == [i.id for i in select_items(store, "shapes", {"tag": "train"})
                                      if i.id in expected]

    for bad, message in [({"split": "train"}, "unknown selection key 'split'"),
                         ("train", "selection must be a mapping"),
                         ({"tag": ""}, "'tag' must be a non-empty string"),
                         ({"dir": 3}, "'dir' must be a string"),
                         ({"query": {"bogus": 1}}, "unknown field 'bogus'"),
                         ({"query": "tags"}, "not valid JSON"),
                         ({"query": "[]"}, "must be a JSON object")]:
        with pytest.raises(InvalidInput, match=message):
            select_items(store, "shapes", bad)
    with pytest.raises(NotFound):
        select_items(store, "shapes", {"filter": "missing"})
    with pytest.raises(NotFound):
        select_items(store, "nope", None)


def test_filter_bound_to_another_dataset(store, yolo, tmp_path):
    register_dataset(store, yolo, name="one")
    register_dataset(store, shutil.copytree(yolo, tmp_path / "two"), name="two")
    save_filter(store, "ones-dark", {"metadata.lighting": "dark"}, dataset_id="one")
    select_items(store, "one", {"filter": "ones-dark"})
    with pytest.raises(InvalidInput, match="belongs to another dataset"):
        select_items(store, "two", {"filter": "ones-dark"})


def test_tag_items(store, yolo):
    register_dataset(store, yolo, name="shapes")
    assert tag_items(store, "shapes", {"tag": "train"}, add=["hard", "reviewed"]) == 4
    assert tag_items(store, "shapes", {"tag": "train"}, add="hard") == 0
    assert count_items(store, "shapes", {"query": {"tags": "hard"}}) == 4
    assert select_items(store, "shapes", {"tag": "train"})[0].tags == ["train", "hard", "reviewed"]
    assert tag_items(store, "shapes", None, remove=["hard"]) == 4
    assert tag_items(store, "shapes", {"dir": "images/val"}, add=["x"], remove=["validation"]) == 2
    assert count_items(store, "shapes", {"tag": "validation"}) == 0
    assert count_items(store, "shapes", {"tag": "x"}) == 2
    with pytest.raises(InvalidInput, match="both added and removed"):
        tag_items(store, "shapes", None, add=["a"], remove=["a"])
    with pytest.raises(InvalidInput, match="tag"):
        tag_items(store, "shapes", None, add=["bad tag"])
    with pytest.raises(InvalidInput, match="tag"):
        tag_items(store, "shapes", None, add=[3])


def test_list_get_delete(store, yolo, tmp_path):
    a = register_dataset(store, yolo, name="a")
    register_dataset(store, shutil.copytree(yolo, tmp_path / "b"), name="b", labels=["r", "e", "t"])
    assert [(d["name"], d["n_items"]) for d in list_datasets(store)] == [("a", 8), ("b", 8)]
    assert get_dataset(store, "b")["labels"] == ["r", "e", "t"]
    assert get_dataset(store, a["id"][:5])["name"] == "a"
    with pytest.raises(NotFound):
        get_dataset(store, "zzz")
    delete_dataset(store, "a")
    assert [d["name"] for d in list_datasets(store)] == ["b"] and counts(store) == (1, 8)


def test_content_hash_stable_and_sensitive(store, yolo, tmp_path):
    first = register_dataset(store, yolo, name="first")["content_hash"]
    assert compute_content_hash(yolo) == first
    moved = Path(shutil.copytree(yolo, tmp_path / "elsewhere" / "copy"))
    assert register_dataset(store, moved, name="moved")["content_hash"] == first
    assert register_dataset(store, yolo, name="again")["content_hash"] == first
    other = Store(tmp_path / "home2")
    assert register_dataset(other, yolo)["content_hash"] == first
    other.close()

    label = sorted(moved.glob("labels/train/*.txt"))[0]
    cls, *rest = label.read_text().splitlines()[0].split()
    text = label.read_text().replace(" ".join([cls, *rest]), " ".join([str((int(cls) + 1) % 3), *rest]), 1)
    label.write_text(text)
    assert register_dataset(store, moved, name="relabelled")["content_hash"] != first
    assert compute_content_hash(moved) != first
    renamed = register_dataset(store, yolo, name="renamed", labels=["a", "b", "c"])["content_hash"]
    assert renamed != first


def test_sidecar_metadata(store, yolo):
    (yolo / "metadata.jsonl").write_text(
        '{"path": "images/train/train_00000.png", "camera": {"model": "x"}, "score": 2}\n\n'
        '{"path": "./images/val/val_00001.png", "score": 5, "width": 999}\n'
    )
    register_dataset(store, yolo, name="side")
    got = {it.name: it.metadata for it in select_items(store, "side")}
    assert got["train_00000.png"] == {"camera": {"model": "x"}, "score": 2, "width": 48, "height": 48}
    assert got["val_00001.png"] == {"score": 5, "width": 48, "height": 48}
    assert got["test_00000.png"] == {"width": 48, "height": 48}
    assert count_items(store, "side", {"query": {"metadata.camera.model": "x"}}) == 1


def test_yolo_named_yaml_dict_names_and_background_images(store, yolo):
    (yolo / "data.yaml").rename(yolo / "shapes.yaml")
    (yolo / "shapes.yaml").write_text("names:\n  0: rectangle\n  1: ellipse\n  2: triangle\n")
    (sorted(yolo.glob("labels/test/*.txt"))[0]).unlink()
    row = register_dataset(store, yolo)
    assert row["labels"] == ["rectangle", "ellipse", "triangle"]
    empty = [it for it in select_items(store, row["id"]) if not it.annotations["boxes"]]
    assert len(empty) == 1 and empty[0].annotations == {"boxes": [], "labels": [], "iscrowd": []}


# --- image folders ---------------------------------------------------------------------------


def test_register_imagefolder_splits(store, tmp_path):
    root = generate_shapes(tmp_path / "cls", flavour="classify", **SMALL)
    row = register_dataset(store, root)
    assert row["format"] == "imagefolder" and row["labels"] == ["ellipse", "rectangle", "triangle"]
    items = select_items(store, "cls")
    assert len(items) == 8
    for it in items:
        split, cls = Path(it.path).relative_to(root).parts[:2]
        assert it.annotations == {"label": row["labels"].index(cls)}
        assert it.tags == [{"train": "train", "val": "validation", "test": "test"}[split]]
        assert it.dir == f"{split}/{cls}" and it.metadata["lighting"] in ("dark", "normal", "bright")
    assert count_items(store, "cls", {"dir": "train"}) == 4
    assert count_items(store, "cls", {"tag": "test"}) == 2


def test_register_imagefolder_classes_only(store, tmp_path):
    root = tmp_path / "pets"
    write_png(root / "dog" / "d1.png", (20, 10))
    write_png(root / "cat" / "c1.png", (30, 40))
    write_png(root / "cat" / "nested" / "c2.jpg", (8, 8))
    (root / "notes.txt").write_text("not an image")
    row = register_dataset(store, root, format="imagefolder")
    assert row["labels"] == ["cat", "dog"]
    got = {it.name: (it.annotations, it.tags, it.metadata, it.dir) for it in select_items(store, "pets")}
    assert got == {
        "c1.png": ({"label": 0}, [], {"width": 30, "height": 40}, "cat"),
        "c2.jpg": ({"label": 0}, [], {"width": 8, "height": 8}, "cat/nested"),
        "d1.png": ({"label": 1}, [], {"width": 20, "height": 10}, "dog"),
    }
    again = register_dataset(store, root, name="pets2", labels=["bird", "dog", "cat"])
    assert {it.name: it.annotations["label"] for it in select_items(store, again["id"])} == \
        {"c1.png": 2, "c2.jpg": 2, "d1.png": 1}


# --- COCO ------------------------------------------------------------------------------------


def coco_doc(files: list[str]) -> dict:
    return {
        "images": [{"id": 10 + i, "file_name": f, "width": 64, "height": 48} for i, f in enumerate(files)],
        "categories": [{"id": 3, "name": "dog"}, {"id": 1, "name": "cat"}],
        "annotations": [
            {"id": 1, "image_id": 10, "category_id": 1, "bbox": [1, 2, 10, 20], "iscrowd": 0},
            {"id": 2, "image_id": 10, "category_id": 3, "bbox": [5.5, 6, 4, 4], "iscrowd": 1},
            {"id": 3, "image_id": 11, "category_id": 3, "bbox": [0, 0, 64, 48]},
        ],
    }


def test_register_coco_folder(store, tmp_path):
    root = tmp_path / "coco"
    write_png(root / "images" / "a.png", (64, 48))
    write_png(root / "images" / "b.png", (32, 32))
    write_png(root / "images" / "c.png", (16, 16))
    (root / "annotations.json").write_text(json.dumps(coco_doc(["a.png", "b.png", "c.png"])))
    row = register_dataset(store, root)
    assert row["format"] == "coco" and row["labels"] == ["cat", "dog"]
    got = {it.name: it for it in select_items(store, "coco")}
    assert got["a.png"].annotations == {"boxes": [[1.0, 2.0, 11.0, 22.0], [5.5, 6.0, 9.5, 10.0]],
                                        "labels": [0, 1], "iscrowd": [0, 1]}
    assert got["b.png"].annotations == {"boxes": [[0.0, 0.0, 64.0, 48.0]], "labels": [1], "iscrowd": [0]}
    assert got["c.png"].annotations == {"boxes": [], "labels": [], "iscrowd": []}
    assert got["b.png"].metadata == {"width": 32, "height": 32}
    assert got["a.png"].dir == "images" and got["a.png"].tags == []
    assert Path(got["a.png"].path) == root / "images" / "a.png"


def test_register_coco_file_with_split_names(store, tmp_path):
    root = tmp_path / "cocosplit"
    write_png(root / "images" / "val2017" / "a.png", (64, 48))
    write_png(root / "images" / "val2017" / "b.png", (64, 48))
    write_png(root / "extra" / "c.png", (8, 8))
    ann = root / "annotations" / "instances_val2017.json"
    ann.parent.mkdir()
    ann.write_text(json.dumps(coco_doc(["val2017/a.png", "val2017/b.png", "extra/c.png"])))
    row = register_dataset(store, ann)
    assert row["name"] == "instances_val2017" and row["root"] == str(root.resolve())
    got = {it.name: it for it in select_items(store, row["id"])}
    assert got["a.png"].dir == "images/val2017" and got["a.png"].tags == ["validation"]
    assert got["c.png"].dir == "extra" and got["c.png"].tags == ["validation"]  # from the json's name
    assert count_items(store, row["id"], {"tag": "val"}) == 3
    by_folder = register_dataset(store, root, name="by-folder", format="coco")
    assert by_folder["content_hash"] == row["content_hash"]


# --- bad inputs: one-line InvalidInput, nothing left behind ----------------------------------


def break_label(root: Path, line: str) -> str:
    label = sorted(root.glob("labels/train/*.txt"))[0]
    n = len(label.read_text().splitlines())
    label.write_text(label.read_text() + line + "\n")
    return f"labels/train/{label.name}:{n + 1}"


def corrupt_image(root: Path) -> None:
    sorted(root.glob("images/val/*.png"))[0].write_bytes(b"\x89PNG not really")


BAD_YOLO = [
    (lambda r: (r / "data.yaml").write_text("nc: 3\n"), "data.yaml has no 'names'"),
    (lambda r: (r / "data.yaml").write_text("names: [a, b\n"), "not valid YAML"),
    (lambda r: break_label(r, "0 0.5 0.5 0.2"), ":LINE: malformed label line '0 0.5 0.5 0.2'"),
    (lambda r: break_label(r, "zero 0.5 0.5 0.2 0.2"), ":LINE: malformed label line"),
    (lambda r: break_label(r, "3 0.5 0.5 0.2 0.2"), ":LINE: class index 3 out of range (0-2)"),
    (lambda r: break_label(r, "-1 0.5 0.5 0.2 0.2"), ":LINE: class index -1 out of range"),
    (lambda r: break_label(r, "1.5 0.5 0.5 0.2 0.2"), ":LINE: class index '1.5' is not an integer"),
    (lambda r: break_label(r, "0 1.5 0.5 0.2 0.2"), ":LINE: box is outside the image"),
    (lambda r: break_label(r, "0 nan 0.5 0.2 0.2"), ":LINE: malformed label line"),
    (corrupt_image, "cannot read image 'images/val/val_00000.png'"),
    (lambda r: (r / "metadata.jsonl").write_text('{"path": "images/train/nope.png"}\n'),
     "metadata.jsonl:1: path 'images/train/nope.png' is not an image of the dataset"),
    (lambda r: (r / "metadata.jsonl").write_text('{"path": "images/train/train_00000.png"}\nnot json\n'),
     "metadata.jsonl:2: not valid JSON"),
    (lambda r: (r / "metadata.jsonl").write_text('["images/train/train_00000.png"]\n'),
     "metadata.jsonl:1: needs a JSON object with a 'path' string"),
]


@pytest.mark.parametrize(("damage", "message"), BAD_YOLO, ids=[m[:40] for _, m in BAD_YOLO])
def test_bad_yolo_inputs(store, yolo, damage, message):
    where = damage(yolo)
    if isinstance(where, str):
        message = message.replace(":LINE:", where + ":")
    with pytest.raises(InvalidInput) as info:
        register_dataset(store, yolo)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert counts(store) == (0, 0)


def test_bad_paths_formats_and_names(store, yolo, tmp_path):
    with pytest.raises(InvalidInput, match="does not exist"):
        register_dataset(store, tmp_path / "missing")
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "readme.txt").write_text("hello")
    with pytest.raises(InvalidInput) as info:
        register_dataset(store, junk)
    assert "is not a yolo, coco or imagefolder dataset" in str(info.value)
    for reason in ("yolo: no data yaml", "coco: no .json file", "imagefolder: no class folders with images"):
        assert reason in str(info.value)
    with pytest.raises(InvalidInput, match="is not a coco dataset: no .json file"):
        register_dataset(store, yolo, format="coco")
    with pytest.raises(InvalidInput, match="unknown dataset format 'voc'"):
        register_dataset(store, yolo, format="voc")
    with pytest.raises(InvalidInput, match="labels has 2 names but data.yaml has 3"):
        register_dataset(store, yolo, labels=["a", "b"])
    with pytest.raises(InvalidInput, match="labels contain duplicates"):
        register_dataset(store, yolo, labels=["a", "a", "b"])
    with pytest.raises(InvalidInput, match="dataset name"):
        register_dataset(store, yolo, name="a/b")
    (yolo / "data.yaml").unlink()
    with pytest.raises(InvalidInput, match="look like YOLO"):
        register_dataset(store, yolo)
    assert counts(store) == (0, 0)


def test_duplicate_name(store, yolo):
    register_dataset(store, yolo, name="x")
    with pytest.raises(Conflict, match="dataset name 'x' already exists"):
        register_dataset(store, yolo, name="x")
    assert counts(store) == (1, 8)


def write_coco(root: Path, doc: dict) -> Path:
    for f in ("a.png", "b.png"):
        write_png(root / f, (64, 48))
    (root / "annotations.json").write_text(json.dumps(doc))
    return root


def bad_coco(**changes) -> dict:
    doc = coco_doc(["a.png", "b.png"])
    for key, value in changes.items():
        doc[key] = value
    return doc


BAD_COCO = [
    (bad_coco(annotations=[{"image_id": 10, "category_id": 7, "bbox": [0, 0, 1, 1]}]),
     "annotations[0]: class index (category_id) 7 out of range"),
    (bad_coco(annotations=[{"image_id": 99, "category_id": 1, "bbox": [0, 0, 1, 1]}]),
     "annotation for unknown image_id 99"),
    (bad_coco(annotations=[{"image_id": 10, "category_id": 1, "bbox": [0, 0, -1, 1]}]), "bbox must be"),
    (bad_coco(annotations=[{"image_id": 10, "category_id": 1, "bbox": "0 0 1 1"}]), "bbox must be"),
    (bad_coco(images=[{"id": 10, "file_name": "missing.png"}]), "image 'missing.png' not found"),
    (bad_coco(images=[{"id": 10, "file_name": "../../etc/x.png"}]), "not found"),
    (bad_coco(images=[{"id": 10, "file_name": "a.png"}, {"id": 10, "file_name": "b.png"}]),
     "image id 10 appears twice"),
    (bad_coco(images=[{"id": 10, "file_name": "a.png"}, {"id": 11, "file_name": "a.png"}]),
     "lists the same image twice"),
    (bad_coco(images=[{"file_name": "a.png"}]), "images[0] needs an 'id' and a 'file_name'"),
    (bad_coco(categories=[{"id": 1}]), "'categories' must be a list of objects"),
]


@pytest.mark.parametrize(("doc", "message"), BAD_COCO, ids=[m[:40] for _, m in BAD_COCO])
def test_bad_coco_inputs(store, tmp_path, doc, message):
    root = write_coco(tmp_path / "coco", doc)
    with pytest.raises(InvalidInput) as info:
        register_dataset(store, root)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert counts(store) == (0, 0)


def test_coco_escape_outside_root_is_refused(store, tmp_path):
    write_png(tmp_path / "outside.png", (8, 8))
    root = write_coco(tmp_path / "coco", bad_coco(images=[{"id": 10, "file_name": "../outside.png"}],
                                                   annotations=[]))
    with pytest.raises(InvalidInput, match="outside the dataset root"):
        register_dataset(store, root)
    assert counts(store) == (0, 0)


def test_imagefolder_loose_image_and_labels(store, tmp_path):
    root = tmp_path / "split"
    write_png(root / "train" / "cat" / "a.png", (8, 8))
    write_png(root / "train" / "b.png", (8, 8))
    with pytest.raises(InvalidInput, match="image 'train/b.png' is not inside a class folder"):
        register_dataset(store, root)
    (root / "train" / "b.png").unlink()
    with pytest.raises(InvalidInput, match=r"class folders \['cat'\] are not in labels"):
        register_dataset(store, root, labels=["dog"])
    assert counts(store) == (0, 0)


def test_failure_while_inserting_leaves_nothing(store, yolo, monkeypatch):
    real = ds._insert_items

    def insert_then_fail(store_, dataset_id, records):
        real(store_, dataset_id, records)
        assert store_.conn.execute("SELECT COUNT(*) FROM items").fetchone()[0] == 8
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ds, "INSERT_BATCH", 3)
    monkeypatch.setattr(ds, "_insert_items", insert_then_fail)
    with pytest.raises(RuntimeError):
        register_dataset(store, yolo)
    assert counts(store) == (0, 0)
    monkeypatch.setattr(ds, "_insert_items", real)
    assert register_dataset(store, yolo)["n_items"] == 8
