"""``HttpTracker``: the writes of one attempt reported over the runner API, for workers that share
nothing with the store (no MM_HOME, no store file, no artifact folder).

Metric points, events, progress, the kernel's pid and the notebook's key are queued; a sender thread
turns what is queued into a batch at most every ``every`` seconds (or at ``max_points`` points),
gives it a uuid4 batch id and writes it to an fsync'd spool file *before* the first try, deletes the
file once the server answered 2xx, and retries with backoff (0.2 s → 5 s) while the server is
unreachable (connection refused, timeouts, 5xx). The server stores a batch id once, so a retried
batch is never stored twice. Each tracker spools into its own folder under ``spool_dir`` and holds
a lock on it; a folder whose lock nobody holds was left by a dead process of the same attempt and is
sent first by the next tracker (at its start and before its outcome).

409/401/403/404 end the tracker: the next write raises ``AttemptEnded`` (as ``LocalTracker``); a
batch answered 400/413 is dropped with one line on stderr and the run goes on. ``heartbeat`` is True
while the server is unreachable (the server's clock decides whether the attempt is lost).

Only the standard library is used, so a worker imports nothing heavy. ``RunnerClient`` is the plain
HTTP side (JSON calls, blob/file downloads, resumable file uploads) that ``remote_attempt`` and the
kernel's ``runtime`` share.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import json
import math
import os
import shutil
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import metric_columns
from .errors import Conflict, InvalidInput, Unavailable
from .executions import IN_PROGRESS, EventType, Outcome, Status
from .hashing import file_sha256
from .tracker import AttemptEnded, Tracker
from .tracking_url import API_PATH, check_tracking_url

ENDED_STATUSES = (401, 403, 404, 409)  # the attempt is not this token's to write (any more)
DROPPED_STATUSES = (400, 413)  # this batch is malformed or too large: dropped, the run goes on
REMOTE_SPEC_ENV = "MM_REMOTE_SPEC"  # a remote kernel's spec file (``remote_attempt`` writes it)
CHUNK = 8 << 20  # upload chunk (bytes)
EVENT_BYTES = 2 << 20  # event text in one batch (the server takes at most 8 MiB of JSON)
READ = 1 << 20
LOCK_NAME = ".lock"


def say(message: str) -> None:
    """One line on stderr (never an error)."""
    try:
        print(message, file=sys.stderr, flush=True)
    except OSError:
        pass


class Unreachable(Unavailable):
    """The runner API did not answer (refused, timed out, reset) or answered 5xx/429: try again later."""


class Refused(Exception):
    """The runner API answered 4xx: ``status`` and the server's one-line ``message``."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status, self.message = status, message


