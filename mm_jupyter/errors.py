"""Errors with one-line messages that name what is wrong (shown as-is by the CLI and the UIs)."""


class MMError(Exception):
    """Base of every error mm-jupyter reports to a user."""

    exit_code = 2


class StoreError(MMError):
    """The store cannot be opened, migrated or written."""


class NotFound(MMError):
    """An unknown (or ambiguous) id or name."""

    exit_code = 3


class InvalidInput(MMError):
    """A malformed config, filter, path, dataset or parameter."""


class Conflict(MMError):
    """An action that the current state does not allow (abort a finished run, rerun a running one)."""

    exit_code = 4
