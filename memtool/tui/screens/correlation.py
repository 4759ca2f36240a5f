"""Correlation: memorability rho against one brain target across layers.

Pick the brain target, the layers (all models, one model, or models whose name matches a
pattern) and, when the store has several, the memorability setup. Beside the scatter:
Spearman rho with a bootstrap CI, Pearson r, and the partial Spearman correlation
controlling for relative depth (depth drives both scores), all from
``memtool.scoring.stats.correlate_across_layers``, plus the same per model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import duckdb
import polars as pl
from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Input, Select, Static
from textual_plotext import PlotextPlot

from memtool.scoring.stats import Correlation, correlate_across_layers, partial_spearman
from memtool.scoring.stats import spearman_finite as spearman
from memtool.errors import MemtoolError
from memtool.store import read
from memtool.store.read import BrainTarget, ReadSession, Setup, match_models
from memtool.tui import charts
from memtool.tui.screens.base import MemtoolScreen
from memtool.tui.widgets import plural

ALL = "all"
PATTERN = "pattern"
N_BOOT = 1000


def fmt(value: float, digits: int = 3) -> str:
    return "  n/a" if value is None or math.isnan(value) else f"{value:+.{digits}f}"


def fmt_ci(ci: tuple[float, float]) -> str:
    if any(math.isnan(v) for v in ci):
        return "n/a"
    return f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"


def _columns(points: pl.DataFrame) -> tuple[list, list, list]:
    """Memorability, brain score and relative depth of ``read.points`` rows, as lists."""
    return tuple(points[c].to_list() for c in ("memorability", "brain", "depth"))


@dataclass
class CorrelationData:
    targets: list[BrainTarget]
    setups: list[Setup]
    models: list[str]


@dataclass
class Selection:
    target: BrainTarget
    setup: Setup | None
    scope: str  # ALL, PATTERN or "model:<name>"
    pattern: str

    def describe(self) -> str:
        if self.scope == ALL:
            return "all models"
        if self.scope == PATTERN:
            return f"models matching '{self.pattern}'" if self.pattern else "all models (empty pattern)"
        return self.scope.split(":", 1)[1]


class CorrelationScreen(MemtoolScreen):
    MODE = "correlation"
    BINDINGS = [
        Binding("t", "next_target", "Target"),
        Binding("m", "next_scope", "Models"),
        Binding("slash", "focus_pattern", "Pattern"),
        Binding("escape", "focus_plot", "Plot", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.data: CorrelationData | None = None
        self._points: dict[tuple, pl.DataFrame] = {}
        self.result: Correlation | None = None
        self.plot_info = ""
        self._updating = False
        self._values: dict[str, list] = {}

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="corr-bar", classes="bar"):
            yield Select([], prompt="target", id="target", compact=True, allow_blank=True)
            yield Select([(ALL, ALL)], value=ALL, id="scope", compact=True, allow_blank=False)
            yield Input(placeholder="pattern, e.g. *resnet*", id="pattern", compact=True)
            yield Select([], prompt="setup", id="setup", compact=True, allow_blank=True)
        with Horizontal(id="corr-body"):
            yield PlotextPlot(id="scatter")
            yield Static(id="corr-stats")

    def fetch(self, session: ReadSession) -> CorrelationData:
        self._points = {}
        return CorrelationData(read.brain_targets(session), read.setups(session), read.scored_models(session))

    def show(self, data: CorrelationData) -> None:
        self.data = data
        self._updating = True
        try:
            target = self.query_one("#target", Select)
            old_target = target.value
            labels = [t.label for t in data.targets]
            target.set_options([(label, label) for label in labels])
            self._values["#target"] = labels
            if labels:
                regions = [t.region for t in data.targets]
                target.value = (
                    old_target
                    if old_target in labels
                    else (labels[regions.index("IT")] if "IT" in regions else labels[0])
                )
            scope = self.query_one("#scope", Select)
            old_scope = scope.value
            options = [(ALL, ALL), ("by pattern", PATTERN)] + [(m, f"model:{m}") for m in data.models]
            scope.set_options(options)
            self._values["#scope"] = [v for _, v in options]
            scope.value = old_scope if old_scope in {v for _, v in options} else ALL
            setup = self.query_one("#setup", Select)
            old_setup = setup.value
            setup.set_options([(s.label, i) for i, s in enumerate(data.setups)])
            if data.setups:
                setup.value = old_setup if isinstance(old_setup, int) and old_setup < len(data.setups) else 0
            setup.display = len(data.setups) > 1
        finally:
            self._updating = False
        self.recompute()

    # -- selection --------------------------------------------------------------------------
    def selection(self) -> Selection | None:
        if self.data is None or not self.data.targets:
            return None
        label = self.query_one("#target", Select).value
        target = next((t for t in self.data.targets if t.label == label), self.data.targets[0])
        setup_index = self.query_one("#setup", Select).value
        setup = self.data.setups[setup_index] if isinstance(setup_index, int) and self.data.setups else None
        return Selection(
            target,
            setup,
            str(self.query_one("#scope", Select).value),
            self.query_one("#pattern", Input).value.strip(),
        )

    def on_select_changed(self, event: Select.Changed) -> None:
        if not self._updating:
            self.recompute()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "pattern" and not self._updating:
            scope = self.query_one("#scope", Select)
            if event.value.strip() and scope.value != PATTERN:
                self._updating = True
                scope.value = PATTERN
                self._updating = False
            self.recompute()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_focus_plot()

    def _cycle(self, select_id: str) -> None:
        select = self.query_one(select_id, Select)
        values = self._values.get(select_id, [])
        if values:
            i = values.index(select.value) if select.value in values else -1
            select.value = values[(i + 1) % len(values)]

    def action_next_target(self) -> None:
        self._cycle("#target")

    def action_next_scope(self) -> None:
        self._cycle("#scope")

    def action_focus_pattern(self) -> None:
        self.query_one("#pattern", Input).focus()

    def action_focus_plot(self) -> None:
        self.query_one("#scatter", PlotextPlot).focus()

    # -- computing --------------------------------------------------------------------------
    def recompute(self) -> None:
        sel = self.selection()
        stats = self.query_one("#corr-stats", Static)
        plot = self.query_one("#scatter", PlotextPlot)
        if sel is None:
            self.result = None
            self.plot_info = charts.empty(plot, "no brain scores in this store")
            stats.update(
                "[b]No brain scores yet.[/b]\n\nScore layers against brain data with\n"
                "[b]memtool sweep --brain IT[/b]\nthen press r."
            )
            return
        stats.update("[dim]computing…[/dim]")
        self._compute(sel)

    @work(thread=True, exclusive=True, group="correlate", exit_on_error=False)
    def _compute(self, sel: Selection) -> None:
        key = (sel.target.region, sel.target.target_id, sel.setup)
        points = self._points.get(key)
        if points is None:
            try:
                with self.reader.session() as session:
                    points = self._points[key] = read.points(session, sel.target, sel.setup)
            except (MemtoolError, duckdb.Error) as exc:
                text = exc.one_line() if isinstance(exc, MemtoolError) else " ".join(str(exc).split())
                self.app.call_from_thread(
                    self.query_one("#corr-stats", Static).update,
                    f"[red]cannot read the scores: {escape(text)}[/red]",
                )
                return
        models = sorted(set(points["model"].to_list()))
        if sel.scope == PATTERN:
            keep = match_models(models, sel.pattern, substring=True)
        elif sel.scope.startswith("model:"):
            keep = [sel.scope.split(":", 1)[1]]
        else:
            keep = models
        chosen = points.filter(pl.col("model").is_in(keep))
        result = correlate_across_layers(*_columns(chosen), n_boot=N_BOOT)
        per_model = []
        for model in sorted(set(chosen["model"].to_list())):
            mem, brain, depth = _columns(chosen.filter(pl.col("model") == model))
            per_model.append((model, len(mem), spearman(mem, brain), partial_spearman(mem, brain, depth)))
        self.app.call_from_thread(self._show_result, sel, chosen, result, per_model)

    def _show_result(self, sel: Selection, points: pl.DataFrame, result: Correlation, per_model) -> None:
        self.result = result
        title = f"memorability vs {sel.target.label} · {sel.describe()}"
        if sel.setup is not None and len(self.data.setups) > 1:
            title += f" · {sel.setup.label}"
        self.plot_info = charts.scatter(
            self.query_one("#scatter", PlotextPlot), points, sel.target.label, title
        )
        lines = [
            f"[b]memorability vs {escape(sel.target.label)}[/b]",
            f"{escape(sel.describe())}",
            f"{plural(result.n, 'layer')}, {plural(len(per_model), 'model')}",
            "",
            f"Spearman ρ       {fmt(result.spearman)}",
            f"  95% CI  {fmt_ci(result.spearman_ci)}",
            f"Pearson r        {fmt(result.pearson)}",
            f"partial ρ|depth  {fmt(result.partial_spearman)}",
            f"  95% CI  {fmt_ci(result.partial_ci)}",
            "",
        ]
        if result.n <= 3:
            lines.append("[yellow]too few layers for a correlation[/yellow]")
        if per_model:
            lines.append("[dim]per model: ρ / partial[/dim]")
            for model, _n, rho, part in per_model:
                lines.append(f"{escape(model.split(':')[-1][:16]):<16} {fmt(rho, 2)} {fmt(part, 2)}")
        lines += ["", "[dim]partial ρ holds relative depth fixed (ranks); bootstrap over layers[/dim]"]
        self.query_one("#corr-stats", Static).update("\n".join(lines))
