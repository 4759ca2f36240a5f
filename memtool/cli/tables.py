"""Rendering query results as rich tables."""

from __future__ import annotations

import datetime as dt
from typing import Sequence

from rich.table import Table


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value != value:
            return "nan"
        return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def result_table(columns: Sequence[str], rows: Sequence[Sequence], *, title: str | None = None,
                 max_rows: int | None = None, no_wrap: Sequence[str] = ()) -> Table:
    table = Table(title=title, header_style="bold cyan", show_lines=False)
    shown = rows if max_rows is None else rows[:max_rows]
    cells = [[fmt(v) for v in row] for row in shown]
    for i, name in enumerate(columns):
        values = [row[i] for row in shown if row[i] is not None]
        numeric = bool(values) and all(isinstance(v, (int, float)) for v in values)
        # Numbers are never cut or folded: a truncated 0.43 reads as 0.4.
        width = max(len(c[i]) for c in cells) if numeric else None
        table.add_column(name, overflow="fold", no_wrap=name in no_wrap or numeric,
                         min_width=width, justify="right" if numeric else "left")
    for row in cells:
        table.add_row(*row)
    if max_rows is not None and len(rows) > max_rows:
        table.caption = f"{len(rows) - max_rows} more rows not shown (raise --max-rows, or use --format csv)"
    return table
