"""The virtual table the screens share for large results, and how its cells show values.

``VirtualTable`` renders only the rows on screen (Textual's line API), so tens of thousands
of layers or query rows scroll, sort and refilter without the cost of building a widget
cell per value, which Textual's DataTable pays up front.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any, Callable, Sequence

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

Formatter = Callable[[Any], str]
MAX_COLUMN_WIDTH = 42
WIDTH_SAMPLE = 2000


def format_value(value: Any) -> str:
    """How a cell shows a value: floats to 3 decimals, blanks for NULL, one line of text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:.3f}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return text.replace("\r", " ").replace("\n", " ⏎ ") if ("\n" in text or "\r" in text) else text


def plural(n: int, noun: str, nouns: str | None = None) -> str:
    """``1 run``, ``2 runs``, ``1,010 score rows``, ``3 aliases`` (with ``nouns``)."""
    return f"{n:,} {noun if n == 1 else nouns or noun + 's'}"


def _is_numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class VirtualTable(ScrollView, can_focus=True):
    """A read-only table over a list of row tuples with a row cursor and sorting.

    Sort with ``s`` on the highlighted column (left/right move the column cursor) or by
    clicking a header; again to reverse. NULLs sort last in both directions.
    """

    COMPONENT_CLASSES = {
        "vtable--header",
        "vtable--header-cursor",
        "vtable--cursor",
        "vtable--even-row",
        "vtable--empty",
    }
    DEFAULT_CSS = """
    VirtualTable {
        background: $surface;
        height: 1fr;
        & > .vtable--header { text-style: bold; background: $panel; color: $foreground; }
        & > .vtable--header-cursor { text-style: bold; background: $panel; color: $accent; }
        & > .vtable--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
        }
        & > .vtable--even-row { background: $surface-lighten-1 40%; }
        & > .vtable--empty { color: $text-muted; text-style: italic; }
        &:focus > .vtable--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
        &:focus > .vtable--header-cursor { background: $accent-darken-1; color: $foreground; }
    }
    """
    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "jump(0)", "First", show=False),
        Binding("end", "jump(-1)", "Last", show=False),
        Binding("left", "column(-1)", "Column left", show=False),
        Binding("right", "column(1)", "Column right", show=False),
        Binding("enter", "activate", "Open", show=False),
        Binding("s", "sort", "Sort"),
    ]

    cursor_row: reactive[int] = reactive(0, always_update=True)
    cursor_column: reactive[int] = reactive(0)

    class CursorMoved(Message):
        """The row cursor moved (also sent after new data arrives)."""

        def __init__(self, table: "VirtualTable", index: int, row: tuple | None):
            super().__init__()
            self.table = table
            self.index = index
            self.row = row

        @property
        def control(self) -> "VirtualTable":
            return self.table

    class RowActivated(CursorMoved):
        """Enter (or a click on the current row) on a row."""

    def __init__(
        self,
        *,
        formatters: dict[str, Formatter] | None = None,
        hidden: Sequence[str] = (),
        empty_text: str = "no rows",
        row_key: Callable[[tuple], Any] | None = None,
        max_widths: dict[str, int] | None = None,
        id: str | None = None,
        classes: str | None = None,
    ):
        super().__init__(id=id, classes=classes)
        self.formatters = dict(formatters or {})
        self.hidden = set(hidden)
        self.empty_text = empty_text
        self.row_key = row_key
        self.max_widths = dict(max_widths or {})
        self.columns: list[str] = []
        self._source: list[tuple] = []
        self.rows: list[tuple] = []
        self._visible: list[int] = []  # indexes of shown columns into the row tuples
        self._widths: list[int] = []
        self._numeric: list[bool] = []
        self.sort_column: str | None = None
        self.sort_descending = False

    # -- data --------------------------------------------------------------------------------
    def set_data(
        self, columns: Sequence[str], rows: Sequence[tuple], *, empty_text: str | None = None
    ) -> None:
        """Show new rows; the sort order and (with ``row_key``) the cursor's row are kept."""
        old_key = None
        if self.row_key is not None and self.current_row is not None:
            old_key = self.row_key(self.current_row)
        same_columns = list(columns) == self.columns
        self.columns = list(columns)
        self._source = list(rows)
        if empty_text is not None:
            self.empty_text = empty_text
        if not same_columns:
            self.cursor_column = 0
            if self.sort_column not in self.columns:
                self.sort_column = None
        self._visible = [i for i, c in enumerate(self.columns) if c not in self.hidden]
        self._apply_sort()
        self._measure()
        index = 0
        if old_key is not None:
            index = next((i for i, r in enumerate(self.rows) if self.row_key(r) == old_key), 0)
        elif same_columns:
            index = min(self.cursor_row, max(0, len(self.rows) - 1))
        self.cursor_row = index
        self.refresh()

    @property
    def row_count(self) -> int:
        return len(self.rows)

    @property
    def current_row(self) -> tuple | None:
        if 0 <= self.cursor_row < len(self.rows):
            return self.rows[self.cursor_row]
        return None

    def cell(self, row: tuple, column: str) -> Any:
        return row[self.columns.index(column)]

    def formatted(self, row: tuple, column_index: int) -> str:
        fmt = self.formatters.get(self.columns[column_index], format_value)
        return fmt(row[column_index])

    def visible_text(self) -> list[list[str]]:
        """The shown cells of every row as strings (tests and exports use this)."""
        return [[self.formatted(r, i) for i in self._visible] for r in self.rows]

    def _apply_sort(self) -> None:
        rows = list(self._source)
        if self.sort_column is not None:
            idx = self.columns.index(self.sort_column)
            present, missing = [], []
            for r in rows:
                value = r[idx]
                blank = value is None or (isinstance(value, float) and math.isnan(value))
                (missing if blank else present).append(r)
            try:
                present.sort(key=lambda r: r[idx], reverse=self.sort_descending)
            except TypeError:
                present.sort(key=lambda r: str(r[idx]), reverse=self.sort_descending)
            rows = present + missing
        self.rows = rows

    def sort_by(self, column: str, descending: bool | None = None) -> None:
        """Sort by ``column``; without ``descending``, toggle when already sorted by it."""
        if column not in self.columns:
            raise KeyError(column)
        if descending is None:
            descending = not self.sort_descending if column == self.sort_column else False
        key = self.row_key(self.current_row) if self.row_key and self.current_row else None
        self.sort_column, self.sort_descending = column, descending
        self._apply_sort()
        if key is not None:
            self.cursor_row = next((i for i, r in enumerate(self.rows) if self.row_key(r) == key), 0)
        else:
            self.cursor_row = 0
        self._measure()
        self.refresh()

    # -- geometry --------------------------------------------------------------------------------
    def _measure(self) -> None:
        rows = self.rows
        if len(rows) > WIDTH_SAMPLE:
            step = len(rows) / WIDTH_SAMPLE
            rows = [rows[int(i * step)] for i in range(WIDTH_SAMPLE)]
        widths, numeric = [], []
        for i in self._visible:
            name = self.columns[i]
            cells = [self.formatted(r, i) for r in rows]
            longest = max((cell_len(c) for c in cells), default=0)
            cap = self.max_widths.get(name, MAX_COLUMN_WIDTH)
            widths.append(min(cap, max(cell_len(name) + 2, longest)))
            first = next((r[i] for r in rows if r[i] is not None), None)
            numeric.append(_is_numeric(first))
        self._widths, self._numeric = widths, numeric
        self.virtual_size = Size(self._total_width(), len(self.rows) + 1)

    def _total_width(self) -> int:
        return sum(w + 2 for w in self._widths)

    def _column_span(self, position: int) -> tuple[int, int]:
        start = sum(w + 2 for w in self._widths[:position])
        return start, start + self._widths[position] + 2

    @property
    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    # -- rendering ---------------------------------------------------------------------------
    def _cell(self, text: str, width: int, right: bool) -> str:
        if cell_len(text) > width:
            text = set_cell_size(text, width - 1) + "…"
        pad = " " * (width - cell_len(text))
        return " " + (pad + text if right else text + pad) + " "

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            strip = self._header_strip()
        else:
            index = scroll_y + y - 1
            if not self.rows and y == 1:
                style = base + self.get_component_rich_style("vtable--empty")
                strip = Strip([Segment(" " + self.empty_text, style)])
            elif index >= len(self.rows):
                return Strip.blank(width, base)
            else:
                strip = self._row_strip(index)
        return strip.crop_extend(scroll_x, scroll_x + width, base)

    def _header_strip(self) -> Strip:
        header = self.rich_style + self.get_component_rich_style("vtable--header")
        current = self.rich_style + self.get_component_rich_style("vtable--header-cursor")
        segments = []
        for pos, i in enumerate(self._visible):
            name = self.columns[i]
            if name == self.sort_column:
                name += " ▼" if self.sort_descending else " ▲"
            style = current if pos == self.cursor_column else header
            segments.append(Segment(self._cell(name, self._widths[pos], self._numeric[pos]), style))
        width = max(self._total_width(), self.scrollable_content_region.width)
        return Strip(segments).extend_cell_length(width, header)

    def _row_strip(self, index: int) -> Strip:
        row = self.rows[index]
        style = self.rich_style
        if index == self.cursor_row:
            style = style + self.get_component_rich_style("vtable--cursor")
        elif index % 2:
            style = style + self.get_component_rich_style("vtable--even-row")
        text = "".join(
            self._cell(self.formatted(row, i), self._widths[pos], self._numeric[pos])
            for pos, i in enumerate(self._visible)
        )
        width = max(self._total_width(), self.scrollable_content_region.width)
        return Strip([Segment(text, style)]).extend_cell_length(width, style)

    # -- cursor --------------------------------------------------------------------------------
    def watch_cursor_row(self, old: int, new: int) -> None:
        if self.rows and not 0 <= new < len(self.rows):
            self.cursor_row = max(0, min(new, len(self.rows) - 1))
            return
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.CursorMoved(self, new, self.current_row))

    def watch_cursor_column(self, old: int, new: int) -> None:
        if self._widths:
            start, end = self._column_span(min(new, len(self._widths) - 1))
            view = self.scrollable_content_region.width
            if start < self.scroll_x:
                self.scroll_to(x=start, animate=False)
            elif end > self.scroll_x + view:
                self.scroll_to(x=end - view, animate=False)
        self.refresh()

    def _scroll_to_cursor(self) -> None:
        top = self.scroll_offset.y
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + self._page:
            self.scroll_to(y=self.cursor_row - self._page + 1, animate=False)

    def action_cursor(self, delta: int) -> None:
        if self.rows:
            self.cursor_row = max(0, min(len(self.rows) - 1, self.cursor_row + delta))

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * self._page)

    def action_jump(self, where: int) -> None:
        if self.rows:
            self.cursor_row = 0 if where == 0 else len(self.rows) - 1

    def action_column(self, delta: int) -> None:
        if self._visible:
            self.cursor_column = max(0, min(len(self._visible) - 1, self.cursor_column + delta))

    def action_sort(self) -> None:
        if self._visible:
            self.sort_by(self.columns[self._visible[self.cursor_column]])

    def action_activate(self) -> None:
        if self.current_row is not None:
            self.post_message(self.RowActivated(self, self.cursor_row, self.current_row))

    def _column_at(self, x: int) -> int | None:
        for pos in range(len(self._widths)):
            start, end = self._column_span(pos)
            if start <= x < end:
                return pos
        return None

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            pos = self._column_at(offset.x + self.scroll_offset.x)
            if pos is not None:
                self.cursor_column = pos
                self.sort_by(self.columns[self._visible[pos]])
            return
        index = self.scroll_offset.y + offset.y - 1
        if 0 <= index < len(self.rows):
            if index == self.cursor_row and event.chain > 1:
                self.action_activate()
            self.cursor_row = index
