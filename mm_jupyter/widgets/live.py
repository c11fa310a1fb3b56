"""Live updates without threads: one asyncio task on the kernel's event loop polls the store.

Widget traits are only ever set on the kernel's main thread (a background thread cannot safely
send comm messages on ipykernel >= 7, ipywidgets#4001). The task runs whenever the kernel is idle
or a cell is awaiting (``await wait_async(run_id)``); ``wait(run_id)`` keeps the widgets moving
from inside a blocking cell by ticking them from its own polling loop.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Any, Protocol

from .. import api
from ..errors import Unavailable
from ..executions import FINISHED
from ..store import Store

TICK = 0.1  # seconds between hub ticks; each widget polls at its own ``poll_interval``


class Live(Protocol):
    poll_interval: float

    def poll(self) -> bool:
        """Read the store and update traits; False once the widget needs no more polling."""
        ...


class LiveHub:
    """Polls every registered live widget at its own interval from the kernel's event loop."""

    def __init__(self) -> None:
        self._widgets: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self._task: asyncio.Task | None = None
        self.errors: list[str] = []

    def add(self, widget: Live) -> None:
        self._widgets[widget] = 0.0
        self._ensure_task()

    def discard(self, widget: Live) -> None:
        self._widgets.pop(widget, None)

    def clear(self) -> None:
        """Forget every widget (they stop updating)."""
        self._widgets.clear()

    def __contains__(self, widget: Live) -> bool:
        return widget in self._widgets

    def tick(self, force: bool = False) -> int:
        """Poll the widgets that are due (all with ``force``); returns how many were polled."""
        polled = 0
        clock = time.monotonic()
        for widget, due in list(self._widgets.items()):
            if not force and clock < due:
                continue
            polled += 1
            try:
                keep = widget.poll()
            except Exception as exc:  # a transient store error must not stop the other widgets
                self.errors.append(f"{type(widget).__name__}: {type(exc).__name__}: {exc}")
                del self.errors[:-20]
                keep = True
            if keep:
                self._widgets[widget] = clock + widget.poll_interval
            else:
                self.discard(widget)
        return polled

    def _ensure_task(self) -> None:
        if self._task is not None and not self._task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop here (a plain script): tick() or wait() drive the widgets
        self._task = loop.create_task(self._run())

    async def _run(self) -> None:
        while self._widgets:
            self.tick()
            await asyncio.sleep(TICK)


HUB = LiveHub()


async def wait_async(execution_id: str, *, timeout: float | None = None, poll: float = 0.25,
                     store: Store | None = None) -> dict:
    """Await the end of an execution while live widgets keep updating; returns its final row."""
    store = store or api.connect()
    HUB._ensure_task()
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        row = store.get("executions", execution_id)
        if row["status"] in FINISHED:
            HUB.tick(force=True)
            return row
        if deadline is not None and time.monotonic() > deadline:
            raise Unavailable(f"execution {execution_id} still {row['status']} after {timeout:g} s")
        await asyncio.sleep(poll)


def wait(execution_id: str, *, timeout: float | None = None, store: Store | None = None) -> dict:
    """Block until an execution ends, ticking the live widgets meanwhile; returns its final row."""
    row = api.wait_for(execution_id, timeout=timeout, poll=0.1, on_update=lambda _row: HUB.tick(),
                       store=store)
    HUB.tick(force=True)
    return row
