"""The evaluation charts written as SVG: well-formed, one curve per class, every count of the matrix."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from mm_jupyter.svgplots import confusion_svg, pr_curves_svg

NS = "{http://www.w3.org/2000/svg}"


def test_pr_curves_one_line_per_class_inside_the_plot():
    curves = {"cat <1>": {"recall": [0.0, 0.5, 1.0], "precision": [1.0, 0.8, 0.2]},
              "dog": {"recall": [0.0, 0.25], "precision": [1.0, 1.2]},  # above 1 is drawn on the frame
              "empty": {"recall": [], "precision": []}}
    root = ET.fromstring(pr_curves_svg(curves))
    lines = root.findall(f"{NS}polyline")
    assert [pl.find(f"{NS}title").text for pl in lines] == ["cat <1>", "dog"]
    frame = next(r for r in root.findall(f"{NS}rect") if r.get("fill") == "none")
    x0, y0 = float(frame.get("x")), float(frame.get("y"))
    x1, y1 = x0 + float(frame.get("width")), y0 + float(frame.get("height"))
    for pl in lines:
        for point in pl.get("points").split():
            x, y = map(float, point.split(","))
            assert x0 <= x <= x1 and y0 <= y <= y1
    first = [tuple(map(float, p.split(","))) for p in lines[0].get("points").split()]
    assert first[0] == (x0, y0) and first[-1][0] == x1  # recall 0 at precision 1; recall 1 at the right
    assert {t.text for t in root.iter(f"{NS}text")} >= {"recall", "precision", "cat <1>", "dog", "empty"}


def test_confusion_matrix_cells_carry_their_counts():
    matrix = [[5, 1, 0], [2, 7, 0], [0, 0, 9]]
    root = ET.fromstring(confusion_svg(matrix, ["a", "b", "c&d"]))
    cells = [r for r in root.findall(f"{NS}rect") if r.find(f"{NS}title") is not None]
    assert len(cells) == 9
    titles = [r.find(f"{NS}title").text for r in cells]
    assert titles[1] == "true a, predicted b: 1" and titles[8] == "true c&d, predicted c&d: 9"
    fills = {r.find(f"{NS}title").text: r.get("fill") for r in cells}
    assert fills["true c&d, predicted c&d: 9"] != fills["true a, predicted c&d: 0"]  # darker for more
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert texts.count("9") == 1 and "predicted" in texts and "true" in texts


def test_an_empty_matrix_is_still_an_svg():
    assert ET.fromstring(confusion_svg([], [])).tag == f"{NS}svg"
