"""Fine-tuning: the jobs, the highlighted job's learning curve, and across models the
fine-tuned test rho against the brain similarity of the penultimate layer.

The fine-tuning tables come with schema 002 (``memtool finetune``); a store without them,
or without jobs in them, gets a screen that says which command fills it. The relation
across models comes from the ``finetune_penultimate_scores`` and ``finetune_brain_relation``
views, for the data set and split of the highlighted job; t cycles the brain region.
"""

from __future__ import annotations

import math

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

from memtool.store import read
from memtool.store.read import FinetuneJobs, ReadSession
from memtool.tui import charts
from memtool.tui.screens.base import MemtoolScreen
from memtool.tui.widgets import VirtualTable, plural

EMPTY = (
    "[b]No fine-tuning results in this store yet.[/b]\n\n"
    "Fine-tune models for memorability, writing into this file, with\n\n"
    "  [b]memtool finetune --model resnet50 --data lamem:/data/lamem --split 1 --db {db}[/b]\n\n"
    "Epochs appear here while training runs (r re-reads; so does coming back to this screen): "
    "learning curves per model, and fine-tuned test rho against the brain similarity of each "
    "model's penultimate layer once those layers are scored."
)
TABLE_COLUMNS = (
    "model",
    "test_rho",
    "test_ci",
    "status",
    "epochs",
    "best_val_rho",
    "IT",
    "pretrained_IT",
    "dataset",
    "split",
    "finetune_id",
    "dataset_id",
)


def _ci(low, high) -> tuple | None:
    return (low, high) if low is not None and high is not None else None


def _fmt_ci(value) -> str:
    return f"{value[0]:.2f}…{value[1]:.2f}" if value else ""


def _rho(value, n) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"n/a (n={n or 0})"
    return f"{value:+.2f} (n={n})"


class FinetuneScreen(MemtoolScreen):
    MODE = "finetune"
    BINDINGS = [Binding("t", "next_region", "Region")]

    def __init__(self) -> None:
        super().__init__()
        self.data: FinetuneJobs | None = None
        self.curve_info = ""
        self.relation_info = ""
        self.brain_region: str | None = None
        self._job: dict | None = None

    def compose_body(self) -> ComposeResult:
        yield Static(id="ft-empty")
        with Horizontal(id="ft-body"):
            yield VirtualTable(
                id="ft-jobs",
                hidden=("finetune_id", "dataset_id"),
                formatters={"test_ci": _fmt_ci},
                max_widths={"model": 24},
                row_key=lambda row: row[-2],
            )
            with Vertical(id="ft-plots"):
                yield PlotextPlot(id="ft-curve")
                yield PlotextPlot(id="ft-relation")
                yield Static(id="ft-relation-stats")

    def fetch(self, session: ReadSession) -> FinetuneJobs | None:
        return read.finetune(session)

    def show(self, data: FinetuneJobs | None) -> None:
        self.data = data
        empty = self.query_one("#ft-empty", Static)
        body = self.query_one("#ft-body")
        if data is None:
            empty.update(EMPTY.format(db=escape(self.reader.display_path)))
            empty.display, body.display = True, False
            return
        empty.display, body.display = False, True
        rows = []
        for job in data.jobs.to_dicts():
            epochs = f"{job['epochs_done'] or 0}/{job['epochs_planned'] or '?'}"
            rows.append(
                (
                    job["model"],
                    job["test_rho"],
                    _ci(job["test_ci_low"], job["test_ci_high"]),
                    job["status"],
                    epochs,
                    job["best_val_rho"],
                    job["IT"],
                    job["pretrained_IT"],
                    job["dataset"],
                    job["split"],
                    job["finetune_id"],
                    job["dataset_id"],
                )
            )
        table = self.query_one("#ft-jobs", VirtualTable)
        table.set_data(TABLE_COLUMNS, rows)
        self._select(table.current_row)

    def on_virtual_table_cursor_moved(self, message: VirtualTable.CursorMoved) -> None:
        if message.table.id == "ft-jobs":
            self._select(message.row)

    def _select(self, row: tuple | None) -> None:
        if self.data is None or row is None:
            return
        job = self.data.job(row[-2])
        if job is None:
            return
        self._job = job
        curve = self.data.curve(job["finetune_id"])
        plot = self.query_one("#ft-curve", PlotextPlot)
        title = f"{job['model']} · {job['dataset']} {job['split']}"
        if curve is None:
            self.curve_info = charts.empty(plot, f"{title}: no epoch finished yet")
        else:
            self.curve_info = charts.learning_curve(plot, title, curve)
        self._show_relation()

    def _show_relation(self) -> None:
        job, data = self._job, self.data
        plot = self.query_one("#ft-relation", PlotextPlot)
        stats = self.query_one("#ft-relation-stats", Static)
        if job is None or data is None:
            return
        regions = data.regions(job["dataset_id"], job["split"])
        if not regions:
            self.relation_info = charts.empty(plot, "test rho vs penultimate similarity: not scored yet")
            stats.update(
                "[dim]score the penultimate layers for brain similarity (see the fine-tuning"
                " docs) to relate them to test rho across models[/dim]"
            )
            return
        if self.brain_region not in regions:
            self.brain_region = "IT" if "IT" in regions else regions[0]
        points = data.relation_points(job["dataset_id"], job["split"], self.brain_region)
        models = [p["model"] for p in points]
        series = {
            "fine-tuned": ([p["finetuned_similarity"] for p in points], [p["test_rho"] for p in points]),
            "pretrained": ([p["pretrained_similarity"] for p in points], [p["test_rho"] for p in points]),
        }
        self.relation_info = charts.relation(
            plot,
            f"test rho vs penultimate {self.brain_region} · {job['dataset']} {job['split']}",
            series,
            xlabel=f"penultimate {self.brain_region}",
            ylabel="test rho",
        )
        summary = data.relation_summary(job["dataset_id"], job["split"], self.brain_region)
        if summary:
            s = summary[0]
            stats.update(
                f"Spearman across {plural(len(set(models)), 'model')}: fine-tuned layer "
                f"{_rho(s['finetuned_rho'], s['finetuned_n'])} · pretrained layer "
                f"{_rho(s['from_pretrained_rho'], s['from_pretrained_n'])} [dim](t: region)[/dim]"
            )
        else:
            stats.update("")

    def action_next_region(self) -> None:
        if self._job is None or self.data is None:
            return
        regions = self.data.regions(self._job["dataset_id"], self._job["split"])
        if regions:
            i = regions.index(self.brain_region) if self.brain_region in regions else -1
            self.brain_region = regions[(i + 1) % len(regions)]
            self._show_relation()
