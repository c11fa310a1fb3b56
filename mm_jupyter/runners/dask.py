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
processes on one host. The cost: every worker that runs attempts must see the same ``MM_HOME``
path on a local disk of one host (a ``LocalCluster``, or workers on the store's machine).

**Only workers that proved they open the live store get attempts.** Before each look at the
cluster (``cluster_info``, at most every ``PROBE_TTL`` s) the submitter writes a fresh random
value into the store (``meta[PROBE_KEY]``, the last few kept) and asks every worker to read that
very value back from the file at the same path: a worker without the store, with a *copy* of it
(same ``store_id``, old values), or with ``MM_HOME`` on a network filesystem (nfs, cifs, sshfs, 9p,
…: SQLite's locking is not safe there) is left out, with its reason. ``start`` submits with
``workers=[those that proved it]`` and ``allow_other_workers=False`` (and ``resources={"GPU": n}``
for GPU services); a service none of whose fitting workers proved it is unhealthy
(``store-unreachable``, naming each worker left out and why) and its executions stay pending.

Failure handling: an attempt the task cannot start on its worker (the store cannot be opened there,
the runner process cannot be spawned, …) is reported as a Dask worker event (topic
``START_FAILURE_TOPIC``) and, when the worker can write the store, written there too (``failed``,
outcome ``start-failure``). ``DaskRunner.start_failures`` reads those events back from the scheduler
for ``scheduler.reconcile``, so the run ends ``failed`` with the real reason at the next reconcile
instead of after ``DASK_START_TIMEOUT``. Abort cancels the task and kills the runner and kernel
process groups on the worker (``Client.run`` there, and the task itself polls
``abort_requested``). A lost worker is seen two ways, whichever comes first, both applying the
service's on_reset to that attempt only: the runner notices its worker (parent) process died and
ends its kernel; Dask re-runs the task on another (proven) worker, which finds the attempt already
marked with the lost worker's address.
"""

from __future__ import annotations

import atexit
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import InvalidInput, NotFound, StoreError, Unavailable, one_line
from ..executions import IN_PROGRESS, EventType, Outcome, fail, on_reset
from ..kernels import installed_kernels
from ..processes import attempt_command, hostname, stop_execution_processes
from ..store import Store, probe_store
from .base import OnDone, Problem, Runner, StartFailure

PROBE_TTL = 5.0
PROBE_KEY = "dask_probe_nonces"  # meta key: the last PROBE_KEEP probe values, space-separated
PROBE_KEEP = 16
START_FAILURE_TOPIC = "mm-jupyter-start-failure"
# SQLite's locking (and WAL's shared memory) is not safe on these: the store must be on a local disk
NETWORK_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "9p", "afs", "coda", "ceph", "glusterfs", "lustre",
    "gpfs", "beegfs", "orangefs", "pvfs2", "davfs", "fuse.sshfs", "fuse.glusterfs", "fuse.ceph", "fuse.cephfs",
    "fuse.s3fs", "fuse.gcsfuse", "fuse.rclone", "fuse.davfs2", "fuse.juicefs", "fuse.mfs", "fuse.lizardfs",
    "fuse.moosefs", "fuse.goofys", "fuse.blobfuse", "fuse.blobfuse2", "fuse.seaweedfs", "fuse.beegfs",
})
_CLIENTS: dict[str, Any] = {}
_INFO: dict[tuple[str, str], tuple[float, dict]] = {}
_PROBING: set[tuple[str, str]] = set()
_HANDLED: set[tuple[str, str, int]] = set()  # (store id, execution id, attempt) start failures already returned
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


def cluster_info(runner: str, store: Store, refresh: bool = False, tracking_url: str | None = None) -> dict:
    """What the scheduler and its workers look like (cached ``PROBE_TTL`` s per address, store and
    tracking URL): ``{"error": str | None, "workers": {address: {"resources", "kernels", "store",
    "host"}}}``; a worker's ``store`` is None when it proved it opens this very store (with a
    ``tracking_url``: when it reached that URL's runner API), else why it cannot."""
    cached = _INFO.get((runner, str(store.home), tracking_url or ""))
    if cached and not refresh and time.monotonic() - cached[0] < PROBE_TTL:
        return cached[1]
    return _probe(runner, str(store.home), store.store_id, tracking_url)


def last_cluster_info(runner: str, store: Store, tracking_url: str | None = None) -> dict | None:
    """``cluster_info`` without waiting: what was last seen (None before the first answer); a stale or
    missing answer is refreshed in a background thread (with its own store connection)."""
    key = (runner, str(store.home), tracking_url or "")
    cached = _INFO.get(key)
    if cached is None or time.monotonic() - cached[0] >= PROBE_TTL:
        with _LOCK:
            start = key not in _PROBING
            _PROBING.add(key)
        if start:
            threading.Thread(target=_probe, args=(runner, key[1], store.store_id, tracking_url), daemon=True,
                             name=f"mm-probe-{runner}").start()
    return cached[1] if cached else None


def write_probe_value(home: str) -> str:
    """Write a fresh random value into the store at ``home`` (kept with the last few others, so
    that concurrent probes do not void each other) and return it: a worker that reads it back
    from its ``home`` opens this very file, not a copy."""
    nonce = uuid.uuid4().hex
    if not (Path(home) / "mm.db").is_file():  # deleted meanwhile: never create an empty one from here
        raise StoreError(f"there is no store at {Path(home) / 'mm.db'} any more")
    store = Store(home)
    try:
        with store.tx():
            kept = (store.meta(PROBE_KEY) or "").split()[-(PROBE_KEEP - 1):]
            store.set_meta(PROBE_KEY, " ".join([*kept, nonce]))
    finally:
        store.close()
    return nonce


def _probe(runner: str, home: str, expected_store: str, tracking_url: str | None = None) -> dict:
    try:
        client = client_for(runner)
        workers = client.scheduler_info(n_workers=-1)["workers"]
        facts: dict = {}
        if workers and tracking_url:  # workers that share nothing: they must reach the runner API
            facts = client.run(remote_worker_facts, tracking_url, on_error="return")
        elif workers:
            try:
                nonce: str | None = write_probe_value(home)
            except Exception as exc:  # our own store refused the write: no worker can prove anything
                nonce, facts = None, {addr: {"kernels": [], "host": None, "store": "cannot write the probe value "
                                             f"into this store: {one_line(exc)}"} for addr in workers}
            if nonce:
                facts = client.run(worker_facts, home, expected_store, nonce, on_error="return")
        info = {"error": None, "workers": {
            addr: {"resources": dict(w.get("resources") or {}), **_facts(facts.get(addr))}
            for addr, w in workers.items()}}
    except Exception as exc:  # refused, timed out, closed: all mean "cannot start executions there"
        info = {"error": f"{type(exc).__name__}: {exc}".strip(), "workers": {}}
        with _LOCK:
            _CLIENTS.pop(runner, None)
    key = (runner, home, tracking_url or "")
    with _LOCK:
        _INFO[key] = (time.monotonic(), info)
        _PROBING.discard(key)
    return info


def _facts(answer: Any) -> dict:
    """A worker's answer to ``worker_facts``, or what to assume when it failed (restarting, say)."""
    if isinstance(answer, dict):
        return answer
    if isinstance(answer, BaseException) and "No module named 'mm_jupyter" in str(answer):  # as the worker said it
        return {"kernels": None, "host": None, "store": "mm-jupyter is not installed on the worker "
                f"({one_line(answer)}): pip install mm-jupyter there"}
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


def placement(info: dict, svc: dict) -> tuple[list[str], Problem | None]:
    """The workers of ``info`` that may run ``svc``'s attempts (enough GPUs declared, the kernel
    installed, the live store proved), or why there is none."""
    runner, gpus, kernel = svc["runner"], int(svc.get("gpus") or 0), svc["kernel_name"]
    if info["error"]:
        return [], Problem("runner-unreachable", f"runner {runner} is unreachable: {info['error']}")
    workers = info["workers"]
    if not workers:
        return [], Problem("no-workers", f"runner {runner} has no workers")
    fit = {a: w for a, w in workers.items() if not gpus or w["resources"].get("GPU", 0) >= gpus}
    if not fit:
        return [], Problem("no-gpu-worker", f"no worker of {runner} declares GPU={gpus} "
                           f"(resources={{'GPU': {gpus}}})")
    # a worker that cannot tell its kernels (no mm-jupyter there) stays, to be left out with that reason
    fit = {a: w for a, w in fit.items() if w["kernels"] is None or kernel in w["kernels"]}
    if not fit:
        return [], Problem("kernel-missing", f"kernel {kernel!r} is not installed on any worker of {runner} "
                           "that fits the service")
    proved = sorted(a for a, w in fit.items() if w["store"] is None)
    if not proved:
        left_out = "; ".join(f"{a}: {w['store']}" for a, w in sorted(fit.items()))
        if svc.get("tracking_url"):
            return [], Problem("tracking-unreachable", f"no worker of {runner} can report to the tracking URL "
                               f"{svc['tracking_url']}, so none gets executions ({len(fit)} left out: {left_out})")
        return [], Problem("store-unreachable", f"no worker of {runner} proved it opens this store, so none gets "
                           f"executions ({len(fit)} left out: {left_out})")
    return proved, None


def problem(store: Store, svc: dict, wait: bool = True) -> Problem | None:
    """Why ``svc``'s executions cannot start on its scheduler now, or None when they can (at least
    one fitting worker proved it opens this store; or, with ``wait=False``, nothing is known yet)."""
    url = svc.get("tracking_url")
    info = cluster_info(svc["runner"], store, tracking_url=url) if wait else \
        last_cluster_info(svc["runner"], store, url)
    if info is None:
        return None
    return placement(info, svc)[1]


def start_failures(runner: str, store: Store) -> list[StartFailure]:
    """The attempts of ``store`` whose task reported (as a worker event) that it could not start
    them, not returned before by this process and still in progress on that attempt."""
    if _known_unreachable(runner, store):
        return []
    try:
        events = client_for(runner).get_events(START_FAILURE_TOPIC)
    except Exception:  # unreachable: nothing to learn now (the lost-run timeout still applies)
        return []
    store_id, found = store.store_id, []
    for _, msg in events:
        try:
            key = (str(msg["store_id"]), str(msg["execution_id"]), int(msg["attempt"]))
            reason = str(msg["reason"])
        except (TypeError, KeyError, ValueError):
            continue
        if key[0] != store_id or key in _HANDLED:
            continue
        _HANDLED.add(key)
        try:
            exe = store.get("executions", key[1], by_name=False)
        except NotFound:
            continue
        if exe["id"] == key[1] and exe["status"] == IN_PROGRESS and exe["attempts"] == key[2]:
            found.append(StartFailure(key[1], key[2], reason))
    return found


class DaskRunner(Runner):
    """Runs each attempt as a task on the Dask scheduler of a ``dask://host:port`` address."""

    scheme = "dask"

    @classmethod
    def check_address(cls, address: object) -> str:
        return check_address(address)

    def start(self, store: Store, exe: dict, service: dict, on_done: OnDone) -> None:
        """Submit a claimed attempt as a task, only to the workers that proved they open this store
        (and declare the GPUs: ``resources={"GPU": n}``)."""
        gpus = int(service.get("gpus") or 0)
        url = exe.get("tracking_url")
        svc = {**service, "runner": exe["runner"], "tracking_url": url}
        try:
            from distributed import fire_and_forget

            cached = _INFO.get((exe["runner"], str(store.home), url or ""))  # what dispatch's health check saw
            proved, why = placement(cached[1], svc) if cached else ([], None)
            if not proved:
                proved, why = placement(cluster_info(exe["runner"], store, refresh=True, tracking_url=url), svc)
            if why:
                fail(store, exe["id"], f"cannot start runner: {why.reason}", Outcome.START_FAILURE,
                     attempt=exe["attempts"])
                return
            client = client_for(exe["runner"])
            if url:  # a worker that shares nothing: it gets the URL and the attempt's token, nothing else
                task, args = supervise_remote, (url, store.store_id, exe["id"], exe["attempts"], exe["token"])
            else:
                task, args = supervise, (str(store.home), store.store_id, exe["id"], exe["attempts"], on_done)
            future = client.submit(task, *args, key=task_key(exe), pure=False, retries=0, workers=proved,
                                   allow_other_workers=False, resources={"GPU": gpus} if gpus else None)
            fire_and_forget(future)  # the task outlives this (possibly short-lived) process
        except Exception as exc:
            reason = f"cannot start runner: dask scheduler {exe['runner']} unreachable: {type(exc).__name__}: {exc}"
            fail(store, exe["id"], reason, Outcome.START_FAILURE, attempt=exe["attempts"])
            return
        store.add_event(exe["id"], f"submitted to {exe['runner']} as task {task_key(exe)}"
                        + (f" with resources GPU={gpus}" if gpus else "")
                        + (f", reporting to {url}, for the {len(proved)} worker(s) that reached it: "
                           if url else f", for the {len(proved)} worker(s) that proved they open this store: ")
                        + ", ".join(proved), type=EventType.SUBMITTED)

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

    def start_failures(self, store: Store) -> list[StartFailure]:
        return start_failures(self.address, store)


def _known_unreachable(runner: str, store: Store) -> bool:
    fresh = [info for (address, home, _), (seen, info) in list(_INFO.items())
             if address == runner and home == str(store.home) and time.monotonic() - seen < PROBE_TTL]
    return bool(fresh and fresh[-1]["error"])


# --- the worker side -----------------------------------------------------------------------------


def _unescape_mount(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def filesystem_type(path: str | os.PathLike, mounts: str | None = None) -> str | None:
    """The type of the filesystem ``path`` is on, from ``/proc/self/mounts`` (or ``mounts``, that
    file's text); None where that cannot be told (not Linux)."""
    if mounts is None:
        try:
            mounts = Path("/proc/self/mounts").read_text()
        except OSError:
            return None
    target = os.path.realpath(path)
    best: tuple[int, str] | None = None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = _unescape_mount(fields[1])
        inside = point == "/" or target == point or target.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) >= best[0]):  # the last of equal mount points wins
            best = (len(point), fields[2])
    return best[1] if best else None


def store_problem(home: str, expected_store: str, nonce: str | None = None, mounts: str | None = None) -> str | None:
    """Why this worker cannot use the store at ``home`` (a network filesystem, no store, another
    store, a copy that lacks ``nonce``), or None."""
    fstype = filesystem_type(home, mounts)
    if fstype in NETWORK_FILESYSTEMS:
        return (f"MM_HOME {home} on {hostname()} is on a network filesystem ({fstype}): SQLite over a network "
                "filesystem is not safe; workers must see the store on a local disk of its host")
    return probe_store(home, expected_store, PROBE_KEY if nonce else None, nonce)


def worker_facts(home: str, expected_store: str, nonce: str | None = None) -> dict:
    """Run on each worker: its kernels, whether it opens the live store (None = yes: it read back
    ``nonce``; else why not), its host."""
    try:
        kernels = sorted(installed_kernels(max_age=0))
    except Exception:
        kernels = []
    return {"kernels": kernels, "store": store_problem(home, expected_store, nonce), "host": hostname()}


def report_start_failure(expected_store: str, execution_id: str, attempt: int, reason: str,
                         store: Store | None = None) -> bool:
    """Tell that this worker could not start the attempt: as a worker event (read back by
    ``start_failures`` on the submitting side) and, given the store, in it at once; returns
    whether the store took it."""
    try:
        from distributed import get_worker

        get_worker().log_event(START_FAILURE_TOPIC, {"store_id": expected_store, "execution_id": execution_id,
                                                     "attempt": int(attempt), "reason": reason, "host": hostname()})
    except Exception:
        pass
    if store is None:
        return False
    try:
        fail(store, execution_id, reason, Outcome.START_FAILURE, attempt=attempt)
    except Exception:
        return False  # the event still tells it
    return True


def supervise(home: str, expected_store: str, execution_id: str, attempt: int, on_done: OnDone) -> str:
    """The task: run attempt ``attempt`` of the execution in a runner process on this worker, then
    hand back (``on_done(home)``: start what waits for the freed slot). An attempt it cannot start
    is reported (``report_start_failure``), never left waiting."""
    from distributed import get_worker

    me = get_worker().address
    where = f"dask worker {me} ({hostname()})"
    try:
        reason = store_problem(home, expected_store)
        if reason:
            raise StoreError(reason)
        store = Store(home)
    except Exception as exc:
        reason = f"cannot start runner on {where}: {one_line(exc)}"
        report_start_failure(expected_store, execution_id, attempt, reason)
        return f"start failed: {reason}"
    try:
        try:
            proc: subprocess.Popen | str = _start(store, execution_id, attempt, me)
        except Exception as exc:
            reason = f"cannot start runner on {where}: {one_line(exc)}"
            if not report_start_failure(expected_store, execution_id, attempt, reason, store):
                return f"start failed: {reason}"  # only the event tells it: the submitter's reconcile ends it
            proc = f"start failed: {reason}"
        status = proc if isinstance(proc, str) else _watch(store, proc, execution_id, attempt)
    finally:
        store.close()
    on_done(home)
    return status


def remote_worker_facts(tracking_url: str) -> dict:
    """Run on each worker of a service with a tracking URL: its kernels, its host, and whether it
    reaches that URL's runner API (``store``: None = yes, else why not)."""
    from ..tracking_url import ping

    try:
        kernels = sorted(installed_kernels(max_age=0))
    except Exception:
        kernels = []
    try:
        ping(tracking_url, timeout=min(3.0, connect_timeout()))
        reach = None
    except Exception as exc:
        reach = f"from {hostname()}: {one_line(exc)}"
    return {"kernels": kernels, "store": reach, "host": hostname()}


def supervise_remote(tracking_url: str, expected_store: str, execution_id: str, attempt: int, token: str) -> str:
    """The task of an attempt on a worker that shares nothing with the store: the remote runner
    process (``python -m mm_jupyter.remote_attempt``) gets the tracking URL and the attempt's token in
    its environment and reports everything through the runner API (which also starts what waits once
    it ends). Returns how the runner process exited."""
    from distributed import get_worker

    from ..tracking_url import REMOTE_ATTEMPT_MODULE, remote_env, worker_cache

    me = get_worker().address
    cache = worker_cache()
    env = {**os.environ, "MM_SUPERVISOR_PID": str(os.getpid()), "MM_WORKER_ADDRESS": me,
           **remote_env(tracking_url, token, execution_id, attempt)}
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with open(cache / f"runner-{execution_id}-{attempt}.log", "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", REMOTE_ATTEMPT_MODULE], stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=cache,
                                    env=env)
    except Exception as exc:
        reason = f"cannot start runner on dask worker {me} ({hostname()}): {one_line(exc)}"
        report_start_failure(expected_store, execution_id, attempt, reason)
        return f"start failed: {reason}"
    return f"runner exited {proc.wait()}"


