"""The event stream: one poller per server reads the store's changes and fans them out to clients.

Clients subscribe with server-sent events (``GET /mm-jupyter/api/stream`` for every execution's
status and progress, ``GET /mm-jupyter/api/executions/<id>/stream`` for one execution's metric
points and log lines too). The poller runs only while someone listens, every ``interval`` seconds,
on its own thread and connection; a tick whose ``PRAGMA data_version`` did not move costs one
pragma (plus a ``stat`` of each watched log file). Events:

- ``execution``: a changed execution row (the listing's columns: status, progress, attempts, …)
- ``invalidate``: rows vanished or changed in ways not tracked: re-fetch the page
- ``catalog``: models or versions were added or removed, or a version's notes or tags changed (from
  any face): re-fetch the versions
- ``services``: service health changed (paused, kernel missing, repeated start failures) or a
  service's settings did
- ``metrics``: ``{"execution_id", "points": [...], "last_id"}`` new metric points, in id order
- ``log``: ``{"execution_id", "offset", "next_offset", "text"}`` new bytes of the execution's log
- ``event``: an execution's event (``type``: created, status, log, submitted; with its message)
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..executions import EventType
from ..notebooks import LOG_NAME
from ..queries import changes, executions
from ..queries.health import services_health
from ..store import Store

log = logging.getLogger("mm_jupyter.server")
QUEUE_MAX = 1000
METRICS_PER_TICK = 20_000
LOG_PER_TICK = 64 * 1024
HEALTH_EVERY = 10.0


@dataclass(eq=False)
class Subscriber:
    """One open stream: all executions (``execution_id`` None) or one execution in detail."""

    execution_id: str | None = None
    after_metric: int = 0
    log_offset: int = 0
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(QUEUE_MAX))
    fresh: bool = True
    overflowed: bool = False

    def put(self, event: str, data: Any, event_id: str | None = None) -> None:
        if self.overflowed:
            return
        if self.queue.full():
            self.overflowed = True
            self.queue.get_nowait()
            self.queue.put_nowait(format_event("invalidate", {"reason": "client too slow"}))
            return
        self.queue.put_nowait(format_event(event, data, event_id))


def format_event(event: str, data: Any, event_id: str | None = None) -> str:
    """One server-sent event (``data`` as a single JSON line)."""
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class ChangeFeed:
    """What the poller remembers between ticks (touched only on the poller's thread)."""

    def __init__(self, home: Path):
        self.store = Store(home, read_only=True, create=False)
        self.data_version = -1
        self.last_event = changes.last_event_id(self.store)
        self.active: dict[str, tuple] = changes.active_state(self.store)
        self.count = changes.executions_count(self.store)
        self.services: dict[str, dict] | None = None
        self.service_sig: tuple = ()
        self.catalog_sig: tuple = changes.catalog_signature(self.store)
        self.health_at = 0.0
        self.exe_dirs: dict[str, Path] = {}

    def tick(self, watched: dict[str, tuple[int, list[int]]], force: bool) -> dict:
        """Changes since the last tick: rows, events, services, metrics and log bytes of ``watched``
        (execution id → (smallest metric id already sent, log offsets of its subscribers))."""
        out: dict[str, Any] = {"rows": [], "events": [], "services": None, "invalidate": False,
                               "catalog": False, "metrics": {}, "logs": {}}
        version = self.store.data_version()
        changed = version != self.data_version or force
        self.data_version = version
        if changed:
            self._changes(out)
            for exe_id, (after, _) in watched.items():
                points = executions.metrics_since(self.store, exe_id, after, METRICS_PER_TICK)
                if points:
                    out["metrics"][exe_id] = points
        for exe_id, (_, offsets) in watched.items():
            for offset in set(offsets):
                chunk = self._log(exe_id, offset)
                if chunk:
                    out["logs"][(exe_id, offset)] = chunk
        return out

    def _changes(self, out: dict) -> None:
        events = changes.events_since(self.store, self.last_event)
        if events:
            self.last_event = events[-1]["id"]
        ids = {e["execution_id"] for e in events if e["execution_id"]}
        active = changes.active_state(self.store)
        ids |= {k for k, v in active.items() if self.active.get(k) != v}
        ids |= set(self.active) - set(active)
        self.active = active
        if ids:
            out["rows"] = executions.rows_by_id(self.store, sorted(ids))
        out["events"] = events
        count = changes.executions_count(self.store)
        created = sum(1 for e in events if e["type"] == EventType.CREATED)
        if count != self.count + created:
            out["invalidate"] = True  # rows were removed (or created beyond this batch of events)
        self.count = count
        catalog = changes.catalog_signature(self.store)
        out["catalog"], self.catalog_sig = catalog != self.catalog_sig, catalog
        sig = changes.services_signature(self.store)
        failed = any(e["level"] == "error" for e in events)
        if sig != self.service_sig or failed or time.monotonic() - self.health_at > HEALTH_EVERY:
            edited = sig != self.service_sig and bool(self.service_sig)  # a setting changed: panels re-read
            self.service_sig, self.health_at = sig, time.monotonic()
            health = {name: h.as_dict() for name, h in services_health(self.store).items()}
            if health != self.services or edited:
                out["services"] = health if self.services is not None else None
                self.services = health

    def _log(self, exe_id: str, offset: int) -> dict | None:
        folder = self.exe_dirs.get(exe_id)
        if folder is None:
            row = changes.execution_folder_row(self.store, exe_id)
            if row is None:
                return None
            folder = self.exe_dirs[exe_id] = self.store.execution_dir(row)
        path = folder / LOG_NAME
        try:
            size = path.stat().st_size
        except OSError:
            return None
        if size <= offset:
            return None
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read(LOG_PER_TICK)
        cut = data.rfind(b"\n") + 1
        if 0 < cut < len(data) and len(data) < LOG_PER_TICK:
            data = data[:cut]  # whole lines only, unless a single line is longer than a chunk
        return {"execution_id": exe_id, "offset": offset, "next_offset": offset + len(data),
                "text": data.decode("utf-8", errors="replace")}

    def close(self) -> None:
        self.store.close()


class StreamHub:
    """Subscribers and the poller that feeds them (which runs only while there are subscribers)."""

    def __init__(self, home: Path, interval: float = 0.5):
        self.home, self.interval = home, interval
        self.subscribers: set[Subscriber] = set()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mm-stream")
        self._feed: ChangeFeed | None = None
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self.ticks = 0
        self._more = False

    def subscribe(self, sub: Subscriber) -> None:
        self.subscribers.add(sub)
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self.subscribers:
            subs = list(self.subscribers)
            watched: dict[str, tuple[int, list[int]]] = {}
            for sub in subs:
                if sub.execution_id:
                    after, offsets = watched.get(sub.execution_id, (sub.after_metric, []))
                    watched[sub.execution_id] = (min(after, sub.after_metric), [*offsets, sub.log_offset])
            force = self._more or any(s.fresh for s in subs)
            try:
                changes = await loop.run_in_executor(self._thread, self._tick, watched, force)
            except Exception:  # the store is busy or broken: say so in the server log, keep going
                log.exception("mm-jupyter: stream poll failed")
                changes = None
            if changes is not None:
                self._more = any(len(p) >= METRICS_PER_TICK for p in changes["metrics"].values())
                for sub in subs:
                    sub.fresh = False
                    self._deliver(sub, changes)
            self.ticks += 1
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.interval)
            except asyncio.TimeoutError:
                pass

    def _tick(self, watched: dict, force: bool) -> dict:
        if self._feed is None:
            self._feed = ChangeFeed(self.home)
        return self._feed.tick(watched, force)

    @staticmethod
    def _deliver(sub: Subscriber, changes: dict) -> None:
        mine = sub.execution_id
        for row in changes["rows"]:
            if mine is None or row["id"] == mine:
                sub.put("execution", row)
        if mine is None:
            if changes["invalidate"]:
                sub.put("invalidate", {"reason": "executions added or removed"})
            if changes["catalog"]:
                sub.put("catalog", {"reason": "models or versions added or removed"})
            if changes["services"] is not None:
                sub.put("services", changes["services"])
            return
        for event in changes["events"]:
            if event["execution_id"] == mine:
                sub.put("event", event)
        points = [p for p in changes["metrics"].get(mine, []) if p["id"] > sub.after_metric]
        if points:
            sub.after_metric = points[-1]["id"]
            sub.put("metrics", {"execution_id": mine, "points": points, "last_id": sub.after_metric},
                    f"{sub.after_metric}:{sub.log_offset}")
        chunk = changes["logs"].get((mine, sub.log_offset))
        if chunk:
            sub.log_offset = chunk["next_offset"]
            sub.put("log", chunk, f"{sub.after_metric}:{sub.log_offset}")

    def close(self) -> None:
        for sub in list(self.subscribers):
            try:
                sub.queue.put_nowait(None)
            except asyncio.QueueFull:
                pass
        self.subscribers.clear()
        if self._task:
            self._task.cancel()
        self._thread.submit(self._close_feed)
        self._thread.shutdown(wait=False)

    def _close_feed(self) -> None:
        if self._feed:
            self._feed.close()
