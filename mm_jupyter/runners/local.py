"""The local runner: each attempt is its own process group on this machine.

``start`` spawns ``python -m mm_jupyter.attempt <execution_id> <attempt>`` detached (a new session);
that process heartbeats, enforces the execution timeout, runs the notebook, records the outcome and
hands back to the scheduler. Nothing needs to stay running between executions.
"""

from __future__ import annotations

import os
import subprocess
import threading

from ..errors import InvalidInput, one_line
from ..executions import Outcome, fail
from ..kernels import installed_kernels
from ..processes import attempt_command, hostname, stop_execution_processes
from ..store import Store
from .base import OnDone, Problem, Runner


class LocalRunner(Runner):
    scheme = "local"

    @classmethod
    def check_address(cls, address: object) -> str:
        if address != "local":
            raise InvalidInput(f"the local runner's address is 'local', got {address!r}")
        return "local"

    def start(self, store: Store, exe: dict, service: dict, on_done: OnDone | None = None) -> None:
        """Spawn the runner process of a claimed attempt (it dispatches the next one itself)."""
        try:
            folder = store.inside_artifacts(store.execution_dir(exe))
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / "runner.log", "ab") as out:
                proc = subprocess.Popen(
                    attempt_command(exe["id"], exe["attempts"]), stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT, start_new_session=True, cwd=folder,
                    env={**os.environ, "MM_HOME": str(store.home)},
                )
        except Exception as exc:  # OSError (disk full, read-only), NotFound (a path outside artifacts)
            fail(store, exe["id"], f"cannot start runner: {one_line(exc)}", Outcome.START_FAILURE,
                 attempt=exe["attempts"])
            return
        store.update_if("executions", exe["id"], {"runner_pid": proc.pid, "host": hostname()},
                        attempts=exe["attempts"])
        threading.Thread(target=proc.wait, daemon=True).start()  # reap it: no zombies in long-lived parents

    def stop(self, store: Store, exe: dict) -> None:
        stop_execution_processes(exe)

    def problem(self, store: Store, service: dict, wait: bool = True) -> Problem | None:
        kernel = service["kernel_name"]
        kernels = installed_kernels()
        if kernel not in kernels:
            return Problem("kernel-missing", f"kernel {kernel!r} is not installed on this machine "
                           f"(installed: {', '.join(sorted(kernels)) or 'none'})")
        return None
