"""A real S3 endpoint for tests: ``moto_server`` (moto's standalone S3 server) as a subprocess on a
free loopback port, with a bucket, and the environment that makes ``s3://BUCKET/…`` reach it through
s3fs/botocore (``AWS_ENDPOINT_URL``, fake credentials, a region).

``with s3_server() as s3:`` (or the ``s3`` pytest fixture in a test module) starts it, sets the
variables in ``os.environ`` for this process (``s3.env`` for subprocesses: servers, kernels) and stops
the server and restores the environment afterwards. Every wait is bounded.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from support.helpers import free_port

MOTO = Path(sys.executable).with_name("moto_server")


@dataclass
class S3Server:
    endpoint: str
    bucket: str
    proc: subprocess.Popen
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def url(self, prefix: str = "") -> str:
        """``s3://<bucket>/<prefix>``."""
        return f"s3://{self.bucket}/{prefix.strip('/')}".rstrip("/")

    def client(self):
        """A boto3 S3 client for this endpoint (to look at, or tamper with, objects directly)."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=self.env["AWS_DEFAULT_REGION"],
                            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"])

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start_s3(base: Path, bucket: str | None = None, timeout: float = 60) -> S3Server:
    """Start ``moto_server`` and create ``bucket``; raise with its log if it does not answer."""
    exe = str(MOTO) if MOTO.exists() else shutil.which("moto_server")
    if not exe:
        raise RuntimeError("moto_server is not installed (pip install 'moto[server]' s3fs)")
    base.mkdir(parents=True, exist_ok=True)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint,
           "AWS_ENDPOINT_URL_S3": endpoint, "AWS_EC2_METADATA_DISABLED": "true"}
    log_path = base / "moto.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                env={**os.environ, **{k: v for k, v in env.items() if not k.startswith("AWS_ENDPOINT")}})
    server = S3Server(endpoint, bucket or f"mm-test-{uuid.uuid4().hex[:8]}", proc, log_path, env)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"moto_server did not answer within {timeout} s:\n{server.log_tail()}") from None
            time.sleep(0.1)
    try:
        server.client().create_bucket(Bucket=server.bucket)
    except Exception:
        server.stop()
        raise
    return server


@contextmanager
def s3_server(base: Path, bucket: str | None = None) -> Iterator[S3Server]:
    """A running S3 server with its variables in ``os.environ`` (restored and the server stopped after)."""
    server = start_s3(base, bucket)
    saved = {k: os.environ.get(k) for k in server.env}
    os.environ.update(server.env)
    _forget_fsspec_instances()
    try:
        yield server
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        _forget_fsspec_instances()
        server.stop()


def _forget_fsspec_instances() -> None:
    """s3fs caches its file system objects (with their endpoint): drop them when the endpoint changes."""
    try:
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()
    except ImportError:
        pass
