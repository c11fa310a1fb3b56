"""Typed reading of request bodies and query arguments; anything malformed raises ``InvalidInput``."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInput

JSON_TYPES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
              dict: "an object", list: "a list"}


class Body:
    """A JSON object from a request; read each field once, then ``done()`` refuses unknown fields."""

    def __init__(self, data: Any, where: str = "request body"):
        if not isinstance(data, dict):
            raise InvalidInput(f"{where} must be a JSON object, got {_kind(data)}")
        self.data, self.where, self.seen = data, where, set()

    def get(self, key: str, kind: type | tuple[type, ...], *, required: bool = False,
            default: Any = None) -> Any:
        self.seen.add(key)
        value = self.data.get(key)
        if value is None:
            if required:
                raise InvalidInput(f"{self.where}: field {key!r} is required")
            return default
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            wanted = " or ".join(JSON_TYPES.get(k, k.__name__) for k in kinds)
            raise InvalidInput(f"{self.where}: field {key!r} must be {wanted}, got {_kind(value)}")
        if isinstance(value, str) and len(value) > 10_000:
            raise InvalidInput(f"{self.where}: field {key!r} is too long")
        return value

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self.get(key, str, required=required)
        if required and not value.strip():
            raise InvalidInput(f"{self.where}: field {key!r} must not be empty")
        return value

    def strings(self, key: str) -> list[str] | None:
        value = self.get(key, list)
        if value is not None and not all(isinstance(v, str) for v in value):
            raise InvalidInput(f"{self.where}: field {key!r} must be a list of strings")
        return value

    def selection(self, key: str) -> dict | str | None:
        """A subset selection: ``{"tag"|"dir"|"filter"|"query": ...}`` or its text form."""
        return self.get(key, (dict, str))

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise InvalidInput(f"{self.where}: unknown field(s) {', '.join(map(repr, unknown))}")


def int_arg(value: str | None, name: str, default: int, low: int, high: int) -> int:
    """A query argument as an integer in ``[low, high]``."""
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(f"query argument {name!r} must be an integer, got {value!r}") from None
    if not low <= number <= high:
        raise InvalidInput(f"query argument {name!r} must be between {low} and {high}, got {number}")
    return number


def choice_arg(value: str | None, name: str, choices: tuple[str, ...]) -> str | None:
    if value is None or value == "":
        return None
    if value not in choices:
        raise InvalidInput(f"query argument {name!r} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return JSON_TYPES.get(type(value), type(value).__name__)
