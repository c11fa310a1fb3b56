"""Thin REST handlers: parse the request, call the store on a worker thread, answer JSON.

Every handler is a Jupyter ``APIHandler``: authenticated (token or login cookie; an anonymous
request gets 403), authorized on the ``mm-jupyter`` resource (read for GET, write otherwise) and
XSRF-checked for writes (a cookie-authenticated POST/DELETE needs the ``_xsrf`` token). Errors are
JSON ``{"message": one line, "reason", "status"}``: 400 bad input, 404 unknown id, 409 wrong state.
"""

from __future__ import annotations

import asyncio
import json
import time
from http.client import responses
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web
from tornado.iostream import StreamClosedError

from ..errors import MMError
from ..queries import catalog, executions
from . import actions, artifacts
from .errors import one_line, status_of
from .inputs import choice_arg, int_arg
from .stream import Subscriber, format_event

AUTH_RESOURCE = "mm-jupyter"
PING_EVERY = 15.0


class Raw(str):
    """A response body that is already JSON."""


class APIError(web.HTTPError):
    """An HTTP error carrying an mm-jupyter error's one-line message and type."""

    def __init__(self, status: int, message: str, error: str = ""):
        super().__init__(status, "%s", message)
        self.error = error


class BaseHandler(APIHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def mm(self) -> Any:
        return self.settings["mm_jupyter_state"]

    async def call(self, fn: Any, *args: Any, quick: bool = False, **kwargs: Any) -> Any:
        """``fn(store, ...)`` on a worker thread (``quick``: a read on the loop's connection);
        mm-jupyter errors become HTTP errors."""
        start = time.perf_counter()
        try:
            if quick:
                return await self.mm.pool.read(fn, *args, **kwargs)
            return await self.mm.pool.run(fn, *args, **kwargs)
        except MMError as exc:
            raise APIError(status_of(exc), one_line(exc), type(exc).__name__) from None
        finally:
            self._db_ms = getattr(self, "_db_ms", 0.0) + (time.perf_counter() - start) * 1000

    def body(self) -> Any:
        """The request's JSON body (None when empty); bad JSON is a 400."""
        if not self.request.body or not self.request.body.strip():
            return None
        try:
            return json.loads(self.request.body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise web.HTTPError(400, "%s", f"request body is not valid JSON: {one_line(exc)}") from None

    def reply(self, data: Any, status: int = 200) -> None:
        """Answer ``data`` as JSON (a ``Raw`` string is sent as it is: JSON built by SQLite)."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        payload = data if isinstance(data, Raw) else json.dumps(data, default=str, separators=(",", ":"))
        total = (time.perf_counter() - self._started) * 1000
        self.set_header("Server-Timing", f"db;dur={getattr(self, '_db_ms', 0.0):.2f}, total;dur={total:.2f}")
        self.finish(payload)

    def prepare(self) -> Any:
        self._started = time.perf_counter()
        return super().prepare()

    def _handle_request_exception(self, e: BaseException) -> None:
        """An mm-jupyter error raised outside ``call`` (argument parsing) is still a 4xx, not a 500."""
        if isinstance(e, MMError):
            try:
                raise APIError(status_of(e), one_line(e), type(e).__name__) from None
            except APIError as api_error:
                return super()._handle_request_exception(api_error)
        return super()._handle_request_exception(e)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        reason = responses.get(status_code, "Error")
        error = getattr(exc, "error", "") or reason
        if isinstance(exc, web.HTTPError):
            message = (exc.log_message % exc.args if exc.args else exc.log_message) or exc.reason or reason
            reason = exc.reason or reason
        elif exc is not None:
            self.log.error("mm-jupyter: unexpected error", exc_info=kwargs.get("exc_info"))
            message = f"internal error: {one_line(exc)}"
            error = "InternalError"
        else:
            message = reason
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": message, "reason": reason, "error": error,
                               "status": status_code}))

    def arg(self, name: str) -> str | None:
        value = self.get_query_argument(name, None)
        return value if value is None else value.strip()


# --- reads -----------------------------------------------------------------------------------------


class MetaHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply(await self.call(catalog.meta))


class ModelsHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply({"items": await self.call(catalog.models)})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.reply(await self.call(actions.register_model, self.body()), 201)


class ModelHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self, ref: str) -> None:
        self.reply(await self.call(catalog.model, ref))


class ModelDefaultsHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self, ref: str) -> None:
        self.reply(await self.call(catalog.defaults, ref, self.arg("dataset") or None,
                                   self.arg("snapshot") or None))


class SnapshotsHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply({"items": await self.call(catalog.snapshots, self.arg("model") or None)})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.reply(await self.call(actions.create_snapshot, self.body()), 201)


class SnapshotHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self, ref: str) -> None:
        self.reply(await self.call(catalog.snapshot, ref))


class DatasetsHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply({"items": await self.call(catalog.datasets)})


class DatasetHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self, ref: str) -> None:
        self.reply(await self.call(catalog.dataset, ref))


class DatasetCountHandler(BaseHandler):
    """POST because a selection may be a JSON filter; it writes nothing."""

    @web.authenticated
    @authorized(action="read")
    async def post(self, ref: str) -> None:
        body = self.body()
        if not isinstance(body, dict) or set(body) - {"selection"}:
            raise web.HTTPError(400, "%s", "request body must be {\"selection\": ...}")
        self.reply(await self.call(catalog.count_selection, ref, body.get("selection")))


class FiltersHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply({"items": await self.call(catalog.filters, self.arg("dataset") or None)})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        self.reply(await self.call(actions.add_filter, self.body()), 201)


class FilterHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        self.reply(await self.call(catalog.filter_row, name))


class ServicesHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.reply({"items": await self.call(catalog.services, self.arg("model") or None)})


class ServiceHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self, name: str) -> None:
        self.reply(await self.call(catalog.service, name))


class ServicePauseHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def post(self, name: str, verb: str) -> None:
        self.reply(await self.call(actions.pause, name, verb == "pause"))


class ExecutionsHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        q = executions.ListQuery(kind=self.arg("kind") or None, status=self.arg("status") or None,
                                 service=self.arg("service") or None, search=self.arg("search") or None,
                                 limit=int_arg(self.arg("limit"), "limit", 50, 1, 500),
                                 offset=int_arg(self.arg("offset"), "offset", 0, 0, 10_000_000),
                                 sort=self.arg("sort") or "created_at", order=self.arg("order") or "desc")
        count = choice_arg(self.arg("count"), "count", ("0", "1")) == "1"
        self.reply(Raw(await self.call(executions.list_executions_json, q.check(), count=count, quick=True)))


class ExecutionHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self, ref: str) -> None:
        self.reply(await self.call(artifacts.execution_view, ref, quick=True))

    @web.authenticated
    @authorized
    async def delete(self, ref: str) -> None:
        self.reply(await self.call(actions.remove, ref))


class ExecutionActionHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def post(self, ref: str, verb: str) -> None:
        if verb == "abort":
            self.reply(await self.call(actions.abort, ref))
        else:
            self.reply(await self.call(actions.rerun, ref, self.body()), 201)


class MetricsHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self, ref: str) -> None:
        after = int_arg(self.arg("after"), "after", 0, 0, 2**62)
        limit = int_arg(self.arg("limit"), "limit", 10_000, 1, 100_000)

        self.reply(Raw(await self.call(executions.metrics_json, ref, after, limit, quick=True)))


class LogsHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self, ref: str) -> None:
        offset = self.arg("offset")
        start = None if offset in (None, "") else int_arg(offset, "offset", 0, 0, 2**62)
        tail = int_arg(self.arg("tail"), "tail", 64 * 1024, 0, 1024 * 1024)
        self.reply(await self.call(artifacts.log_chunk, ref, start, tail))


class ArtifactHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self, path: str) -> None:
        content = choice_arg(self.arg("content"), "content", ("0", "1")) != "0"
        self.reply(await self.call(artifacts.contents, path, content))


# --- writes ----------------------------------------------------------------------------------------


class TrainHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.body()
        async with self.mm.key_lock(body):
            result = await self.call(actions.train, body)
        self.reply(result, 201 if result["created"] else 200)


class EvaluateHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        body = self.body()
        async with self.mm.key_lock(body):
            result = await self.call(actions.evaluate, body)
        self.reply(result, 201 if result["created"] else 200)


# --- the event stream ------------------------------------------------------------------------------


class StreamHandler(BaseHandler):
    """Server-sent events (see ``stream``); one execution's detail when ``ref`` is given."""

    @web.authenticated
    @authorized
    async def get(self, ref: str | None = None) -> None:
        sub = Subscriber()
        first: list[str] = []
        if ref:
            after, offset = self._resume()
            row = await self.call(artifacts.execution_view, ref)
            sub = Subscriber(execution_id=row["id"], after_metric=after, log_offset=offset)
            row.pop("events", None)
            first.append(format_event("execution", row))
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        hub = self.mm.hub
        hub.subscribe(sub)
        self._closed = asyncio.Event()
        try:
            self.write("retry: 2000\n: connected\n\n" + "".join(first))
            await self.flush()
            while not self._closed.is_set():
                message = await self._next(sub)
                if message is None:
                    break
                self.write(message)
                await self.flush()
                if sub.overflowed and sub.queue.empty():
                    break  # the client re-connects and re-fetches
        except StreamClosedError:
            pass
        finally:
            hub.unsubscribe(sub)
        if not self._closed.is_set() and not self._finished:
            try:
                self.finish()
            except StreamClosedError:
                pass

    async def _next(self, sub: Subscriber) -> str | None:
        """The next event, a keep-alive comment after ``PING_EVERY`` s, or None once the client left."""
        getter = asyncio.ensure_future(sub.queue.get())
        closed = asyncio.ensure_future(self._closed.wait())
        done, _ = await asyncio.wait({getter, closed}, timeout=PING_EVERY, return_when=asyncio.FIRST_COMPLETED)
        closed.cancel()
        if getter in done:
            return getter.result()
        getter.cancel()
        return None if self._closed.is_set() else ": ping\n\n"

    def _resume(self) -> tuple[int, int]:
        """Where to resume: ``Last-Event-ID`` (``<metric id>:<log offset>``) or ``after``/``log_offset``."""
        last = self.request.headers.get("Last-Event-ID", "")
        if last:
            metric, _, offset = last.partition(":")
            if metric.isdigit() and offset.isdigit():
                return int(metric), int(offset)
        return (int_arg(self.arg("after"), "after", 0, 0, 2**62),
                int_arg(self.arg("log_offset"), "log_offset", 0, 0, 2**62))

    def on_connection_close(self) -> None:
        closed = getattr(self, "_closed", None)
        if closed is not None:
            closed.set()
        super().on_connection_close()


class NotFoundHandler(BaseHandler):
    @web.authenticated
    async def get(self, path: str) -> None:
        raise web.HTTPError(404, "%s", f"unknown route {self.request.path}")

    post = put = delete = patch = get


def routes(base: str) -> list[tuple[str, type]]:
    """The URL patterns of the REST API under ``base`` (``<base_url>/mm-jupyter/api``)."""
    ref = r"([^/]+)"
    table = [
        ("meta", MetaHandler), ("models", ModelsHandler), (f"models/{ref}", ModelHandler),
        (f"models/{ref}/defaults", ModelDefaultsHandler), ("snapshots", SnapshotsHandler),
        (f"snapshots/{ref}", SnapshotHandler), ("datasets", DatasetsHandler),
        (f"datasets/{ref}", DatasetHandler), (f"datasets/{ref}/count", DatasetCountHandler),
        ("filters", FiltersHandler), (f"filters/{ref}", FilterHandler), ("services", ServicesHandler),
        (f"services/{ref}", ServiceHandler), (f"services/{ref}/(pause|resume)", ServicePauseHandler),
        ("executions", ExecutionsHandler), (f"executions/{ref}", ExecutionHandler),
        (f"executions/{ref}/(abort|rerun)", ExecutionActionHandler),
        (f"executions/{ref}/metrics", MetricsHandler), (f"executions/{ref}/logs", LogsHandler),
        (f"executions/{ref}/stream", StreamHandler), ("stream", StreamHandler),
        ("train", TrainHandler), ("evaluate", EvaluateHandler), ("artifacts/?(.*)", ArtifactHandler),
        ("(.*)", NotFoundHandler),
    ]
    return [(f"{base}/{pattern}", handler) for pattern, handler in table]
