"""The DQL-like item filter: semantics of every operator, validation, injection safety, saved filters."""

from __future__ import annotations

import json

import pytest

from mm_jupyter.api import delete_filter, save_filter
from mm_jupyter.datasets import register_dataset
from mm_jupyter.errors import Conflict, InvalidInput, NotFound
from mm_jupyter.queries.dql import compile_filter, parse_filter
from mm_jupyter.queries.items import saved_filter as get_filter
from mm_jupyter.queries.items import saved_filters as list_filters
from mm_jupyter.queries.items import select_items
from mm_jupyter.shapes import generate_shapes
from mm_jupyter.store import Store

# name, dir, tags, metadata
ITEMS = [
    ("a.png", "images/train", ["train"],
     {"lighting": "dark", "n": 1, "score": 0.5, "cam": {"model": "x1"}, "flag": True}),
    ("b.png", "images/train", ["train", "hard"],
     {"lighting": "normal", "n": 2, "score": 0.9, "cam": {"model": "x2"}, "flag": False}),
    ("c.png", "images/val", ["validation"], {"lighting": "bright", "n": 3, "score": 0.1}),
    ("d.png", "images/test", [], {"lighting": "dark", "n": "3", "note": None}),
    ("e.png", "images/val/sub", ["validation", "hard"], {"lighting": "normal", "n": 0}),
]
ALL = {"a.png", "b.png", "c.png", "d.png", "e.png"}


@pytest.fixture()
def store(tmp_path):
    store = Store(tmp_path / "home")
    with store.tx():
        store.insert("datasets", {"id": "d-filters01", "name": "hand", "root": str(tmp_path),
                                  "format": "yolo", "labels": ["x"], "content_hash": "0"})
        for name, folder, tags, meta in ITEMS:
            store.insert("items", {"dataset_id": "d-filters01", "path": f"{folder}/{name}", "name": name,
                                   "dir": folder, "tags": tags, "metadata": meta, "annotations": {}})
    yield store
    store.close()


def matching(store: Store, query: dict) -> set[str]:
    where, params = compile_filter(query)
    rows = store.query(f"SELECT name FROM items WHERE dataset_id = ? AND {where}", ["d-filters01", *params])
    return {r["name"] for r in rows}


