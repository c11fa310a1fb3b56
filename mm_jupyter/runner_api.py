"""The runner API's core: what a remote runner (a worker sharing nothing with this machine) may read
and write about its one attempt, framework-free (``server/runner_routes.py`` serves it over HTTP, in
the Jupyter server and in ``mm serve``).

**Who asks.** Every call but ``ping`` carries an attempt token. Its hash names the attempt it was
given to (``attempt_tokens``, written when the attempt was claimed): a hash never handed out (or no
token, or an operator's) is 401; a token of another execution, or of another attempt than the path
names, is 403; an execution that does not exist is 404; an attempt that is not the execution's
running one any more (ended, retried, aborted: a zombie) is 409. The writes themselves go through a
``LocalTracker`` built with the caller's token, so its rules decide (a write is taken only while the
execution is in progress on that attempt, with that token), exactly as for a local run.

**Writes.** One writer thread commits every write: whatever is queued when it is free goes into one
transaction, each write in a savepoint of its own (a failing write fails only its caller, the others
commit), and each caller waits for its own result, given only once the group is committed. A batch's
metric points, events, progress, kernel pid and notebook are written with its ``runner_batches`` row
in that transaction: a batch id seen before writes nothing (``duplicate``). A batch's points come as packed columns
(``metric_columns``; JSON rows are taken too), each point checked. Metric timestamps are
shifted by ``server now − sent_at`` and heartbeats stamped with this machine's clock, so this
server's clock decides liveness (the normal ``scheduler.reconcile``).

**Files.** Dataset items are served by content hash (computed here, cached by path, size and
mtime, or taken from the dataset's file cache), only hashes of the attempt's own spec. Other files go
through the store's artifact root (``artifact_root.ArtifactRoot``), by key: an attempt writes under its
execution's folder and (a training, while its version has no weights) under the version's weights
folder; it reads those and the files its spec lists (weights to load, the codebase).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from math import isfinite
from pathlib import Path, PurePosixPath
from queue import Empty, SimpleQueue
from typing import Any, BinaryIO, TypeVar

from . import metric_columns
from .artifact_root import ArtifactRoot, check_key, root_url
from .errors import Conflict, InvalidInput, MMError, NotFound, StoreError, one_line
from .executions import IN_PROGRESS, EventType, Kind, Outcome, heartbeat_interval, on_reset
from .hashing import file_sha256
from .queries.items import select_items
from .registry import version_model
from .scheduler import dispatch
from .store import Connections, Store, now
from .tracker import LocalTracker, token_hash
from .tracking_url import API_NAME, API_VERSION

T = TypeVar("T")
MAX_JSON_BYTES = 8 << 20  # a batch (or any JSON body) larger than this is refused (413)
SELECTION_PARAMS = ("train_selection", "validation_selection", "test_selection")
LEVELS = ("debug", "info", "warning", "error")
WRITE_GROUP = 512  # writes committed in one transaction at most
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class Refused(MMError):
    """A request this API refuses with an HTTP status of its own (401, 403, 413, 400 …)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclasses.dataclass
class Caller:
    """An authenticated request: the execution and attempt its token was given to."""

    execution_id: str
    attempt: int
    token: str


# --- the writer thread ------------------------------------------------------------------------------


