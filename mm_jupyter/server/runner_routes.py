"""The runner API over HTTP: ``/mm-jupyter/runner/v1/…`` (``runner_api.RunnerAPI`` does the work).

Plain ``tornado.web.RequestHandler``s, served alike by the Jupyter server extension and by ``mm
serve``: no Jupyter authentication, no cookies, no XSRF check. The only credential is the attempt's
token (``Authorization: Bearer …``); neither the Jupyter token nor ``mm serve``'s operator token is
one. Errors are JSON ``{"error": "<one line>"}``. JSON bodies are streamed and refused past 8 MiB
(413, before the rest is read); files are streamed in both directions (``PUT`` with ``Content-Range``
for a resumable upload, ``GET`` with ``Range``, ``HEAD`` for what an upload already holds).
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
from http.client import responses
from typing import Any

from tornado import web
from tornado.iostream import StreamClosedError

from ..errors import MMError, one_line
from ..runner_api import MAX_JSON_BYTES, Caller, Refused, RunnerAPI, Upload
from ..tracking_url import API_PATH
from .errors import status_of
from .inputs import parse_checked_later, parse_json

CHUNK = 1 << 20
ATTEMPT = r"/attempts/([^/]+)/([^/]+)"
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class RunnerError(web.HTTPError):
    """An HTTP error with its one-line message (the JSON ``error``)."""

    def __init__(self, status: int, message: str):
        super().__init__(status, "%s", message)
        self.message = message


def _http_error(exc: MMError) -> RunnerError:
    status = exc.status if isinstance(exc, Refused) else status_of(exc)
    return RunnerError(status, one_line(exc))


class RunnerHandler(web.RequestHandler):
    """What every runner route shares: the API, calls on its threads, JSON answers and errors."""

    api: RunnerAPI

    def initialize(self, api: RunnerAPI) -> None:
        self.api = api

    def check_xsrf_cookie(self) -> None:
        """No cookies here: a bearer token is not sent by a browser on its own, so no XSRF check."""

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")

    async def run(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` on the API's threads; mm-jupyter errors become HTTP errors."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.api.executor, functools.partial(fn, *args))
        except MMError as exc:
            raise _http_error(exc) from None

    async def caller(self, execution_id: str, attempt: str) -> Caller:
        return await self.run(self.api.authenticate, self.request.headers.get("Authorization"), execution_id, attempt)

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data, default=str, separators=(",", ":")))

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, MMError):
            e = _http_error(e)
        super()._handle_request_exception(e)

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, RunnerError):
            return  # an answer, not a failure of the server
        super().log_exception(typ, value, tb)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = (kwargs.get("exc_info") or (None, None, None))[1]
        if isinstance(exc, RunnerError):
            message = exc.message
        elif isinstance(exc, web.HTTPError):
            message = (exc.log_message % exc.args if exc.args else exc.log_message) or exc.reason or \
                responses.get(status_code, "error")
        elif exc is not None:
            message = f"internal error: {one_line(exc)}"
        else:
            message = responses.get(status_code, "error")
        if self.request.method == "HEAD":
            self.finish()
            return
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": message}))


@web.stream_request_body
class JSONHandler(RunnerHandler):
    """A route with a JSON body: streamed in, refused past ``MAX_JSON_BYTES`` (413) before the rest
    is read (tornado then closes the connection)."""

    _body: bytearray
    _received = 0

    async def prepare(self) -> None:
        self._body = bytearray()
        header = self.request.headers.get("Content-Length")
        if header is not None and not header.strip().isdigit():
            raise RunnerError(400, f"Content-Length must be a number of bytes, got {header[:40]!r}")
        if header is not None and int(header) > MAX_JSON_BYTES:
            raise self._too_large(f" of {int(header)} bytes")

    def data_received(self, chunk: bytes) -> None:
        if self._finished:
            return
        self._received += len(chunk)
        if self._received > MAX_JSON_BYTES:
            self._body = bytearray()
            error = self._too_large("")
            self.send_error(error.status_code, exc_info=(type(error), error, None))
        else:
            self._body += chunk

    @staticmethod
    def _too_large(size: str) -> RunnerError:
        return RunnerError(413, f"request body{size} is too large (at most {MAX_JSON_BYTES >> 20} MiB): "
                                "send smaller batches")

    def body(self, parse: Any = parse_json) -> Any:
        raw = bytes(self._body)
        try:
            return parse(raw) if raw.strip() else {}
        except MMError as exc:
            raise _http_error(exc) from None


class PingHandler(RunnerHandler):
    async def get(self) -> None:
        self.reply(self.api.ping())


class ReadHandler(RunnerHandler):
    """``GET spec`` and ``GET state``."""

    async def get(self, execution_id: str, attempt: str, what: str) -> None:
        caller = await self.caller(execution_id, attempt)
        self.reply(await self.run(getattr(self.api, what), caller))


class WriteHandler(JSONHandler):
    """``POST started | heartbeat | batch | version | outcome``."""

    async def post(self, execution_id: str, attempt: str, what: str) -> None:
        received = time.time()
        caller = await self.caller(execution_id, attempt)
        if what == "batch":  # parsed off the event loop; its points are checked one by one in runner_api
            body = await self.run(self.body, parse_checked_later)
            self.reply(await self.run(self.api.batch, caller, body, received))
        else:
            body = self.body()
            self.reply(await self.run(getattr(self.api, what), caller, body))


class Streaming(RunnerHandler):
    """Sends a file's bytes from an open file, ``CHUNK`` at a time (reads on the API's threads)."""

    async def send_file(self, fh: Any, offset: int, size: int, ranged: bool) -> None:
        try:
            self.set_header("Content-Type", "application/octet-stream")
            self.set_header("Accept-Ranges", "bytes")
            self.set_header("Content-Length", str(size - offset))
            if ranged:
                self.set_status(206)
                self.set_header("Content-Range", f"bytes {offset}-{max(size - 1, offset)}/{size}")
            loop = asyncio.get_running_loop()
            left = size - offset
            while left > 0:
                chunk = await loop.run_in_executor(self.api.executor, fh.read, min(CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
                self.write(chunk)
                try:
                    await self.flush()
                except StreamClosedError:
                    return
            self.finish()
        finally:
            fh.close()

    def offset(self) -> tuple[int, bool]:
        header = self.request.headers.get("Range")
        if not header:
            return 0, False
        match = _RANGE.match(header.strip())
        if not match or match.group(2):
            raise RunnerError(400, f"Range must be 'bytes=START-', got {header[:80]!r}")
        return int(match.group(1)), True


class BlobHandler(Streaming):
    async def get(self, execution_id: str, attempt: str, sha256: str) -> None:
        caller = await self.caller(execution_id, attempt)
        path, size = await self.run(self.api.blob, caller, sha256)
        offset, ranged = self.offset()
        fh = await self.run(open, path, "rb")
        if offset > size:
            fh.close()
            raise RunnerError(400, f"Range starts at byte {offset}, past the blob's end ({size} bytes)")
        if offset:
            fh.seek(offset)
        await self.send_file(fh, offset, size, ranged)


@web.stream_request_body
class FilesHandler(Streaming):
    """``PUT`` (streamed into the artifact root; ``Content-Range`` for a chunk of a resumable upload,
    ``X-Content-Sha256`` checked on the last), ``GET`` (``Range: bytes=START-``), ``HEAD``."""

    _upload: Upload | None = None
    _error: BaseException | None = None
    _pending: bytearray

    async def prepare(self) -> None:
        self._pending = bytearray()
        if self.request.method != "PUT":
            return
        self.request.connection.set_max_body_size(1 << 42)  # chunks are streamed: the root is the limit
        execution_id, attempt, key = self.path_args
        caller = await self.caller(execution_id, attempt)
        self._upload = await self.run(self.api.upload, caller, key, self.request.headers.get("Content-Range"))

    async def data_received(self, chunk: bytes) -> None:
        if self._upload is None or self._error is not None:
            return
        self._pending += chunk
        if len(self._pending) >= CHUNK:
            await self._flush_pending()

    async def _flush_pending(self) -> None:
        data, self._pending = bytes(self._pending), bytearray()
        if data and self._upload is not None and self._error is None:
            try:
                await self.run(self._upload.write, data)
            except Exception as exc:  # answered once the body is in (put)
                self._error = exc

    async def put(self, execution_id: str, attempt: str, key: str) -> None:
        upload = self._upload
        if upload is None:
            raise RunnerError(400, "no upload")
        try:
            await self._flush_pending()
            if self._error is not None:
                raise self._error
            result = await self.run(upload.finish, self.request.headers.get("X-Content-Sha256"))
        except BaseException:
            upload.abort()
            raise
        finally:
            self._upload = None
        self.reply(result)

    def on_connection_close(self) -> None:
        if self._upload is not None:
            self._upload.abort()  # what was written stays: the client resumes from HEAD's size
            self._upload = None

    async def get(self, execution_id: str, attempt: str, key: str) -> None:
        caller = await self.caller(execution_id, attempt)
        offset, ranged = self.offset()
        fh, size = await self.run(self.api.download, caller, key, offset)
        await self.send_file(fh, offset, size, ranged)

    async def head(self, execution_id: str, attempt: str, key: str) -> None:
        caller = await self.caller(execution_id, attempt)
        size = await self.run(self.api.upload_size, caller, key)
        if size is None:
            raise RunnerError(404, f"no file at {key[:160]!r}")
        self.set_header("Content-Length", str(size))
        self.set_header("Accept-Ranges", "bytes")
        self.finish()


def routes(base: str, api: RunnerAPI) -> list[tuple[str, type, dict]]:
    """The runner API's routes under ``base`` (``…/mm-jupyter/runner/v1``), all served by ``api``."""
    base = base.rstrip("/")
    kw = {"api": api}
    return [
        (f"{base}/ping", PingHandler, kw),
        (f"{base}{ATTEMPT}/(spec|state)", ReadHandler, kw),
        (f"{base}{ATTEMPT}/(started|heartbeat|batch|version|outcome)", WriteHandler, kw),
        (f"{base}{ATTEMPT}/blobs/([^/]+)", BlobHandler, kw),
        (f"{base}{ATTEMPT}/files/(.+)", FilesHandler, kw),
    ]


__all__ = ["API_PATH", "routes"]
