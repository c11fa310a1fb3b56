"""Mapping of mm-jupyter errors to HTTP statuses, and one-line messages for anything else."""

from __future__ import annotations

from ..errors import Conflict, InvalidInput, MMError, NotFound, StoreError

STATUS: dict[type[MMError], int] = {InvalidInput: 400, NotFound: 404, Conflict: 409, StoreError: 500}


def status_of(exc: MMError) -> int:
    """The HTTP status for an mm-jupyter error (400 for any other ``MMError``)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def one_line(exc: BaseException, limit: int = 500) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line[:limit]
