"""Start a real Jupyter server (or JupyterLab) with mm-jupyter's extension for tests and benchmarks.

The server runs as a subprocess on a free loopback port with a random token, an isolated Jupyter
config/data/runtime folder (the extension enabled by the repository's own
``jupyter-config/jupyter_server_config.d/mm_jupyter.json``, the sidebar linked from
``mm_jupyter/labextension``) and ``MM_HOME`` set; every wait is bounded and ``stop()`` always ends
the process group, and any run it left in progress.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = Path(__file__).resolve().parent
EXTENSION_CONFIG = ROOT / "jupyter-config" / "jupyter_server_config.d" / "mm_jupyter.json"
LABEXTENSION = ROOT / "mm_jupyter" / "labextension"
# JupyterLab settings that keep a test session quiet and offline
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/apputils-extension/announcements.jupyterlab-settings": {"fetchNews": "false"},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    token: str
    home: Path
    root: Path
    proc: subprocess.Popen
    log_path: Path
    session: requests.Session = field(default_factory=requests.Session)

    def api(self, path: str) -> str:
        return f"{self.url}/mm-jupyter/api/{path.lstrip('/')}"

    def call(self, method: str, path: str, *, token: bool = True, timeout: float = 30, **kwargs: Any) -> requests.Response:
        """A request to the mm-jupyter API (token-authenticated unless ``token=False``)."""
        headers = dict(kwargs.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"token {self.token}"
        return requests.request(method, self.api(path), headers=headers, timeout=timeout, **kwargs)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        """End the server's process group (SIGTERM, then SIGKILL) and any execution left running."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=10)
        stop_runs(self.home)


def stop_runs(home: Path) -> None:
    """Stop the processes of executions still running in ``home``'s store (their runner's ``stop``)."""
    from mm_jupyter import executions as ex
    from mm_jupyter.scheduler import stop_attempt
    from mm_jupyter.store import Store

    if not (home / "mm.db").exists():
        return
    store = Store(home)
    try:
        for exe in store.find("executions", status=ex.IN_PROGRESS):
            stop_attempt(store, exe)
    finally:
        store.close()


def _jupyter_dirs(base: Path, lab: bool) -> dict[str, str]:
    config, data = base / "config", base / "data"
    (config / "jupyter_server_config.d").mkdir(parents=True, exist_ok=True)
    shutil.copy(EXTENSION_CONFIG, config / "jupyter_server_config.d" / EXTENSION_CONFIG.name)
    (data / "labextensions").mkdir(parents=True, exist_ok=True)
    if lab:
        link = data / "labextensions" / "mm-jupyter"
        if not link.exists():
            link.symlink_to(LABEXTENSION, target_is_directory=True)
    settings = base / "lab-settings"
    for name, values in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return {"JUPYTER_CONFIG_DIR": str(config), "JUPYTER_DATA_DIR": str(data),
            "JUPYTER_RUNTIME_DIR": str(base / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces")}


def start_server(base: Path, home: Path, *, lab: bool = False, root: Path | None = None,
                 env: dict[str, str] | None = None, timeout: float = 90, poll_interval: float = 0.25) -> Server:
    """Start ``jupyter server`` (or ``jupyter lab``) and wait until it answers; raise with its log if not."""
    base.mkdir(parents=True, exist_ok=True)
    root = root or base / "root"
    root.mkdir(parents=True, exist_ok=True)
    token, port = secrets.token_hex(16), free_port()
    full_env = {**os.environ, **_jupyter_dirs(base, lab), "MM_HOME": str(home),
                "PYTHONPATH": os.pathsep.join([str(SUPPORT), os.environ.get("PYTHONPATH", "")]),
                **(env or {})}
    app = "jupyterlab" if lab else "jupyter_server"
    cmd = [sys.executable, "-m", app, "--no-browser", "--allow-root", f"--port={port}",
           "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", f"--MMJupyterApp.poll_interval={poll_interval}"]
    if lab:
        cmd += ["--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                "--LabApp.extension_manager=readonly"]
    log_path = base / ("lab.log" if lab else "server.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=full_env, cwd=root, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", token, home, root, proc, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter exited with {proc.returncode}:\n{server.log_tail()}")
        try:
            r = requests.get(f"{server.url}/api/status", headers={"Authorization": f"token {token}"}, timeout=2)
            if r.status_code == 200 and requests.get(server.api("meta"), timeout=5, headers={
                    "Authorization": f"token {token}"}).status_code == 200:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"jupyter did not answer within {timeout:.0f}s:\n{server.log_tail()}")
