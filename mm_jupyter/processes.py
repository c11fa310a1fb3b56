"""Process groups on this host: the runner process command line, liveness, and stopping a run's
runner and kernel process trees."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path

ATTEMPT_MODULE = "mm_jupyter.attempt"


def attempt_command(execution_id: str, attempt: int) -> list[str]:
    """The runner process of one attempt: ``python -m mm_jupyter.attempt ID ATTEMPT``."""
    return [sys.executable, "-m", ATTEMPT_MODULE, execution_id, str(attempt)]


def hostname() -> str:
    return socket.gethostname()


def pid_alive(pid: int | None, must_contain: str = "") -> bool:
    """Whether ``pid`` is a live (non-zombie) process on this host whose command line has a marker."""
    if not pid:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
        if must_contain:
            return must_contain.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
        return True
    except (OSError, IndexError):
        return False


def runner_alive(pid: int | None) -> bool:
    """Whether ``pid`` is a live runner process (an attempt, local or remote) on this host."""
    from .tracking_url import REMOTE_ATTEMPT_MODULE

    return pid_alive(pid, ATTEMPT_MODULE) or pid_alive(pid, REMOTE_ATTEMPT_MODULE)


def signal_group(pid: int | None, sig: int) -> None:
    """Send ``sig`` to the process group of ``pid`` (quietly nothing when it is gone)."""
    if not pid:
        return
    try:
        os.killpg(os.getpgid(pid), sig)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def wait_gone(pids: list[int | None], timeout: float) -> bool:
    """Wait up to ``timeout`` s for every pid to end; returns whether they all did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(pid_alive(p) for p in pids if p):
            return True
        time.sleep(0.05)
    return not any(pid_alive(p) for p in pids if p)


def stop_run(runner: int | None, kernel: int | None, host: str | None, grace: float = 5.0) -> None:
    """Interrupt the kernel, then SIGTERM → SIGKILL the runner's and the kernel's process groups
    (only for processes of this host; a runner pid that is no runner any more is left alone)."""
    if host not in (None, hostname()):
        return
    if runner and not runner_alive(runner):
        runner = None
    if kernel and not pid_alive(kernel):
        kernel = None
    if not (runner or kernel):
        return
    signal_group(kernel, signal.SIGINT)
    wait_gone([kernel], 1.0)
    signal_group(runner, signal.SIGTERM)
    if not wait_gone([runner, kernel], grace):
        signal_group(kernel, signal.SIGTERM)
        if not wait_gone([runner, kernel], 2.0):
            signal_group(runner, signal.SIGKILL)
            signal_group(kernel, signal.SIGKILL)
            wait_gone([runner, kernel], 2.0)


def stop_execution_processes(exe: dict, grace: float = 5.0) -> None:
    """``stop_run`` for an execution row (its ``runner_pid``, ``kernel_pid`` and ``host``)."""
    stop_run(exe.get("runner_pid"), exe.get("kernel_pid"), exe.get("host"), grace)
