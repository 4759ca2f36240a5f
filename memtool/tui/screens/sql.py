"""SQL console: DuckDB SQL on a read-only connection, results in a table, history kept.

F5 or ctrl+r runs the editor's selection, or the whole editor when nothing is selected,
in a worker thread; escape cancels a running query (and otherwise leaves the editor).
Errors show under the editor. ctrl+up / ctrl+down walk the history, which is kept across
sessions (see memtool.tui.history); ctrl+s exports the last result to CSV, Parquet or JSON.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static, TextArea

from memtool.errors import MemtoolError
from memtool.tui.data import QueryCancelled, QueryHandle, SqlResult
from memtool.tui.history import QueryHistory
from memtool.tui.screens.base import MemtoolScreen
from memtool.tui.widgets import VirtualTable, plural

MAX_SHOWN_ROWS = 100_000
EXPORT_FORMATS = {".csv": "CSV", ".parquet": "Parquet", ".json": "JSON"}
STARTER = """\
-- F5 or ctrl+r runs this (or the selection); read-only. Try: SHOW ALL TABLES
SELECT model, layer, relative_depth, memorability, memorability_ci_low, IT
FROM best_layer_per_model
ORDER BY memorability DESC
"""


def export_frame(frame, path: Path) -> str:
    """Write a polars frame by the path's extension; returns the format's name."""
    kind = EXPORT_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ValueError(f"unknown extension '{path.suffix}': use .csv, .parquet or .json")
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "CSV":
        frame.write_csv(path)
    elif kind == "Parquet":
        frame.write_parquet(path)
    else:
        frame.write_json(path)
    return kind


class ExportScreen(ModalScreen[Path | None]):
    """Asks where to write the result; the extension picks the format."""

    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, default: str, n_rows: int):
        super().__init__()
        self.default = default
        self.n_rows = n_rows

    def compose(self) -> ComposeResult:
        with Vertical(id="export-dialog"):
            yield Label(f"Export {self.n_rows:,} rows to (.csv, .parquet or .json):")
            yield Input(self.default, id="export-path")
            yield Static("", id="export-error")
            yield Label("[dim]enter writes · escape cancels[/dim]")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        path = Path(text).expanduser() if text else None
        if path is None or path.suffix.lower() not in EXPORT_FORMATS:
            self.query_one("#export-error", Static).update(
                "[red]end the file name with .csv, .parquet or .json[/red]"
            )
            return
        self.dismiss(path)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class SqlScreen(MemtoolScreen):
    MODE = "sql"
    LOADS = False
    BINDINGS = [
        Binding("r", "reload", "Run again", show=False),
        Binding("f5,ctrl+r", "run_query", "Run", key_display="F5/^r"),
        Binding("escape", "escape", "Cancel", priority=True),
        Binding("ctrl+s", "export", "Export"),
        Binding("ctrl+up", "history(-1)", "History", key_display="^↑↓"),
        Binding("ctrl+down", "history(1)", "Next", show=False),
        Binding("e", "focus_editor", "Editor"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.history: QueryHistory | None = None
        self.handle: QueryHandle | None = None
        self.result: SqlResult | None = None
        self.error: str | None = None
        self.status = ""
        self.last_sql = ""

    def compose_body(self) -> ComposeResult:
        self.history = QueryHistory(getattr(self.app, "history_path", None))
        try:
            editor = TextArea.code_editor(
                self.history.latest() or STARTER, language="sql", id="editor", theme="monokai"
            )
        except Exception:  # no tree-sitter grammar for SQL: plain editing still works
            editor = TextArea.code_editor(self.history.latest() or STARTER, id="editor")
        editor.border_title = "SQL (read-only)"
        yield editor
        yield Static("", id="sql-status")
        yield VirtualTable(id="results", empty_text="run a query to see its rows here")

    def on_mount(self) -> None:
        self.query_one("#editor", TextArea).focus()

    def action_reload(self) -> None:
        self.action_run_query()

    # -- running ------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.handle is not None

    def action_run_query(self) -> None:
        editor = self.query_one("#editor", TextArea)
        sql = (editor.selected_text or editor.text).strip()
        if not sql:
            self._set_status("[yellow]nothing to run: type a query first[/yellow]")
            return
        if self.handle is not None:
            self.handle.cancel()
        problem = self.history.add(sql)
        if problem is not None:
            self.notify(f"could not save the query history: {problem}", severity="warning")
        self.last_sql = sql
        self.handle = QueryHandle()
        self._set_status("[yellow]running… (escape cancels)[/yellow]")
        self._run(sql, self.handle)

    @work(thread=True, exclusive=True, group="sql", exit_on_error=False)
    def _run(self, sql: str, handle: QueryHandle) -> None:
        try:
            result = self.reader.run_sql(sql, handle)
            rows = result.frame.head(MAX_SHOWN_ROWS).rows() if result.frame is not None else []
            outcome = ("ok", result, rows)
        except QueryCancelled:
            outcome = ("cancelled", None, None)
        except duckdb.Error as exc:
            outcome = ("error", str(exc), None)
        except MemtoolError as exc:
            outcome = ("error", exc.one_line(), None)
        except Exception as exc:  # shown, not raised: the console must survive any query
            outcome = ("error", f"{type(exc).__name__}: {exc}", None)
        self.app.call_from_thread(self._finish, handle, *outcome)

    def _finish(self, handle: QueryHandle, kind: str, payload, rows) -> None:
        if handle is not self.handle:  # a newer query replaced this one
            return
        self.handle = None
        table = self.query_one("#results", VirtualTable)
        if kind == "cancelled":
            self.error = None
            self._set_status("[yellow]query cancelled[/yellow]")
            return
        if kind == "error":
            self.error = payload
            self.result = None
            table.set_data([], [], empty_text="no result: the query failed (see above)")
            self._set_status(f"[red bold]error:[/] [red]{escape(payload.strip())}[/red]")
            return
        self.error = None
        self.result = payload
        frame = payload.frame
        if frame is None:
            table.set_data([], [], empty_text="the statement returned no rows")
            self._set_status(f"[green]done[/green] in {payload.seconds:.2f} s (no result set)")
            return
        table.set_data(frame.columns, rows, empty_text="the query returned no rows")
        shown = (
            f"showing the first {len(rows):,} of {frame.height:,} rows"
            if frame.height > len(rows)
            else plural(frame.height, "row")
        )
        self._set_status(
            f"[green]{shown}[/green] × {plural(frame.width, 'column')} in"
            f" {payload.seconds:.2f} s · ctrl+s exports"
        )

    def _set_status(self, markup: str) -> None:
        self.status = markup
        self.query_one("#sql-status", Static).update(markup)

    def action_escape(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.set_timer(0.2, self._keep_cancelling)
            self._set_status("[yellow]cancelling…[/yellow]")
        elif self.focused is self.query_one("#editor", TextArea):
            self.query_one("#results", VirtualTable).focus()

    def _keep_cancelling(self) -> None:
        """Interrupt again until the worker stops (covers a cancel just before execution)."""
        if self.handle is not None and self.handle.cancelled:
            self.handle.cancel()
            self.set_timer(0.2, self._keep_cancelling)

    # -- history and export ------------------------------------------------------------------------
    def action_history(self, step: int) -> None:
        text = self.history.previous() if step < 0 else self.history.next()
        if text is None and step < 0:
            self.notify("no older queries in the history", timeout=2)
            return
        editor = self.query_one("#editor", TextArea)
        editor.load_text(text if text is not None else "")
        editor.focus()

    def action_focus_editor(self) -> None:
        self.query_one("#editor", TextArea).focus()

    def action_export(self) -> None:
        if self.result is None or self.result.frame is None:
            self.notify("run a query with a result first", severity="warning")
            return
        frame = self.result.frame

        def write(path: Path | None) -> None:
            if path is None:
                return
            try:
                kind = export_frame(frame, path)
            except (OSError, ValueError) as exc:
                self.notify(f"export failed: {exc}", severity="error", timeout=8)
                return
            self.notify(f"wrote {frame.height:,} rows to {path} ({kind})")
            self._set_status(f"[green]exported {frame.height:,} rows to {escape(str(path))}[/green]")

        self.app.push_screen(ExportScreen("memtool-result.csv", frame.height), write)
