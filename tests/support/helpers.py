"""Helpers the test modules share (imported as ``support.helpers``; no test module imports another)."""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

TOY = "toy_adapter:ToyAdapter"


def make_imagefolder(root: Path, per_class: int = 2) -> Path:
    """A tiny class-per-folder dataset: train/val/test × red/blue, ``per_class`` 16 px images each."""
    for split in ("train", "val", "test"):
        for name, color in (("red", (255, 0, 0)), ("blue", (0, 0, 255))):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                Image.new("RGB", (16, 16), color).save(folder / f"{i}.png")
    return root


def wait_for(predicate: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy (returned), at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_status(store, exe_id: str, wanted, timeout: float = 60.0) -> dict:
    """Wait until the execution's status is one of ``wanted``; returns its row."""
    deadline = time.monotonic() + timeout
    row = store.get("executions", exe_id)
    while time.monotonic() < deadline:
        row = store.get("executions", exe_id)
        if row["status"] in wanted:
            return row
        time.sleep(0.1)
    raise AssertionError(f"{exe_id} still {row['status']}, wanted {wanted}")


def statuses(store, exe_id: str) -> list[str]:
    """The statuses an execution passed through, from its typed status events."""
    from mm_jupyter.queries.executions import events

    return [e["message"].split(": ")[0].removeprefix("status -> ") for e in events(store, exe_id)
            if e["type"] == "status"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def digest(store) -> str:
    """A hash of every row of every table and of the artifact tree: 'unchanged' means unchanged."""
    h = hashlib.sha256()
    for table in sorted(t for t in store.db.table_names() if t != "execution_names"):
        for row in store.conn.execute(f"SELECT * FROM [{table}] ORDER BY {'rowid' if table != 'dataset_files' else 'path'}"):
            h.update(repr((table, row)).encode())
    for path in sorted(store.artifacts.rglob("*")) if store.artifacts.exists() else []:
        h.update(str(path).encode())
    return h.hexdigest()


def counts(store, tables=("models", "snapshots", "datasets", "executions", "metrics", "events")) -> dict:
    return {t: store.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


class RecordingRunner:
    """A runner that starts nothing: claimed executions stay in-progress (for queue tests)."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def start(self, store, exe, service, on_done=None) -> None:
        self.started.append(exe["id"])

    def stop(self, store, exe) -> None:
        pass

    def problem(self, store, service, wait=True):
        return None


def socket_post(url: str, path: str, headers: str, chunks: list[bytes] | tuple = ()) -> tuple[int, dict, float]:
    """A POST written on the socket: ``headers`` as given (each ending in CRLF), then ``chunks`` sent
    from a thread while the answer is read (the server may answer and close before the body is sent).
    Returns the status, the JSON body and the seconds until the answer was complete."""
    import json
    import re
    import threading
    import time

    host, port = url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=20)
    start = time.monotonic()
    sock.sendall((f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n{headers}\r\n"
                  ).encode("latin-1"))

    def send() -> None:
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except OSError:  # refused and closed: the rest is not wanted
            pass

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    data = b""
    try:
        while True:
            head, sep, body = data.partition(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            if sep and length and len(body) >= int(length.group(1)):
                break
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        elapsed = time.monotonic() - start
    finally:
        sock.close()
        sender.join(20)
    return int(head.split(b" ", 2)[1]), json.loads(body), elapsed
