"""Remote workers on one machine: `mm serve` as the tracking endpoint, a Dask scheduler, and workers
that share nothing with the store (another MM_HOME, or their own mount namespace with an empty tmpfs
over the store's folder)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from support.helpers import free_port, wait_for


def can_unshare() -> str | None:
    """Why a worker cannot get its own mount namespace here (None: it can)."""
    if os.geteuid() != 0:
        return "needs root: a private mount namespace with a tmpfs over MM_HOME"
    if not shutil.which("unshare"):
        return "needs unshare (util-linux)"
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                            "mount -t tmpfs tmpfs /mnt && umount /mnt"], capture_output=True, text=True)
    if probe.returncode:
        return f"unshare -m is not allowed here: {probe.stderr.strip()[:200]}"
    return None


class Serve:
    """``mm serve`` on a loopback port, for the store at ``home``; stop/start keep the port."""

    def __init__(self, home: Path, log: Path, env: dict | None = None):
        self.home, self.log = home, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "MM_HOME": str(home), "MM_TOKEN": "operator-secret-for-tests", **(env or {})}
        self.proc: subprocess.Popen | None = None

    def start(self) -> Serve:
        from mm_jupyter.tracking_url import ping

        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "mm_jupyter.cli", "serve", "--host", "127.0.0.1",
                                          "--port", str(self.port)], stdout=out, stderr=subprocess.STDOUT,
                                         env=self.env, start_new_session=True)

        def up() -> bool:
            assert self.proc.poll() is None, f"mm serve exited: {self.log.read_text()[-2000:]}"
            try:
                ping(self.url, timeout=1)
                return True
            except Exception:
                return False

        wait_for(up, 60, "mm serve answering")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


class Cluster:
    """A Dask scheduler in this process (no workers of its own) and worker processes started here."""

    def __init__(self) -> None:
        from distributed import LocalCluster

        self.cluster = LocalCluster(n_workers=0, host="127.0.0.1", scheduler_port=0, dashboard_address=None,
                                    processes=True)
        self.address = self.cluster.scheduler_address
        self.runner = "dask://" + self.address.removeprefix("tcp://")
        self.workers: list[subprocess.Popen] = []

    def worker(self, env: dict, log: Path, *, namespace_over: Path | None = None, drop: tuple[str, ...] = (),
               python: list[str] | None = None, cwd: Path | None = None) -> subprocess.Popen:
        """A worker process (no nanny, one thread) with ``env`` (less the variables in ``drop``); with
        ``namespace_over``, in its own mount namespace where that folder is an empty tmpfs; ``python``:
        the interpreter command to run it with."""
        cmd = [*(python or [sys.executable]), "-m", "distributed.cli.dask_worker", self.address, "--nthreads", "1",
               "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"]
        if namespace_over is not None:
            script = 'mount -t tmpfs tmpfs "$0" && exec "$@"'
            cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, str(namespace_over), *cmd]
        with open(log, "ab") as out:
            full = {k: v for k, v in {**os.environ, **env}.items() if k not in drop}
            proc = subprocess.Popen(cmd, env=full, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                    cwd=cwd)
        self.workers.append(proc)
        n = len(self.workers)
        client = self.client()
        wait_for(lambda: len(client.scheduler_info(n_workers=-1)["workers"]) >= n, 60, "the worker joining")
        return proc

    def client(self):
        from mm_jupyter.runners.dask import client_for

        return client_for(self.runner)

    def close(self) -> None:
        from mm_jupyter.runners.dask import close_clients

        close_clients()
        for proc in self.workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        self.cluster.close()


def wait_gone(pid: int, timeout: float = 30.0) -> None:
    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        stat = Path(f"/proc/{pid}/stat")
        return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"

    wait_for(gone, timeout, f"process {pid} gone")


def elapsed(since: float) -> float:
    return time.monotonic() - since


def site_without_mm_jupyter(folder: Path) -> Path:
    """A folder of links to this interpreter's installed packages, all but mm-jupyter: a worker started
    with ``python -S`` and it on PYTHONPATH has Dask and everything else, and no mm-jupyter."""
    import sysconfig

    folder.mkdir(parents=True, exist_ok=True)
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        if "mm_jupyter" in entry.name or entry.suffix == ".pth":
            continue
        (folder / entry.name).symlink_to(entry)
    return folder