def _start(store: Store, execution_id: str, attempt: int, me: str) -> subprocess.Popen | str:
    """Claim the attempt for this worker and spawn its runner process; a status when it is not
    (or no longer) this task's to run."""
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
        return subprocess.Popen(
            attempt_command(exe["id"], attempt), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=folder,
            env={**os.environ, "MM_HOME": str(store.home), "MM_SUPERVISOR_PID": str(os.getpid())},
        )


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


# --- deployments ------------------------------------------------------------------------------------


def deployment_workers(runner: str, store: Store, kernel_name: str) -> list[str]:
    """The workers of ``runner`` a deployment may run on (proved the store, have the kernel), or
    ``Unavailable`` with the reason there is none (an unreachable scheduler included)."""
    proved, why = placement(cluster_info(runner, store, refresh=True),
                            {"runner": runner, "kernel_name": kernel_name, "gpus": 0})
    if why:
        raise Unavailable(why.reason)
    return proved


def submit_deployment(runner: str, store: Store, deployment_id: str, kernel_name: str) -> list[str]:
    """Run deployment ``deployment_id``'s process on a worker of ``runner`` that proved it opens this
    store and has the kernel (a long task that ends with the process); returns the workers it may run
    on, or raises ``Unavailable`` with the reason there is none."""
    from distributed import fire_and_forget

    proved = deployment_workers(runner, store, kernel_name)
    future = client_for(runner).submit(run_deployment, str(store.home), store.store_id, deployment_id,
                                       key=f"mm-deployment-{deployment_id}-{uuid.uuid4().hex[:6]}", pure=False,
                                       retries=0, workers=proved, allow_other_workers=False)
    fire_and_forget(future)
    return proved


def run_deployment(home: str, expected_store: str, deployment_id: str) -> int:
    """The task: the deployment's process on this worker, listening on the worker's host address."""
    from distributed import get_worker

    reason = store_problem(home, expected_store)
    if reason:
        return 2
    host = urlsplit(get_worker().address).hostname or "127.0.0.1"
    env = {**os.environ, "MM_HOME": home, "MM_DEPLOYMENT_HOST": host}
    folder = Path(home) / "deployments" / deployment_id
    with open(folder / "deployment.log", "ab") as out:
        return subprocess.run([sys.executable, "-m", "mm_jupyter.deployment", deployment_id], env=env, cwd=folder,
                              stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                              start_new_session=True).returncode
