"""Metric points on the wire (``metric_columns``): a round trip keeps every value the local path
would store, and malformed columns are one-line refusals."""

from __future__ import annotations

import math

import pytest

from mm_jupyter.errors import InvalidInput
from mm_jupyter.metric_columns import decode, encode


def test_round_trip_keeps_nulls_nan_infinity_and_shifts_the_clock():
    points = [("loss", 0, None, 0.5, 100.0), ("mAP50", None, 3, float("nan"), 101.0),
              ("loss", 2**62, -1, float("inf"), 102.5), ("lr", -5, 0, 7, 103.0)]
    rows = decode(encode(points), 10.0)
    assert [r[:3] for r in rows] == [p[:3] for p in points]
    assert rows[0][3] == 0.5 and math.isnan(rows[1][3]) and rows[2][3] == math.inf and rows[3][3] == 7.0
    assert [r[4] for r in rows] == [110.0, 111.0, 112.5, 113.0]
    assert decode(encode([]), 0.0) == []


def test_what_does_not_pack_is_refused_by_the_encoder():
    with pytest.raises(OverflowError):
        encode([("loss", 2**64, None, 1.0, 1.0)])
    with pytest.raises(TypeError):
        encode([("loss", "3", None, 1.0, 1.0)])


@pytest.mark.parametrize("change, message", [
    ({"format": "rows"}, "format"),
    ({"names": ["", "x"]}, "names"),
    ({"name": "***"}, "base64"),
    ({"step": "AAAA"}, "whole number"),
    ({"ts": encode([("a", 1, 1, 1.0, 1.0)])["ts"]}, "has 1 values"),
    ({"names": []}, "refers to a name"),
])
def test_malformed_columns_are_one_line_refusals(change, message):
    columns = {**encode([("a", 1, 1, 1.0, 1.0), ("b", 2, 2, 2.0, 2.0)]), **change}
    with pytest.raises(InvalidInput, match=message) as info:
        decode(columns, 0.0)
    assert "\n" not in str(info.value)


def test_a_non_finite_time_is_refused():
    with pytest.raises(InvalidInput, match="finite times"):
        decode(encode([("a", 1, 1, 1.0, float("nan"))]), 0.0)
