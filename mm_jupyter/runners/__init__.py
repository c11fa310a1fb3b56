"""Runners, chosen by the scheme of a service's ``runner`` setting (like papermill's I/O handlers):

- ``local``: a detached subprocess per execution on this machine (``runners/local.py``);
- ``dask://host:port``: a task on that Dask ``distributed`` scheduler that supervises the same
  subprocess on a worker (``runners/dask.py``).

Each runner module offers ``start(store, exe)``, ``stop(store, exe)`` and ``problem(store, service)``.
"""

from __future__ import annotations

from types import ModuleType
from urllib.parse import urlsplit

from ..errors import InvalidInput

LOCAL = "local"
DASK_SCHEME = "dask"


def check_address(value: object) -> str:
    """``local`` or ``dask://host:port`` (host a name or IPv4/IPv6 literal, port 1–65535)."""
    if value == LOCAL:
        return LOCAL
    if not isinstance(value, str) or not value.startswith(f"{DASK_SCHEME}://") or len(value) > 300:
        raise InvalidInput(f"runner must be 'local' or 'dask://host:port', got {value!r}")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        port = None
        parts = None
    if parts is None or not parts.hostname or not port or parts.path or parts.query or parts.fragment \
            or parts.username or parts.password or any(c.isspace() for c in value):
        raise InvalidInput(f"runner must be 'local' or 'dask://host:port', got {value!r}")
    return value


def module_for(address: str | None) -> ModuleType:
    """The runner module of an address (``None``, from executions older than v3, is local)."""
    if (address or LOCAL).startswith(f"{DASK_SCHEME}://"):
        from . import dask

        return dask
    from . import local

    return local


def start(store, exe: dict) -> None:
    """Start a claimed (``in-progress``) execution on the runner its attempt was claimed for."""
    module_for(exe.get("runner")).start(store, exe)


def stop(store, exe: dict) -> None:
    """Stop an attempt's processes wherever they run (kernel interrupted, then the process trees)."""
    module_for(exe.get("runner")).stop(store, exe)


def probe_service(store, service: dict, wait: bool = True) -> str | None:
    """Why a service's runner cannot start its executions now (unreachable, no fitting worker …),
    or None when it can. With ``wait=False`` it never blocks on the network: it answers from what
    was last seen and refreshes that in the background (for UIs on an event loop)."""
    return module_for(service.get("runner")).problem(store, service, wait=wait)
