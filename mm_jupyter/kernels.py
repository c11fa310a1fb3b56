"""Jupyter kernels installed on this machine (read at most every few seconds: specs live on disk)."""

from __future__ import annotations

import time

from .errors import InvalidInput

TTL = 10.0
_CACHE: dict[str, object] = {"at": -TTL, "value": {}}


def installed_kernels(max_age: float = TTL) -> dict[str, str]:
    """Kernel name → resource folder, re-read when older than ``max_age`` seconds."""
    if time.monotonic() - float(_CACHE["at"]) >= max_age:
        from jupyter_client.kernelspec import KernelSpecManager

        _CACHE["value"] = KernelSpecManager().find_kernel_specs()
        _CACHE["at"] = time.monotonic()
    return dict(_CACHE["value"])  # type: ignore[arg-type]


def check_kernel(name: object) -> str:
    """``name`` when a Jupyter kernel of that name is installed; ``InvalidInput`` otherwise."""
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"kernel name must be a non-empty string, got {name!r}")
    kernels = installed_kernels(max_age=0)
    if name not in kernels:
        raise InvalidInput(f"kernel {name!r} is not installed (installed: {', '.join(sorted(kernels)) or 'none'})")
    return name
