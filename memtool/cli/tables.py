"""Rendering query results as rich tables whose numbers are never cut.

A number cut to fit a narrow terminal or a log file (k = 48 shown as "4", rho 0.43 as
"0.4") is silently wrong, so numeric columns always keep their full width. When the
table does not fit, text columns wrap first (folded, never truncated without a mark);
when even the numbers alone do not fit, each row is printed as ``column: value`` lines.
Output that is not a terminal gets the full width anyway (see ``memtool.cli.common``).
"""

from __future__ import annotations

import datetime as dt
from typing import Sequence

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

TEXT_MIN = 6  # the narrowest a wrapped text column is allowed to get


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


class ResultTable:
    """A renderable table that chooses its layout for the width it is given."""

    def __init__(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence],
        *,
        title: str | None,
        max_rows: int | None,
        no_wrap: Sequence[str],
    ):
        self.columns = list(columns)
        self.title = title
        shown = rows if max_rows is None else rows[:max_rows]
        self.cells = [[fmt(v) for v in row] for row in shown]
        self.numeric = []
        for i in range(len(self.columns)):
            values = [row[i] for row in shown if row[i] is not None]
            self.numeric.append(
                bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            )
        self.no_wrap = set(no_wrap)
        self.caption = None
        if max_rows is not None and len(rows) > max_rows:
            self.caption = (
                f"{len(rows) - max_rows} more rows not shown (raise --max-rows, or use --format csv)"
            )

    def _width(self, i: int) -> int:
        return max([len(self.columns[i])] + [len(c[i]) for c in self.cells])

    def table(self, *, wrap_text: bool) -> Table:
        table = Table(title=self.title, header_style="bold cyan", show_lines=False, caption=self.caption)
        for i, name in enumerate(self.columns):
            if self.numeric[i]:
                width = max(len(c[i]) for c in self.cells) if self.cells else None
                table.add_column(name, no_wrap=True, min_width=width, justify="right", overflow="ignore")
            else:
                keep = name in self.no_wrap and not wrap_text
                table.add_column(
                    name,
                    overflow="fold",
                    no_wrap=keep,
                    justify="left",
                    min_width=None if keep else min(TEXT_MIN, self._width(i)),
                )
        for row in self.cells:
            table.add_row(*row)
        return table

    def natural_width(self) -> int:
        # one space of padding each side and one border per column, plus the last border
        return sum(self._width(i) + 3 for i in range(len(self.columns))) + 1

    def minimum_width(self) -> int:
        return (
            sum(
                (self._width(i) if self.numeric[i] else min(TEXT_MIN, self._width(i))) + 3
                for i in range(len(self.columns))
            )
            + 1
        )

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(
            min(self.minimum_width(), options.max_width), min(self.natural_width(), options.max_width)
        )

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        if self.natural_width() <= width:
            yield self.table(wrap_text=False)
        elif self.minimum_width() <= width:
            yield self.table(wrap_text=True)
        else:  # not even the numbers fit side by side: one "column: value" line each
            if self.title:
                yield Text(self.title, style="bold")
            pad = max(len(c) for c in self.columns) if self.columns else 0
            for n, row in enumerate(self.cells):
                if n:
                    yield Text("")
                for name, value in zip(self.columns, row):
                    yield Text(f"{name.rjust(pad)}: {value}", overflow="fold")
            if self.caption:
                yield Text(self.caption, style="dim")


def result_table(
    columns: Sequence[str],
    rows: Sequence[Sequence],
    *,
    title: str | None = None,
    max_rows: int | None = None,
    no_wrap: Sequence[str] = (),
) -> ResultTable:
    """The rows as a table for ``console.print``; numbers are never cut or folded."""
    return ResultTable(columns, rows, title=title, max_rows=max_rows, no_wrap=no_wrap)
