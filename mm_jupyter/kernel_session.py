"""A Jupyter kernel driven from Python: start it (IPC transport), run code that publishes a JSON
result, shut it down. What predictions, pre-trained weights checks and deployments run in: the model's
code runs in its service's kernel (its "image"), never in the ``mm`` process or the Jupyter server."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from typing import Any

from . import errors
from .errors import MMError, Unavailable, one_line

RESULT_MIME = "application/vnd.mm-jupyter.result+json"
PUBLISH = ("import IPython.display as _mm_d\n"
           "def _mm_publish(value):\n"
           f"    _mm_d.publish_display_data({{{RESULT_MIME!r}: value}})\n")


class KernelError(MMError):
    """The code raised in the kernel: ``ename`` is the exception's class name, the message its text."""

    exit_code = 2

    def __init__(self, ename: str, evalue: str):
        super().__init__(f"{ename}: {evalue}" if evalue else ename)
        self.ename = ename
        self.evalue = evalue


class KernelSession:
    """One kernel of ``kernel_name`` with ``env`` added to its environment.

    ``call(code)`` runs ``code``; the code hands back a JSON value with ``_mm_publish(value)`` (defined
    in the kernel at start), which ``call`` returns. An exception in the kernel is a ``KernelError``
    (``InvalidInput``/``NotFound``/... of mm-jupyter keep their exit codes via ``raise_as``)."""

    def __init__(self, kernel_name: str, *, env: dict[str, str] | None = None, cwd: str | None = None):
        self.kernel_name = kernel_name
        self.env = env or {}
        self.cwd = cwd
        self.km: Any = None
        self.kc: Any = None
        self._sock_dir: str | None = None

    @property
    def pid(self) -> int | None:
        provisioner = getattr(self.km, "provisioner", None)
        pid = getattr(provisioner, "pid", None)
        return int(pid) if pid else None

    def start(self, timeout: float = 60.0) -> KernelSession:
        """Start the kernel and wait until it answers (``Unavailable`` with the reason otherwise)."""
        from jupyter_client.manager import KernelManager

        self._sock_dir = tempfile.mkdtemp(prefix="mmk-")  # unix socket paths allow ~107 bytes
        self.km = KernelManager(kernel_name=self.kernel_name, transport="ipc", ip=os.path.join(self._sock_dir, "k"))
        try:
            self.km.start_kernel(env={**os.environ, **self.env}, cwd=self.cwd or os.getcwd())
            self.kc = self.km.client()
            self.kc.start_channels()
            self.kc.wait_for_ready(timeout=timeout)
        except Exception as exc:  # NoSuchKernel, RuntimeError (died while starting), timeouts
            self.shutdown()
            raise Unavailable(f"kernel {self.kernel_name!r} did not start: {one_line(exc)}") from None
        self.call(PUBLISH, timeout=timeout)
        return self

    def alive(self) -> bool:
        return bool(self.km is not None and self.km.is_alive())

    def call(self, code: str, timeout: float = 600.0) -> Any:
        """Run ``code``; the value it passed to ``_mm_publish`` (None when it published none)."""
        if self.kc is None:
            raise Unavailable(f"kernel {self.kernel_name!r} is not running")
        results: list[Any] = []

        def on_output(msg: dict) -> None:
            if msg["header"]["msg_type"] in ("display_data", "execute_result"):
                data = msg["content"].get("data", {})
                if RESULT_MIME in data:
                    value = data[RESULT_MIME]
                    results.append(json.loads(value) if isinstance(value, str) else value)

        try:
            reply = self.kc.execute_interactive(code, store_history=False, timeout=timeout, output_hook=on_output,
                                                allow_stdin=False)
        except TimeoutError:
            raise Unavailable(f"kernel {self.kernel_name!r} did not answer within {timeout:g} s") from None
        content = reply["content"]
        if content.get("status") != "ok":
            raise KernelError(content.get("ename", "Error"), str(content.get("evalue", "")))
        return results[-1] if results else None

    def shutdown(self) -> None:
        """Stop the kernel at once (its work is over) and remove its sockets."""
        try:
            if self.kc is not None:
                self.kc.stop_channels()
            if self.km is not None and self.km.has_kernel:
                self.km.shutdown_kernel(now=True)
        finally:
            self.kc = self.km = None
            if self._sock_dir:
                shutil.rmtree(self._sock_dir, ignore_errors=True)
                self._sock_dir = None

    def __enter__(self) -> KernelSession:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def raise_as(exc: KernelError) -> MMError:
    """An mm-jupyter error raised in the kernel as the same kind here (exit codes kept)."""
    cls = getattr(errors, exc.ename, None)
    if isinstance(cls, type) and issubclass(cls, MMError):
        return cls(exc.evalue)
    return exc
