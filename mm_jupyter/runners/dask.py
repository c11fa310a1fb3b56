"""The Dask runner: a service whose runner is ``dask://host:port`` runs each execution as a task on
that ``distributed`` scheduler.

The task (``supervise``) runs on a worker and starts there the very process the local runner
starts (``python -m mm_jupyter.attempt ID ATTEMPT``: papermill on a kernel over IPC, heartbeat,
execution timeout, outcome recording), then waits for it, watching for an abort, and hands back to
the scheduler through the ``on_done`` callback it was given (the scheduler's dispatch).

Store access: **workers write to the shared store path** (the SQLite file and artifact folder of
the submitting ``MM_HOME``), exactly as a local run does. We chose this over reporting through the
scheduler because (1) the notebook, ``RunContext`` and the runner stay one code path, so metrics
and progress reach the store live, batched, and the UIs' ``id > last_seen`` polling just works;
(2) nothing has to stay running on the submitting side: ``mm train`` submits with
``fire_and_forget`` and exits, while relaying through the scheduler would need a long-lived
consumer and would lose what is reported while none runs; (3) SQLite in WAL mode is safe for many
processes on one host. The cost: every worker must see the same ``MM_HOME`` path on a local disk of
one host (a ``LocalCluster``, or workers on the store's machine); SQLite over NFS is not safe. The
runner checks this before submitting: a worker that cannot open the store (or opens a different
one, told by ``meta.store_id``) makes the service unhealthy instead of losing runs.

Failure handling: abort cancels the task and kills the runner and kernel process groups on the
worker (``Client.run`` there, and the task itself polls ``abort_requested``). A lost worker is seen
two ways, whichever comes first, both applying the service's on_reset to that attempt only: the
runner notices its worker (parent) process died and ends its kernel; Dask re-runs the task on
another worker, which finds the attempt already marked with the lost worker's address.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from ..errors import InvalidInput, StoreError
from ..executions import IN_PROGRESS, EventType, Outcome, fail, on_reset
from ..kernels import installed_kernels
from ..processes import attempt_command, hostname, stop_execution_processes
from ..store import Store, probe_store
from .base import OnDone, Problem, Runner

PROBE_TTL = 5.0
_CLIENTS: dict[str, Any] = {}
_INFO: dict[tuple[str, str], tuple[float, dict]] = {}
_PROBING: set[tuple[str, str]] = set()
_LOCK = threading.Lock()


def connect_timeout() -> float:
    return float(os.environ.get("MM_DASK_CONNECT_TIMEOUT", "5"))


def scheduler_address(runner: str) -> str:
    """``dask://host:port`` → ``tcp://host:port`` (what ``distributed`` dials)."""
    return "tcp://" + runner.removeprefix("dask://")


def task_key(exe: dict) -> str:
    """One Dask key per attempt, so a retry never collides with the task of a lost attempt."""
    return f"mm-{exe['id']}-{exe['attempts']}"


# --- the client side -----------------------------------------------------------------------------


def client_for(runner: str) -> Any:
    """A connected ``distributed.Client`` for ``runner`` (one per process and address, reused)."""
    from distributed import Client

    with _LOCK:
        client = _CLIENTS.get(runner)
        if client is not None and client.status == "running":
            return client
        address = scheduler_address(runner)
        try:
            from distributed import get_worker

            worker = get_worker()  # inside a task (a runner dispatching from a worker): reuse its client
            if worker.scheduler.address == address:
                from distributed import get_client

                client = get_client()
        except ValueError:
            client = None
        if client is None:
            _check_port(address)
            client = Client(address, timeout=connect_timeout(), set_as_default=False)
        _CLIENTS[runner] = client
        return client


def _check_port(address: str) -> None:
    """Fail fast (no Dask retry loop) when nothing listens at the scheduler's address."""
    host, _, port = address.removeprefix("tcp://").rpartition(":")
    with socket.create_connection((host.strip("[]"), int(port)), timeout=min(2.0, connect_timeout())):
        pass


@atexit.register
def close_clients() -> None:
    """Close this process's scheduler connections (at exit, or before a cluster goes away)."""
    with _LOCK:
        clients = list(_CLIENTS.values())
        _CLIENTS.clear()
        _INFO.clear()
    for client in clients:
        try:
            client.close(timeout=2)
        except Exception:
            pass


def cluster_info(runner: str, store: Store, refresh: bool = False) -> dict:
    """What the scheduler and its workers look like (cached ``PROBE_TTL`` s per address and store):
    ``{"error": str | None, "workers": {address: {"resources", "kernels", "store", "host"}}}``."""
    cached = _INFO.get((runner, str(store.home)))
    if cached and not refresh and time.monotonic() - cached[0] < PROBE_TTL:
        return cached[1]
    return _probe(runner, str(store.home), store.store_id)


