"""The read layer: one search rule for every face (checked against a plain reading of the rule on
random data, and across the CLI, the Python API and the widget table), its index-driven plans, and
the one default-subset rule."""

from __future__ import annotations

import json
import random
import time

import pytest

import mm_jupyter as mm
from mm_jupyter.cli import main as mm_main
from mm_jupyter.executions import execution_name
from mm_jupyter.queries import catalog
from mm_jupyter.queries.executions import ListQuery, list_executions, plan
from mm_jupyter.widgets.table import query_executions

WORDS = ["det", "Det-V2", "cls", "yolo", "v2", "v10", "50%_off", "a_b", "Ünï", "x"]
TAGS = ["Best", "baseline", "prod_candidate", "Ärger", "x"]


def rule(text: str, exe: dict, model: dict | None, version: dict | None, tags: list[str] = ()) -> bool:
    """The search rule as the issue states it, read plainly (case-insensitive for ASCII, as SQLite):
    a part of a name, the beginning of an id, or one of the version's tags whole (white space at the
    text's ends dropped, as every face drops it)."""
    low = text.strip().lower()

    def contains(name: str | None) -> bool:
        return name is not None and low in name.lower()

    def prefix(ident: str | None) -> bool:
        return ident is not None and ident.lower().startswith(low)

    return (contains(exe["name"]) or contains(model and model["name"]) or contains(version and version["name"])
            or prefix(exe["id"]) or prefix(model and model["id"]) or prefix(version and version["id"])
            or any(low == tag.lower() for tag in tags))


@pytest.fixture
def populated(store):
    """Models, versions and executions with derived and with free-form names (some dangling)."""
    rng = random.Random(7)
    models = [store.insert("models", {"name": f"{rng.choice(WORDS)}-model-{i}", "adapter": "", "labels": [],
                                      "config": {}}) for i in range(6)]
    versions = [store.insert("snapshots", {"model_id": rng.choice(models)["id"], "name": f"{rng.choice(WORDS)}-{i}",
                                           "status": "trained", "config": {}}) for i in range(20)]
    for version in versions[::3]:  # tags: whole words that are in no name, and one that is ("x")
        for tag in rng.sample(TAGS, 2):
            mm.add_tag(version["id"], tag, store=store)
    t = time.time()
    rows = []
    for i in range(400):
        version = rng.choice(versions)
        kind = rng.choice(["train", "evaluate"])
        name = execution_name(kind, version["name"]) if i % 5 else f"{rng.choice(WORDS)} free {i}"
        rows.append({"kind": kind, "snapshot_id": version["id"] if i % 17 else "s-gone", "model_id": version["model_id"],
                     "service": f"mgmt-{kind}-{version['model_id']}", "status": rng.choice(["success", "failed"]),
                     "progress": 100.0, "attempts": 1, "created_at": t + i, "params": {}, "name": name})
    with store.tx():
        for row in rows:
            store.insert("executions", row)
    return store


def expected(store, text: str, **filters) -> list[str]:
    models = {m["id"]: m for m in store.find("models")}
    versions = {s["id"]: s for s in store.find("snapshots")}
    tags: dict[str, list[str]] = {}
    for row in store.find("snapshot_tags"):
        tags.setdefault(row["snapshot_id"], []).append(row["tag"])
    rows = sorted(store.find("executions"), key=lambda e: (-e["created_at"], e["id"]))
    return [e["id"] for e in rows if rule(text, e, models.get(e["model_id"]), versions.get(e["snapshot_id"]),
                                          tags.get(e["snapshot_id"], []))
            and all(e[k] == v for k, v in filters.items())]


def test_the_listing_follows_the_search_rule_exactly(populated):
    store = populated
    rng = random.Random(11)
    exe_ids = [e["id"] for e in store.find("executions")]
    texts = ["det-v2", "v2", "DET", "train d", "evaluate", "50%_", "a_b", "%", "_", "free 1", "ünï", "zzz", "-model-",
             "x", "train x-1", "best", "BEST", "bes", "baseline ", "prod_candidate", "prod", "ärger", "ÄRGER"]
    texts += [rng.choice(exe_ids)[: rng.randint(3, 8)] for _ in range(5)]
    texts += [m["id"][:5] for m in store.find("models")[:2]] + [s["id"][:6] for s in store.find("snapshots")[:2]]
    for text in texts:
        for filters in ({}, {"status": "failed"}, {"kind": "train", "status": "success"}):
            got = list_executions(store, ListQuery(search=text, limit=500, **filters)).items
            assert [r["id"] for r in got] == expected(store, text, **filters), (text, filters)