class RunnerClient:
    """Calls of one attempt to the runner API at ``url`` (``{url}/mm-jupyter/runner/v1``), with the
    attempt's bearer token."""

    def __init__(self, url: str, execution_id: str, attempt: int, token: str, timeout: float = 30.0):
        url = check_tracking_url(url)
        parsed = urllib.parse.urlsplit(url)
        self.url, self.scheme, self.host, self.port = url, parsed.scheme, parsed.hostname, parsed.port
        self.base = parsed.path.rstrip("/") + API_PATH
        self.execution_id, self.attempt, self.token, self.timeout = execution_id, int(attempt), token, timeout
        self.prefix = f"/attempts/{urllib.parse.quote(execution_id, safe='')}/{int(attempt)}"

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def open(self, method: str, route: str, *, body: bytes | None = None, headers: dict | None = None,
             timeout: float | None = None, attempt_route: bool = True) -> tuple[http.client.HTTPConnection,
                                                                                 http.client.HTTPResponse]:
        """Send a request; returns the open connection and response (the caller reads and closes).
        ``Unreachable`` for a connection error or a 5xx/429 answer, ``Refused`` for another 4xx."""
        path = self.base + (self.prefix if attempt_route else "") + route
        hdrs = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        conn = self._connection(self.timeout if timeout is None else timeout)
        try:
            try:
                conn.request(method, path, body=body, headers=hdrs)
            except (BrokenPipeError, ConnectionResetError):
                if conn.sock is None:
                    raise
                # the server answered before the whole body was sent (a 413) and closed: read its answer
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out, a bad status line
            conn.close()
            raise Unreachable(f"runner API at {self.url} unreachable: {type(exc).__name__}: {exc}") from None
        if resp.status >= 500 or resp.status == 429:
            text = _error_text(resp)
            conn.close()
            raise Unreachable(f"runner API at {self.url} answered {resp.status}: {text}")
        if resp.status >= 400:
            text = _error_text(resp)
            conn.close()
            raise Refused(resp.status, text)
        return conn, resp

    def call(self, method: str, route: str, payload: Any = None, *, timeout: float | None = None,
             attempt_route: bool = True, raw: bytes | None = None) -> dict:
        """A JSON call (the body ``payload`` encoded, or ``raw``: JSON bytes as they are); returns the
        decoded answer."""
        body = raw if raw is not None else None if payload is None else json.dumps(payload, allow_nan=False).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn, resp = self.open(method, route, body=body, headers=headers, timeout=timeout,
                               attempt_route=attempt_route)
        try:
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise Unreachable(f"runner API at {self.url}: reading the answer failed: {exc}") from None
        finally:
            conn.close()
        try:
            return json.loads(data or b"{}")
        except ValueError:
            raise Unreachable(f"runner API at {self.url} answered {resp.status} with no JSON") from None

    def retrying(self, fn: Callable[[], Any], what: str, wait: float) -> Any:
        """``fn()`` retried with backoff (0.2 s → 5 s) while the server is unreachable, at most
        ``wait`` seconds; then the last ``Unreachable`` is raised."""
        deadline, delay, said = time.monotonic() + wait, 0.2, False
        while True:
            try:
                return fn()
            except Unreachable as exc:
                if time.monotonic() + delay > deadline:
                    raise
                if not said:
                    say(f"[mm] {what}: {exc}; retrying")
                    said = True
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def call_retrying(self, method: str, route: str, payload: Any = None, *, what: str = "",
                      wait: float = 300.0) -> dict:
        return self.retrying(lambda: self.call(method, route, payload), what or f"{method} {route}", wait)

    # --- files ------------------------------------------------------------------------------------

    def download(self, route: str, dest: Path, sha256: str | None = None, *, wait: float = 300.0) -> Path:
        """Stream ``route`` into ``dest`` (written to a temp file, checked against ``sha256`` when
        given, renamed into place); retried from the start while the server is unreachable."""

        def once() -> Path:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(f".{dest.name}.{os.getpid()}-{threading.get_ident()}.part")
            digest = hashlib.sha256()
            conn, resp = self.open("GET", route, timeout=self.timeout)
            try:
                with open(tmp, "wb") as fh:
                    while chunk := resp.read(READ):
                        fh.write(chunk)
                        digest.update(chunk)
            except (http.client.HTTPException, OSError) as exc:
                tmp.unlink(missing_ok=True)
                raise Unreachable(f"download of {route} broke off: {exc}") from None
            finally:
                conn.close()
            if sha256 and digest.hexdigest() != sha256:
                tmp.unlink(missing_ok=True)
                raise InvalidInput(f"{route} arrived with sha256 {digest.hexdigest()[:12]}…, expected {sha256[:12]}…")
            os.replace(tmp, dest)
            return dest

        return self.retrying(once, f"downloading {route}", wait)

    def uploaded_size(self, key: str) -> int:
        """How many bytes the server has of ``files/{key}`` (0 when none)."""
        try:
            conn, resp = self.open("HEAD", f"/files/{_quote_key(key)}")
        except Refused as exc:
            if exc.status == 404:
                return 0
            raise
        try:
            resp.read()
            return int(resp.headers.get("Content-Length") or 0)
        finally:
            conn.close()

    def upload(self, key: str, path: Path, *, chunk: int = CHUNK, wait: float = 600.0) -> int:
        """Upload the file at ``path`` to ``files/{key}``: in ``chunk``-sized ``Content-Range`` pieces,
        resumed from what the server already has (``HEAD``) after a broken connection; the last piece
        carries the whole file's sha256. Returns the size."""
        size = path.stat().st_size
        sha = file_sha256(path)
        route = f"/files/{_quote_key(key)}"

        def put(data: bytes, headers: dict) -> None:
            conn, resp = self.open("PUT", route, body=data, headers={"Content-Type": "application/octet-stream",
                                                                     **headers}, timeout=max(self.timeout, 120))
            try:
                resp.read()
            finally:
                conn.close()

        if size <= chunk:
            self.retrying(lambda: put(path.read_bytes(), {"X-Content-Sha256": sha}), f"uploading {key}", wait)
            return size

        tries = [0]

        def rest() -> None:
            tries[0] += 1  # a first try starts over (a part left by another attempt is not ours)
            start = self.uploaded_size(key) if tries[0] > 1 else 0
            if start >= size:
                start = 0
            try:
                send_from(start)
            except Refused as exc:
                if exc.status != 400 or not start:
                    raise
                send_from(0)  # the server cannot resume there: the whole file again

        def send_from(start: int) -> None:
            with open(path, "rb") as fh:
                fh.seek(start)
                while start < size:
                    data = fh.read(chunk)
                    end = start + len(data) - 1
                    headers = {"Content-Range": f"bytes {start}-{end}/{size}"}
                    if end + 1 == size:
                        headers["X-Content-Sha256"] = sha
                    put(data, headers)
                    start = end + 1

        self.retrying(rest, f"uploading {key}", wait)
        return size


