"""Services as queues: slots (concurrency × max_instances), FIFO, bounded queue, pause/resume,
stop with drain time, health indications, and claims that never double-start across processes.

Most tests swap the runner for a recorder (no kernels), so they check the queue itself, fast;
the drain test runs real executions."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.helpers import free_port, statuses, wait_for

import mm_jupyter as mm
from mm_jupyter import executions as ex
from mm_jupyter import scheduler, services
from mm_jupyter.cli import main as mm_main
from mm_jupyter.errors import Conflict, InvalidInput, NotFound
from mm_jupyter.processes import pid_alive
from mm_jupyter.queries.health import service_health
from mm_jupyter.queries.queue import queue_length


def finish(store, exe_id: str, to: str = ex.SUCCESS) -> None:
    assert ex.transition(store, exe_id, to)
    scheduler.dispatch(store)


def status_of(store, ids: list[str]) -> list[str]:
    return [store.get("executions", i)["status"] for i in ids]


def test_slots_are_concurrency_times_instances_and_start_fifo(store, toy, started):
    ids = [mm.train(toy(epochs=1), service={"concurrency": 2, "max_instances": 2})["id"] for _ in range(9)]
    assert started == ids[:4]
    assert status_of(store, ids) == ["in-progress"] * 4 + ["pending"] * 5
    finish(store, ids[2])
    assert started == ids[:5], "the oldest pending takes the freed slot"
    finish(store, ids[0], ex.FAILED)
    finish(store, ids[1])
    assert started == ids[:7]
    ex.on_exception(store, ids[3], "boom")  # a retry queues again, at the back
    assert store.get("executions", ids[3])["status"] == ex.RERUN
    scheduler.dispatch(store)
    assert started == ids[:8]
    for exe_id in ids[4:8]:
        finish(store, exe_id)
    assert started == [*ids, ids[3]], "FIFO: the retry starts after those queued before it"
    assert store.get("executions", ids[3])["attempts"] == 2


def test_queue_holds_1000_then_refuses_with_a_clear_error(store, toy, started):
    first = mm.train(toy(epochs=1))
    svc = store.get("services", first["service"])
    assert svc["queue_size"] == 1000
    scheduler.set_paused(store, svc["name"], True)
    base = {k: first[k] for k in ("kind", "snapshot_id", "model_id", "service", "params")}
    t = time.time()
    store.db["executions"].insert_all(
        [{**base, "id": f"e-fill{i:06d}", "status": "pending", "attempts": 0, "progress": 0.0,
          "created_at": t, "queued_at": t + i * 1e-6} for i in range(999)], batch_size=500)
    last = mm.train(toy(epochs=1))
    assert last["status"] == "pending" and queue_length(store, svc["name"]) == 1000
    refused = toy(epochs=1)
    before = dump(store)
    with pytest.raises(Conflict, match=r"queue is full: 1000 executions wait \(queue_size 1000\)") as info:
        mm.train(refused)
    assert svc["name"] in str(info.value) and "\n" not in str(info.value)
    assert dump(store) == before, "a refused submit writes nothing (not even the reproducibility record)"


def dump(store) -> dict:
    return {t: store.query(f"SELECT * FROM {t} ORDER BY rowid") for t in store.db.table_names()
            if t not in ("execution_names", "dataset_files")}


def test_pause_keeps_pending_with_a_warning_and_resume_starts_them(store, toy, started):
    first = mm.train(toy(epochs=1))
    name = first["service"]
    finish(store, first["id"])
    scheduler.set_paused(store, name, True)
    waiting = [mm.train(toy(epochs=1))["id"] for _ in range(3)]
    assert status_of(store, waiting) == ["pending"] * 3
    assert service_health(store, store.get("services", name)).code == "paused"
    scheduler.reconcile(store)  # an `mm` start does not start a paused service's queue either
    assert started == [first["id"]]
    scheduler.set_paused(store, name, False)
    assert started == [first["id"], waiting[0]]
    assert service_health(store, store.get("services", name)).level == "ok"


def test_health_errors_name_their_reason(store, toy, started):
    exe = mm.train(toy(epochs=1))
    name = exe["service"]
    store.update("services", name, kernel_name="gone-kernel")
    health = service_health(store, store.get("services", name))
    assert (health.level, health.code) == ("error", "kernel-missing")
    assert health.reason.startswith("kernel 'gone-kernel' is not installed on this machine (installed: ")
    store.update("services", name, kernel_name="python3")
    for i in range(3):
        row = mm.train(toy(epochs=1)) if i else exe
        finish(store, row["id"], ex.FAILED)
        store.update("executions", row["id"], error="cannot start runner: [Errno 28] No space left on device",
                     outcome=ex.Outcome.START_FAILURE)
    health = service_health(store, store.get("services", name))
    assert (health.level, health.code) == ("error", "start-failures")
    assert health.reason.startswith("the last 3 executions failed to start: cannot start runner")
    store.update("executions", row["id"], outcome=ex.Outcome.EXCEPTION, error="cannot start runner (in the text only)")
    assert service_health(store, store.get("services", name)).level == "ok", "typed outcomes, not message text"


def test_unreachable_dask_runner_keeps_executions_pending_with_an_error(store, toy):
    address = f"dask://127.0.0.1:{free_port()}"
    exe = mm.train(toy(epochs=1), service={"runner": address})
    assert store.get("executions", exe["id"])["status"] == "pending", "not failed: it waits for the scheduler"
    health = service_health(store, store.get("services", exe["service"]))
    assert health.code == "runner-unreachable" and health.reason.startswith(f"runner {address} is unreachable")
    scheduler.reconcile(store)
    assert store.get("executions", exe["id"])["status"] == "pending"
    mm.abort(exe["id"])


def test_settings_are_checked(store, toy):
    bad = [
        ({"runner": "dask://"}, "runner must be"), ({"runner": "tcp://h:1"}, "runner must be"),
        ({"runner": "dask://h:0"}, "runner must be"), ({"runner": "dask://h:70000"}, "runner must be"),
        ({"runner": "dask://h:1/x"}, "runner must be"), ({"runner": 5}, "runner must be"),
        ({"gpus": 1}, "gpus needs a dask"), ({"gpus": -1}, "non-negative"), ({"gpus": True}, "non-negative"),
        ({"concurrency": 0}, "positive integer"), ({"max_instances": 2.5}, "positive integer"),
        ({"queue_size": 10**9}, "up to"), ({"drain_time": -1}, "positive number"),
        ({"execution_timeout": float("nan")}, "positive number"), ({"paused": "yes"}, "true or false"),
        ({"colour": "red"}, "unknown service setting"),
    ]
    for settings, text in bad:
        with pytest.raises(InvalidInput, match=text):
            mm.train(toy(epochs=1), service=settings)
    assert mm.list_executions() == [] and store.find("services") == []
    ok = services.check_settings({"runner": "dask://[::1]:8786", "gpus": 2, "max_instances": 3})
    assert ok == {"runner": "dask://[::1]:8786", "gpus": 2, "max_instances": 3}


def test_stop_without_waiting_is_finished_by_reconcile(store, toy, started):
    ids = [mm.train(toy(epochs=1), service={"concurrency": 2, "on_reset": "rerun"})["id"] for _ in range(3)]
    name = store.get("executions", ids[0])["service"]
    svc = scheduler.stop(store, name, drain_time=0.5, wait=False)
    assert svc["paused"] == 1 and svc["draining_until"]
    assert service_health(store, svc).level == "warning"
    assert scheduler.reconcile(store) == [], "within the drain time nothing is ended"
    time.sleep(0.6)
    assert sorted(scheduler.reconcile(store)) == sorted(ids[:2])
    assert status_of(store, ids) == ["rerun", "rerun", "pending"], "on_reset=rerun: re-queued, service paused"
    assert store.get("services", name)["draining_until"] is None
    assert "not finished within its drain time" in store.get("executions", ids[0])["error"]
    scheduler.set_paused(store, name, False)
    assert started[-2:] == [ids[2], ids[0]], "the queue's order survives the stop"


@pytest.mark.slow
def test_stop_gives_running_executions_their_drain_time(store, toy):
    short = mm.train(toy(epochs=6, sleep=0.5), service={"concurrency": 2})
    long = mm.train(toy(epochs=300, sleep=0.5))
    queued = mm.train(toy(epochs=1))

    def both_running() -> list[dict] | None:
        rows = [store.get("executions", x["id"]) for x in (short, long)]
        return rows if all(r["progress"] > 0 for r in rows) else None

    rows = wait_for(both_running, timeout=120)
    name = short["service"]
    begun = time.monotonic()
    stopped = scheduler.stop(store, name, drain_time=15)
    assert time.monotonic() - begun < 60
    assert stopped["paused"] == 1 and stopped["draining_until"] is None
    assert store.get("executions", short["id"])["status"] == "success", "finished within the drain time"
    ended = store.get("executions", long["id"])
    assert ended["status"] == "aborted" and "drain time" in ended["error"], "on_reset=fail: aborted"
    assert statuses(store, long["id"])[-1] == "aborted"
    wait_for(lambda: not pid_alive(rows[1]["kernel_pid"]) and not pid_alive(rows[1]["runner_pid"]), 30)
    assert store.get("executions", queued["id"])["status"] == "pending", "a stopped service starts nothing"
    assert service_health(store, stopped).level == "warning"
    mm.abort(queued["id"])


CLAIMER = """
import json, sys, time
from pathlib import Path
from mm_jupyter import scheduler
from mm_jupyter.queries.queue import queue_length
from mm_jupyter.store import Store

