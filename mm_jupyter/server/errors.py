"""Mapping of mm-jupyter errors to HTTP statuses (the messages are ``errors.one_line``)."""

from __future__ import annotations

from ..errors import Conflict, InvalidInput, MMError, NotFound, StoreError, Unavailable, one_line

STATUS: dict[type[MMError], int] = {InvalidInput: 400, NotFound: 404, Unavailable: 409, Conflict: 409,
                                     StoreError: 503}

__all__ = ["STATUS", "one_line", "status_of"]


def status_of(exc: MMError) -> int:
    """The HTTP status for an mm-jupyter error (400 for any other ``MMError``)."""
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400
