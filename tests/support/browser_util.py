"""A JupyterLab server started by a test (its own root, MM_HOME and token) and a headless Debian
Chromium driven by Playwright. Every wait is bounded; ``stop`` always ends the server's process group."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class JupyterLab:
    """``jupyter lab`` on 127.0.0.1 with a random token, serving ``root``; ``env`` is added to its own."""

    def __init__(self, root: Path, env: dict[str, str], log: Path):
        self.root, self.env, self.log_path = root, env, log
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}?token={self.token}"

    def start(self, timeout: float = 60.0) -> None:
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={self.port}",
               "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={self.token}",
               f"--ServerApp.root_dir={self.root}", "--ServerApp.port_retries=0", "--LabApp.news_url=",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--LabApp.extension_manager=readonly"]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=self.root, env={**os.environ, **self.env}, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited ({self.proc.returncode}): {self.tail()}")
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"jupyter lab did not answer within {timeout}s: {self.tail()}")

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the server's process group (it shuts its kernels down), SIGKILL after ``grace``."""
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = os.getpgid(self.proc.pid)
        os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(5)
        self.log.close()


@contextmanager
def models_sidebar(url: str, token: str, width: int = 1400, height: int = 900):
    """A headless Debian Chromium page on the JupyterLab at ``url`` with the Models sidebar open, at
    its default width; yields ``(page, sidebar, errors)`` (``errors``: the page's uncaught errors
    that come from mm-jupyter's own code)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(30_000)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(f"{exc}\n{exc.stack}")
                    if "/extensions/mm-jupyter/" in f"{exc.stack}" else None)
            page.goto(f"{url}/lab?token={token}")
            tab = page.locator('.jp-SideBar [data-id="mm-jupyter-sidebar"]')
            tab.wait_for(timeout=90_000)
            tab.click()
            yield page, page.locator("#mm-jupyter-sidebar"), errors
        finally:
            browser.close()


def require_browser() -> None:
    """Skip where Playwright or Debian's chromium is missing; fail where the sidebar is not built."""
    import pytest
    from support.server_util import LABEXTENSION

    pytest.importorskip("playwright")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install -y chromium")
    if not (LABEXTENSION / "package.json").exists():
        pytest.fail("mm_jupyter/labextension is not built: npm ci && npm run build")


# --- the sidebar: its controls, a version's page ------------------------------------------------------

SIDEBAR_PANEL = "#mm-jupyter-sidebar .mm-tab-body"
CONTROLS = "button:visible, input:visible, textarea:visible, select:visible, a[href]:visible"


def assert_controls_usable(page, root, panel_selector: str, where: str) -> int:
    """Every visible control under ``root`` (a selector or a locator) can be scrolled inside the panel,
    lies inside it (both ways), and is big enough to use; returns how many were checked."""
    panel = page.locator(panel_selector).bounding_box()
    controls = (page.locator(root) if isinstance(root, str) else root).locator(CONTROLS)
    n = controls.count()
    assert n, f"{where}: no controls under {root}"
    for i in range(n):
        control = controls.nth(i)
        control.scroll_into_view_if_needed()
        box = control.bounding_box()
        label = (control.get_attribute("aria-label") or control.inner_text() or control.get_attribute("title")
                 or f"#{i}").strip()[:40]
        assert box and panel, (where, label)
        inside_x = panel["x"] - 1 <= box["x"] and box["x"] + box["width"] <= panel["x"] + panel["width"] + 1
        inside_y = panel["y"] - 1 <= box["y"] and box["y"] + box["height"] <= panel["y"] + panel["height"] + 1
        assert inside_x and inside_y, f"{where}: {label!r} {box} is not inside its panel {panel}"
        tag = control.evaluate("el => el.tagName")
        if tag in ("INPUT", "TEXTAREA", "SELECT"):
            assert box["width"] >= 80 and box["height"] >= 16, f"{where}: {label!r} is too small ({box})"
        else:
            assert box["width"] >= 14 and box["height"] >= 12, f"{where}: {label!r} is too small ({box})"
    return n


def open_version(sidebar, version_id: str):
    sidebar.locator('.mm-tab[data-tab="versions"]').click()
    back = sidebar.locator(".mm-version-page .mm-back")
    if back.count():
        back.click()
    sidebar.locator(f'.mm-snapshot[data-id="{version_id}"]').click()
    view = sidebar.locator(f'.mm-version-page[data-id="{version_id}"]')
    view.locator(".mm-version-name").wait_for()
    return view
