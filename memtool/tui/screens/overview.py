"""Overview: what the store holds, its runs (status, models, layers, duration) and data sets.

Like every screen it re-reads the store every few seconds while shown, so a sweep
running in another terminal shows up as it writes; the highlighted run's full command
and error are shown under the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.markup import escape
from textual.app import ComposeResult
from textual.widgets import Label, Static

import polars as pl

from memtool.store import read
from memtool.store.read import ReadSession
from memtool.tui.screens.base import MemtoolScreen
from memtool.tui.widgets import VirtualTable, format_value, plural

STATUS_MARKS = {"completed": "✓", "failed": "✗", "running": "●", "interrupted": "◌"}


def format_duration(seconds) -> str:
    if seconds is None:
        return ""
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_status(status) -> str:
    return f"{STATUS_MARKS.get(status, '·')} {status}" if status else ""


@dataclass
class OverviewData:
    summary: dict
    runs: pl.DataFrame
    datasets: pl.DataFrame


class OverviewScreen(MemtoolScreen):
    MODE = "overview"

    def compose_body(self) -> ComposeResult:
        yield Static(id="summary")
        yield Label("Runs", classes="section")
        yield VirtualTable(
            id="runs",
            empty_text="no runs yet: `memtool sweep --db FILE` adds one",
            formatters={"status": format_status, "duration_s": format_duration},
            row_key=lambda row: row[0],
        )
        yield Static(id="run-detail")
        yield Label("Data sets", classes="section")
        yield VirtualTable(
            id="datasets", empty_text="no data sets yet", formatters={"ceiling": lambda v: format_value(v)}
        )

    def fetch(self, session: ReadSession) -> OverviewData:
        runs = (
            read.live_durations(read.runs(session))
            .sort(["started_at", "run_id"], descending=[True, False], nulls_last=True)
            .select(
                "run_id",
                "kind",
                "status",
                models="n_models",
                layers="n_layers_scored",
                duration_s="duration_s",
                started_at="started_at",
                command="command",
                error="error",
            )
        )
        datasets = read.datasets(session).select(
            "name",
            "kind",
            images="n_images",
            splits="n_splits",
            split_kind="split_kind",
            ceiling="ceiling",
            score_mean="score_mean",
            citation="citation",
            spec="spec",
        )
        return OverviewData({**read.summary(session), "path": session.path}, runs, datasets)

    def show(self, data: OverviewData) -> None:
        s = data.summary
        running = f", [bold yellow]{s['running']} running[/]" if s["running"] else ""
        refresh = getattr(self.app, "refresh_seconds", None)
        live = f"refreshes every {refresh:g} s · " if refresh else ""
        self.query_one("#summary", Static).update(
            f"[bold]{escape(s['path'])}[/] (schema v{s['schema_version']}, opened read-only)\n"
            f"{plural(s['runs'], 'run')}{running} · {plural(s['models'], 'model')} ·"
            f" {s['scored_layers']:,} of {plural(s['layers'], 'layer')} scored for memorability"
            f" (+{plural(s['aliases'], 'alias', 'aliases')}) ·"
            f" {plural(s['score_rows'], 'score row')} · {plural(s['datasets'], 'data set')}\n"
            f"[dim]{live}r refreshes · 1-5 switch screens · q quits[/]"
        )
        self.query_one("#runs", VirtualTable).set_data(data.runs.columns, data.runs.rows())
        self.query_one("#datasets", VirtualTable).set_data(data.datasets.columns, data.datasets.rows())
        self._show_detail(self.query_one("#runs", VirtualTable).current_row)

    def on_virtual_table_cursor_moved(self, message: VirtualTable.CursorMoved) -> None:
        if message.table.id == "runs":
            self._show_detail(message.row)

    def _show_detail(self, row: tuple | None) -> None:
        detail = self.query_one("#run-detail", Static)
        if row is None:
            detail.update("")
            return
        rec = dict(zip(self.query_one("#runs", VirtualTable).columns, row))
        text = f"[dim]run {escape(rec['run_id'])}:[/] {escape(rec['command'] or '')}"
        if rec.get("error"):
            text += f"\n[red]error: {escape(rec['error'])}[/]"
        detail.update(text)
