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
    for name in columns:
        table.add_column(name, overflow="fold", no_wrap=name in no_wrap)
    shown = rows if max_rows is None else rows[:max_rows]
    for row in shown:
        table.add_row(*(fmt(v) for v in row))
    if max_rows is not None and len(rows) > max_rows:
        table.caption = f"{len(rows) - max_rows} more rows not shown (use --limit or --format csv)"
    return table
