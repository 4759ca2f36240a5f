"""index.html: the figures, the key numbers, and the runs and data sets behind them.

Every string that comes from the database is HTML-escaped. Every number in a table cell
carries its exact value in ``data-value`` (Python's shortest round-trip repr) next to the
rounded text a reader sees, so tests (and scripts) can hold the page to the SQL views.
Nothing here depends on the clock: the same store gives the same page.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass, field
from html import escape
from typing import Iterable, Sequence

import polars as pl

from memtool.report.data import FinetuneResults, ReportData, Study, TargetCorrelation

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 72rem; padding: 0 1rem; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; } h2 { margin-top: 2.4rem; border-bottom: 1px solid #ddd; }
.sub { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6rem 0 1.2rem; font-size: 0.88rem; }
th, td { padding: 0.25rem 0.6rem; border-bottom: 1px solid #e5e5e5; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.cmd, td.id { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.8rem; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.9rem; max-width: 60rem; }
.missing { background: #fff8e1; border-left: 4px solid #E69F00; padding: 0.6rem 1rem; }
.keys li { margin: 0.2rem 0; } details { margin: 0.8rem 0; } summary { cursor: pointer; }
footer { margin-top: 3rem; color: #666; font-size: 0.85rem; }
"""


@dataclass
class FigureRef:
    """A figure written next to the page: ``figures/<stem>.png`` and ``.svg``."""

    stem: str
    title: str
    caption: str


@dataclass
class StudySection:
    study: Study
    correlations: list[TargetCorrelation]
    figures: list[FigureRef]


@dataclass
class FinetuneSection:
    data: FinetuneResults
    figures: list[FigureRef] = field(default_factory=list)


# -- cells ------------------------------------------------------------------------------
def text(value) -> str:
    """Escaped display text for any database value."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.3f}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return escape(str(value))


def prose(message: str) -> str:
    """Escape a sentence and show its `backticked` commands as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(message))


def cell(col: str, value, *, cls: str = "") -> str:
    """A ``<td>`` carrying the column name and, for numbers, the exact value."""
    klass = f' class="{cls}"' if cls else ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f'<td data-col="{escape(col)}"{klass}>{text(value)}</td>'
    exact = repr(float(value)) if isinstance(value, float) else str(value)
    return (f'<td data-col="{escape(col)}" data-value="{exact}" class="num{" " + cls if cls else ""}">'
            f"{text(value) if isinstance(value, float) else value}</td>")


