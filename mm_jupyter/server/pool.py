"""Store access for the server: store calls run on worker threads, one connection each.

``await pool.run(fn, *args)`` calls ``fn(store, *args)`` on a worker thread with that thread's own
``Store`` (a connection must not be shared across threads while it may be inside a transaction).
The two hot reads a live UI repeats (an executions page, new metric points) are indexed queries of
a few milliseconds: ``pool.read(fn, *args)`` runs them on the event loop's own read-only
connection, which saves the thread hand-off (most of their cost under load); in WAL mode readers
never wait for writers, and if SQLite still reports the database busy the call moves to a worker.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ..store import Connections, Store, default_home

T = TypeVar("T")


class StorePool:
    """A thread pool whose threads each hold a ``Store`` opened on ``home``."""

    def __init__(self, home: str | Path | None = None, workers: int = 4, name: str = "mm-api"):
        self.home = Path(home).expanduser().resolve() if home else default_home().resolve()
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self.connections = Connections(self.home)

    def store(self) -> Store:
        """This thread's store (opened on first use)."""
        return self.connections.store()

    def reader(self) -> Store:
        """The event loop thread's own connection (queries only; a short busy timeout)."""
        if getattr(self, "_reader", None) is None:
            self._reader = self.connections.open(read_only=True)
        return self._reader

    async def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(store, *args, **kwargs)`` for a quick read, on the loop's connection if it is free."""
        try:
            return fn(self.reader(), *args, **kwargs)
        except sqlite3.OperationalError:  # busy or locked: wait for it on a worker instead
            return await self.run(fn, *args, **kwargs)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(self.store(), *args, **kwargs)

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(store, *args, **kwargs)`` on a worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(self.call, fn, *args, **kwargs))

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.connections.close()