def test_every_face_finds_the_same_executions(populated, capsys):
    for text in ("det-v2", "v2", "Det", "free", "e-", "Best", "baseline"):
        want = expected(populated, text)[:50]
        api_ids = [r["id"] for r in mm.list_executions(search=text, limit=50)]
        assert mm_main(["executions", "--search", text, "--json", "--limit", "50"]) == 0
        cli_ids = [r["id"] for r in json.loads(capsys.readouterr().out)]
        widget_ids = [r["id"] for r in query_executions(populated, search=text, limit=50)[0]]
        assert api_ids == cli_ids == widget_ids == want, text
        assert query_executions(populated, search=text, limit=5)[1] == len(expected(populated, text))


def test_plans_use_indexes_for_narrow_searches_and_walk_for_broad_ones(store):
    t = time.time()
    model = store.insert("models", {"name": "rare-model", "adapter": "", "labels": [], "config": {}})
    with store.tx():
        store.conn.executemany(
            "INSERT INTO executions (id, kind, snapshot_id, model_id, service, status, progress, attempts, "
            "created_at, params, name) VALUES (?, 'train', 's-x', ?, 's', 'success', 100, 1, ?, '{}', ?)",
            [(f"e-{i:010d}", model["id"] if i % 1000 == 0 else "m-other", t + i, f"train common-{i % 7}")
             for i in range(20_000)])
    narrow = plan(store, ListQuery(search="rare-model").check())
    assert narrow.strategy == "indexed"
    broad = plan(store, ListQuery(search="common").check())
    assert broad.strategy == "walk"
    short = list_executions(store, ListQuery(search="-3", limit=5))  # shorter than a trigram
    assert short.strategy == "walk" and all("-3" in r["name"] for r in short.items) and len(short.items) == 5
    assert [r["id"] for r in list_executions(store, ListQuery(search="rare-model", limit=50)).items] == \
        [f"e-{i:010d}" for i in range(19_000, -1, -1000)]


def test_default_subsets_follow_the_models_predefined_filters(store, toy):
    model = store.get("models", "toy")
    dataset = store.get("datasets", "toy-data")
    start = catalog.defaults(store, model["id"])
    assert start["subsets"] == {"train": {"tag": "train"}, "validation": {"tag": "validation"},
                                "test": {"tag": "test"}}
    mm.save_filter(store, "train", {"dir": "train/red"})  # a dataset-wide filter is no model's predefined filter
    mm.save_filter(store, f"{model['id']}.validation", '{"tags":\n  "validation"}')  # = tagged items
    mm.save_filter(store, "toy.test", {"dir": "test/blue"}, dataset["id"])  # differs: that filter
    start = catalog.defaults(store, model["id"])
    assert start["subsets"] == {"train": {"tag": "train"}, "validation": {"tag": "validation"},
                                "test": {"filter": "toy.test"}}
    assert start["sources"] == {"train": "tagged items", "validation": "tagged items", "test": "predefined filter"}
    version = mm.create_snapshot("toy", dataset="toy-data")
    assert version["filters"] == start["subsets"], "a version created without subsets takes the same rule"


def test_one_metric_across_executions_is_the_latest_attempts_last_value_through_its_index(store):
    from mm_jupyter.queries.executions import metric_across_executions

    mm.register_model("mine")
    rng = random.Random(4)
    expected = {}
    for i in range(12):
        snap = mm.create_snapshot("mine")
        exe = store.insert("executions", {"kind": "train", "snapshot_id": snap["id"], "model_id": snap["model_id"],
                                          "status": "success", "attempts": 1 + i % 3, "progress": 100.0,
                                          "name": f"train run-{i}", "created_at": time.time() + i})
        for attempt in range(1, exe["attempts"] + 1):
            points = [("mAP50", step, step, rng.random(), time.time()) for step in range(rng.randint(0, 4))]
            points += [("loss", step, step, rng.random(), time.time()) for step in range(3)]
            store.insert_metric_points(exe["id"], snap["id"], attempt, points)
            last = [p for p in points if p[0] == "mAP50"]
            if attempt == exe["attempts"]:
                expected[exe["id"]] = last[-1][3] if last else None
    rows = metric_across_executions(store, "mAP50")
    got = {r["execution_id"]: r["value"] for r in rows}
    assert got == {k: v for k, v in expected.items() if v is not None}
    assert [r["execution"] for r in rows] == sorted((r["execution"] for r in rows),
                                                    key=lambda n: -int(n.split("-")[1])), "newest first"
    plan_rows = store.query("EXPLAIN QUERY PLAN SELECT max(id) FROM metrics WHERE name = ? AND execution_id = ? "
                            "AND attempt = ?", ["mAP50", "e-x", 1])
    assert any("idx_metrics_name" in r["detail"] for r in plan_rows), plan_rows
