"""``mm serve``: the runner API without Jupyter, for workers that share nothing with this machine.

A standalone tornado server with the same runner routes as the Jupyter extension
(``server/runner_routes.py``) and the same reconcile timer (lost runs found by their heartbeats, on
this machine's clock; drains ended; queued runs started). An operator token (``$MM_TOKEN``, else
generated and printed at start) guards the operator routes (``GET /mm-jupyter/serve/v1/status``: the
running attempts); it is never accepted on a runner route.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import secrets
import signal
import socket
from pathlib import Path
from typing import Any

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.ioloop import PeriodicCallback
from tornado.netutil import bind_sockets

from .errors import MMError, one_line
from .queries import queue
from .runner_api import MAX_JSON_BYTES, RunnerAPI
from .scheduler import reconcile
from .server.runner_routes import routes as runner_routes
from .serving import reconcile as reconcile_deployments
from .store import Store, default_home
from .tracking_url import API_PATH

OPERATOR_PATH = "/mm-jupyter/serve/v1"
TOKEN_ENV = "MM_TOKEN"
RECONCILE_INTERVAL = 15.0


class StatusHandler(web.RequestHandler):
    """``GET /mm-jupyter/serve/v1/status`` with the operator token: the store and its running attempts."""

    def initialize(self, api: RunnerAPI, token: str) -> None:
        self.api, self.token = api, token

    async def get(self) -> None:
        scheme, _, given = (self.request.headers.get("Authorization") or "").strip().partition(" ")
        if scheme.lower() not in ("bearer", "token") or not hmac.compare_digest(given.strip().encode(),
                                                                               self.token.encode()):
            self.set_status(401)
            self.finish({"error": "the operator token is needed (Authorization: Bearer <token>)"})
            return
        loop = asyncio.get_running_loop()
        try:
            running = await loop.run_in_executor(self.api.executor, lambda: queue.in_progress(self.api.store()))
        except MMError as exc:
            self.set_status(503)
            self.finish({"error": one_line(exc)})
            return
        keys = ("id", "kind", "service", "attempts", "runner", "host", "progress", "started_at", "heartbeat_at",
                "abort_requested")
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"store": str(self.api.home), "running": [{k: e.get(k) for k in keys} for e in running]}))


def make_app(home: str | os.PathLike, token: str) -> tuple[web.Application, RunnerAPI]:
    """The tornado application of ``mm serve`` (and its ``RunnerAPI``) on the store at ``home``."""
    api = RunnerAPI(home, refused_tokens=(token,))
    handlers: list[Any] = [*runner_routes(API_PATH, api),
                           (f"{OPERATOR_PATH}/status", StatusHandler, {"api": api, "token": token})]
    return web.Application(handlers), api


def http_server(app: web.Application) -> HTTPServer:
    """The HTTP server of ``app``: JSON routes refuse more than 8 MiB themselves, file uploads lift the
    limit for their own request only (streamed), anything else is read up to twice that."""
    return HTTPServer(app, max_body_size=MAX_JSON_BYTES * 2)


class Reconciler:
    """``scheduler.reconcile`` (and the deployments') every ``interval`` seconds on the API's threads;
    a round still running is not started again."""

    def __init__(self, api: RunnerAPI, interval: float = RECONCILE_INTERVAL):
        self.api, self.busy = api, False
        self.timer = PeriodicCallback(self.round, interval * 1000) if interval > 0 else None

    def start(self) -> None:
        if self.timer:
            self.timer.start()

    def stop(self) -> None:
        if self.timer:
            self.timer.stop()

    def _once(self) -> list[str]:
        store = self.api.store()
        lost = reconcile(store)
        reconcile_deployments(store)
        return lost

    async def round(self) -> None:
        if self.busy:
            return
        self.busy = True
        try:
            lost = await asyncio.get_running_loop().run_in_executor(self.api.executor, self._once)
            if lost:
                print(f"mm serve: reconciled {', '.join(lost)}", flush=True)
        except Exception as exc:  # a busy or broken store: say it, keep serving
            print(f"mm serve: reconcile failed: {one_line(exc)}", flush=True)
        finally:
            self.busy = False


def serve(host: str = "127.0.0.1", port: int = 8890, home: str | os.PathLike | None = None,
          reconcile_interval: float | None = None) -> None:
    """Serve the runner API of the store at ``home`` (default ``$MM_HOME``) until SIGINT/SIGTERM."""
    home = Path(home or default_home()).expanduser().resolve()
    Store(home).close()  # created and migrated now: every later connection must find this very store
    token = os.environ.get(TOKEN_ENV) or ""
    generated = not token
    token = token or secrets.token_urlsafe(32)
    interval = reconcile_interval if reconcile_interval is not None else \
        float(os.environ.get("MM_RECONCILE_INTERVAL", RECONCILE_INTERVAL))
    asyncio.run(_main(host, port, home, token, generated, interval))


async def _main(host: str, port: int, home: Path, token: str, generated: bool, interval: float) -> None:
    app, api = make_app(home, token)
    try:
        sockets = bind_sockets(port, host)
    except OSError as exc:
        api.close()
        raise MMError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    server = http_server(app)
    server.add_sockets(sockets)
    bound = next((s.getsockname()[1] for s in sockets if s.family in (socket.AF_INET, socket.AF_INET6)), port)
    reconciler = Reconciler(api, interval)
    await reconciler.round()  # lost runs after a restart, queued runs to start
    reconciler.start()
    shown = f"[{host}]" if ":" in host else host
    print(f"mm serve: listening on http://{shown}:{bound} (runner API {API_PATH}, store {home})", flush=True)
    if generated:
        print(f"mm serve: operator token {token} (GET {OPERATOR_PATH}/status; set ${TOKEN_ENV} to choose it)",
              flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        reconciler.stop()
        server.stop()
        api.close()
        print("mm serve: stopped", flush=True)
