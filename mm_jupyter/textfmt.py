"""Text for terminals: tables, progress bars, times and durations, with control characters escaped
(a name can never print fake rows or terminal escapes)."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Sequence
from datetime import datetime

EXECUTION_COLUMNS = ("id", "name", "created", "status", "progress", "duration", "service", "error")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def safe(text: object) -> str:
    """``text`` with control characters, escapes and lone surrogates shown as ``\\xNN`` / ``\\uNNNN``."""
    return CONTROL.sub(lambda m: m.group().encode("unicode_escape", "backslashreplace").decode("ascii"), str(text))


def clip(text: str, width: int) -> str:
    """``text`` shortened to ``width`` characters, with an ellipsis when cut."""
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def duration(exe: dict) -> str:
    if not exe.get("started_at"):
        return "-"
    end = exe.get("ended_at") or time.time()
    secs = int(end - exe["started_at"])
    return f"{secs // 3600}:{secs // 60 % 60:02d}:{secs % 60:02d}"


def bar(pct: float | None, width: int = 10) -> str:
    pct = pct or 0.0
    full = int(round(width * pct / 100))
    return "█" * full + "░" * (width - full) + f" {pct:3.0f}%"


def table(rows: list[dict], columns: Sequence[str]) -> str:
    """A plain fixed-width text table (cells escaped)."""
    cells = [[safe(r.get(c, "") if r.get(c) is not None else "-") for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def execution_rows(executions: list[dict]) -> list[dict]:
    """Listing rows as the executions table shows them."""
    return [{**e, "created": when(e["created_at"]), "progress": bar(e["progress"]),
             "duration": duration(e), "error": (e.get("error") or "")[:80]} for e in executions]


class ProgressPrinter:
    """Shows an execution's status and progress on stderr: redrawn in place on a terminal, one line
    per change otherwise (logs, CI)."""

    def __init__(self, force: bool = False):
        self.tty = sys.stderr.isatty()
        self.enabled = self.tty or force
        self.last: tuple | None = None

    def __call__(self, row: dict) -> None:
        state = (row["status"], int(row["progress"] or 0))
        if not self.enabled or (state == self.last and not self.tty):
            return
        self.last = state
        line = f"{row['status']:<12} {bar(row['progress'], 30)}  {duration(row)}"
        print(f"\r{line}" if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.tty:
            print(file=sys.stderr)
