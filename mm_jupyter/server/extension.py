"""The server extension app: settings (traitlets), the store pool, the stream hub, the routes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import url_path_join
from tornado.ioloop import PeriodicCallback
from traitlets import Float, Integer, Unicode

from ..errors import MMError
from ..runner_api import RunnerAPI
from ..scheduler import reconcile
from ..serving import reconcile as reconcile_deployments
from ..tracking_url import API_PATH as RUNNER_API
from .handlers import routes
from .pool import StorePool
from .runner_routes import routes as runner_routes
from .stream import StreamHub

API_PATH = "mm-jupyter/api"
RUNNER_PATH = RUNNER_API.lstrip("/")  # the runner API of remote workers (attempt tokens, not Jupyter's)


class State:
    """What every handler shares: the store pool, the stream hub, per-submission locks."""

    def __init__(self, pool: StorePool, hub: StreamHub):
        self.pool, self.hub = pool, hub
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # key -> (its lock, requests holding or awaiting it)

    @contextlib.asynccontextmanager
    async def key_lock(self, body: Any) -> AsyncIterator[None]:
        """Serialize requests that carry the same idempotency key (a double click, a retry) in this
        server; the store's unique indexes keep other processes from creating a second row. A key's
        lock lives while any request holds or awaits it (dropping it as soon as it is released would
        let a newcomer take a fresh lock while a woken waiter is about to take the old one)."""
        key = body.get("idempotency_key") if isinstance(body, dict) else None
        if not isinstance(key, str):
            yield
            return
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class MMJupyterApp(ExtensionApp):
    """mm-jupyter's REST API and event stream (``c.MMJupyterApp.poll_interval = 0.5`` etc.)."""

    name = "mm_jupyter"
    load_other_extensions = True

    home = Unicode("", help="mm-jupyter home folder (default: $MM_HOME or ~/.mm_jupyter).").tag(config=True)
    poll_interval = Float(0.5, help="Seconds between the stream's store polls while clients listen.").tag(config=True)
    workers = Integer(4, help="Threads running store calls for the REST API.").tag(config=True)
    reconcile_interval = Float(
        15.0, help="Seconds between reconciliations (lost runs, drained services, queued runs to start); "
        "0 turns them off.").tag(config=True)

    def initialize_settings(self) -> None:
        pool = StorePool(self.home or None, self.workers)
        try:
            store = pool.store()
            lost = reconcile(store)
            if lost:
                self.log.warning("mm-jupyter: reconciled lost executions %s", ", ".join(lost))
            restarted = reconcile_deployments(store)  # after a restart: started again, or failed with why
            if restarted:
                self.log.warning("mm-jupyter: deployments %s", ", ".join(f"{d['id']} {d['status']}" for d in restarted))
        except MMError as exc:  # every request will answer this error, one line, instead
            self.log.error("mm-jupyter: %s", exc)
        hub = StreamHub(pool.home, self.poll_interval)
        self.state = State(pool, hub)
        self.settings["mm_jupyter_state"] = self.state
        self.runner_api = RunnerAPI(pool.home)
        self.log.info("mm-jupyter: API at /%s (store %s)", API_PATH, pool.home)

    def initialize_handlers(self) -> None:
        self.handlers.extend(routes(url_path_join("/", API_PATH)))
        self.handlers.extend(runner_routes(url_path_join("/", RUNNER_PATH), self.runner_api))

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        """Once the loop runs: reconcile the store now and then (``scheduler.reconcile``)."""
        if self.reconcile_interval > 0:
            self._reconciler = PeriodicCallback(self._reconcile, self.reconcile_interval * 1000)
            self._reconciler.start()

    async def _reconcile(self) -> None:
        if getattr(self, "_reconciling", False):
            return
        self._reconciling = True
        try:
            lost = await self.state.pool.run(reconcile)
            await self.state.pool.run(reconcile_deployments)
            if lost:
                self.log.warning("mm-jupyter: reconciled %s", ", ".join(lost))
        except Exception as exc:  # a busy or broken store: say it once per round, keep serving
            self.log.error("mm-jupyter: reconcile failed: %s", exc)
        finally:
            self._reconciling = False

    async def stop_extension(self) -> None:
        reconciler = getattr(self, "_reconciler", None)
        if reconciler:
            reconciler.stop()
        state = getattr(self, "state", None)
        if state:
            state.hub.close()
            state.pool.close()
        runner_api = getattr(self, "runner_api", None)
        if runner_api:
            runner_api.close()