class Writer:
    """One thread committing queued writes in groups (see the module's docstring). ``call(fn)`` runs
    ``fn(store)`` on it and returns its result (or raises its error) once its group is committed."""

    def __init__(self, home: str | Path, group: int = WRITE_GROUP, opener: Callable[[], Store] | None = None):
        self.home, self.group = home, group
        self.commits = 0  # transactions committed (what a bench reads)
        self.writes = 0
        self._open = opener or (lambda: Store(self.home, create=False))
        self._queue: SimpleQueue = SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="mm-runner-writer", daemon=True)
        self._thread.start()

    def call(self, fn: Callable[[Store], T]) -> T:
        future: Future = Future()
        with self._lock:
            if self._closed:
                raise StoreError("the runner API's writer has stopped (the server is shutting down)")
            self._queue.put((fn, future))
        return future.result()

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued, then stop."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        store: Store | None = None
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is None:
                break
            group = [item]
            while len(group) < self.group:
                try:
                    more = self._queue.get_nowait()
                except Empty:
                    break
                if more is None:
                    stopping = True
                    break
                group.append(more)
            try:
                store = store or self._open()
            except MMError as exc:
                for _, future in group:
                    future.set_exception(exc)
                continue
            self._commit(store, group)
        if store is not None:
            store.close()

    def _commit(self, store: Store, group: list[tuple[Callable, Future]]) -> None:
        results: list[tuple[bool, Any]] = []
        try:
            with store.tx():
                for fn, _ in group:
                    try:
                        with store.savepoint():
                            results.append((True, fn(store)))
                    except Exception as exc:  # this write is undone alone; its caller gets the error
                        results.append((False, exc))
        except Exception as exc:  # the transaction itself failed (busy past the timeout, disk full)
            if len(group) > 1:
                for write in group:  # each alone: one write's trouble is not the others'
                    self._commit(store, [write])
                return
            error = exc if isinstance(exc, MMError) else StoreError(f"the store refused the write: {one_line(exc)}")
            group[0][1].set_exception(error)
            return
        self.commits += 1
        self.writes += len(group)
        for (_, future), (ok, value) in zip(group, results, strict=True):
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)


# --- content hashes of dataset items ------------------------------------------------------------------


class ContentHashes:
    """sha256 of files, remembered in memory by (path, size, mtime); a dataset file that the dataset's
    own cache (``dataset_files``) knows with the same stat is not read again."""

    def __init__(self, limit: int = 1_000_000):
        self._known: OrderedDict[tuple[str, int, int], str] = OrderedDict()
        self._lock = threading.Lock()
        self.limit = limit

    def of(self, path: str, st: os.stat_result, cached: dict | None = None) -> str:
        """The hash of the local file ``path`` whose stat is ``st``."""
        if cached and cached.get("sha256") and (cached.get("size"), cached.get("mtime_ns"), cached.get("ctime_ns"),
                                                 cached.get("ino")) == (st.st_size, st.st_mtime_ns, st.st_ctime_ns,
                                                                        st.st_ino):
            return self.remembered((path, st.st_size, st.st_mtime_ns), lambda: cached["sha256"])
        return self.remembered((path, st.st_size, st.st_mtime_ns), lambda: file_sha256(Path(path)))

    def of_key(self, root: ArtifactRoot, key: str, size: int) -> str:
        """The hash of the file ``key`` of an artifact root (an object store's by its key and size: weights
        and codebases are never rewritten in place)."""
        if root.is_local:
            path = root.path(key)
            return self.of(path, os.stat(path))
        return self.remembered((f"{root.url}/{key}", size, 0), lambda: _stream_sha256(root, key))

    def remembered(self, key: tuple[str, int, int], compute: Callable[[], str]) -> str:
        with self._lock:
            if key in self._known:
                self._known.move_to_end(key)
                return self._known[key]
        digest = compute()
        with self._lock:
            self._known[key] = digest
            while len(self._known) > self.limit:
                self._known.popitem(last=False)
        return digest


def _stream_sha256(root: ArtifactRoot, key: str) -> str:
    digest = hashlib.sha256()
    with root.open_read(key) as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclasses.dataclass
class Access:
    """What one attempt may touch: its spec, its blobs by hash, the files it may read, its key prefixes."""

    spec: dict
    blobs: dict[str, tuple[str, int, int]]  # sha256 -> (path, size, mtime_ns) when the spec was made
    readable: dict[str, str | None]  # key -> a local file outside the root serving it, or None (the root)
    execution_key: str
    weights_key: str | None


# --- the API --------------------------------------------------------------------------------------