from mm_jupyter.executions import SUCCESS, transition

store = Store(sys.argv[1])
go = Path(sys.argv[3])
Path(f"{go}.{sys.argv[4]}").touch()  # ready
while not go.exists():
    time.sleep(0.01)
got = []
while queue_length(store, sys.argv[2]):
    for exe in scheduler.claim_queued(store):  # claim what fits in the free slots, then finish it
        got.append(exe["id"])
        running = store.query("SELECT count(*) AS n FROM executions WHERE status = 'in-progress'")[0]["n"]
        assert running <= 2, running
        time.sleep(0.005)
        transition(store, exe["id"], SUCCESS)
print(json.dumps(got))
"""


def test_concurrent_claims_never_start_an_execution_twice(store, toy, started):
    first = mm.train(toy(epochs=1), service={"concurrency": 2})
    finish(store, first["id"])
    scheduler.set_paused(store, first["service"], True)
    ids = [mm.train(toy(epochs=1))["id"] for _ in range(60)]
    store.update("services", first["service"], paused=0)  # no dispatch here: the processes race for them
    go = store.home / "go"
    procs = [subprocess.Popen([sys.executable, "-c", CLAIMER, str(store.home), first["service"], str(go), str(k)],
                              stdout=subprocess.PIPE, text=True) for k in range(4)]
    wait_for(lambda: all(Path(f"{go}.{k}").exists() for k in range(4)), timeout=120)
    go.touch()
    claimed = [json.loads(p.communicate(timeout=180)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(sum(claimed, [])) == sorted(ids), "each claimed exactly once"
    assert sum(1 for c in claimed if c) >= 2, "the processes did race"
    assert {store.get("executions", i)["attempts"] for i in ids} == {1}


def test_services_cli_set_stop_resume_and_list(store, toy, started, capsys):
    exe = mm.train(toy(epochs=1))
    name = exe["service"]
    assert mm_main(["services", "set", name, "--concurrency", "3", "--max-instances", "2", "--drain-time", "1"]) == 0
    row = store.get("services", name)
    assert (row["concurrency"], row["max_instances"], row["drain_time"]) == (3, 2, 1.0)
    assert mm_main(["services", "stop", name, "--drain-time", "0.2"]) == 0
    assert store.get("executions", exe["id"])["status"] == "aborted"
    assert mm_main(["services", "--json"]) == 0
    out = capsys.readouterr().out
    listed = json.loads(out[out.index("["):])
    assert "stopped" in out and listed[0]["health"]["code"] == "paused"
    assert mm_main(["services", "resume", name]) == 0
    assert mm_main(["services", "stop"]) == 2
    assert mm_main(["services", "set", name]) == 2
    assert mm_main(["services", "set", name, "--runner", "dask://nowhere"]) == 2
    assert mm_main(["services", "stop", "mgmt-train-nope"]) == 3
    err = capsys.readouterr().err
    assert err.count("mm: error:") == 4 and "unknown service 'mgmt-train-nope'" in err
    with pytest.raises(NotFound):
        scheduler.stop(store, "nope")
