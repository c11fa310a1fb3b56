"""The process of one deployment: ``python -m mm_jupyter.deployment DP_ID``.

It starts the deployment's kernel (the secrets it names in its environment), loads the version into
it once (``predictor.Predictor``), and answers predictions on a loopback HTTP port: ``POST /predict``
with ``{"images": [{"name": …, "data": <base64>}], "top_k": k}`` and the deployment's key as a bearer
token (the key lives in an owner-only file beside the deployment; the store keeps only its hash).
Requests that arrive while the kernel is busy are answered together in one call of the adapter's
batched ``predict``. It heartbeats into the store every ``HEARTBEAT`` s, ends on SIGTERM or when its
row is set to ``stopping`` (``mm undeploy``), and records why it ended.
"""

from __future__ import annotations

import hmac
import json
import os
import queue
import shutil
import signal
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .errors import InvalidInput, MMError, one_line
from .imagefiles import check_image_bytes, check_top_k, decode_images, write_images
from .kernel_session import KernelError, KernelSession
from .secrets import Redactor, check_names, resolve
from .store import Store, now

HEARTBEAT = 2.0
MAX_BATCH = 32
MAX_BODY = 64 * 1024 * 1024
MODULE = "mm_jupyter.deployment"


def key_path(home: str | os.PathLike, deployment_id: str) -> Path:
    """The owner-only file holding a deployment's key (what its callers present)."""
    return Path(home) / "deployments" / deployment_id / "key"


class _Job:
    def __init__(self, images: list[tuple[str, bytes]], top_k: int):
        self.images = images
        self.top_k = top_k
        self.done = threading.Event()
        self.result: list[dict] | None = None
        self.error: tuple[int, str] | None = None


