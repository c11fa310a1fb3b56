"""The one error hierarchy: one-line messages that name what is wrong (shown as-is by every face).

Every face maps the same classes the same way: the CLI to exit codes (``exit_code``), the server to
HTTP statuses (400 / 404 / 409 / 503), the widgets and the sidebar to one red line.
"""

from __future__ import annotations


class MMError(Exception):
    """Base of every error mm-jupyter reports to a user."""

    exit_code = 2


class InvalidInput(MMError):
    """A malformed config, filter, path, dataset, name or parameter."""


class StoreError(MMError):
    """The store cannot be opened, migrated or written (its file was replaced, the disk is full …)."""


class NotFound(MMError):
    """An unknown (or ambiguous) id or name."""

    exit_code = 3


class Conflict(MMError):
    """What the current state does not allow: a name that already exists, abort a finished run, …"""

    exit_code = 4


class Unavailable(Conflict):
    """A service cannot run executions now (its health is an error), or a wait ran out of time."""


def one_line(exc: BaseException, limit: int = 500) -> str:
    """The first line of an error's message: as it is for an ``MMError``, prefixed with its type name
    for anything else (an unexpected error should say what it was)."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if not isinstance(exc, MMError):
        first = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return (first or type(exc).__name__)[:limit]