def last_cluster_info(runner: str, store: Store) -> dict | None:
    """``cluster_info`` without waiting: what was last seen (None before the first answer); a stale or
    missing answer is refreshed in a background thread (no store connection is used there)."""
    key = (runner, str(store.home))
    cached = _INFO.get(key)
    if cached is None or time.monotonic() - cached[0] >= PROBE_TTL:
        with _LOCK:
            start = key not in _PROBING
            _PROBING.add(key)
        if start:
            threading.Thread(target=_probe, args=(runner, key[1], store.store_id), daemon=True,
                             name=f"mm-probe-{runner}").start()
    return cached[1] if cached else None


def _probe(runner: str, home: str, expected_store: str) -> dict:
    try:
        client = client_for(runner)
        workers = client.scheduler_info(n_workers=-1)["workers"]
        facts = client.run(worker_facts, home, expected_store, on_error="return") if workers else {}
        info = {"error": None, "workers": {
            addr: {"resources": dict(w.get("resources") or {}), **_facts(facts.get(addr))}
            for addr, w in workers.items()}}
    except Exception as exc:  # refused, timed out, closed: all mean "cannot start executions there"
        info = {"error": f"{type(exc).__name__}: {exc}".strip(), "workers": {}}
        with _LOCK:
            _CLIENTS.pop(runner, None)
    with _LOCK:
        _INFO[(runner, home)] = (time.monotonic(), info)
        _PROBING.discard((runner, home))
    return info


def _facts(answer: Any) -> dict:
    """A worker's answer to ``worker_facts``, or what to assume when it failed (restarting, say)."""
    if isinstance(answer, dict):
        return answer
    return {"kernels": [], "store": f"no answer from the worker ({answer!r})", "host": None}


def check_address(value: object) -> str:
    """``dask://host:port`` (host a name or IPv4/IPv6 literal, port 1–65535)."""
    if not isinstance(value, str) or not value.startswith("dask://") or len(value) > 300:
        raise InvalidInput(f"runner must be 'local' or 'dask://host:port', got {value!r}")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or not parts.hostname or not port or parts.path or parts.query or parts.fragment \
            or parts.username or parts.password or any(c.isspace() for c in value):
        raise InvalidInput(f"runner must be 'local' or 'dask://host:port', got {value!r}")
    return value


def problem(store: Store, svc: dict, wait: bool = True) -> Problem | None:
    """Why ``svc``'s executions cannot start on its scheduler now, or None when they can (or, with
    ``wait=False``, when nothing is known yet)."""
    runner, gpus, kernel = svc["runner"], int(svc.get("gpus") or 0), svc["kernel_name"]
    info = cluster_info(runner, store) if wait else last_cluster_info(runner, store)
    if info is None:
        return None
    if info["error"]:
        return Problem("runner-unreachable", f"runner {runner} is unreachable: {info['error']}")
    workers = info["workers"]
    if not workers:
        return Problem("no-workers", f"runner {runner} has no workers")
    fit = [w for w in workers.values() if w["resources"].get("GPU", 0) >= gpus] if gpus else list(workers.values())
    if not fit:
        return Problem("no-gpu-worker", f"no worker of {runner} declares GPU={gpus} (resources={{'GPU': {gpus}}})")
    fit = [w for w in fit if kernel in w["kernels"]]
    if not fit:
        return Problem("kernel-missing", f"kernel {kernel!r} is not installed on any worker of {runner} "
                       "that fits the service")
    if not any(w["store"] is None for w in fit):
        reason = next(w["store"] for w in fit)
        return Problem("store-unreachable", f"workers of {runner} cannot use this store: {reason}")
    return None


class DaskRunner(Runner):
    """Runs each attempt as a task on the Dask scheduler of a ``dask://host:port`` address."""

    scheme = "dask"

    @classmethod
    def check_address(cls, address: object) -> str:
        return check_address(address)

    def start(self, store: Store, exe: dict, service: dict, on_done: OnDone) -> None:
        """Submit a claimed attempt as a task (``resources={"GPU": n}`` for GPU services)."""
        gpus = int(service.get("gpus") or 0)
        try:
            from distributed import fire_and_forget

            client = client_for(exe["runner"])
            future = client.submit(supervise, str(store.home), store.store_id, exe["id"], exe["attempts"], on_done,
                                   key=task_key(exe), pure=False, retries=0,
                                   resources={"GPU": gpus} if gpus else None)
            fire_and_forget(future)  # the task outlives this (possibly short-lived) process
        except Exception as exc:
            reason = f"cannot start runner: dask scheduler {exe['runner']} unreachable: {type(exc).__name__}: {exc}"
            fail(store, exe["id"], reason, Outcome.START_FAILURE, attempt=exe["attempts"])
            return
        store.add_event(exe["id"], f"submitted to {exe['runner']} as task {task_key(exe)}"
                        + (f" with resources GPU={gpus}" if gpus else ""), type=EventType.SUBMITTED)

    def stop(self, store: Store, exe: dict) -> None:
        """Cancel the attempt's task and kill its runner and kernel on the worker (best effort: the
        task itself also stops them when it sees the abort or the new status)."""
        client = None
        if not _known_unreachable(exe["runner"], store):
            try:
                from distributed import Future

                client = client_for(exe["runner"])
                client.cancel([Future(task_key(exe), client)], force=True)
            except Exception:
                client = None
        if exe.get("host") == hostname() or not exe.get("worker"):
            stop_execution_processes(exe)
        elif client is not None:
            try:
                client.run(stop_execution_processes, exe, workers=[exe["worker"]], on_error="ignore")
            except Exception:
                pass

    def problem(self, store: Store, service: dict, wait: bool = True) -> Problem | None:
        return problem(store, service, wait)