def _quote_key(key: str) -> str:
    return urllib.parse.quote(key.lstrip("/"), safe="/")


def _error_text(resp: http.client.HTTPResponse) -> str:
    try:
        raw = resp.read(64 << 10)
        data = json.loads(raw)
        text = str(data.get("error") or data) if isinstance(data, dict) else str(data)
    except (ValueError, OSError, http.client.HTTPException):
        text = resp.reason or ""
    return " ".join(text.split())[:500]


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _metric_fields(points: list) -> dict:
    """A batch's metric points as packed columns (``metric_columns``), or as JSON rows when a step or
    value does not pack (a step past 64 bits); rows carry a non-finite value as null."""
    if not points:
        return {"metrics": []}
    try:
        return {"columns": metric_columns.encode(points), "n_points": len(points)}
    except (OverflowError, TypeError, ValueError):
        return {"metrics": [[n, s, e, v if isinstance(v, int | float) and math.isfinite(v) else None, t]
                            for n, s, e, v, t in points]}


class _Spool:
    """One tracker's spool folder (locked while the tracker lives) and the folders of dead ones."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.folder = root / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.folder.mkdir()
        lock = self._take(self.folder)
        assert lock is not None
        self._lock = lock
        self.seq = 0
        self.adopted: dict[Path, int] = {}  # orphan folder -> its lock fd

    @staticmethod
    def _take(folder: Path) -> int | None:
        fd = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return fd

    def adopt_orphans(self) -> list[Path]:
        """Spool files of dead trackers of this attempt (their folders now locked by us), oldest first."""
        files: list[Path] = []
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir() and p != self.folder
                             and p not in self.adopted):
            fd = self._take(folder)
            if fd is None:
                continue  # a live tracker's
            found = sorted(folder.glob("*.json"))
            if found:
                self.adopted[folder] = fd
                files += found
            else:  # a dead tracker that had sent everything
                shutil.rmtree(folder, ignore_errors=True)
                os.close(fd)
        return files

    def write(self, batch: dict) -> Path:
        self.seq += 1
        path = self.folder / f"{self.seq:08d}-{batch['batch_id']}.json"
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as fh:
            json.dump(batch, fh, allow_nan=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(self.folder)
        return path

    def done(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        folder = path.parent
        if folder in self.adopted and not any(folder.glob("*.json")):
            shutil.rmtree(folder, ignore_errors=True)
            os.close(self.adopted.pop(folder))

    def clear(self) -> None:
        """Drop every spooled batch (the attempt ended: the server takes no more of them)."""
        for folder in [self.folder, *self.adopted]:
            for path in folder.glob("*.json"):
                path.unlink(missing_ok=True)
        for folder, fd in list(self.adopted.items()):
            shutil.rmtree(folder, ignore_errors=True)
            os.close(fd)
        self.adopted.clear()

    def close(self) -> None:
        """Release the folder: removed when empty, else left (locked by nobody) for the next tracker."""
        if self._lock < 0:
            return
        for fd in self.adopted.values():
            os.close(fd)
        self.adopted.clear()
        if not any(self.folder.glob("*.json")):
            shutil.rmtree(self.folder, ignore_errors=True)
        os.close(self._lock)
        self._lock = -1


class HttpTracker(Tracker):
    """A ``Tracker`` writing through the runner API (see the module docstring)."""

    def __init__(self, url: str, execution_id: str, attempt: int, token: str, spool_dir: str | Path, *,
                 every: float = 0.25, max_points: int = 5000, heartbeat_timeout: float = 10.0,
                 client: RunnerClient | None = None):
        self.execution_id, self.attempt = execution_id, int(attempt)
        self.client = client or RunnerClient(url, execution_id, attempt, token)
        self.every, self.max_points, self.heartbeat_timeout = every, max_points, heartbeat_timeout
        self._spool = _Spool(Path(spool_dir))
        self._cond = threading.Condition()
        self._metrics: list[list] = []
        self._events: list[list] = []
        self._fields: dict[str, Any] = {}
        self._files: list[Path] = []  # spooled, not yet answered; oldest first
        self._urgent = False
        self._closing = False
        self._busy = False  # the sender is posting a file
        self._last_spool = 0.0
        self._ended: AttemptEnded | None = None
        self._thread: threading.Thread | None = None  # the sender
        self._spooler: threading.Thread | None = None
        self._spec: dict | None = None
        self.sent = self.dropped = 0  # batches answered 2xx / dropped (400, 413)
        self._files += self._spool.adopt_orphans()
        if self._files:
            self._start()

    # --- the queue and its sender -----------------------------------------------------------------

    def _start(self) -> None:
        if self._thread is None or not (self._thread.is_alive() or self._closing):
            self._thread = threading.Thread(target=self._run, name=f"mm-http-tracker-{self.execution_id}",
                                            daemon=True)
            self._thread.start()
        if self._spooler is None or not (self._spooler.is_alive() or self._closing):
            self._spooler = threading.Thread(target=self._spool_loop, daemon=True,
                                             name=f"mm-http-spooler-{self.execution_id}")
            self._spooler.start()

    def _pending(self) -> bool:
        return bool(self._metrics or self._events or self._fields)

    def _enqueue(self, *, metrics: list | None = None, event: list | None = None, **fields: Any) -> None:
        with self._cond:
            if self._ended is not None:
                raise AttemptEnded(str(self._ended))
            if metrics:
                self._metrics.extend(metrics)
                if len(self._metrics) >= self.max_points:
                    self._urgent = True
            if event:
                self._events.append(event)
            self._fields.update(fields)
            self._start()
            self._cond.notify_all()

    def _take_batch(self) -> dict:
        metrics, self._metrics = self._metrics[:self.max_points], self._metrics[self.max_points:]
        n, size = 0, 0
        while n < min(len(self._events), 1000) and (not n or size + len(self._events[n][0]) < EVENT_BYTES):
            size += len(self._events[n][0])
            n += 1
        events, self._events = self._events[:n], self._events[n:]
        batch = {"batch_id": uuid.uuid4().hex, **_metric_fields(metrics), "events": events,
                 "progress": self._fields.pop("progress", None), "kernel_pid": self._fields.pop("kernel_pid", None),
                 "notebook": self._fields.pop("notebook", None)}
        self._urgent = len(self._metrics) >= self.max_points or (self._urgent and self._pending())
        return batch

    def _run(self) -> None:
        """The sender: posts the spooled batches in order, retrying while the server is away. Batches
        are taken and spooled by the spooler thread meanwhile, so encoding the next batch overlaps the
        server's work on this one."""
        delay, next_try = 0.2, 0.0
        while True:
            with self._cond:
                clock = time.monotonic()
                if not (self._files and clock >= next_try):
                    if not self._pending() and not self._files and self._closing:
                        self._spool.close()  # what was not answered stays for the next tracker
                        return
                    self._cond.wait(max(0.01, next_try - clock) if self._files else 0.5)
                    continue
                path = self._files[0]
                self._busy = True
            result = self._send(path)
            with self._cond:
                self._busy = False
                if result == "retry":
                    next_try = time.monotonic() + delay
                    delay = min(delay * 2, 5.0)
                else:
                    delay, next_try = 0.2, 0.0
                    if self._files and self._files[0] == path:
                        self._files.pop(0)
                self._cond.notify_all()

    def _spool_loop(self) -> None:
        """The spooler: takes what is queued into batches (at most every ``every`` s, at once when
        ``max_points`` wait) and writes each to the spool, under the lock so their order is kept."""
        while True:
            with self._cond:
                clock = time.monotonic()
                if not (self._pending() and self._ended is None and (
                        self._urgent or self._closing or clock >= self._last_spool + self.every)):
                    if self._closing and not self._pending():
                        return
                    wait = self._last_spool + self.every - clock if self._pending() and self._ended is None else 0.5
                    self._cond.wait(max(0.01, wait))
                    continue
                batch = self._take_batch()
                self._last_spool = clock
                try:
                    self._files.append(self._spool.write(batch))
                    self._cond.notify_all()
                    continue
                except (OSError, ValueError) as exc:  # a full disk: posted unspooled, below
                    say(f"[mm] spooling a batch failed ({exc}); sending it unspooled")
            self._post_unspooled(batch)

    def _post_unspooled(self, batch: dict) -> None:
        delay = 0.2
        while self._ended is None:
            try:
                self.client.call("POST", "/batch", {**batch, "sent_at": time.time()})
                return
            except Unreachable:
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Refused as exc:
                self._refused_batch(exc, batch, None)
                return

    def _send(self, path: Path) -> str:
        """Post one spooled batch: ``sent``, ``dropped``, ``ended`` or ``retry``. The spooled bytes are
        sent as they are, ``sent_at`` put in front (decoding and encoding 5,000 points again would
        cost more than the rest of the client's work on them)."""
        try:
            data = path.read_bytes()
            if not data.startswith(b"{"):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            say(f"[mm] spooled batch {path.name} cannot be read ({exc}); dropped")
            with self._cond:
                self._spool.done(path)
            return "dropped"
        try:
            self.client.call("POST", "/batch", raw=b'{"sent_at": %r, ' % time.time() + data[1:])
        except Unreachable:
            return "retry"
        except Refused as exc:
            try:
                batch = json.loads(data)
            except ValueError:
                batch = {}
            return self._refused_batch(exc, batch, path)
        with self._cond:
            self.sent += 1
            self._spool.done(path)
        return "sent"

    def _refused_batch(self, exc: Refused, batch: dict, path: Path | None) -> str:
        if exc.status in ENDED_STATUSES:
            self._end(exc)
            return "ended"
        self.dropped += 1
        say(f"[mm] a batch of {batch.get('n_points', len(batch.get('metrics') or []))} metric points and "
            f"{len(batch.get('events') or [])} "
            f"events was refused by the server ({exc.status}: {exc.message}); dropped, the run goes on")
        if path is not None:
            with self._cond:
                self._spool.done(path)
        return "dropped"

    def _end(self, exc: Refused) -> None:
        """The server refused this attempt's writes: drop what is queued and spooled, refuse the rest."""
        with self._cond:
            if self._ended is None:
                self._ended = AttemptEnded(f"execution {self.execution_id} takes no more writes from attempt "
                                           f"{self.attempt} (the server answered {exc.status}: {exc.message})")
            self._metrics, self._events, self._fields = [], [], {}
            self._files = []
            self._spool.clear()
            self._cond.notify_all()

    def spool_now(self) -> None:
        """Write what is queued to the spool now, on the caller's thread (a kernel does it after each
        cell: what a cell logged survives the kernel's end; a later tracker sends it)."""
        with self._cond:
            while self._ended is None and self._pending():
                self._files.append(self._spool.write(self._take_batch()))
                self._last_spool = time.monotonic()
            self._start()
            self._cond.notify_all()

    def drain(self, timeout: float = 60.0) -> bool:
        """Spool what is queued now and wait until every spooled batch was answered (at most
        ``timeout`` s, also picking up the spools of dead trackers of this attempt); True when all were."""
        deadline = time.monotonic() + timeout
        with self._cond:
            orphans = self._spool.adopt_orphans() if self._ended is None else []
            if orphans:  # older than ours: next, after the one being posted
                at = 1 if self._busy else 0
                self._files[at:at] = orphans
            if self._pending() or self._files:
                self._urgent = True
                self._start()
                self._cond.notify_all()
            while (self._pending() or self._files) and self._ended is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
            return True

    def ended(self) -> AttemptEnded | None:
        """Why the server refused this attempt's writes, or None."""
        return self._ended

    def _raise_if_ended(self) -> None:
        if self._ended is not None:
            raise AttemptEnded(str(self._ended))

    def _ended_by(self, exc: Refused) -> AttemptEnded:
        self._end(exc)
        return AttemptEnded(str(self._ended))

    # --- Tracker ----------------------------------------------------------------------------------

    def spec(self, wait: float = 300.0) -> dict:
        """The attempt's spec (``GET spec``; fetched once)."""
        if self._spec is None:
            try:
                self._spec = self.client.call_retrying("GET", "/spec", what="reading the attempt's spec", wait=wait)
            except Refused as exc:
                if exc.status in ENDED_STATUSES:
                    raise self._ended_by(exc) from None
                raise InvalidInput(f"the attempt's spec was refused: {exc.message}") from None
        return self._spec

    def use_spec(self, spec: dict) -> None:
        """Use a spec read before (the kernel gets the runner's copy) instead of fetching it again."""
        self._spec = spec

    def describe(self) -> dict:
        spec = self.spec()
        return {"execution": spec["execution"], "snapshot": spec["snapshot"], "model": spec["model"]}

    def started(self, *, runner_pid: int | None, host: str | None) -> bool:
        try:
            # the Dask worker running it (set by its task): a second worker re-running it means the first died
            body = {"runner_pid": runner_pid, "host": host, "worker": os.environ.get("MM_WORKER_ADDRESS") or None}
            reply = self.client.call_retrying("POST", "/started", body, what="recording the start")
        except Refused as exc:
            if exc.status in ENDED_STATUSES:
                self._end(exc)
                return False
            raise InvalidInput(f"recording the start was refused: {exc.message}") from None
        return bool(reply.get("ok"))

    def heartbeat(self) -> bool:
        if self._ended is not None:
            return False
        try:
            reply = self.client.call("POST", "/heartbeat", {}, timeout=self.heartbeat_timeout)
        except Unreachable:
            return True  # the server's clock decides whether this attempt is lost
        except Refused as exc:
            if exc.status in ENDED_STATUSES:
                self._end(exc)
                return False
            return True
        return bool(reply.get("alive")) and not reply.get("abort")

    def kernel_started(self, pid: int) -> None:
        with contextlib.suppress(AttemptEnded):
            self._enqueue(kernel_pid=int(pid))

    def notebook(self, path: str) -> None:
        """The artifact key of the executed notebook (under the execution's key)."""
        with contextlib.suppress(AttemptEnded):
            self._enqueue(notebook=str(path))

    def progress(self, percent: float) -> None:
        self._enqueue(progress=round(max(0.0, min(100.0, float(percent))), 2))

    def metric_points(self, points: list[tuple]) -> None:
        self._enqueue(metrics=[[n, s, e, v, ts] for n, s, e, v, ts in points])

    def event(self, message: str, level: str = "info", type: EventType = EventType.LOG) -> None:
        self._enqueue(event=[str(message), str(level), str(getattr(type, "value", type))])

    def update_version(self, **fields: Any) -> None:
        """``weights_key`` (artifact key of the uploaded weights folder), ``weights_hash`` and
        ``status``: posted once everything queued before was answered."""
        if not fields.get("weights_key") or not fields.get("weights_hash"):
            raise InvalidInput("a remote run records its weights by weights_key and weights_hash")
        self.drain(60.0)
        self._raise_if_ended()
        payload = {"weights_key": fields["weights_key"], "weights_hash": fields["weights_hash"],
                   "status": fields.get("status", "trained")}
        try:
            self.client.call_retrying("POST", "/version", payload, what="recording the weights", wait=600.0)
        except Refused as exc:
            if exc.status == 409:
                state = self.state()
                if state["status"] == IN_PROGRESS and state["attempts"] == self.attempt:
                    raise Conflict(exc.message) from None
            if exc.status in ENDED_STATUSES:
                raise self._ended_by(exc) from None
            raise InvalidInput(f"recording the weights was refused: {exc.message}") from None

    def outcome(self, outcome: Outcome, error: str | None = None, *, retry: bool = True) -> Status:
        """Drain the spool (at most 60 s), then post how the attempt ended (retried while unreachable,
        up to 10 minutes: after that the server's reconcile ends it by its stale heartbeat)."""
        if not self.drain(60.0):
            say("[mm] some metric batches were not answered within 60 s; they stay spooled")
        try:
            reply = self.client.call_retrying("POST", "/outcome", {"outcome": str(Outcome(outcome).value),
                                                                   "error": error},
                                              what="recording the outcome", wait=600.0)
        except Refused as exc:
            if exc.status == 409:
                with contextlib.suppress(Refused, Unreachable):
                    return Status(self.state()["status"])
            raise AttemptEnded(f"the outcome of attempt {self.attempt} of {self.execution_id} was refused: "
                               f"{exc.message}") from None
        return Status(reply["status"])

    def state(self) -> dict:
        reply = self.client.call_retrying("GET", "/state", what="reading the execution's state", wait=60.0)
        return {k: reply.get(k) for k in ("status", "attempts", "abort_requested")}

    def close(self, wait: float = 10.0) -> None:
        """Send what is queued (at most ``wait`` s); what is not answered stays spooled for the next
        tracker of this attempt."""
        if self._ended is None and (self._pending() or self._files):
            self.drain(wait)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is None:
            self._spool.close()
        elif not self._files:
            self._thread.join(timeout=1.0)
