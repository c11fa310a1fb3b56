"""The store: WAL, schema version, migrations without loss, JSON columns, path confinement."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from mm_jupyter.errors import NotFound, StoreError
from mm_jupyter.queries.executions import metrics_since
from mm_jupyter.store import SCHEMA_VERSION, Store


def test_new_store_is_wal_and_current(tmp_path):
    store = Store(tmp_path / "h")
    assert store.schema_version == SCHEMA_VERSION
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 30000
    assert {"models", "snapshots", "datasets", "items", "filters", "services", "executions", "metrics",
            "events"} <= set(store.db.table_names())


def test_v1_store_upgrades_without_loss(tmp_path):
    old = Store(tmp_path / "h", migrate_to=1)
    assert old.schema_version == 1 and "idempotency_key" not in old.db["executions"].columns_dict
    model = old.insert("models", {"name": "m", "adapter": "yolo", "labels": ["a"], "config": {"epochs": 2}})
    snap = old.insert("snapshots", {"model_id": model["id"], "name": "v1", "status": "trained", "config": {}})
    exe = old.insert("executions", {"kind": "train", "snapshot_id": snap["id"], "model_id": model["id"],
                                    "service": "svc", "status": "success", "params": {"x": 1}})
    old.insert_metrics([{"execution_id": exe["id"], "name": "loss", "value": 0.5, "step": 1}])
    old.close()

    new = Store(tmp_path / "h")
    assert new.schema_version == SCHEMA_VERSION
    row = new.get("executions", exe["id"])
    assert row["params"] == {"x": 1} and row["abort_requested"] == 0 and row["name"] == "train v1"
    assert new.get("models", "m")["config"] == {"epochs": 2}
    assert metrics_since(new, exe["id"])[0]["value"] == 0.5


def test_newer_schema_is_refused(tmp_path):
    store = Store(tmp_path / "h")
    store.db["meta"].upsert({"key": "schema_version", "value": "99"}, pk="key")
    store.close()
    with pytest.raises(StoreError, match="newer than this mm-jupyter"):
        Store(tmp_path / "h")


def test_not_a_database_is_a_clear_error(tmp_path):
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "mm.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not an mm-jupyter store"):
        Store(tmp_path / "h")


def test_get_by_id_name_and_prefix(tmp_path):
    store = Store(tmp_path / "h")
    model = store.insert("models", {"name": "yolo-a", "adapter": "", "labels": [], "config": {}})
    assert store.get("models", model["id"])["name"] == "yolo-a"
    assert store.get("models", "yolo-a")["id"] == model["id"]
    assert store.get("models", model["id"][:6])["id"] == model["id"]
    with pytest.raises(NotFound, match="unknown model 'nope'"):
        store.get("models", "nope")


def test_failed_transaction_leaves_nothing(tmp_path):
    store = Store(tmp_path / "h")
    with pytest.raises(sqlite3.IntegrityError):
        with store.tx():
            store.insert("models", {"name": "a", "adapter": "", "labels": [], "config": {}})
            store.insert("models", {"name": "a", "adapter": "", "labels": [], "config": {}})
    assert store.find("models") == []


def test_concurrent_metric_writers_lose_nothing(tmp_path):
    Store(tmp_path / "h").close()

    def writer(k: int) -> None:
        s = Store(tmp_path / "h")
        for batch in range(20):
            s.insert_metrics([{"execution_id": f"e{k}", "name": "loss", "value": float(i), "step": batch * 50 + i}
                              for i in range(50)])
        s.close()

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store = Store(tmp_path / "h")
    assert store.query("SELECT count(*) AS n, count(DISTINCT execution_id || step) AS d FROM metrics")[0] == \
        {"n": 4000, "d": 4000}


def test_paths_cannot_leave_the_artifact_root(tmp_path):
    store = Store(tmp_path / "h")
    assert store.inside_artifacts("models/m-1/x") == (store.artifacts / "models/m-1/x").resolve()
    for bad in ("../mm.db", "/etc/passwd", "models/../../x"):
        with pytest.raises(NotFound, match="outside the artifact root"):
            store.inside_artifacts(bad)