CASES = [
    ({}, ALL),
    ({"dir": "images/train"}, {"a.png", "b.png"}),
    ({"dir": {"$eq": "images/val"}}, {"c.png"}),
    ({"dir": {"$ne": "images/train"}}, {"c.png", "d.png", "e.png"}),
    ({"dir": {"$in": ["images/val", "images/test"]}}, {"c.png", "d.png"}),
    ({"dir": {"$exists": True}}, ALL),
    ({"dir": {"$exists": False}}, set()),
    ({"name": {"$gt": "c.png"}}, {"d.png", "e.png"}),
    ({"name": {"$lt": "b.png"}}, {"a.png"}),
    ({"name": {"$gt": "a.png", "$lt": "d.png"}}, {"b.png", "c.png"}),
    ({"tags": "train"}, {"a.png", "b.png"}),
    ({"tags": {"$eq": "hard"}}, {"b.png", "e.png"}),
    ({"tags": {"$ne": "train"}}, {"c.png", "d.png", "e.png"}),
    ({"tags": {"$in": ["train", "validation"]}}, {"a.png", "b.png", "c.png", "e.png"}),
    ({"tags": {"$in": []}}, set()),
    ({"tags": {"$exists": True}}, {"a.png", "b.png", "c.png", "e.png"}),
    ({"tags": {"$exists": False}}, {"d.png"}),
    ({"metadata.lighting": "dark"}, {"a.png", "d.png"}),
    ({"metadata.lighting": {"$ne": "dark"}}, {"b.png", "c.png", "e.png"}),
    ({"metadata.lighting": {"$in": ["dark", "bright"]}}, {"a.png", "c.png", "d.png"}),
    ({"metadata.lighting": {"$in": []}}, set()),
    ({"metadata.n": 3}, {"c.png"}),
    ({"metadata.n": "3"}, {"d.png"}),
    ({"metadata.n": {"$gt": 1}}, {"b.png", "c.png"}),
    ({"metadata.n": {"$lt": 2}}, {"a.png", "e.png"}),
    ({"metadata.n": {"$gt": "2"}}, {"d.png"}),
    ({"metadata.n": {"$in": [0, 3]}}, {"c.png", "e.png"}),
    ({"metadata.score": {"$gt": 0.4, "$lt": 0.95}}, {"a.png", "b.png"}),
    ({"metadata.score": {"$ne": 0.5}}, {"b.png", "c.png", "d.png", "e.png"}),
    ({"metadata.score": {"$exists": False}}, {"d.png", "e.png"}),
    ({"metadata.cam.model": "x2"}, {"b.png"}),
    ({"metadata.cam.model": {"$exists": True}}, {"a.png", "b.png"}),
    ({"metadata.cam": {"$exists": True}}, {"a.png", "b.png"}),
    ({"metadata.note": {"$exists": True}}, {"d.png"}),
    ({"metadata.note": None}, ALL),
    ({"metadata.lighting": {"$ne": None}}, ALL),
    ({"metadata.flag": True}, {"a.png"}),
    ({"metadata.flag": False}, {"b.png"}),
    ({"metadata.flag": {"$ne": True}}, {"b.png", "c.png", "d.png", "e.png"}),
    ({"metadata.missing": 1}, set()),
    ({"$or": [{"tags": "hard"}, {"metadata.lighting": "dark"}]}, {"a.png", "b.png", "d.png", "e.png"}),
    ({"$and": [{"tags": "hard"}, {"metadata.lighting": "normal"}]}, {"b.png", "e.png"}),
    ({"$and": [{"$or": [{"dir": "images/train"}, {"dir": "images/val"}]}, {"metadata.n": {"$gt": 1}}]},
     {"b.png", "c.png"}),
    ({"$or": [{"$and": [{"tags": "train"}, {"metadata.flag": False}]}, {"metadata.n": {"$lt": 1}}]},
     {"b.png", "e.png"}),
    ({"tags": "hard", "metadata.n": {"$lt": 1}}, {"e.png"}),
    ({"tags": "validation", "$or": [{"metadata.n": 0}, {"metadata.n": 3}]}, {"c.png", "e.png"}),
]


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[json.dumps(q) for q, _ in CASES])
def test_filter_semantics(store, query, expected):
    assert matching(store, query) == expected


def operators(query: object) -> set[str]:
    if isinstance(query, dict):
        return {k for k in query if k.startswith("$")}.union(*map(operators, query.values()))
    if isinstance(query, list):
        return set().union(*map(operators, query))
    return set()


def test_every_operator_is_covered():
    used = set().union(*(operators(q) for q, _ in CASES))
    assert used == {"$and", "$or", "$eq", "$ne", "$in", "$gt", "$lt", "$exists"}


BAD = [
    ([], "must be a JSON object"),
    ("dir", "must be a JSON object"),
    ({"$nor": [{"dir": "x"}]}, "unknown operator '$nor'"),
    ({"foo": 1}, "unknown field 'foo'"),
    ({"path.x": 1}, "unknown field 'path.x'"),
    ({"dir": {"$regex": "x"}}, "filter.dir: unknown operator '$regex'"),
    ({"dir": {"$in": "images/train"}}, "filter.dir.$in needs a list"),
    ({"metadata.n": {"$in": 3}}, "needs a list"),
    ({"metadata.n": {"$in": [[1]]}}, "filter.metadata.n.$in[0] needs a string, number or boolean"),
    ({"metadata.n": {"$in": [None]}}, "needs a string, number or boolean"),
    ({"$and": []}, "filter.$and must not be empty"),
    ({"$or": []}, "filter.$or must not be empty"),
    ({"$or": {"dir": "x"}}, "filter.$or must be a list"),
    ({"$and": [{"dir": "x"}, 1]}, "filter.$and[1] must be a JSON object"),
    ({"dir": 5}, "filter.dir.$eq needs a string"),
    ({"tags": ["train"]}, "needs a string"),
    ({"tags": {"$gt": "a"}}, "tags are a list"),
    ({"metadata.x": {"$gt": True}}, "needs a number or a string"),
    ({"metadata.x": {"$lt": None}}, "needs a number or a string"),
    ({"metadata.x": {"$eq": [1]}}, "needs a string, number or boolean"),
    ({"metadata.x": {"$eq": {"a": 1}}}, "needs a string, number or boolean, got dict"),
    ({"metadata.x": {"a": 1}}, "filter.metadata.x: unknown operator 'a'"),
    ({"metadata.x": {"$exists": 1}}, "needs true or false"),
    ({"metadata.x": float("nan")}, "finite number"),
    ({"metadata.x": 2**70}, "out of range"),
    ({"metadata": 1}, "bad metadata field 'metadata'"),
    ({"metadata.": 1}, "bad metadata field"),
    ({"metadata..a": 1}, "bad metadata field"),
    ({"dir": {}}, "filter.dir: empty condition"),
    ({1: "x"}, "keys must be strings"),
]


