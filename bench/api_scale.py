"""The sidebar's two hot REST calls on a big store, against the same SQL run raw with sqlite3, and
the Python API's listing (``mm.list_executions``: the same read layer) against the REST one.

Builds a store with 100,000 executions (200 models, 1,000 versions, 400 services) and 1,000,000
metric points, starts a real ``jupyter server`` with the mm-jupyter extension on it, and times

- one page of the executions listing with a search and a status filter (several searches), and
- fetching the metric points logged since a given id (what a live chart polls),

server-side (the handler's own ``Server-Timing: total``: auth, worker thread, SQL, shaping, JSON)
and as seen by an HTTP client, each against the very statements the server ran, issued directly
with ``sqlite3`` in the same run; and ``mm.list_executions`` in this process for the same query.
Targets: <= 50 ms per page server-side, within 2x of raw, and ``mm.list_executions`` within 2x of
the REST listing's server-side time.

    python bench/api_scale.py [--executions 100000] [--metrics 1000000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from support.server_util import start_server  # noqa: E402

import mm_jupyter as mm  # noqa: E402
from mm_jupyter.queries.executions import ListQuery, plan  # noqa: E402
from mm_jupyter.store import Store  # noqa: E402

PAGE_TARGET_MS = 50.0
RATIO_TARGET = 2.0
API_TARGET = 2.0  # mm.list_executions vs the REST listing's server-side time
FIXED_MS = 0.5  # Jupyter's per-request cost (auth, handler): below ~0.5 ms raw, a ratio says nothing
STATUSES = ["success"] * 70 + ["failed"] * 18 + ["terminated"] * 8 + ["aborted"] * 4
METRIC_NAMES = ("loss", "accuracy", "box_loss", "mAP50")


def populate(store: Store, n_exec: int, n_metrics: int, n_models: int = 200, seed: int = 0) -> dict:
    """Fill ``store`` quickly with raw inserts; returns ids the timings use."""
    rng = random.Random(seed)
    base = time.time() - n_exec * 10
    models = [(f"m-{i:010x}", f"model-{i:03d}") for i in range(n_models)]
    snaps = [(f"s-{i * 5 + k:010x}", mid, f"{name}-v{k + 1}")
             for i, (mid, name) in enumerate(models) for k in range(5)]
    with store.tx():
        store.conn.executemany(
            "INSERT INTO models (id, name, adapter, labels, config, description, created_at) "
            "VALUES (?, ?, 'toy_adapter:ToyAdapter', '[]', '{}', '', ?)", [(m, n, base) for m, n in models])
        store.conn.executemany(
            "INSERT INTO snapshots (id, model_id, name, status, config, filters, labels, repro, created_at) "
            "VALUES (?, ?, ?, 'trained', '{}', '{}', '[]', '{}', ?)", [(*s, base) for s in snaps])
        store.conn.executemany(
            "INSERT INTO services (name, model_id, kind, kernel_name, concurrency, max_instances, queue_size, "
            "execution_timeout, drain_time, on_reset, max_attempts, paused, runner, created_at) "
            "VALUES (?, ?, ?, 'python3', 1, 1, 1000, 3600, 300, 'fail', 3, 0, 'local', ?)",
            [(f"mgmt-{k}-{m}", m, k, base) for m, _ in models for k in ("train", "evaluate")])
        rows = []
        for i in range(n_exec):
            sid, mid, sname = snaps[rng.randrange(len(snaps))]
            kind = "train" if rng.random() < 0.7 else "evaluate"
            status = rng.choice(STATUSES)
            created = base + i * 10 + rng.random()
            rows.append((f"e-{rng.getrandbits(40):010x}", kind, sid, mid, f"mgmt-{kind}-{mid}", status,
                         100.0 if status == "success" else 37.0, 1, created, created, created + 1,
                         created + 90, created + 90, json.dumps({"snapshot_id": sid, "config": {"epochs": 40}}),
                         f"{kind} {sname}"))
        store.conn.executemany(
            "INSERT INTO executions (id, kind, snapshot_id, model_id, service, status, progress, attempts, "
            "created_at, queued_at, started_at, ended_at, heartbeat_at, params, name) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    per_exe = 1000
    with_metrics = [r[0] for r in rows[-(n_metrics // per_exe):]]

    def points():
        for eid in with_metrics:
            for k in range(per_exe):
                yield eid, METRIC_NAMES[k % 4], k // 4, k // 40, 1.0 / (k + 1), base

    with store.tx():
        store.conn.executemany("INSERT INTO metrics (execution_id, name, step, epoch, value, ts) "
                               "VALUES (?, ?, ?, ?, ?, ?)", points())
    watched = with_metrics[len(with_metrics) // 2]
    ids = [r[0] for r in store.conn.execute("SELECT id FROM metrics WHERE execution_id = ? ORDER BY id", [watched])]
    return {"watched": watched, "after_100": ids[-101], "any_exe": rows[-1][0]}


def timed(fn, repeat: int) -> tuple[float, object]:
    """Median milliseconds of ``fn()`` (after one warm-up call) and its last result."""
    fn()
    samples, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples), out


def paired(raw_fn, session: requests.Session, url: str, params: dict, token: str, repeat: int) -> dict:
    """Raw query and HTTP call alternated (so both see the same machine load); medians in ms of the raw
    query, the server-side total (``Server-Timing``), its store part, and the HTTP round trip."""
    headers = {"Authorization": f"token {token}"}
    raw_fn()
    session.get(url, params=params, headers=headers, timeout=30).raise_for_status()
    raws, totals, dbs, trips, body = [], [], [], [], {}
    for _ in range(repeat):
        t = time.perf_counter()
        rows = raw_fn()
        raws.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        resp = session.get(url, params=params, headers=headers, timeout=30)
        trips.append((time.perf_counter() - t) * 1000)
        resp.raise_for_status()
        timing = dict(part.strip().split(";dur=") for part in resp.headers["Server-Timing"].split(","))
        totals.append(float(timing["total"]))
        dbs.append(float(timing["db"]))
        body = resp.json()
    med = statistics.median
    return {"raw": med(raws), "server": med(totals), "db": med(dbs), "http": med(trips), "body": body,
            "rows": rows}


def raw_listing(db: Path, store: Store, q: ListQuery):
    """The statements the server runs for ``q``, issued with a plain sqlite3 connection (the page query
    selecting the plain columns, where the server has SQLite build each row's JSON)."""
    p = plan(store, q.check(), as_json=False)
    conn = sqlite3.connect(db)

    def run():
        for sql, args in p.steps:
            conn.execute(sql, args).fetchall()
        return conn.execute(p.sql, p.params).fetchall()

    return run, p.strategy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--metrics", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mm-bench-api-") as tmp:
        home = Path(tmp) / "mmhome"
        store = Store(home)
        t = time.perf_counter()
        ids = populate(store, args.executions, args.metrics)
        print(f"store: {args.executions:,} executions, {args.metrics:,} metric points "
              f"(built in {time.perf_counter() - t:.1f}s)")
        server = start_server(Path(tmp) / "jupyter", home)
        failures = []
        try:
            session = requests.Session()
            print(f"\n{'listing one page (50 rows)':52s} {'raw':>8s} {'server':>8s} {'ratio':>6s} {'http':>8s} "
                  f"{'mm.list':>8s} {'/server':>7s}  plan")
            cases = [("search model name, status success", dict(kind="train", status="success", search="model-042")),
                     ("search model name, status failed", dict(kind="train", status="failed", search="model-042")),
                     ("search 10 models, status success", dict(kind="train", status="success", search="model-04")),
                     ("search all models, status failed", dict(kind="evaluate", status="failed", search="model")),
                     ("search execution id prefix, status success", dict(kind="train", status="success", search="e-00")),
                     ("search a version name, status success", dict(kind="train", status="success", search="model-042-v3")),
                     ("search execution name part, no status", dict(search="train model-17")),
                     ("search two characters, status failed", dict(status="failed", search="v3")),
                     ("search matching nothing, status success", dict(kind="train", status="success", search="zzz")),
                     ("status aborted, no search", dict(kind="train", status="aborted")),
                     ("no filter, page 20", dict(kind="train", offset=950))]
            for label, params in cases:
                q = ListQuery(limit=50, **params)
                run, strategy = raw_listing(store.db_path, store, q)
                api_ms, api_rows = timed(lambda p=params: mm.list_executions(limit=50, store=store, **p), args.repeat)
                m = paired(run, session, server.api("executions"), {**params, "limit": 50}, server.token,
                           args.repeat)
                assert [r["id"] for r in api_rows] == [r["id"] for r in m["body"]["items"]], label
                ratio = m["server"] / m["raw"] if m["raw"] else float("inf")
                api_ratio = api_ms / m["server"]
                ok = m["server"] <= PAGE_TARGET_MS and (ratio <= RATIO_TARGET or m["server"] - m["raw"] <= FIXED_MS)
                ok = ok and (api_ratio <= API_TARGET or api_ms - m["server"] <= FIXED_MS)
                if not ok:
                    failures.append(label)
                print(f"{label:52s} {m['raw']:7.2f}ms {m['server']:7.2f}ms {ratio:5.2f}x {m['http']:7.2f}ms "
                      f"{api_ms:7.2f}ms {api_ratio:6.2f}x  {strategy} ({len(m['body']['items'])} rows; "
                      f"store part {m['db']:.2f}ms){'' if ok else '  <-- MISSED'}")

            print(f"\n{'metric points since an id':52s} {'raw':>8s} {'server':>8s} {'ratio':>6s} {'http':>8s}")
            raw_conn = sqlite3.connect(store.db_path)
            sql = ("SELECT id, name, step, epoch, value, ts, attempt FROM metrics WHERE execution_id = ? AND id > ? "
                   "AND attempt = coalesce((SELECT attempts FROM executions WHERE id = ?), 1) ORDER BY id LIMIT ?")
            for label, after in (("100 new points of 1,000", ids["after_100"]), ("all 1,000 points", 0),
                                 ("nothing new", 10**12)):
                m = paired(lambda a=after: raw_conn.execute(sql, [ids["watched"], a, ids["watched"], 10_001]).fetchall(),
                           session,
                           server.api(f"executions/{ids['watched']}/metrics"), {"after": after}, server.token,
                           args.repeat)
                assert len(m["body"]["points"]) == len(m["rows"])
                ratio = m["server"] / m["raw"] if m["raw"] else float("inf")
                ok = m["server"] <= PAGE_TARGET_MS and (ratio <= RATIO_TARGET or m["server"] - m["raw"] <= FIXED_MS)
                if not ok:
                    failures.append(label)
                print(f"{label:52s} {m['raw']:7.2f}ms {m['server']:7.2f}ms {ratio:5.2f}x {m['http']:7.2f}ms  "
                      f"({len(m['rows'])} points){'' if ok else '  <-- MISSED'}")

            naive_sql = ("SELECT e.*, m.name AS model_name FROM executions e LEFT JOIN models m ON m.id = e.model_id "
                         "WHERE e.kind = ? AND e.status = ? AND (m.name LIKE ? OR e.model_id LIKE ? OR e.id LIKE ? "
                         "OR e.name LIKE ?) ORDER BY e.created_at DESC LIMIT 50 OFFSET 0")
            like = "%model-042%"
            naive, _ = timed(lambda: raw_conn.execute(naive_sql, ["train", "success", like, like, like, like]).fetchall(),
                             max(5, args.repeat // 3))
            print(f"\nreference: a plain LIKE scan (how mm.list_executions searched before the read layer), "
                  f"first case, raw: {naive:.2f}ms")
        finally:
            server.stop()
            store.close()
    print(f"\ntargets: <= {PAGE_TARGET_MS:.0f} ms server-side and <= {RATIO_TARGET:.0f}x raw "
          f"(or <= {FIXED_MS} ms above a sub-millisecond raw query); server-side: the handler's own time, "
          "auth and JSON included; raw: the same statements, plain columns; mm.list_executions <= "
          f"{API_TARGET:.0f}x the server-side time (or <= {FIXED_MS} ms above it)")
    if failures:
        print("MISSED: " + "; ".join(failures))
        return 1
    print("all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