class RunnerAPI:
    """The runner API over the store at ``home`` (one method per route; errors are ``MMError``s:
    ``Refused`` carries its status, the others map as everywhere: 400 / 404 / 409 / 503).
    ``refused_tokens``: tokens that are never an attempt's (``mm serve``'s operator token)."""

    def __init__(self, home: str | Path, *, workers: int = 8, refused_tokens: tuple[str, ...] = ()):
        self.home = Path(home)
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mm-runner-api")
        self.connections = Connections(self.home, create=False)
        self._lock = threading.Lock()
        self.writer = Writer(self.home, opener=self.connections.open)
        self.hashes = ContentHashes()
        self._refused = {token_hash(t) for t in refused_tokens if t}
        self._access: OrderedDict[tuple[str, int], Access] = OrderedDict()
        self._roots: dict[str, ArtifactRoot] = {}
        self._dispatcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mm-runner-dispatch")
        self._dispatch_waiting = threading.Event()

    # -- plumbing --

    def store(self) -> Store:
        """This thread's connection (reads; writes go through ``writer``)."""
        return self.connections.store()

    def root(self, store: Store | None = None) -> ArtifactRoot:
        """The store's artifact root now."""
        store = store or self.store()
        url = root_url(store.home, store.meta("artifact_root"))
        with self._lock:
            if url not in self._roots:
                self._roots[url] = ArtifactRoot(url)
            return self._roots[url]

    def close(self) -> None:
        self.writer.close()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self._dispatcher.shutdown(wait=False, cancel_futures=True)
        self.connections.close()

    def dispatch_soon(self) -> None:
        """Start what waits for a free slot (``scheduler.dispatch``), off the caller's thread; several
        requests while one runs make one more round."""
        if self._dispatch_waiting.is_set():
            return
        self._dispatch_waiting.set()
        self._dispatcher.submit(self._dispatch)

    def _dispatch(self) -> None:
        self._dispatch_waiting.clear()
        try:
            dispatch(self.store())
        except Exception as exc:  # the reconcile timer tries again; say it once
            print(f"mm-jupyter runner API: dispatch failed: {one_line(exc)}", flush=True)

    # -- authentication --

    def authenticate(self, authorization: str | None, execution_id: str, attempt: str | int) -> Caller:
        """The caller of a route about ``execution_id``/``attempt`` (see the module's docstring)."""
        scheme, _, token = (authorization or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Refused(401, "no attempt token: send the header 'Authorization: Bearer <attempt token>'")
        digest = token_hash(token)
        if digest in self._refused:
            raise Refused(401, "the operator token is not an attempt token: runner routes take only an attempt's")
        store = self.store()
        row = store.attempt_for_token(digest)
        if row is None:
            raise Refused(401, "unknown attempt token (not one this store handed out)")
        try:
            number = int(attempt)
        except (TypeError, ValueError):
            raise InvalidInput(f"attempt must be a number, got {str(attempt)[:40]!r}") from None
        if store.first("executions", id=execution_id) is None:
            raise NotFound(f"unknown execution {execution_id[:80]!r}")
        if row["execution_id"] != execution_id:
            raise Refused(403, f"this token belongs to another execution, not {execution_id}")
        if row["attempt"] != number:
            raise Refused(403, f"this token is attempt {row['attempt']}'s of {execution_id}, not attempt {number}'s")
        return Caller(execution_id, number, token)

    def _tracker(self, store: Store, caller: Caller) -> LocalTracker:
        return LocalTracker(store, caller.execution_id, caller.attempt, caller.token)

    def _current(self, caller: Caller) -> dict:
        """The execution's row; 409 (``AttemptEnded``) unless the caller's attempt is its running one."""
        tracker = self._tracker(self.store(), caller)
        if not tracker.is_current():
            self.forget(caller)
            raise tracker.refused()
        return self.store().get("executions", caller.execution_id)

    def _not_a_zombie(self, exe: dict, caller: Caller) -> None:
        """409 when a newer attempt of the execution exists (or its token is not this one)."""
        if exe["attempts"] != caller.attempt or exe["token_hash"] != token_hash(caller.token):
            raise self._tracker(self.store(), caller).refused()

    # -- reads --

    def ping(self) -> dict:
        return {"api": API_NAME, "version": API_VERSION, "server_time": now()}

    def state(self, caller: Caller) -> dict:
        exe = self.store().get("executions", caller.execution_id)
        return {"status": exe["status"], "attempts": exe["attempts"], "abort_requested": bool(exe["abort_requested"])}

    def spec(self, caller: Caller) -> dict:
        """Everything the remote runner needs to run the attempt (the wire protocol's ``spec``)."""
        self._current(caller)
        return {**self.access(caller, fresh=True).spec, "server_time": now()}

    def access(self, caller: Caller, *, fresh: bool = False) -> Access:
        """What the caller's attempt may touch (its spec made once, remembered)."""
        key = (caller.execution_id, caller.attempt)
        with self._lock:
            known = self._access.get(key)
            if known is not None and not fresh:
                self._access.move_to_end(key)
                return known
        made = self._make_access(self.store(), caller)
        with self._lock:
            self._access[key] = made
            while len(self._access) > 256:
                self._access.popitem(last=False)
        return made

    def forget(self, caller: Caller) -> None:
        with self._lock:
            self._access.pop((caller.execution_id, caller.attempt), None)

    def _make_access(self, store: Store, caller: Caller) -> Access:
        exe = store.get("executions", caller.execution_id)
        snap = store.get("snapshots", exe["snapshot_id"])
        model = version_model(snap, store.get("models", exe["model_id"]))
        svc = store.first("services", name=exe["service"]) or {}
        root = self.root(store)
        params = dict(exe["params"] or {})
        params.pop("mm_home", None)
        params.update(execution_id=exe["id"], attempt=caller.attempt)
        items: dict[str, list[dict]] = {}
        blobs: dict[str, tuple[str, int, int]] = {}
        if params.get("dataset_id"):
            dataset = store.get("datasets", params["dataset_id"])
            cached = {r["path"]: r for r in store.find("dataset_files", dataset_id=dataset["id"])}
            for name in SELECTION_PARAMS:
                if name in params:
                    items[name] = [self._item(item, dataset, cached, blobs)
                                   for item in select_items(store, dataset["id"], params[name] or {})]
        readable: dict[str, str | None] = {}
        weights_uri, weights_hash = self._weights_to_load(store, exe, snap, params)
        weights = {"key": None, "hash": weights_hash, "files": []}
        if weights_uri:
            weights["key"], weights["files"] = self._files_of(store, root, weights_uri, readable)
        codebase = None
        if params.get("codebase"):
            key, files = self._files_of(store, root, params["codebase"], readable)
            codebase = {"key": key, "hash": params.get("codebase_hash"), "files": files}
        snap_key = f"models/{exe['model_id']}/snapshots/{exe['snapshot_id']}"
        execution_key = f"{snap_key}/executions/{exe['id']}"
        weights_key = f"{snap_key}/weights" if exe["kind"] == Kind.TRAIN else None
        spec = {"execution": exe, "snapshot": snap, "model": model,
                "service": {"kernel_name": svc.get("kernel_name"), "execution_timeout": svc.get("execution_timeout"),
                            "heartbeat_interval": heartbeat_interval(), "secrets": svc.get("secrets") or []},
                "params": params, "items": items, "weights": weights, "codebase": codebase,
                "artifact_root": root.url, "execution_key": execution_key}
        if weights_key:
            spec["weights_key"] = weights_key
        return Access(spec, blobs, readable, execution_key, weights_key)

    def _item(self, item: Any, dataset: dict, cached: dict, blobs: dict) -> dict:
        root = Path(dataset["root"])
        rel = Path(item.path).relative_to(root).as_posix() if Path(item.path).is_relative_to(root) else item.path
        try:
            st = os.stat(item.path)
        except OSError:
            raise InvalidInput(f"item {item.id} of dataset {dataset['name']}: its file {rel} is not on disk") from None
        digest = self.hashes.of(item.path, st, cached.get(rel))
        blobs[digest] = (item.path, st.st_size, st.st_mtime_ns)
        return {**dataclasses.asdict(item), "path": rel, "sha256": digest, "size": st.st_size}

    @staticmethod
    def _weights_to_load(store: Store, exe: dict, snap: dict, params: dict) -> tuple[str | None, str | None]:
        """The weights the run loads: an evaluation's version's, a fine-tuning's parent's, else none."""
        if exe["kind"] == Kind.EVALUATE:
            return params.get("weights") or snap.get("weights_uri"), params.get("weights_hash") or snap.get("weights_hash")
        if params.get("parent_weights"):
            parent = store.first("snapshots", id=snap["parent_id"]) if snap.get("parent_id") else None
            return params["parent_weights"], (parent or {}).get("weights_hash")
        return None, None

    def _files_of(self, store: Store, root: ArtifactRoot, uri: str, readable: dict) -> tuple[str | None, list[dict]]:
        """The key and files (``key``, ``size``, ``sha256``) of a stored folder: under the artifact root,
        or a folder of the store's own artifacts on this machine (weights or a codebase kept before the
        root moved), served from there."""
        key = root.key_of(uri)
        listed = root.list(key) if key is not None else []
        if listed:
            for name, _ in listed:
                readable[name] = None
            return key, [{"key": name, "size": size, "sha256": self.hashes.of_key(root, name, size)}
                         for name, size in listed]
        try:
            folder = store.inside_artifacts(uri)
        except NotFound:
            return key, []
        base = store.artifacts.resolve()
        files = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = path.relative_to(base).as_posix()
            readable[name] = str(path)
            st = path.stat()
            files.append({"key": name, "size": st.st_size, "sha256": self.hashes.of(str(path), st)})
        return folder.relative_to(base).as_posix(), files

    def blob(self, caller: Caller, sha256: str) -> tuple[str, int]:
        """``(path, size)`` of the dataset item with this content hash in the attempt's spec."""
        if not _SHA256.match(sha256 or ""):
            raise InvalidInput(f"blob name must be a sha256 (64 lowercase hex digits), got {str(sha256)[:80]!r}")
        self._current(caller)
        found = self.access(caller).blobs.get(sha256)
        if found is None:
            raise Refused(403, f"blob {sha256[:12]}… is not an item of this attempt's spec")
        path, size, mtime_ns = found
        try:
            st = os.stat(path)
        except OSError:
            raise NotFound(f"blob {sha256[:12]}…: the item's file is not on disk any more") from None
        if (st.st_size, st.st_mtime_ns) != (size, mtime_ns) and self.hashes.of(path, st) != sha256:
            raise NotFound(f"blob {sha256[:12]}…: the item's file changed since the spec was made")
        return path, st.st_size

    # -- writes --

    def started(self, caller: Caller, body: Any) -> dict:
        """The remote runner took the attempt (its pid, host and Dask worker). An attempt another worker
        had already started was re-run by Dask because that worker died: the service's on_reset is
        applied to it and this runner is told no. A training's weights folder is emptied of what an
        earlier attempt left half-uploaded (only the running attempt may write there)."""
        fields = _fields(body, {"runner_pid": (int, type(None)), "host": (str, type(None)),
                                "worker": (str, type(None))})
        worker = fields.get("worker")

        def write(store: Store) -> bool:
            exe = store.get("executions", caller.execution_id)
            if worker and exe.get("worker") and exe["worker"] != worker and exe["attempts"] == caller.attempt \
                    and exe["status"] == IN_PROGRESS:
                on_reset(store, exe["id"], f"dask worker {exe['worker']} lost", attempt=caller.attempt)
                return False
            ok = self._tracker(store, caller).started(runner_pid=fields.get("runner_pid"), host=fields.get("host"))
            if ok and worker:
                store.update_if("executions", exe["id"], {"worker": worker}, status=IN_PROGRESS,
                                attempts=caller.attempt)
            return ok

        ok = self.writer.call(write)
        access = self.access(caller) if ok else None
        if access is not None and access.weights_key and not self.store().get(
                "snapshots", access.spec["snapshot"]["id"])["weights_uri"]:
            root = self.root()
            for key, _size in root.list(access.weights_key):
                root.remove(key)
        return {"ok": ok}

    def heartbeat(self, caller: Caller, body: Any) -> dict:
        _fields(body or {}, {})

        def write(store: Store) -> tuple[bool, dict]:
            return self._tracker(store, caller).heartbeat(), store.get("executions", caller.execution_id)

        alive, exe = self.writer.call(write)
        if not alive:
            self._not_a_zombie(exe, caller)
        return {"alive": alive, "abort": bool(exe["abort_requested"]), "status": exe["status"], "server_time": now()}

    def batch(self, caller: Caller, body: Any, received_at: float | None = None) -> dict:
        """A batch of the attempt's reports, written whole or not at all (see the module's docstring)."""
        server_now = received_at or now()
        fields = _fields(body, {"batch_id": str, "sent_at": (int, float), "metrics": (list, type(None)),
                                "columns": (dict, type(None)), "n_points": (int, type(None)),
                                "events": (list, type(None)), "progress": (int, float, type(None)),
                                "kernel_pid": (int, type(None)), "notebook": (str, type(None))},
                         required=("batch_id", "sent_at"))
        batch_id = fields["batch_id"]
        if not re.fullmatch(r"[0-9A-Za-z_-]{1,64}", batch_id):
            raise InvalidInput(f"batch_id must be 1-64 letters, digits, '-' or '_', got {batch_id[:80]!r}")
        shift = server_now - float(fields["sent_at"])
        points = _points(fields.get("metrics") or [], shift, server_now)
        if fields.get("columns") is not None:
            points += metric_columns.decode(fields["columns"], shift)
        events = [_event(e, i) for i, e in enumerate(fields.get("events") or [])]
        notebook_uri = None
        if fields.get("notebook"):
            name = PurePosixPath(fields["notebook"].replace("\\", "/")).name
            if not name or name in (".", ".."):
                raise InvalidInput(f"notebook must name the executed notebook's file, got {fields['notebook'][:80]!r}")
            notebook_uri = self.root().uri(f"{self._execution_key(caller)}/{name}")

        def write(store: Store) -> dict:
            tracker = self._tracker(store, caller)
            if not store.record_batch(caller.execution_id, caller.attempt, batch_id):
                return {"ok": True, "duplicate": True}
            if not tracker.is_current():
                raise tracker.refused()
            if points:
                store.insert_metric_points(caller.execution_id, tracker._snapshot_id(), caller.attempt, points)
            for message, level, kind in events:
                store.add_event(caller.execution_id, message, level, kind)
            if fields.get("progress") is not None:
                tracker.progress(fields["progress"])
            if fields.get("kernel_pid") is not None:
                tracker.kernel_started(fields["kernel_pid"])
            if notebook_uri:
                tracker.notebook(notebook_uri)
            return {"ok": True, "duplicate": False}

        return self.writer.call(write)

    def _execution_key(self, caller: Caller) -> str:
        exe = self.store().get("executions", caller.execution_id)
        return f"models/{exe['model_id']}/snapshots/{exe['snapshot_id']}/executions/{exe['id']}"

    def outcome(self, caller: Caller, body: Any) -> dict:
        fields = _fields(body, {"outcome": str, "error": (str, type(None)), "retry": (bool, type(None))},
                         required=("outcome",))
        try:
            outcome = Outcome(fields["outcome"])
        except ValueError:
            raise InvalidInput(f"unknown outcome {fields['outcome'][:40]!r} (one of: {', '.join(Outcome)})") from None
        retry = fields.get("retry") is not False

        def write(store: Store) -> tuple[str, dict]:
            status = self._tracker(store, caller).outcome(outcome, fields.get("error"), retry=retry)
            return str(status), store.get("executions", caller.execution_id)

        status, exe = self.writer.call(write)
        self._not_a_zombie(exe, caller)
        self.forget(caller)
        self.dispatch_soon()
        return {"status": status}

    def version(self, caller: Caller, body: Any) -> dict:
        """The trained version's weights, uploaded under the attempt's ``weights_key``: checked to hash
        to ``weights_hash`` (read back through the artifact root), then recorded, once."""
        fields = _fields(body, {"weights_key": str, "weights_hash": str, "status": str},
                         required=("weights_key", "weights_hash"))
        if fields.get("status", "trained") != "trained":
            raise InvalidInput(f"a version's status can only become 'trained' here, got {fields['status'][:40]!r}")
        exe = self._current(caller)
        access = self.access(caller)
        key = check_key(fields["weights_key"])
        if access.weights_key is None or key != access.weights_key:
            mine = access.weights_key or "none: not a training"
            raise Refused(403, f"weights key {key[:120]!r} is not this attempt's ({mine})")
        snap = self.store().get("snapshots", exe["snapshot_id"])
        if snap["weights_uri"]:
            raise _has_weights(snap)
        root = self.root()
        if not root.list(key):
            raise InvalidInput(f"no weights uploaded under {key}")
        digest = root.tree_hash(key)
        if digest != fields["weights_hash"]:
            raise InvalidInput(f"the weights under {key} hash to {digest[:12]}…, not {fields['weights_hash'][:12]}… "
                               "(an upload is incomplete or changed): not recorded")
        uri = root.uri(key)

        def write(store: Store) -> None:
            self._tracker(store, caller).update_version(status="trained", weights_uri=uri, weights_hash=digest)

        self.writer.call(write)
        return {"ok": True, "weights_uri": uri, "weights_hash": digest}

    # -- files --

    def _may_write(self, caller: Caller, key: str) -> str:
        key = _file_key(key)
        self._current(caller)
        access = self.access(caller)
        if _under(key, access.execution_key):
            return key
        if access.weights_key and _under(key, access.weights_key):
            exe = self.store().get("executions", caller.execution_id)
            snap = self.store().get("snapshots", exe["snapshot_id"])
            if snap["weights_uri"]:
                raise Refused(403, f"version {snap['id']} already has weights: nothing more is written under "
                                   f"{access.weights_key}")
            return key
        raise Refused(403, f"key {key[:160]!r} is outside what this attempt may write ({access.execution_key}/…"
                           + (f", {access.weights_key}/…)" if access.weights_key else ")"))

    def _may_read(self, caller: Caller, key: str) -> tuple[str, str | None]:
        """The key and, for a file of the store's own artifacts kept outside the root, its local path."""
        key = _file_key(key)
        self._current(caller)
        access = self.access(caller)
        if key in access.readable:
            return key, access.readable[key]
        if _under(key, access.execution_key) or (access.weights_key and _under(key, access.weights_key)):
            return key, None
        raise Refused(403, f"key {key[:160]!r} is outside what this attempt may read")

    def upload(self, caller: Caller, key: str, content_range: str | None) -> Upload:
        """An upload of ``key`` (whole, or one chunk of a resumable upload: ``Content-Range``)."""
        key = self._may_write(caller, key)
        start, end, total = 0, None, None
        if content_range:
            match = _RANGE.match(content_range.strip())
            if not match:
                raise InvalidInput(f"Content-Range must be 'bytes START-END/TOTAL', got {content_range[:80]!r}")
            start, end, total = (int(g) for g in match.groups())
            if end < start or end >= total:
                raise InvalidInput(f"Content-Range {content_range[:80]!r} is not a range inside the file")
        return Upload(self.root(), key, start, end, total)

    def upload_size(self, caller: Caller, key: str) -> int | None:
        """``HEAD``: how many bytes an unfinished upload of ``key`` holds, else the finished file's
        size, else None."""
        key, local = self._may_read(caller, key)
        if local is not None:
            return os.stat(local).st_size
        root = self.root()
        return root.partial_size(key) or root.size(key)

    def download(self, caller: Caller, key: str, offset: int = 0) -> tuple[BinaryIO, int]:
        """The file ``key`` open from ``offset``, and its size."""
        key, local = self._may_read(caller, key)
        if local is not None:
            size = os.stat(local).st_size
            fh: BinaryIO = open(local, "rb")  # noqa: SIM115 - the caller closes it
        else:
            root = self.root()
            size = root.size(key)
            if size is None:
                raise NotFound(f"no file at {key[:160]!r}")
            fh = root.open_read(key)
        if offset > size:
            fh.close()
            raise InvalidInput(f"Range starts at byte {offset}, past the end of {key[:160]!r} ({size} bytes)")
        if offset:
            fh.seek(offset)
        return fh, size


class Upload:
    """One PUT: chunks written into the artifact root's writer; ``finish`` checks the length and, on
    the last chunk, makes the file final (checking ``X-Content-Sha256``)."""

    def __init__(self, root: ArtifactRoot, key: str, start: int, end: int | None, total: int | None):
        self.root, self.key, self.start, self.end, self.total = root, key, start, end, total
        self.received = 0
        self.fh = root.writer(key, start)

    def write(self, chunk: bytes) -> None:
        if self.end is not None and self.start + self.received + len(chunk) > self.end + 1:
            raise InvalidInput(f"body is longer than its Content-Range ({self.end - self.start + 1} bytes)")
        self.fh.write(chunk)
        self.received += len(chunk)

    def abort(self) -> None:
        try:
            self.fh.close()
        except Exception:  # a broken connection: what was written stays for a resume
            pass

    def finish(self, sha256: str | None) -> dict:
        self.fh.close()
        if self.end is not None and self.start + self.received != self.end + 1:
            raise InvalidInput(f"body has {self.received} bytes, its Content-Range {self.end - self.start + 1}")
        last = self.end is None or self.end + 1 == self.total
        if not last:
            return {"size": self.start + self.received, "complete": False}
        self.root.finish(self.key)
        if sha256:
            digest = _stream_sha256(self.root, self.key)
            if digest != sha256.lower():
                self.root.remove(self.key)
                raise InvalidInput(f"{self.key[:160]}: the bytes received hash to {digest[:12]}…, not "
                                   f"{sha256[:12]}… (X-Content-Sha256): the file was discarded, upload it again")
        return {"size": self.root.size(self.key), "complete": True}


# --- input checks -----------------------------------------------------------------------------------


def _fields(body: Any, kinds: dict[str, type | tuple[type, ...]], required: tuple[str, ...] = ()) -> dict:
    """A JSON object's known fields, type-checked (bool is never a number); one line naming the first
    wrong one."""
    if not isinstance(body, dict):
        raise InvalidInput(f"request body must be a JSON object, got {type(body).__name__}")
    unknown = sorted(set(body) - set(kinds))
    if unknown:
        raise InvalidInput(f"request body: unknown field(s) {', '.join(map(repr, unknown[:5]))}")
    for name in required:
        if body.get(name) is None:
            raise InvalidInput(f"request body: field {name!r} is required")
    for name, value in body.items():
        allowed = kinds[name] if isinstance(kinds[name], tuple) else (kinds[name],)
        if isinstance(value, bool) and bool not in allowed or not isinstance(value, allowed):
            raise InvalidInput(f"request body: field {name!r} has the wrong type ({type(value).__name__})")
    return body


_INT, _NUMBER = (int, type(None)), (int, float, type(None))
_MIN_INT, _MAX_INT = -(1 << 63), (1 << 63) - 1  # JSON's types: bool is never a number here


def _points(raw: list, shift: float, server_now: float) -> list[tuple]:
    """A batch's metric points checked (``[name, step, epoch, value, ts]``: a name, integers or null,
    numbers or null), their ``ts`` shifted onto this server's clock (null: now)."""
    out = []
    for i, point in enumerate(raw):
        if type(point) is not list or len(point) != 5:
            raise InvalidInput(f"metrics[{i}] must be [name, step, epoch, value, ts]")
        name, step, epoch, value, ts = point
        if type(name) is not str or not name or len(name) > 200:
            raise InvalidInput(f"metrics[{i}]: name must be a non-empty string of at most 200 characters")
        if type(step) not in _INT or type(epoch) not in _INT:
            raise InvalidInput(f"metrics[{i}]: step must be an integer or null, and so must epoch")
        if type(value) not in _NUMBER or type(ts) not in _NUMBER:
            raise InvalidInput(f"metrics[{i}]: value must be a number or null, and so must ts")
        if (type(value) is float and not isfinite(value)) or (type(ts) is float and not isfinite(ts)) \
                or any(type(v) is int and not _MIN_INT <= v <= _MAX_INT for v in (step, epoch, value, ts)):
            raise InvalidInput(f"metrics[{i}]: numbers must be finite, integers within 64 bits")
        out.append((name, step, epoch, value, server_now if ts is None else ts + shift))
    return out


def _event(event: Any, i: int) -> tuple[str, str, str]:
    if not isinstance(event, list) or len(event) != 3 or not all(isinstance(v, str) for v in event):
        raise InvalidInput(f"events[{i}] must be [message, level, type] (strings)")
    message, level, kind = event
    if level not in LEVELS:
        raise InvalidInput(f"events[{i}]: level must be one of {', '.join(LEVELS)}, got {level[:40]!r}")
    try:
        kind = EventType(kind)
    except ValueError:
        raise InvalidInput(f"events[{i}]: type must be one of {', '.join(EventType)}, got {kind[:40]!r}") from None
    return message, level, kind


def _file_key(key: str) -> str:
    key = check_key(key or "")
    if not key:
        raise InvalidInput("a file key is needed after files/")
    return key


def _under(key: str, prefix: str) -> bool:
    return key.startswith(prefix + "/")


def _has_weights(snap: dict) -> MMError:
    return Conflict(f"version {snap['id']} already has weights: a trained version is never rewritten "
                    "(train a new version)")


__all__ = ["MAX_JSON_BYTES", "Caller", "Refused", "RunnerAPI", "Upload", "Writer"]
