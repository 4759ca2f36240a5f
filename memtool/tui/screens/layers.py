"""Layers: every scored layer in a sortable, filterable table, and the model's depth profile.

The table shows model, layer, relative depth, module type, memorability rho with its CI
and each brain target that has scores. Typing in the filter keeps the rows whose model,
layer or type contain every word (case-insensitive). The plot shows, for the model and
setup of the highlighted row, memorability rho and the brain scores against relative
depth, with the highlighted layer marked.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal
from textual.widgets import Input, Label
from textual_plotext import PlotextPlot

import polars as pl

from memtool.store import read
from memtool.store.read import STANDARD_TARGETS, ReadSession
from memtool.tui import charts
from memtool.tui.screens.base import MemtoolScreen
from memtool.tui.widgets import VirtualTable

WIDE = 150  # terminal columns from which the plot moves beside the table


def format_ci(value) -> str:
    if not value or value[0] is None or value[1] is None:
        return ""
    return f"{value[0]:.2f}…{value[1]:.2f}"


@dataclass
class LayerRows:
    """Display rows for the table plus what the plot needs."""

    columns: list[str]
    rows: list[tuple]
    haystacks: list[str]
    brain: list[str]

    @classmethod
    def build(cls, frame: pl.DataFrame) -> "LayerRows":
        """From ``layer_scores_wide`` rows (``memtool.store.read.wide``)."""
        recs = frame.rename(
            {
                "relative_depth": "depth",
                "module_type": "type",
                "memorability": "rho",
                "memorability_ci_low": "ci_low",
                "memorability_ci_high": "ci_high",
                "output_shape": "shape",
            }
        ).to_dicts()
        brain = [t for t in STANDARD_TARGETS if any(r[t] is not None for r in recs)]
        multi = len({(r["dataset"], r["reducer"]) for r in recs}) > 1
        columns = ["model", "layer", "depth", "type", "rho", "ci95", *brain]
        columns += ["dataset", "reducer"] if multi else []
        columns += ["shape", "alias_of", "model_id", "setup_id"]
        rows, hay = [], []
        for r in recs:
            ci = (r["ci_low"], r["ci_high"]) if r["ci_low"] is not None else None
            row = [r["model"], r["layer"], r["depth"], r["type"], r["rho"], ci, *[r[t] for t in brain]]
            row += [r["dataset"], r["reducer"]] if multi else []
            row += [r["shape"], r["alias_of"], r["model_id"], r["setup_id"]]
            rows.append(tuple(row))
            hay.append(f"{r['model']} {r['layer']} {r['type']}".lower())
        return cls(columns, rows, hay, brain)


def filter_rows(data: LayerRows, text: str, show_aliases: bool) -> list[tuple]:
    terms = text.lower().split()
    alias = data.columns.index("alias_of")
    return [
        row
        for row, hay in zip(data.rows, data.haystacks)
        if (show_aliases or row[alias] is None) and all(t in hay for t in terms)
    ]


class LayersScreen(MemtoolScreen):
    MODE = "layers"
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("a", "toggle_aliases", "Aliases"),
        Binding("p", "toggle_plot", "Plot"),
        Binding("escape", "focus_table", "Table", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.data: LayerRows | None = None
        self.show_aliases = False
        self.plot_info = ""
        self._plotted: tuple | None = None

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="layers-bar", classes="bar"):
            yield Input(
                placeholder="filter: words in model, layer or type (e.g. resnet conv)",
                id="filter",
                compact=True,
            )
            yield Label("", id="layers-count")
        with Container(id="layers-body"):
            yield VirtualTable(
                id="layers",
                hidden=("alias_of", "model_id", "setup_id"),
                formatters={"ci95": format_ci},
                max_widths={"model": 24, "layer": 32},
                empty_text="no scored layers yet: run `memtool sweep --db FILE`",
                row_key=lambda row: (row[-2], row[1], row[-1]),
            )
            yield PlotextPlot(id="depth-plot")

    def on_mount(self) -> None:
        self.query_one("#layers", VirtualTable).focus()

    def on_resize(self) -> None:
        self.query_one("#layers-body").set_class(self.size.width >= WIDE, "-wide")

    def fetch(self, session: ReadSession) -> LayerRows:
        return LayerRows.build(read.wide(session))

    def show(self, data: LayerRows) -> None:
        self.data = data
        self._plotted = None
        self.apply_filter()

    def apply_filter(self) -> None:
        if self.data is None:
            return
        text = self.query_one("#filter", Input).value
        rows = filter_rows(self.data, text, self.show_aliases)
        table = self.query_one("#layers", VirtualTable)
        table.hidden = {"model_id", "setup_id"} | (set() if self.show_aliases else {"alias_of"})
        empty = "no layer matches the filter" if self.data.rows else None
        table.set_data(self.data.columns, rows, empty_text=empty)
        total = sum(
            1 for r in self.data.rows if self.show_aliases or r[self.data.columns.index("alias_of")] is None
        )
        aliases = "aliases shown" if self.show_aliases else "aliases hidden (a)"
        self.query_one("#layers-count", Label).update(f" {len(rows):,} of {total:,} layers · {aliases}")
        self.update_plot(table.current_row)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            self.apply_filter()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.action_focus_table()

    def on_virtual_table_cursor_moved(self, message: VirtualTable.CursorMoved) -> None:
        if message.table.id == "layers":
            self.update_plot(message.row)

    def update_plot(self, row: tuple | None) -> None:
        """Draw the depth profile of the highlighted row's model and setup."""
        plot = self.query_one("#depth-plot", PlotextPlot)
        if self.data is None or row is None:
            if self._plotted != ():
                self.plot_info = charts.empty(plot, "no layer selected")
                self._plotted = ()
            return
        cols = self.data.columns
        rec = dict(zip(cols, row))
        key = (rec["model_id"], rec["setup_id"], rec["depth"])
        if key == self._plotted:
            return
        self._plotted = key
        alias, mid, sid = (cols.index(c) for c in ("alias_of", "model_id", "setup_id"))
        rows = sorted(
            (
                r
                for r in self.data.rows
                if r[mid] == rec["model_id"] and r[sid] == rec["setup_id"] and r[alias] is None
            ),
            key=lambda r: r[cols.index("depth")] or 0.0,
        )
        depth = [r[cols.index("depth")] for r in rows]
        series = {"memorability": [r[cols.index("rho")] for r in rows]}
        for target in self.data.brain:
            series[target] = [r[cols.index(target)] for r in rows]
        title = f"{rec['model']} ({len(rows)} layers)"
        self.plot_info = charts.depth_profile(plot, title, depth, series, rec["depth"])

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_focus_table(self) -> None:
        self.query_one("#layers", VirtualTable).focus()

    def action_toggle_aliases(self) -> None:
        self.show_aliases = not self.show_aliases
        self.apply_filter()

    def action_toggle_plot(self) -> None:
        plot = self.query_one("#depth-plot", PlotextPlot)
        plot.display = not plot.display
