"""Notebook templates, execution parameters and the papermill call that runs them."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import InvalidInput

NOTEBOOK_NAME = "notebook.ipynb"
LOG_NAME = "log.txt"


def templates_dir() -> Path:
    """The train/evaluate templates: ``notebooks/`` in a checkout, ``mm_jupyter/templates`` in a wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "notebooks", here / "templates"):
        if (candidate / "train.ipynb").is_file():
            return candidate
    raise InvalidInput("notebook templates not found (is mm_jupyter installed completely?)")


def template_for(kind: str, notebook: str | None = None) -> Path:
    """The notebook an execution runs: the user's own (same parameters cell) or the kind's template."""
    if notebook:
        path = Path(notebook).expanduser().resolve()
        if not path.is_file() or path.suffix != ".ipynb":
            raise InvalidInput(f"notebook {notebook!r} does not exist or is not an .ipynb file")
        check_parameters_cell(path)
        return path
    return templates_dir() / f"{kind}.ipynb"


def check_parameters_cell(path: Path) -> None:
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises several unrelated types for bad files
        raise InvalidInput(f"notebook {str(path)!r} cannot be read: {exc}") from None
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        raise InvalidInput(f"notebook {str(path)!r} has no cell tagged 'parameters'")


def ipc_kernel_manager(on_start: Callable[[int], None]) -> tuple[type, str]:
    """A kernel manager class that talks to its kernel over IPC sockets and reports its pid."""
    from jupyter_client.manager import AsyncKernelManager

    sock_dir = tempfile.mkdtemp(prefix="mmk-")  # short path: unix sockets allow ~107 bytes

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any):
            super().__init__(**kwargs)
            self.transport = "ipc"
            self.ip = os.path.join(sock_dir, "k")

        async def start_kernel(self, **kwargs: Any) -> None:
            await super().start_kernel(**kwargs)
            pid = getattr(self.provisioner, "pid", None)
            if pid:
                on_start(int(pid))

    return IPCKernelManager, sock_dir


def execute(template: Path, output: Path, parameters: dict, *, kernel_name: str, log_file: Any,
            cwd: Path, on_kernel_start: Callable[[int], None], autosave_every: int = 5) -> None:
    """Run ``template`` with papermill into ``output``: parameters injected as literals, saved after
    every cell and every ``autosave_every`` s inside long cells, stream output appended to ``log_file``.

    The kernel is started first and boots while papermill is imported (~0.4 s of a runner's start);
    papermill then runs on that kernel, and it is shut down here, whatever happened.
    """
    import shutil

    from jupyter_core.utils import run_sync

    manager_class, sock_dir = ipc_kernel_manager(on_kernel_start)
    km = manager_class(kernel_name=kernel_name)
    try:
        run_sync(km.start_kernel)(cwd=str(cwd))
        import papermill

        papermill.execute_notebook(
            str(template), str(output), parameters=parameters, kernel_name=kernel_name,
            progress_bar=False, log_output=False, stdout_file=log_file, stderr_file=log_file,
            request_save_on_cell_execute=True, autosave_cell_every=autosave_every, cwd=str(cwd),
            km=km, start_timeout=120,
        )
    finally:
        # every write of a run is made by its cells: once the last one is done the kernel has nothing
        # left to say, and a graceful exit of torch & co. took ~2.7 s per run
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
        shutil.rmtree(sock_dir, ignore_errors=True)