def table(table_id: str, headers: Sequence[str], rows: Iterable[str], *, attrs: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return (f'<table id="{escape(table_id)}"{attrs}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
            + "\n".join(rows) + "\n</tbody></table>")


def ci(lo, hi) -> str:
    if lo is None or hi is None or any(math.isnan(v) for v in (lo, hi)):
        return ""
    return f" [{lo:.3f}, {hi:.3f}]"


# -- sections ---------------------------------------------------------------------------
def figure_html(ref: FigureRef) -> str:
    stem = escape(ref.stem)
    return (f'<figure id="fig-{stem}"><a href="figures/{stem}.svg">'
            f'<img src="figures/{stem}.png" alt="{escape(ref.title)}"></a>'
            f"<figcaption><b>{escape(ref.title)}.</b> {escape(ref.caption)} "
            f'(<a href="figures/{stem}.svg">SVG</a>)</figcaption></figure>')


def key_numbers(section: StudySection) -> str:
    s = section.study
    items = [f"{len(s.model_ids)} model(s), {s.layers.height} scored layers "
             f"(aliases of other layers not counted)"]
    ranked = s.best.sort(["memorability", "model_id"], descending=[True, False], nulls_last=True)
    if ranked.height:
        top = ranked.row(0, named=True)
        line = (f"best layer overall: <b>{escape(s.name(top['model_id']))}</b> / {escape(top['layer'])} "
                f"(depth {text(top['relative_depth'])}), memorability ρ = "
                f"<b>{text(top['memorability'])}</b>"
                f"{ci(top['memorability_ci_low'], top['memorability_ci_high'])}")
        if s.ceiling and top["memorability"] is not None:
            line += (f", {100 * top['memorability'] / s.ceiling:.0f}% of the human "
                     f"split-half ceiling {s.ceiling:.3f}")
        items.append(line)
    for c in section.correlations:
        if c.model is None:
            r = c.result
            items.append(
                f"memorability vs {escape(c.target)} across layers: Spearman ρ = "
                f"{text(r.spearman)}{ci(*r.spearman_ci)}, partial on depth = "
                f"{text(r.partial_spearman)}{ci(*r.partial_ci)} (n = {r.n})")
    return '<ul class="keys">' + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _row_open(r: dict) -> str:
    return (f'<tr data-model-id="{escape(r["model_id"])}" data-model="{escape(r["model"])}" '
            f'data-layer="{escape(r["layer"])}">')


def best_table(index: int, s: Study) -> str:
    cols = ["model", "layer", "relative_depth", "module_type", "memorability",
            "memorability_ci_low", "memorability_ci_high", *s.targets, "n_layers_scored",
            "human_ceiling"]
    ranked = s.best.sort(["memorability", "model_id"], descending=[True, False], nulls_last=True)
    rows = []
    for r in ranked.iter_rows(named=True):
        cells = "".join(cell(c, r[c]) for c in cols)
        rows.append(_row_open(r) + f"{cells}</tr>")
    return table(f"best-{index}", cols, rows, attrs=f' data-setup="{escape(s.setup_id)}"')


def layers_table(index: int, s: Study) -> str:
    cols = ["model", "layer", "layer_index", "relative_depth", "module_type", "output_shape",
            "memorability", "memorability_ci_low", "memorability_ci_high", *s.targets,
            "n_features"]
    rows = []
    for r in s.layers.iter_rows(named=True):
        cells = "".join(cell(c, r[c]) for c in cols)
        rows.append(_row_open(r) + f"{cells}</tr>")
    body = table(f"layers-{index}", cols, rows, attrs=f' data-setup="{escape(s.setup_id)}"')
    return (f"<details><summary>All {s.layers.height} scored layers (layer_scores_wide)</summary>"
            f"{body}</details>")


def correlation_table(index: int, section: StudySection) -> str:
    cols = ["target", "model", "n", "spearman", "spearman_ci_low", "spearman_ci_high",
            "partial_spearman_depth", "partial_ci_low", "partial_ci_high", "pearson"]
    rows = []
    for c in section.correlations:
        r = c.result
        values = [c.target, c.model or "all models", r.n, r.spearman, *r.spearman_ci,
                  r.partial_spearman, *r.partial_ci, r.pearson]
        rows.append("<tr>" + "".join(cell(k, v) for k, v in zip(cols, values)) + "</tr>")
    return table(f"correlations-{index}", cols, rows)


def study_html(index: int, section: StudySection, n_studies: int) -> str:
    s = section.study
    parts = [f'<h2 id="study-{index}">Memorability study: {escape(s.label)}</h2>'
             if n_studies > 1 else "<h2>Key numbers</h2>"]
    parts.append(f'<p class="sub">data set {escape(s.dataset)}, reducer {escape(s.reducer)}, '
                 f'setup <code>{escape(s.setup_id)}</code></p>')
    parts.append(key_numbers(section))
    parts.extend(figure_html(f) for f in section.figures)
    parts.append("<h3>Best layer per model (best_layer_per_model)</h3>")
    parts.append(best_table(index, s))
    if section.correlations:
        parts.append("<h3>Memorability vs brain similarity across layers</h3>")
        parts.append("<p>Spearman correlation across layers with a percentile bootstrap CI "
                     "(1000 resamples of layers, seed 0); partial correlation controls for "
                     "relative depth.</p>")
        parts.append(correlation_table(index, section))
    parts.append(layers_table(index, s))
    return "\n".join(parts)


def _plain_table(table_id: str, frame: pl.DataFrame, cols: Sequence[str]) -> str:
    rows = ["<tr>" + "".join(cell(c, r[c], cls="id" if c.endswith("_id") else "") for c in cols)
            + "</tr>" for r in frame.iter_rows(named=True)]
    return table(table_id, cols, rows)


def finetune_html(section: FinetuneSection) -> str:
    ft = section.data
    parts = ["<h2>Fine-tuned models</h2>"]
    top = ft.runs.sort(["test_rho", "finetune_id"], descending=[True, False]).row(0, named=True)
    n_models = ft.runs["model"].n_unique()
    items = [f"{ft.runs.height} completed fine-tuning run(s) of {n_models} model(s)",
             f"best: <b>{escape(top['model'])}</b> on {escape(top['dataset'])} "
             f"{escape(top['split'])}, test ρ = <b>{text(top['test_rho'])}</b>"
             f"{ci(top['test_ci_low'], top['test_ci_high'])} on {text(top['n_test'])} test images"]
    for c in ft.relations.iter_rows(named=True):
        items.append(
            f"{escape(c['dataset'])} {escape(c['split'])}, {escape(c['region'])} "
            f"({escape(c['brain_target'])}): fine-tuned test ρ vs penultimate-layer similarity "
            f"across models, Spearman {text(c['finetuned_rho'])} (n = {c['finetuned_n']}); "
            f"with the pretrained layer's similarity {text(c['from_pretrained_rho'])} "
            f"(n = {c['from_pretrained_n']})")
    parts.append('<ul class="keys">' + "".join(f"<li>{i}</li>" for i in items) + "</ul>")
    parts.extend(figure_html(f) for f in section.figures)
    parts.append("<h3>Completed fine-tuning runs (finetune_results)</h3>")
    parts.append(_plain_table("finetune", ft.runs, [
        "model", "random_init", "dataset", "split", "n_test", "epochs_done", "best_epoch",
        "best_val_rho", "test_rho", "test_ci_low", "test_ci_high", "resmem_test_rho",
        "penultimate_layer", "finetune_id", "run_id"]))
    if ft.penultimate.height:
        parts.append("<h3>Penultimate-layer brain similarity (finetune_penultimate_scores)</h3>")
        parts.append(_plain_table("finetune-penultimate", ft.penultimate, [
            "model", "dataset", "split", "region", "brain_target", "test_rho",
            "finetuned_similarity", "pretrained_similarity", "pretrained_best_rho",
            "pretrained_penultimate_rho", "penultimate_layer", "finetune_id"]))
    if ft.relations.height:
        parts.append("<h3>Fine-tuned test ρ vs penultimate-layer similarity, across models</h3>")
        parts.append(_plain_table("finetune-relations", ft.relations, [
            "dataset", "split", "region", "brain_target", "finetuned_n", "finetuned_rho",
            "from_pretrained_n", "from_pretrained_rho", "brain_target_id"]))
    return "\n".join(parts)


def runs_table(runs: pl.DataFrame) -> str:
    cols = ["run_id", "kind", "status", "started_at", "duration_s", "n_models",
            "n_layers_scored", "memtool_version", "command", "error"]
    classes = {"run_id": "id", "command": "cmd"}
    rows = ["<tr>" + "".join(cell(c, r[c], cls=classes.get(c, "")) for c in cols) + "</tr>"
            for r in runs.iter_rows(named=True)]
    return table("runs", cols, rows)


def datasets_table(datasets: pl.DataFrame) -> str:
    cols = ["name", "kind", "n_images", "n_splits", "split_kind", "ceiling", "citation",
            "dataset_id"]
    rows = ["<tr>" + "".join(cell(c, r[c], cls="id" if c == "dataset_id" else "")
                             for c in cols) + "</tr>"
            for r in datasets.iter_rows(named=True)]
    return table("datasets", cols, rows)


def selection_line(runs, models, targets) -> str:
    """What the user selected, in words (escaped)."""
    if isinstance(models, str):
        models = [models]
    parts = ["runs: " + (", ".join(runs) if runs else "all"),
             "models: " + (" or ".join(models) if models else "all"),
             "brain targets: " + (", ".join(targets) if targets else "all")]
    return escape("; ".join(parts))


def render_index(data: ReportData, sections: list[StudySection],
                 finetune: FinetuneSection | None, *, version: str, runs=None, models=None,
                 targets=None, lead: str | None = None) -> str:
    """The whole page as a string (UTF-8, no external resources)."""
    body = [f"<h1>memtool report: {escape(data.db_name)}</h1>",
            f'<p class="sub">Selection — {selection_line(runs, models, targets)}</p>']
    if data.missing:
        body.append('<div class="missing" id="missing"><b>Not in this report:</b><ul>'
                    + "".join(f"<li>{prose(m)}</li>" for m in data.missing) + "</ul></div>")
    if lead:  # a study store: memtool.report.study's findings come first
        body.append(lead)
    for i, section in enumerate(sections, start=1):
        body.append(study_html(i, section, len(sections)))
    if finetune is not None:
        body.append(finetune_html(finetune))
    body.append("<h2>Runs</h2>")
    body.append("<p>Each run's memtool version and the exact command that produced it.</p>")
    body.append(runs_table(data.runs))
    body.append("<h2>Data sets</h2>")
    body.append(datasets_table(data.datasets))
    body.append(f"<footer>Written by memtool {escape(version)} (<code>memtool report</code>) from "
                f"{escape(data.db_name)}. Figures: PNG for reading, SVG for print.</footer>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>memtool report: {escape(data.db_name)}</title>\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<style>{CSS}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n")
