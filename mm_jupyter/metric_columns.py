"""Metric points on the wire: a batch's points as columns of packed numbers (base64 in the JSON).

A remote runner sends up to 5,000 points per batch. As JSON rows (``[name, step, epoch, value, ts]``)
encoding and decoding them cost more than storing them (~5 µs a point on each side); as columns of
little-endian int64/float64 they cost ~0.3 µs. The values also keep the local path's meaning:
floats travel as IEEE doubles, so a NaN is stored as SQLite stores a NaN (NULL) and an infinity as
an infinity, exactly as ``LocalTracker`` stores them. ``None`` steps and epochs travel as
``NULL_INT`` (the one int64 that cannot be a step). Standard library only: both the worker and the
server import it.
"""

from __future__ import annotations

import base64
import binascii
import sys
from array import array
from typing import Any

from .errors import InvalidInput

NULL_INT = -(1 << 63)
FORMAT = "columns-v1"
_BIG = sys.byteorder == "big"
_MAX_NAMES = 10_000


def _pack(typecode: str, values: list) -> str:
    packed = array(typecode, values)
    if _BIG:
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def _unpack(typecode: str, text: Any, n: int | None, what: str) -> array:
    if not isinstance(text, str):
        raise InvalidInput(f"columns.{what} must be base64 text")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"columns.{what} is not valid base64") from None
    out = array(typecode)
    if len(raw) % out.itemsize:
        raise InvalidInput(f"columns.{what} is not a whole number of {out.itemsize}-byte values")
    out.frombytes(raw)
    if _BIG:
        out.byteswap()
    if n is not None and len(out) != n:
        raise InvalidInput(f"columns.{what} has {len(out)} values, columns.name has {n}")
    return out


def encode(points: list) -> dict:
    """``(name, step, epoch, value, ts)`` points as columns; ``OverflowError``/``TypeError`` for a
    step or epoch that is not a 64-bit integer or None (the caller then sends JSON rows)."""
    if not points:
        return {"format": FORMAT, "names": [], "name": "", "step": "", "epoch": "", "value": "", "ts": ""}
    names_of, steps, epochs, values, stamps = zip(*points, strict=True)
    index: dict[str, int] = {}
    name_ids = [index.setdefault(n, len(index)) for n in names_of]
    return {"format": FORMAT, "names": list(index), "name": _pack("I", name_ids),
            "step": _pack("q", [NULL_INT if s is None else s for s in steps]),
            "epoch": _pack("q", [NULL_INT if e is None else e for e in epochs]),
            "value": _pack("d", [float("nan") if v is None else v for v in values]),
            "ts": _pack("d", list(stamps))}


def decode(columns: Any, shift: float) -> list[tuple]:
    """The points of ``columns`` as ``(name, step, epoch, value, ts)`` rows, each ``ts`` moved by
    ``shift`` (onto the receiving clock); ``InvalidInput`` naming what is malformed."""
    if not isinstance(columns, dict) or columns.get("format") != FORMAT:
        raise InvalidInput(f"columns must be an object with format {FORMAT!r}")
    names = columns.get("names")
    if not isinstance(names, list) or len(names) > _MAX_NAMES or not all(
            type(n) is str and 0 < len(n) <= 200 for n in names):
        raise InvalidInput("columns.names must be a list of metric names (non-empty strings of at most "
                           "200 characters)")
    ids = _unpack("I", columns.get("name"), None, "name")
    n = len(ids)
    if n and max(ids) >= len(names):
        raise InvalidInput("columns.name refers to a name that columns.names does not have")
    steps = _unpack("q", columns.get("step"), n, "step").tolist()
    epochs = _unpack("q", columns.get("epoch"), n, "epoch").tolist()
    values = _unpack("d", columns.get("value"), n, "value")
    stamps = _unpack("d", columns.get("ts"), n, "ts")
    if NULL_INT in steps:
        steps = [None if s == NULL_INT else s for s in steps]
    if NULL_INT in epochs:
        epochs = [None if e == NULL_INT else e for e in epochs]
    if any(t != t or t in (float("inf"), float("-inf")) for t in stamps):
        raise InvalidInput("columns.ts must be finite times")
    return list(zip([names[i] for i in ids], steps, epochs, values.tolist(), [t + shift for t in stamps],
                    strict=True))
