"""Registries of adapters (by name) and runners (by URL scheme), filled from entry points.

Like papermill's engines and I/O handlers, a package adds an adapter or a runner by declaring it::

    [project.entry-points."mm_jupyter.adapters"]
    my-detector = "my_package.adapter:MyAdapter"

    [project.entry-points."mm_jupyter.runners"]
    k8s = "my_package.runner:K8sRunner"       # services with runner "k8s://…"

mm-jupyter's own adapters (``yolo``, ``torch-classifier``) and runners (``local``, ``dask``) are
registered the same way in its ``pyproject.toml``. A model's adapter is a registered name or a
``"module:Class"`` reference, imported from the installed packages or from the model's codebase (a
folder or git revision copied into the store: ``codebases``); the widgets and the sidebar list the
same registry.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import sys
from functools import cache
from typing import Any

from . import codebases
from .adapter import BaseModelAdapter
from .errors import InvalidInput

ADAPTERS_GROUP = "mm_jupyter.adapters"
RUNNERS_GROUP = "mm_jupyter.runners"


@cache
def _entry_points(group: str) -> dict[str, str]:
    return {ep.name: ep.value for ep in importlib.metadata.entry_points(group=group)}


def adapters() -> dict[str, str]:
    """Registered adapters: name → ``"module:Class"``."""
    return dict(_entry_points(ADAPTERS_GROUP))


def runners() -> dict[str, str]:
    """Registered runners: URL scheme → ``"module:Class"``."""
    return dict(_entry_points(RUNNERS_GROUP))


def adapter_reference(ref: str) -> str:
    """``"module:Class"`` for a registered name or a reference given as such."""
    return adapters().get(ref, ref)


def load_object(ref: str, what: str) -> Any:
    """Import ``"module:Attribute"``; a missing module names the package to install, in one line."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise InvalidInput(f"{what} must be 'module:Class', got {ref!r}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        hint = " (pip install \"mm-jupyter[ml]\")" if missing.split(".")[0] in ("torch", "torchvision", "ultralytics") \
            else ""
        raise InvalidInput(f"cannot load {what} {ref!r}: module {missing!r} is not installed{hint}") from None
    except (ImportError, TypeError, ValueError) as exc:
        raise InvalidInput(f"cannot load {what} {ref!r}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise InvalidInput(f"cannot load {what} {ref!r}: {module_name} has no {attr!r}") from None


def adapter_class(ref: Any, codebase: Any = None) -> type:
    """The adapter class of a model's ``adapter`` (a registered name or ``"module:Class"``); with a
    ``codebase`` (its record or its store folder) the class is imported from that folder, in
    isolation (``codebases.load_object``)."""
    if not isinstance(ref, str) or not ref:
        raise InvalidInput(f"adapter must be a registered name or 'module:Class', got {ref!r}")
    full = adapter_reference(ref)
    if ":" not in full:
        known = ", ".join(sorted(adapters())) or "none"
        raise InvalidInput(f"unknown adapter {ref!r} (registered: {known}; or give 'module:Class')")
    folder = codebases.folder_of(codebase)
    cls = codebases.load_object(folder, full, "adapter") if folder else load_object(full, "adapter")
    if not (isinstance(cls, type) and issubclass(cls, BaseModelAdapter)):
        raise InvalidInput(f"adapter {ref!r} is not a BaseModelAdapter subclass")
    missing = [name for name in cls.requires if not module_available(name)]
    if missing:
        raise InvalidInput(f"adapter {ref!r} needs {', '.join(missing)}, not installed here: "
                           f"pip install \"mm-jupyter[{cls.extra}]\"")
    return cls


def module_available(name: str) -> bool:
    """Whether ``name`` can be imported here (found on the path, not blocked), without importing it."""
    if name in sys.modules:
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def kernel_adapter_class(ref: str, codebase: Any = None, expected_hash: str | None = None) -> type:
    """In a process that runs one version (a kernel): the adapter class, imported the ordinary way
    after the codebase (a record or a store folder), when there is one, is checked against its hash
    (``expected_hash``, else the record's) and put first on ``sys.path`` for good
    (``codebases.activate``: imports the adapter makes later come from the same code)."""
    if folder := codebases.folder_of(codebase):
        if expected_hash is None and isinstance(codebase, dict):
            expected_hash = codebase.get("hash")
        codebases.check_unchanged(folder, expected_hash)
        codebases.activate(folder, adapter_reference(ref))
    return adapter_class(ref)


def model_adapter_class(model: dict) -> type:
    """The adapter class of a model row (from its codebase, when it has one)."""
    return adapter_class(model["adapter"], model.get("codebase"))


def version_model(snap: dict, model: dict) -> dict:
    """``model`` as a version was submitted with: the adapter and codebase its reproducibility record
    names (a version trained or submitted keeps its code; its reruns and evaluations use it), else the
    model's current ones (a version never submitted)."""
    repro = snap.get("repro") or {}
    if "adapter" not in repro:
        return model
    return {**model, "adapter": repro["adapter"] or model["adapter"], "codebase": repro.get("codebase")}


def adapter_module_origin(ref: str, codebase: Any = None) -> str | None:
    """The source file of an adapter's module (for the reproducibility record), without importing it."""
    module = adapter_reference(ref).partition(":")[0]
    if folder := codebases.folder_of(codebase):
        return codebases.module_file(folder, module)
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return spec.origin if spec else None


def runner_scheme(address: str | None) -> str:
    """The scheme of a service's runner setting: ``local`` for ``local`` (and None), else the part
    before ``://``."""
    if not address or address == "local":
        return "local"
    scheme, sep, _ = address.partition("://")
    return scheme if sep else address


def runner_class(address: str | None) -> type:
    """The runner class registered for an address's scheme."""
    scheme = runner_scheme(address)
    ref = runners().get(scheme)
    if ref is None:
        known = ", ".join(sorted(runners())) or "none"
        raise InvalidInput(f"runner must be 'local' or SCHEME://… of a registered runner (registered: {known}), "
                           f"got {str(address)[:200]!r}")
    return load_object(ref, "runner")


_RUNNERS: dict[str, Any] = {}


def runner_for(address: str | None) -> Any:
    """The runner object for a service's runner setting (one per address and process)."""
    key = address or "local"
    if key not in _RUNNERS:
        _RUNNERS[key] = runner_class(key)(key)
    return _RUNNERS[key]
