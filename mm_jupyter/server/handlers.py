"""Thin REST handlers: parse the request, call the store on a worker thread, answer JSON.

Every handler is a Jupyter ``APIHandler``: authenticated (token or login cookie; an anonymous
request gets 403), authorized on the ``mm-jupyter`` resource (read for GET, write otherwise) and
XSRF-checked for writes (a cookie-authenticated POST/DELETE needs the ``X-XSRFToken`` header). Errors
are JSON ``{"message": one line, "reason", "status"}``: 400 bad input, 404 unknown id, 409 wrong
state, 413 a body over 1 MiB.

Bodies are streamed (``@stream_request_body``), so tornado hands them over in chunks instead of
buffering them whole (up to jupyter_server's ``max_body_size``, 512 MiB): a ``Content-Length`` over
``MAX_BODY_BYTES`` is refused once the request is authenticated, before any of the body is read, and
a body without one (chunked) is refused at the chunk that passes the limit; the connection is then
closed, the rest never read. Every POST that creates something takes an ``idempotency_key``: the
same key twice (also concurrently) creates once and answers 201, then 200 with the same thing.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from http.client import responses
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web
from tornado.iostream import StreamClosedError
from tornado.web import stream_request_body

from ..errors import MMError
from ..queries import catalog, executions
from . import actions, artifacts
from . import compare as compare_routes
from . import evaluations as evaluation_routes
from . import predictions as prediction_routes
from . import secrets as secret_routes
from .errors import one_line, status_of
from .inputs import MAX_BODY_BYTES, choice_arg, int_arg, parse_json
from .stream import Subscriber, format_event

AUTH_RESOURCE = "mm-jupyter"
PING_EVERY = 15.0
HTTP_METHODS = ("get", "head", "post", "put", "patch", "delete")


class Raw(str):
    """A response body that is already JSON."""


class APIError(web.HTTPError):
    """An HTTP error carrying an mm-jupyter error's one-line message and type."""

    def __init__(self, status: int, message: str, error: str = ""):
        super().__init__(status, "%s", message)
        self.error = error


def _refusal_first(method: Any) -> Any:
    """``method``, first raising the refusal that ``prepare`` put off until the body was read."""

    @functools.wraps(method)
    async def run(self: BaseHandler, *args: Any, **kwargs: Any) -> Any:
        if self._refusal is not None:
            raise self._refusal
        return await method(self, *args, **kwargs)

    return run


@stream_request_body
class BaseHandler(APIHandler):
    """Authenticated JSON handlers whose request bodies are streamed (see the module's docstring).

    In streaming mode ``prepare`` runs before the body is read, and tornado closes the connection
    after any answer given before the body was read (the only way not to read it). That is wanted
    for a body over the limit, not for a small request refused by jupyter_server's checks (no token,
    no XSRF header, a foreign host): closing would break a keep-alive client's next request, so that
    refusal is raised once the body is in (every handler method raises it first), unless the body is
    over the limit too.
    """

    auth_resource = AUTH_RESOURCE
    max_body = MAX_BODY_BYTES  # a route taking images raises it
    _body = b""
    _received = 0
    _refusal: web.HTTPError | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in HTTP_METHODS:
            if name in cls.__dict__:
                setattr(cls, name, _refusal_first(cls.__dict__[name]))

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
        """The request's JSON body (None when empty); bad JSON is a 400 (``inputs.parse_json``)."""
        raw = bytes(self._body)
        if not raw.strip():
            return None
        return parse_json(raw)

    async def create(self, fn: Any, *args: Any) -> None:
        """``fn(store, *args, body) -> (row, created)`` under the body's idempotency key: 201 when it
        created, 200 when the same key had created it before."""
        body = self.body()
        async with self.mm.key_lock(body):
            row, created = await self.call(fn, *args, body)
        self.reply(row, 201 if created else 200)

    def reply(self, data: Any, status: int = 200) -> None:
        """Answer ``data`` as JSON (a ``Raw`` string is sent as it is: JSON built by SQLite)."""
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        payload = data if isinstance(data, Raw) else json.dumps(data, default=str, separators=(",", ":"))
        total = (time.perf_counter() - self._started) * 1000
        self.set_header("Server-Timing", f"db;dur={getattr(self, '_db_ms', 0.0):.2f}, total;dur={total:.2f}")
        self.finish(payload)

    async def prepare(self) -> None:
        """Authenticate (jupyter_server), then refuse a ``Content-Length`` over the limit before
        any of the body is read."""
        self._started = time.perf_counter()
        self._body = bytearray()
        header = self.request.headers.get("Content-Length")
        length = int(header) if header is not None and header.strip().isdigit() else None
        try:
            await super().prepare()  # authentication (403) and XSRF first: an anonymous client learns nothing
        except web.HTTPError as exc:
            if header is None or (length is not None and length <= self.max_body):
                self._refusal = exc  # answered once the small body is in (see the class docstring)
                return
            raise
        if header is not None and length is None:
            raise APIError(400, f"Content-Length must be a number of bytes, got {header[:40]!r}", "InvalidInput")
        if length is not None and length > self.max_body:
            raise self._too_large(f" of {length} bytes")

    def data_received(self, chunk: bytes) -> None:
        """Collect the body (streamed in chunks); past ``MAX_BODY_BYTES`` answer at once (tornado
        then closes the connection instead of reading the rest)."""
        if self._finished:
            return
        self._received += len(chunk)
        if self._received > self.max_body:
            self._body = bytearray()
            error = self._refusal or self._too_large("")
            self.send_error(error.status_code, exc_info=(type(error), error, None))
        elif self._refusal is None:
            self._body += chunk

    def _too_large(self, size: str) -> APIError:
        return APIError(413, f"request body{size} is too large (at most {self.max_body / 2**20:g} MiB)", "BodyTooLarge")

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
        await self.create(actions.register_model)


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
        self.reply({"items": await self.call(catalog.snapshots, self.arg("model") or None,
                                             search=self.arg("search") or None)})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        await self.create(actions.create_snapshot)


class SnapshotHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self, ref: str) -> None:
        self.reply(await self.call(catalog.snapshot, ref))

    @web.authenticated
    @authorized
    async def delete(self, ref: str) -> None:
        """Remove a version with its ended executions and weights (409 while one has not ended)."""
        self.reply(await self.call(actions.remove_snapshot, ref))


class VersionPageHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self, ref: str) -> None:
        self.reply(await self.call(catalog.version_page, ref))


class NotesHandler(BaseHandler):
    """A version's notes: GET (``?history=1``: every edit, newest first), PUT/PATCH ``{"text": ...}``."""

    @web.authenticated
    @authorized
    async def get(self, ref: str) -> None:
        history = choice_arg(self.arg("history"), "history", ("0", "1")) == "1"
        self.reply(await self.call(catalog.version_notes, ref, history))

    @web.authenticated
    @authorized
    async def put(self, ref: str) -> None:
        self.reply(await self.call(actions.set_notes, ref, self.body()))

    @web.authenticated
    @authorized
    async def patch(self, ref: str) -> None:
        self.reply(await self.call(actions.set_notes, ref, self.body()))


class TagsHandler(BaseHandler):
    """A version's tags: GET, PATCH ``{"add": [...], "remove": [...]}``."""

    @web.authenticated
    @authorized
    async def get(self, ref: str) -> None:
        self.reply(await self.call(catalog.version_tags, ref))

    @web.authenticated
    @authorized
    async def patch(self, ref: str) -> None:
        self.reply(await self.call(actions.change_tags, ref, self.body()))


class WeightsHandler(BaseHandler):
    """A version's weights as an attachment: ``?file=NAME`` one file of its weights folder, else a zip
    of them all; 404 with one line ("no weights yet: train this version first") when it has none."""

    CHUNK = 1 << 20

    @web.authenticated
    @authorized
    async def get(self, ref: str) -> None:
        name = self.get_query_argument("file", None)
        download = await self.call(artifacts.weights_download, ref, name or None)
        loop = asyncio.get_running_loop()
        try:
            self.set_header("Content-Type", download.content_type)
            self.set_header("Content-Disposition", download.disposition())
            self.set_header("Content-Length", str(download.size))
            self.set_header("X-Content-Type-Options", "nosniff")
            while chunk := await loop.run_in_executor(None, download.fh.read, self.CHUNK):
                self.write(chunk)
                await self.flush()
        except StreamClosedError:
            return
        finally:
            download.fh.close()
        self.finish()


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
        await self.create(actions.add_filter)


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

    @web.authenticated
    @authorized
    async def patch(self, name: str) -> None:
        """Change settings (checked by the core's service checks); answers the service."""
        self.reply(await self.call(actions.configure_service, name, self.body()))


class ServicePauseHandler(BaseHandler):
    """``pause`` / ``resume`` / ``stop`` (pause, then let the running executions finish within the
    drain time; ``{"drain_time": seconds}`` optional)."""

    @web.authenticated
    @authorized
    async def post(self, name: str, verb: str) -> None:
        if verb == "stop":
            self.reply(await self.call(actions.stop_service, name, self.body()))
        else:
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
            await self.create(actions.rerun, ref)


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
        (f"snapshots/{ref}", SnapshotHandler), (f"snapshots/{ref}/page", VersionPageHandler),
        (f"snapshots/{ref}/notes", NotesHandler), (f"snapshots/{ref}/tags", TagsHandler),
        (f"snapshots/{ref}/weights", WeightsHandler), ("datasets", DatasetsHandler),
        (f"datasets/{ref}", DatasetHandler), (f"datasets/{ref}/count", DatasetCountHandler),
        ("filters", FiltersHandler), (f"filters/{ref}", FilterHandler), ("services", ServicesHandler),
        (f"services/{ref}", ServiceHandler), (f"services/{ref}/(pause|resume|stop)", ServicePauseHandler),
        ("executions", ExecutionsHandler), (f"executions/{ref}", ExecutionHandler),
        (f"executions/{ref}/(abort|rerun)", ExecutionActionHandler),
        (f"executions/{ref}/metrics", MetricsHandler), (f"executions/{ref}/logs", LogsHandler),
        (f"executions/{ref}/stream", StreamHandler), ("stream", StreamHandler),
        *evaluation_routes.routes(BaseHandler, ref), *compare_routes.routes(BaseHandler),
        *secret_routes.routes(BaseHandler, ref), *prediction_routes.routes(BaseHandler, ref),
        ("train", TrainHandler), ("evaluate", EvaluateHandler), ("artifacts/?(.*)", ArtifactHandler),
        ("(.*)", NotFoundHandler),
    ]
    return [(f"{base}/{pattern}", handler) for pattern, handler in table]