def _known_unreachable(runner: str, store: Store) -> bool:
    cached = _INFO.get((runner, str(store.home)))
    return bool(cached and time.monotonic() - cached[0] < PROBE_TTL and cached[1]["error"])


# --- the worker side -----------------------------------------------------------------------------


def worker_facts(home: str, expected_store: str) -> dict:
    """Run on each worker: its kernels, whether it reaches the store (None = yes, else why), its host."""
    try:
        kernels = sorted(installed_kernels(max_age=0))
    except Exception:
        kernels = []
    return {"kernels": kernels, "store": probe_store(home, expected_store), "host": hostname()}


def supervise(home: str, expected_store: str, execution_id: str, attempt: int, on_done: OnDone) -> str:
    """The task: run attempt ``attempt`` of the execution in a runner process on this worker, then
    hand back (``on_done(home)``: start what waits for the freed slot)."""
    from distributed import get_worker

    reason = probe_store(home, expected_store)
    if reason:
        raise StoreError(reason)
    store = Store(home)
    try:
        status = _supervise(store, execution_id, attempt, get_worker().address)
    finally:
        store.close()
    on_done(home)
    return status


def _supervise(store: Store, execution_id: str, attempt: int, me: str) -> str:
    exe = store.get("executions", execution_id)
    if exe["status"] != IN_PROGRESS or exe["attempts"] != attempt:
        return f"skipped: {exe['status']}"
    claimed = store.update_if("executions", execution_id, {"worker": me, "host": hostname()},
                              attempts=attempt, status=IN_PROGRESS, worker=None)
    if not claimed:
        return _worker_lost(store, execution_id, attempt)
    folder = store.inside_artifacts(store.execution_dir(exe))
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "runner.log", "ab") as out:
        proc = subprocess.Popen(
            attempt_command(exe["id"], attempt), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=folder,
            env={**os.environ, "MM_HOME": str(store.home), "MM_SUPERVISOR_PID": str(os.getpid())},
        )
    return _watch(store, proc, execution_id, attempt)


def _watch(store: Store, proc: subprocess.Popen, execution_id: str, attempt: int) -> str:
    """Wait for the runner; stop it when the attempt is aborted or decided elsewhere (drain, reconcile)."""
    stopped = False
    while proc.poll() is None:
        time.sleep(0.5)
        row = store.get("executions", execution_id)
        if not stopped and (row["abort_requested"] or row["status"] != IN_PROGRESS or row["attempts"] != attempt):
            stopped = True
            stop_execution_processes({**row, "runner_pid": proc.pid, "host": hostname()})
    return store.get("executions", execution_id)["status"]


def _worker_lost(store: Store, execution_id: str, attempt: int) -> str:
    """Dask re-ran this task: the worker that had the attempt died. Apply on_reset to that attempt."""
    exe = store.get("executions", execution_id)
    if exe["status"] != IN_PROGRESS or exe["attempts"] != attempt:
        return f"skipped: {exe['status']}"
    status = on_reset(store, execution_id, f"dask worker {exe['worker']} lost", attempt=attempt)
    if exe.get("host") == hostname():
        stop_execution_processes(exe)
    return status


# --- a cluster to try it on one machine ---------------------------------------------------------


def local_cluster(n_workers: int = 2, *, threads_per_worker: int = 1, gpu_workers: int = 0,
                  gpus_per_worker: int = 1, host: str = "127.0.0.1", port: int = 0) -> Any:
    """A ``distributed.LocalCluster`` of worker processes; the last ``gpu_workers`` of them declare
    ``{"GPU": gpus_per_worker}`` (resources are labels: this works on a CPU-only machine too)."""
    from distributed import LocalCluster

    if n_workers < 1 or threads_per_worker < 1 or not 0 <= gpu_workers <= n_workers:
        raise InvalidInput("workers and threads per worker must be >= 1, GPU workers between 0 and workers")
    if not 0 <= port <= 65535:
        raise InvalidInput(f"the scheduler port must be 0 to 65535, got {port}")
    cluster = LocalCluster(n_workers=n_workers - gpu_workers, threads_per_worker=threads_per_worker,
                           processes=True, dashboard_address=None, host=host, scheduler_port=port)
    if gpu_workers:
        spec = next(iter(cluster.new_worker_spec().values()))
        options = {**spec["options"], "resources": {"GPU": gpus_per_worker}}
        for i in range(gpu_workers):
            cluster.worker_spec[f"gpu-{i}"] = {**spec, "options": options}
        cluster.sync(cluster._correct_state)
    return cluster


def runner_address(cluster: Any) -> str:
    """The ``dask://host:port`` a service's runner setting takes for ``cluster``."""
    return "dask://" + cluster.scheduler_address.removeprefix("tcp://")