@pytest.mark.parametrize(("query", "message"), BAD, ids=[repr(q)[:40] for q, _ in BAD])
def test_invalid_filters_are_rejected_with_one_line(query, message):
    with pytest.raises(InvalidInput) as info:
        compile_filter(query)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def nested(depth: int) -> dict:
    query: dict = {"dir": "images/train"}
    for _ in range(depth):
        query = {"$and": [query]}
    return query


def test_nesting_limit(store):
    assert matching(store, nested(32)) == {"a.png", "b.png"}
    with pytest.raises(InvalidInput, match="deeper than 32"):
        compile_filter(nested(33))
    with pytest.raises(InvalidInput, match="deeper than 32"):
        compile_filter(nested(5000))
    with pytest.raises(InvalidInput):
        parse_filter('{"$and": [' * 100_000)
    with pytest.raises(InvalidInput):
        parse_filter("[" * 100_000 + "]" * 100_000)


INJECTED_VALUES = [
    {"name": "x' OR 1=1 --"},
    {"dir": "images/train' OR '1'='1"},
    {"tags": "train') OR 1=1 --"},
    {"tags": {"$in": ["x\" OR 1=1 --", "'); DROP TABLE items; --"]}},
    {"metadata.lighting": "dark' OR '1'='1"},
    {"metadata.lighting": {"$in": ["x') OR 1=1 --"]}},
    {"metadata.lighting": {"$gt": "zz' OR 1=1"}},
    {"name": {"$ne": "z"}, "dir": "'; DELETE FROM items; --"},
]


@pytest.mark.parametrize("query", INJECTED_VALUES, ids=[json.dumps(q)[:40] for q in INJECTED_VALUES])
def test_injected_values_are_plain_values(store, query):
    sql, params = compile_filter(query)
    assert "'" not in sql.replace("'text'", "").replace("'integer', 'real'", "").replace("''", "")
    assert matching(store, query) == set()
    assert store.query("SELECT COUNT(*) AS n FROM items")[0]["n"] == len(ITEMS)


INJECTED_FIELDS = [
    "metadata.a') OR 1=1 --",
    "dir; DROP TABLE items",
    "metadata.a\"",
    "metadata.a.b'--",
    "name OR 1=1",
    "metadata.a) OR (1=1",
    "metadata.$.a",
    "metadata.a[0]",
    "tags --",
    "items.dir",
]


@pytest.mark.parametrize("field", INJECTED_FIELDS)
def test_injected_field_names_are_rejected(store, field):
    for query in ({field: 1}, {"$or": [{"dir": "x"}, {field: {"$exists": True}}]}):
        with pytest.raises(InvalidInput, match="field"):
            compile_filter(query)
    assert store.query("SELECT COUNT(*) AS n FROM items")[0]["n"] == len(ITEMS)
    assert matching(store, {}) == ALL


def test_metadata_path_is_a_bound_parameter():
    sql, params = compile_filter({"metadata.cam.model": "x2"})
    assert "cam" not in sql and "x2" not in sql
    assert params == ['$."cam"."model"', "x2"]


