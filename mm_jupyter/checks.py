"""Input checks every command shares: names, labels, and values that must be plain finite JSON."""

from __future__ import annotations

import math
import re
from typing import Any

from .errors import InvalidInput

MAX_NAME = 200
BAD_TEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def finite_number(value: Any) -> bool:
    """Whether ``value`` is an int or float (not a bool) and finite."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def finite_or_none(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None and mapping keys made text (JSON has no
    NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_none(v) for v in value]
    return value


def check_text(value: Any, what: str, *, max_len: int = MAX_NAME, empty_ok: bool = False) -> str:
    """A name or label: a string of at most ``max_len`` characters without control characters, NUL
    or lone surrogates (they would garble terminals, logs and JSON)."""
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string, got {type(value).__name__}")
    if not value.strip() and not empty_ok:
        raise InvalidInput(f"{what} must not be empty")
    if len(value) > max_len:
        raise InvalidInput(f"{what} is {len(value)} characters long (at most {max_len})")
    if BAD_TEXT.search(value):
        raise InvalidInput(f"{what} {value[:60].encode('unicode_escape').decode('ascii')!r} contains control "
                           "characters or unpaired surrogates")
    return value


def check_labels(labels: Any, what: str = "labels") -> list[str]:
    """Class names in index order: a list of distinct, non-empty names."""
    if not isinstance(labels, list):
        raise InvalidInput(f"{what} must be a list of class names, got {type(labels).__name__}")
    if len(labels) > 10_000:
        raise InvalidInput(f"{what} has {len(labels)} names (at most 10000)")
    for label in labels:
        check_text(label, "a label")
    if len(set(labels)) != len(labels):
        raise InvalidInput(f"{what} contain duplicates")
    return labels


def check_json_value(value: Any, what: str, *, depth: int = 0, max_depth: int = 32) -> Any:
    """``value`` when it is plain JSON with finite numbers and text keys, nested at most ``max_depth``."""
    if depth > max_depth:
        raise InvalidInput(f"{what} is nested deeper than {max_depth} levels")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"{what} must be a finite number, got {value!r}")
    if isinstance(value, dict):
        for key, item in value.items():
            check_text(key, f"a key of {what}")
            check_json_value(item, f"{what}.{key}", depth=depth + 1, max_depth=max_depth)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_json_value(item, f"{what}[{i}]", depth=depth + 1, max_depth=max_depth)
    elif isinstance(value, str):
        if BAD_TEXT.search(value.replace("\n", "").replace("\t", "")):
            raise InvalidInput(f"{what} contains control characters or unpaired surrogates")
    elif value is not None and not isinstance(value, bool | int | float):
        raise InvalidInput(f"{what} must be JSON (text, number, boolean, list or mapping), got "
                           f"{type(value).__name__}")
    return value
