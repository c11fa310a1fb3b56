"""Jupyter kernels installed on this machine (read at most every few seconds: specs live on disk)."""

from __future__ import annotations

import importlib.util
import json
import os
import time

from .errors import InvalidInput

TTL = 10.0
_CACHE: dict[str, object] = {"at": -TTL, "value": {}}


def installed_kernels(max_age: float = TTL) -> dict[str, str]:
    """Kernel name → resource folder, re-read when older than ``max_age`` seconds."""
    if time.monotonic() - float(_CACHE["at"]) >= max_age:
        _CACHE["value"] = find_kernel_specs()
        _CACHE["at"] = time.monotonic()
    return dict(_CACHE["value"])  # type: ignore[arg-type]


def find_kernel_specs() -> dict[str, str]:
    """What ``jupyter_client``'s ``KernelSpecManager().find_kernel_specs()`` finds, without importing
    jupyter_client and IPython (0.33 s of every ``mm train`` / ``mm evaluate`` command): the kernel
    folders (holding ``kernel.json``) of Jupyter's data path and ``<ipython dir>/kernels``, the first of
    a name (lower-cased) winning, and ipykernel's own ``python3`` where no folder provides it. Jupyter's
    ``allowed_kernelspecs`` setting is not applied here; the kernel's start applies it."""
    from jupyter_core.paths import jupyter_path

    ipython_dir = os.environ.get("IPYTHONDIR") or os.path.join(os.path.expanduser("~"), ".ipython")
    found: dict[str, str] = {}
    for folder in [*jupyter_path("kernels"), os.path.join(ipython_dir, "kernels")]:
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            path = os.path.join(folder, name)
            if os.path.isfile(os.path.join(path, "kernel.json")):
                found.setdefault(name.lower(), path)
    if "python3" not in found:
        spec = importlib.util.find_spec("ipykernel")
        if spec is not None and spec.submodule_search_locations:
            found["python3"] = os.path.join(list(spec.submodule_search_locations)[0], "resources")
    return found


def check_kernel(name: object) -> str:
    """``name`` when a Jupyter kernel of that name is installed; ``InvalidInput`` otherwise."""
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"kernel name must be a non-empty string, got {name!r}")
    kernels = installed_kernels(max_age=0)
    if name not in kernels:
        raise InvalidInput(f"kernel {name!r} is not installed (installed: {', '.join(sorted(kernels)) or 'none'})")
    return name


def kernel_labels(max_age: float = TTL) -> dict[str, str]:
    """Kernel name → what the forms show: ``"Display name (language)"`` from its ``kernel.json``
    (the name itself when the file cannot be read)."""
    labels = {}
    for name, folder in installed_kernels(max_age).items():
        try:
            with open(os.path.join(folder, "kernel.json")) as fh:
                spec = json.load(fh)
            display, language = str(spec.get("display_name") or name), str(spec.get("language") or "")
        except (OSError, ValueError, AttributeError):
            display, language = name, ""
        labels[name] = f"{display} ({language})" if language else display
    return labels