def test_parse_filter():
    assert parse_filter('{"tags": "train"}') == {"tags": "train"}
    assert parse_filter(b'{"metadata.n": {"$gt": 1}}') == {"metadata.n": {"$gt": 1}}
    assert parse_filter({"dir": "x"}) == {"dir": "x"}
    with pytest.raises(InvalidInput, match="not valid JSON"):
        parse_filter('{"tags": ')
    with pytest.raises(InvalidInput, match="unknown field"):
        parse_filter('{"bogus": 1}')
    with pytest.raises(InvalidInput, match="JSON object"):
        parse_filter("[1, 2]")


def test_saved_filters(store):
    saved = save_filter(store, "hard-ones", {"tags": "hard"})
    assert saved["name"] == "hard-ones" and saved["dataset_id"] is None
    save_filter(store, "dark_v1.2", '{"metadata.lighting": "dark"}', dataset_id="hand")
    got = get_filter(store, "dark_v1.2")
    assert got["query"] == {"metadata.lighting": "dark"} and got["dataset_id"] == "d-filters01"
    assert [f["name"] for f in list_filters(store)] == ["dark_v1.2", "hard-ones"]
    assert matching(store, get_filter(store, "hard-ones")["query"]) == {"b.png", "e.png"}

    with pytest.raises(Conflict, match="already exists"):
        save_filter(store, "hard-ones", {"tags": "train"})
    save_filter(store, "hard-ones", {"tags": "train"}, overwrite=True)
    assert get_filter(store, "hard-ones")["query"] == {"tags": "train"}

    for bad_name in ("", "a b", "a/b", "x" * 65, "name'; --", None):
        with pytest.raises(InvalidInput, match="filter name"):
            save_filter(store, bad_name, {"tags": "x"})
    with pytest.raises(InvalidInput, match="unknown field"):
        save_filter(store, "broken", {"nope": 1})
    with pytest.raises(NotFound):
        save_filter(store, "orphan", {"tags": "x"}, dataset_id="d-nothere")
    with pytest.raises(NotFound):
        get_filter(store, "broken")
    assert [f["name"] for f in list_filters(store)] == ["dark_v1.2", "hard-ones"]
    delete_filter(store, "hard-ones")
    assert [f["name"] for f in list_filters(store)] == ["dark_v1.2"]


def reference(meta: dict, tags: list[str], query: dict) -> bool:
    """A tiny Python evaluator for the queries used below (the expected sets, computed by hand)."""
    for key, cond in query.items():
        if key == "$or":
            ok = any(reference(meta, tags, q) for q in cond)
        elif key == "tags":
            ok = cond in tags
        else:
            value = meta.get(key.removeprefix("metadata."))
            op, arg = next(iter(cond.items())) if isinstance(cond, dict) else ("$eq", cond)
            if op == "$in":
                ok = value in arg
            elif op == "$eq":
                ok = value == arg
            else:
                ok = value is not None and (value > arg if op == "$gt" else value < arg)
        if not ok:
            return False
    return True


def test_filters_on_a_generated_dataset(tmp_path):
    root = generate_shapes(tmp_path / "shapes", n_train=8, n_val=4, n_test=4, size=48, seed=3)
    store = Store(tmp_path / "home")
    register_dataset(store, root, name="shapes")
    rows = [json.loads(line) for line in (root / "metadata.jsonl").read_text().splitlines()]
    split_tag = {"train": "train", "val": "validation", "test": "test"}
    truth = {r["path"]: (r, [split_tag[r["path"].split("/")[1]]]) for r in rows}
    queries = [
        {"metadata.lighting": "dark"},
        {"metadata.n_objects": {"$gt": 1}},
        {"metadata.min_box_area": {"$lt": 0.1}},
        {"tags": "train", "metadata.background": {"$in": ["noise", "gradient"]}},
        {"$or": [{"metadata.lighting": "bright"}, {"metadata.n_objects": 3}]},
    ]
    for query in queries:
        got = {it.path for it in select_items(store, "shapes", {"query": query})}
        expected = {str(root / p) for p, (m, t) in truth.items() if reference(m, t, query)}
        assert got == expected, query
    store.close()
