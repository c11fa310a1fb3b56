"""Typed reading of request bodies and query arguments; anything malformed raises ``InvalidInput``.

A body is strict JSON (``parse_json``): UTF-8, at most ``MAX_DEPTH`` levels deep (counted before
parsing), finite numbers, 64-bit integers. Its size (at most ``MAX_BODY_BYTES``) is enforced while it
arrives, by the handlers (``handlers.BaseHandler``)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ..errors import InvalidInput, one_line

MAX_BODY_BYTES = 1024 * 1024  # a request body larger than this is refused before it is read
MAX_DEPTH = 64  # JSON nested deeper than this is refused before it is parsed
INT_RANGE = (-(2**63), 2**63 - 1)  # what SQLite stores as an integer
# a JSON string (an unterminated one runs to the end: linear time, no backtracking) or a bracket
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)

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
        """A subset selection: ``{"tag"|"dir"|"filter"|"query": ...}`` or its text form (a JSON query
        given as text, ``{...}`` or ``query:{...}``, is parsed here by the body's rules)."""
        value = self.get(key, (dict, str))
        if isinstance(value, str):
            kind, sep, rest = value.partition(":")
            if value.lstrip().startswith("{"):
                return {"query": json_text(value, f"{self.where}: field {key!r}")}
            if sep and kind == "query":
                return {"query": json_text(rest, f"{self.where}: field {key!r}")}
        return value

    def query(self, key: str, *, required: bool = False) -> dict | None:
        """A filter: a JSON object, or its JSON text (parsed by the body's rules)."""
        value = self.get(key, (dict, str), required=required)
        return json_text(value, f"{self.where}: field {key!r}") if isinstance(value, str) else value

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.seen)
        if unknown:
            raise InvalidInput(f"{self.where}: unknown field(s) {', '.join(map(repr, unknown))}")


def parse_json(raw: bytes | str, where: str = "request body") -> Any:
    """Strict JSON: UTF-8, nested at most ``MAX_DEPTH`` levels (checked before parsing, without
    recursion), finite numbers only (no ``NaN``/``Infinity``, no ``1e999``), integers within 64 bits."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{where} is not valid JSON: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    if too_deep(text):
        raise InvalidInput(f"{where} is nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_int64)
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc}") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, digits past the int limit
        raise InvalidInput(f"{where} is not valid JSON: {one_line(exc, 300)}") from None


def parse_checked_later(raw: bytes, where: str = "request body") -> Any:
    """JSON whose numbers the caller checks itself, element by element (a runner's metric batch:
    ``runner_api`` refuses non-finite values and integers past 64 bits there). Parsed by the C decoder
    alone: no per-number hooks and no bracket scan, which cost 3x the parse on a batch of 5,000 points.
    ``NaN``/``Infinity`` are still refused, and a body nested past the interpreter's recursion limit is
    a one-line error like any other malformed body."""
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc}") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad UTF-8, too deep
        raise InvalidInput(f"{where} is not valid JSON: {one_line(exc, 300)}") from None


def json_text(value: str, where: str) -> Any:
    """JSON text inside a body (a filter given as a string) under the body's rules."""
    if len(value) > MAX_BODY_BYTES:
        raise InvalidInput(f"{where} is too long")
    return parse_json(value, where)


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether ``text``'s brackets nest deeper than ``limit`` outside strings, counted without
    parsing (linear time, no recursion; it stops at the first bracket past ``limit``)."""
    if text.count("[") + text.count("{") <= limit:  # the usual body: it cannot nest deeper
        return False
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token == "[" or token == "{":
            depth += 1
            if depth > limit:
                return True
        elif token == "]" or token == "}":
            depth -= 1
    return False


def _no_constant(name: str) -> Any:
    raise InvalidInput(f"{name} is not a JSON number (numbers must be finite)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidInput(f"number {text[:40]} is out of range (numbers must be finite)")
    return value


def _int64(text: str) -> int:
    value = int(text) if len(text) <= 20 else None
    if value is None or not INT_RANGE[0] <= value <= INT_RANGE[1]:
        raise InvalidInput(f"integer {text[:30]}{'...' if len(text) > 30 else ''} does not fit in 64 bits")
    return value


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