class Deployment:
    """The running deployment: its kernel, its batching worker and its HTTP server."""

    def __init__(self, home: str, deployment_id: str):
        self.home = home
        self.id = deployment_id
        self.store = Store(home, create=False)
        self.row = self.store.get("deployments", deployment_id, by_name=False)
        self.key = key_path(home, deployment_id).read_text().strip()
        self.jobs: queue.Queue[_Job] = queue.Queue()
        self.stop = threading.Event()
        self.kernel: KernelSession | None = None
        self.redactor = Redactor({})
        self.tmp = Path(tempfile.mkdtemp(prefix=f"mm-{deployment_id}-"))

    # -- life --

    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        if not self.store.update_if("deployments", self.id, {"pid": os.getpid()}, status="starting"):
            return 0  # undeployed (or started by someone else) before this process got here
        try:
            self._start_kernel()
        except Exception as exc:
            self._end("failed", self.redactor.text(one_line(exc)))
            return 1
        # loopback, or the Dask worker's host address (``MM_DEPLOYMENT_HOST``): the key guards it
        server = ThreadingHTTPServer((os.environ.get("MM_DEPLOYMENT_HOST") or "127.0.0.1", 0), self._handler())
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        threading.Thread(target=self._worker, daemon=True).start()
        host, port = server.server_address[:2]
        self.store.update_if("deployments", self.id, {"status": "running", "address": f"{host}:{port}",
                                                       "started_at": now(), "heartbeat_at": now(), "error": None},
                             status="starting", pid=os.getpid())
        reason = self._watch()
        server.shutdown()
        self._end(*reason)
        return 0 if reason[0] == "stopped" else 1

    def _start_kernel(self) -> None:
        values = resolve(self.home, check_names(self.row.get("secrets") or []))
        self.redactor = Redactor(values)
        self.kernel = KernelSession(self.row["kernel_name"], env=values, cwd=str(self.tmp)).start()
        self.store.update_if("deployments", self.id, {"heartbeat_at": now()}, status="starting")
        self.kernel.call("from mm_jupyter.predictor import Predictor\n"
                         f"_mm_predictor = Predictor.open({self.home!r}, {self.row['snapshot_id']!r})\n")

    def _watch(self) -> tuple[str, str | None]:
        """Heartbeat until told to stop; (final status, reason)."""
        while not self.stop.wait(HEARTBEAT):
            if self.kernel is None or not self.kernel.alive():
                return "failed", "the deployment's kernel died"
            try:
                alive = self.store.update_if("deployments", self.id, {"heartbeat_at": now()},
                                             status="running", pid=os.getpid())
            except MMError as exc:
                return "failed", f"cannot reach the store: {one_line(exc)}"
            if not alive:
                return "stopped", None  # set to stopping (undeploy) or taken over
        return "stopped", None

    def _end(self, status: str, error: str | None) -> None:
        self.stop.set()
        if self.kernel is not None:
            self.kernel.shutdown()
        shutil.rmtree(self.tmp, ignore_errors=True)
        fields: dict[str, Any] = {"status": status, "ended_at": now()}
        if error:
            fields["error"] = error[:500]
        self.store.update_if("deployments", self.id, fields, status=("starting", "running", "stopping"),
                             pid=os.getpid())

    # -- predictions --

    def _worker(self) -> None:
        while not self.stop.is_set():
            try:
                first = self.jobs.get(timeout=0.5)
            except queue.Empty:
                continue
            batch = [first]
            n = len(first.images)
            while n < MAX_BATCH:
                try:
                    job = self.jobs.get_nowait()
                except queue.Empty:
                    break
                batch.append(job)
                n += len(job.images)
            self._answer(batch)

    def _answer(self, batch: list[_Job]) -> None:
        folder = Path(tempfile.mkdtemp(dir=self.tmp))
        try:
            paths, names = write_images(folder, [image for job in batch for image in job.images])
            top_k = max(job.top_k for job in batch)
            assert self.kernel is not None
            records = self.kernel.call(f"_mm_publish(_mm_predictor.predict_files({paths!r}, {names!r}, {top_k}))")
            start = 0
            for job in batch:
                job.result = [_cut(r, job.top_k) for r in records[start:start + len(job.images)]]
                start += len(job.images)
        except KernelError as exc:
            for job in batch:
                job.error = (400 if exc.ename == "InvalidInput" else 500, self.redactor.text(one_line(exc)))
        except Exception as exc:
            for job in batch:
                job.error = (503, self.redactor.text(one_line(exc)))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            for job in batch:
                job.done.set()

    def predict(self, body: dict) -> tuple[int, Any]:
        try:
            images = parse_images(body)
            top_k = check_top_k(body.get("top_k", 5))
        except MMError as exc:
            return 400, {"error": one_line(exc)}
        job = _Job(images, top_k)
        self.jobs.put(job)
        while not job.done.wait(0.5):
            if self.stop.is_set():
                return 503, {"error": f"deployment {self.id} is stopping"}
        if job.error:
            return job.error[0], {"error": job.error[1]}
        return 200, {"deployment": self.id, "snapshot_id": self.row["snapshot_id"], "predictions": job.result}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        deployment = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, doc: Any) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _authorized(self) -> bool:
                given = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
                if not hmac.compare_digest(given.encode(), deployment.key.encode()):
                    self._send(401, {"error": "a deployment's key is required"})
                    return False
                return True

            def do_GET(self) -> None:
                if self._authorized():
                    self._send(200, {"deployment": deployment.id, "status": "running",
                                     "snapshot_id": deployment.row["snapshot_id"]})

            def do_POST(self) -> None:
                if not self._authorized():
                    return
                if self.path != "/predict":
                    self._send(404, {"error": f"no route {self.path}"})
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._send(413, {"error": f"a request of at most {MAX_BODY:,} bytes is accepted"})
                    return
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    self._send(400, {"error": "the body is not JSON"})
                    return
                self._send(*deployment.predict(body if isinstance(body, dict) else {}))

        return Handler


def parse_images(body: dict) -> list[tuple[str, bytes]]:
    """``[(name, bytes)]`` of ``{"images": [{"name": …, "data": <base64>}, …]}``, each checked to be an
    image (``InvalidInput`` naming the first that is not)."""
    images = body.get("images")
    if not isinstance(images, list) or not images:
        raise InvalidInput("give images: a non-empty list of {\"name\": …, \"data\": <base64>}")
    if len(images) > 256:
        raise InvalidInput(f"at most 256 images per request, got {len(images)}")
    out = decode_images(images)
    for name, data in out:
        check_image_bytes(data, name)
    return out


def _cut(record: dict, top_k: int) -> dict:
    if "top_k" in record:
        return {**record, "top_k": record["top_k"][:top_k]}
    return record


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(f"usage: python -m {MODULE} DEPLOYMENT_ID", file=sys.stderr)
        return 2
    home = os.environ.get("MM_HOME") or ""
    return Deployment(home, argv[0]).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
