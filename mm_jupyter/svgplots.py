"""Small static charts of evaluation results as SVG text: PR curves per class and the confusion matrix.

Written by hand instead of with matplotlib, whose import and Agg rendering cost an evaluate execution
~1 s; the SVG is the saved artifact and what the executed notebook displays (any browser renders it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

# colour-blind-safe categorical palette (Okabe-Ito), repeated for more classes
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
FONT = 'font-family="sans-serif" font-size="11"'


def _fmt(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _svg(width: int, height: int, body: list[str], title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" {FONT}>'
            f"<title>{escape(title)}</title>"
            f'<rect width="{width}" height="{height}" fill="white"/>' + "".join(body) + "</svg>")


def pr_curves_svg(curves: Mapping[object, Mapping[str, Sequence[float]]],
                  title: str = "PR curves (IoU 0.5, COCO)") -> str:
    """``{class: {"recall": [...], "precision": [...]}}`` as one line per class on [0, 1]², with a legend."""
    w, h, left, top, plot = 460, 340, 48, 28, 260
    legend_x = left + plot + 16
    body = [f'<text x="{left + plot / 2}" y="16" text-anchor="middle" font-size="12">{escape(title)}</text>']
    for t in range(6):
        v = t / 5
        x, y = left + v * plot, top + plot - v * plot
        body.append(f'<line x1="{left}" y1="{_fmt(y)}" x2="{left + plot}" y2="{_fmt(y)}" stroke="#e6e6e6"/>')
        body.append(f'<line x1="{_fmt(x)}" y1="{top}" x2="{_fmt(x)}" y2="{top + plot}" stroke="#e6e6e6"/>')
        body.append(f'<text x="{_fmt(x)}" y="{top + plot + 14}" text-anchor="middle">{v:.1f}</text>')
        body.append(f'<text x="{left - 6}" y="{_fmt(y + 4)}" text-anchor="end">{v:.1f}</text>')
    body.append(f'<rect x="{left}" y="{top}" width="{plot}" height="{plot}" fill="none" stroke="#444"/>')
    body.append(f'<text x="{left + plot / 2}" y="{top + plot + 30}" text-anchor="middle">recall</text>')
    body.append(f'<text transform="translate(12 {top + plot / 2}) rotate(-90)" text-anchor="middle">precision</text>')
    for i, (name, curve) in enumerate(curves.items()):
        colour = PALETTE[i % len(PALETTE)]
        points = " ".join(f"{_fmt(left + min(max(r, 0.0), 1.0) * plot)},{_fmt(top + plot - min(max(p, 0.0), 1.0) * plot)}"
                          for r, p in zip(curve.get("recall") or [], curve.get("precision") or [], strict=False))
        if points:
            body.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.6">'
                        f"<title>{escape(str(name))}</title></polyline>")
        y = top + 8 + 16 * i
        body.append(f'<line x1="{legend_x}" y1="{y}" x2="{legend_x + 18}" y2="{y}" stroke="{colour}" stroke-width="2"/>')
        body.append(f'<text x="{legend_x + 24}" y="{y + 4}">{escape(str(name)[:24])}</text>')
    return _svg(w, max(h, top + 16 * len(curves) + 16), body, title)


def confusion_svg(matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str = "confusion matrix") -> str:
    """A count matrix (rows true, columns predicted) as a heatmap with the counts written in each cell."""
    n = len(matrix)
    cell = max(14, min(40, 480 // max(n, 1)))
    left, top = 110, 40
    size = cell * n
    peak = max((v for row in matrix for v in row), default=0) or 1
    body = [f'<text x="{left + size / 2}" y="16" text-anchor="middle" font-size="12">{escape(title)}</text>',
            f'<text x="{left + size / 2}" y="{top + size + 96}" text-anchor="middle">predicted</text>',
            f'<text transform="translate(12 {top + size / 2}) rotate(-90)" text-anchor="middle">true</text>']
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            shade = v / peak
            fill = f"rgb({round(247 - 239 * shade)},{round(251 - 203 * shade)},{round(255 - 148 * shade)})"
            ink = "white" if shade > 0.55 else "black"
            x, y = left + j * cell, top + i * cell
            body.append(f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{fill}" stroke="#fff">'
                        f"<title>true {escape(str(labels[i]) if i < len(labels) else str(i))}, predicted "
                        f"{escape(str(labels[j]) if j < len(labels) else str(j))}: {v}</title></rect>")
            if cell >= 18:
                body.append(f'<text x="{x + cell / 2}" y="{y + cell / 2 + 4}" text-anchor="middle" '
                            f'fill="{ink}">{v}</text>')
    for k in range(n):
        name = escape(str(labels[k]) if k < len(labels) else str(k))[:16]
        body.append(f'<text x="{left - 6}" y="{top + k * cell + cell / 2 + 4}" text-anchor="end">{name}</text>')
        cx = left + k * cell + cell / 2
        body.append(f'<text transform="translate({cx + 4} {top + size + 8}) rotate(-45)" text-anchor="end">{name}</text>')
    return _svg(left + size + 20, top + size + 106, body, title)
