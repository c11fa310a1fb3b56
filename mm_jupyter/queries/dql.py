"""DQL: a JSON filter over dataset items, checked and compiled to parameterized SQL.

A filter is a JSON object whose keys are fields or the logical operators ``$and``/``$or``::

    {"tags": "train", "metadata.lighting": {"$in": ["dark", "bright"]},
     "$or": [{"metadata.n_objects": {"$gt": 1}}, {"dir": "images/val"}]}

Fields: ``dir``, ``name``, ``path``, ``tags`` (a list: ``$eq`` = contains, ``$in`` = contains any
of, ``$ne`` = does not contain, ``$exists`` = is non-empty) and ``metadata.<field>[.<field>...]``.
Operators: ``$eq`` (also written as a bare value), ``$ne``, ``$in``, ``$gt``, ``$lt``, ``$exists``.
``$ne`` also matches items where the field is missing; ``$gt``/``$lt`` only compare values of the
same kind (numbers with numbers, strings with strings).

Values never reach the SQL text: every value, and every metadata JSON path, is a bound parameter;
field names are checked against a fixed set and a strict pattern before anything is compiled.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ..errors import InvalidInput

MAX_DEPTH = 32
MAX_CONDITIONS = 256  # field conditions in one filter (SQLite's expression depth is 1000)
MAX_VALUES = 1000  # values in one $in list
METADATA_FIELD = re.compile(r"metadata(\.[A-Za-z0-9_-]{1,64}){1,16}")
TEXT_COLUMNS = {"dir": "items.dir", "name": "items.name", "path": "items.path"}
OPERATORS = ("$eq", "$ne", "$in", "$gt", "$lt", "$exists")
KNOWN_FIELDS = "dir, name, path, tags, metadata.<field>"
MAX_INT = 2**63 - 1

Scalar = str | int | float | bool | None


def compile_filter(query: dict) -> tuple[str, list]:
    """Compile a filter into a SQL ``WHERE`` fragment over the ``items`` table and its parameters.

    Raises ``InvalidInput`` naming the bad part for anything that is not a valid filter. An empty
    filter ``{}`` matches every item.
    """
    if not isinstance(query, dict):
        raise InvalidInput(f"filter must be a JSON object, got {type(query).__name__}")
    params: list = []
    sql = _compile_object(query, params, "filter", 0, [0])
    return sql, params


def _compile_object(query: Any, params: list, where: str, depth: int, used: list[int]) -> str:
    if depth > MAX_DEPTH:
        raise InvalidInput(f"filter is nested deeper than {MAX_DEPTH} levels at {where}")
    if not isinstance(query, dict):
        raise InvalidInput(f"{where} must be a JSON object, got {_kind(query)}")
    if not query:
        return "1"
    parts = []
    for key, value in query.items():
        if not isinstance(key, str):
            raise InvalidInput(f"{where}: keys must be strings, got {key!r}")
        if key in ("$and", "$or"):
            parts.append(_compile_logical(key, value, params, f"{where}.{key}", depth, used))
        elif key.startswith("$"):
            raise InvalidInput(f"{where}: unknown operator {key!r} (use $and, $or, or a field)")
        else:
            used[0] += 1
            if used[0] > MAX_CONDITIONS:
                raise InvalidInput(f"filter has more than {MAX_CONDITIONS} field conditions")
            parts.append(_compile_field(key, value, params, f"{where}.{key}"))
    return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"


def _compile_logical(op: str, value: Any, params: list, where: str, depth: int, used: list[int]) -> str:
    if not isinstance(value, list):
        raise InvalidInput(f"{where} must be a list of filters, got {_kind(value)}")
    if not value:
        raise InvalidInput(f"{where} must not be empty")
    if len(value) > MAX_CONDITIONS:
        raise InvalidInput(f"{where} has {len(value)} terms (at most {MAX_CONDITIONS})")
    parts = [_compile_object(v, params, f"{where}[{i}]", depth + 1, used) for i, v in enumerate(value)]
    joiner = " AND " if op == "$and" else " OR "
    return "(" + joiner.join(parts) + ")"


def _compile_field(field: str, cond: Any, params: list, where: str) -> str:
    kind = _field_kind(field, where)
    if not isinstance(cond, dict):
        cond = {"$eq": cond}
    if not cond:
        raise InvalidInput(f"{where}: empty condition")
    parts = []
    for op, value in cond.items():
        if op not in OPERATORS:
            raise InvalidInput(
                f"{where}: unknown operator {op!r} (known: {', '.join(OPERATORS)})"
            )
        compiler = {"tags": _tags_condition, "metadata": _metadata_condition}.get(kind, _text_condition)
        parts.append(compiler(field, op, value, params, f"{where}.{op}"))
    return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"


def _field_kind(field: str, where: str) -> str:
    if field in TEXT_COLUMNS:
        return "text"
    if field == "tags":
        return "tags"
    if METADATA_FIELD.fullmatch(field):
        return "metadata"
    if field == "metadata" or field.startswith("metadata."):
        raise InvalidInput(
            f"{where}: bad metadata field {field!r} (use metadata.<name>, names of letters, "
            "digits, '_' and '-')"
        )
    raise InvalidInput(f"{where}: unknown field {field!r} (known: {KNOWN_FIELDS})")


# --- per-field compilers ---------------------------------------------------------------------


def _text_condition(field: str, op: str, value: Any, params: list, where: str) -> str:
    column = TEXT_COLUMNS[field]
    if op == "$exists":
        return f"({column} IS NOT NULL AND {column} != '')" if _bool(value, where) else \
            f"({column} IS NULL OR {column} = '')"
    if op == "$in":
        values = [_string(v, f"{where}[{i}]") for i, v in enumerate(_list(value, where))]
        return _in(column, values, params)
    params.append(_string(value, where))
    return {"$eq": f"{column} = ?", "$ne": f"{column} IS NOT ?", "$gt": f"{column} > ?",
            "$lt": f"{column} < ?"}[op]


def _tags_condition(field: str, op: str, value: Any, params: list, where: str) -> str:
    contains = "EXISTS (SELECT 1 FROM json_each(items.tags) AS t WHERE t.value {})"
    if op == "$exists":
        present = "COALESCE(json_array_length(items.tags), 0) > 0"
        return present if _bool(value, where) else f"NOT ({present})"
    if op in ("$gt", "$lt"):
        raise InvalidInput(f"{where}: tags are a list: use $eq, $ne, $in or $exists")
    if op == "$in":
        values = [_string(v, f"{where}[{i}]") for i, v in enumerate(_list(value, where))]
        if not values:
            return "0"
        params.extend(values)
        return contains.format("IN (" + ", ".join("?" * len(values)) + ")")
    params.append(_string(value, where))
    return ("NOT " if op == "$ne" else "") + contains.format("= ?")


def _metadata_condition(field: str, op: str, value: Any, params: list, where: str) -> str:
    path = "$" + "".join(f'."{part}"' for part in field.split(".")[1:])
    if op == "$exists":
        params.append(path)
        present = "json_type(items.metadata, ?) IS NOT NULL"
        return present if _bool(value, where) else f"NOT ({present})"
    expr = "json_extract(items.metadata, ?)"
    if op == "$in":
        values = [_scalar(v, f"{where}[{i}]", allow_null=False) for i, v in enumerate(_list(value, where))]
        if not values:
            return "0"
        params.append(path)
        return _in(expr, values, params)
    if op in ("$gt", "$lt"):
        value = _orderable(value, where)
        params.extend([path, path, value])
        kinds = "'text'" if isinstance(value, str) else "'integer', 'real'"
        sign = ">" if op == "$gt" else "<"
        return f"(json_type(items.metadata, ?) IN ({kinds}) AND {expr} {sign} ?)"
    value = _scalar(value, where, allow_null=True)
    if isinstance(value, bool):
        params.extend([path, "true" if value else "false"])
        return "json_type(items.metadata, ?) " + ("= ?" if op == "$eq" else "IS NOT ?")
    params.extend([path, value])
    if op == "$eq":
        return f"{expr} IS ?" if value is None else f"{expr} = ?"
    return f"{expr} IS NOT ?"


def _in(expr: str, values: list, params: list) -> str:
    if not values:
        return "0"
    params.extend(values)
    return f"{expr} IN (" + ", ".join("?" * len(values)) + ")"


# --- value checks ----------------------------------------------------------------------------


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _list(value: Any, where: str) -> list:
    if not isinstance(value, list):
        raise InvalidInput(f"{where} needs a list of values, got {_kind(value)}")
    if len(value) > MAX_VALUES:
        raise InvalidInput(f"{where} has {len(value)} values (at most {MAX_VALUES})")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{where} needs true or false, got {_kind(value)}")
    return value


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{where} needs a string, got {_kind(value)}")
    return value


def _scalar(value: Any, where: str, *, allow_null: bool) -> Scalar:
    if value is None and allow_null:
        return None
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return _number(value, where)
    raise InvalidInput(f"{where} needs a string, number or boolean, got {_kind(value)}")


def _orderable(value: Any, where: str) -> str | int | float:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number(value, where)
    raise InvalidInput(f"{where} needs a number or a string, got {_kind(value)}")


def _number(value: int | float, where: str) -> int | float:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"{where} needs a finite number, got {value!r}")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise InvalidInput(f"{where}: integer {value} is out of range")
    return value


# --- parsing and saved filters ---------------------------------------------------------------


def parse_filter(text_or_dict: str | bytes | dict) -> dict:
    """A filter from a JSON string (or a dict), validated; bad JSON or filters raise ``InvalidInput``."""
    if isinstance(text_or_dict, bytes | bytearray):
        text_or_dict = text_or_dict.decode("utf-8", errors="replace")
    if isinstance(text_or_dict, str):
        try:
            query = json.loads(text_or_dict)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"filter is not valid JSON: {exc}") from None
        except RecursionError:
            raise InvalidInput(f"filter is nested deeper than {MAX_DEPTH} levels") from None
    else:
        query = text_or_dict
    compile_filter(query)
    return query
