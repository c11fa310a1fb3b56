"""Notebook templates, execution parameters and the papermill call that runs them."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import InvalidInput
from .secrets import RedactingWriter, Redactor

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


REDACTED_SCHEME = "mm-redacted://"


class RedactingHandler:
    """Papermill's I/O handler for ``mm-redacted://<path>``: every save of the executed notebook
    (after each cell and every autosave) goes through ``Redactor.tree`` before it reaches the disk,
    written to a temp file and renamed, so the file never holds a secret value, not even between
    saves. ``redactor`` is the running attempt's (one runner process runs one attempt)."""

    redactor: Redactor | None = None

    @classmethod
    def local(cls, path: str) -> str:
        return path[len(REDACTED_SCHEME):]

    @classmethod
    def read(cls, path: str) -> str:
        return Path(cls.local(path)).read_text(encoding="utf-8")

    @classmethod
    def listdir(cls, path: str) -> list[str]:
        return os.listdir(cls.local(path))

    @classmethod
    def pretty_path(cls, path: str) -> str:
        return cls.local(path)

    @classmethod
    def write(cls, buf: str, path: str) -> None:
        import json

        if cls.redactor:
            nb = json.loads(buf)
            record = nb.get("metadata", {}).get("papermill") or {}
            if str(record.get("output_path") or "").startswith(REDACTED_SCHEME):  # the path a user can use
                record["output_path"] = cls.local(record["output_path"])
            for cell in nb.get("cells", []):
                if cell.get("outputs"):
                    cell["outputs"] = _joined_streams(cell["outputs"], cls.redactor)
            nb = cls.redactor.tree(nb)
            buf = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
        target = Path(cls.local(path))
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(buf, encoding="utf-8")
        os.replace(tmp, target)


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def _joined_streams(outputs: list, redactor: Redactor) -> list:
    """A cell's outputs with the pieces of one stream (stdout or stderr) made one output where a
    value is split over them (say, stderr written between two writes of stdout)."""
    for name in ("stdout", "stderr"):
        parts = [o for o in outputs if o.get("output_type") == "stream" and o.get("name") == name]
        if len(parts) < 2:
            continue
        whole = "".join(_text(o.get("text")) for o in parts)
        if redactor.text(whole) != "".join(redactor.text(_text(o.get("text"))) for o in parts):
            first = {**parts[0], "text": whole}
            outputs = [first if o is parts[0] else o for o in outputs if o is parts[0] or o not in parts]
    return outputs


def _redacted_output(output: Path, redactor: Redactor | None) -> str:
    """The output path papermill writes to: through ``RedactingHandler`` when the run has secrets."""
    if not redactor:
        return str(output)
    from papermill.iorw import papermill_io

    if not any(scheme == REDACTED_SCHEME for scheme, _ in getattr(papermill_io, "_handlers", [])):
        papermill_io.register(REDACTED_SCHEME, RedactingHandler)
    RedactingHandler.redactor = redactor
    return REDACTED_SCHEME + str(output.resolve())


def execute(template: Path, output: Path, parameters: dict, *, kernel_name: str, log_file: Any,
            cwd: Path, on_kernel_start: Callable[[int], None], autosave_every: int = 5,
            redactor: Redactor | None = None, km: Any = None) -> None:
    """Run ``template`` with papermill into ``output``: parameters injected as literals, saved after
    every cell and every ``autosave_every`` s inside long cells, stream output appended to ``log_file``.

    With a ``redactor`` (the run's secrets), every save of the notebook and every line of the log is
    redacted before it is written. The kernel is started first and boots while papermill is imported
    (~0.4 s of a runner's start); papermill then runs on that kernel, and it is shut down here,
    whatever happened. ``km``: a kernel manager of a kernel already running for this run (an adopted
    warm kernel, whose pid was reported already); it is used instead of starting one, and shut down
    the same way.
    """
    import shutil

    from jupyter_core.utils import run_sync

    streams: list[Any] = []
    sock_dir = ""
    if km is None:
        manager_class, sock_dir = ipc_kernel_manager(on_kernel_start)
        km = manager_class(kernel_name=kernel_name)
    try:
        if sock_dir:
            run_sync(km.start_kernel)(cwd=str(cwd))
        import papermill

        # one writer per stream: each holds back its own possible start of a value
        streams = [RedactingWriter(log_file, redactor) for _ in range(2)] if redactor else [log_file] * 2
        papermill.execute_notebook(
            str(template), _redacted_output(output, redactor), parameters=parameters, kernel_name=kernel_name,
            progress_bar=False, log_output=False, stdout_file=streams[0], stderr_file=streams[1],
            request_save_on_cell_execute=True, autosave_cell_every=autosave_every, cwd=str(cwd),
            km=km, start_timeout=120,
        )
    finally:
        for stream in streams if redactor else []:
            if stream.pending:  # a start of a value, never a whole one
                log_file.write(stream.pending)
                stream.pending = ""
        # every write of a run is made by its cells: once the last one is done the kernel has nothing
        # left to say, and a graceful exit of torch & co. took ~2.7 s per run
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
        if sock_dir:
            shutil.rmtree(sock_dir, ignore_errors=True)
