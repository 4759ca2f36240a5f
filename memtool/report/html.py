"""index.html: the figures, the key numbers, and the runs and data sets behind them.

Every string that comes from the database is HTML-escaped. Every number in a table cell
carries its exact value in ``data-value`` (Python's shortest round-trip repr) next to the
rounded text a reader sees, so tests (and scripts) can hold the page to the SQL views.
Nothing here depends on the clock: the same store gives the same page.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import polars as pl

from memtool.report.data import ReportData, Study, TargetCorrelation
from memtool.report.html_finetune import FinetuneSection, finetune_html
from memtool.report.markup import FigureRef, cell, ci, figure_html, prose, table, text  # noqa: F401

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
class StudySection:
    study: Study
    correlations: list[TargetCorrelation]
    figures: list[FigureRef]


# -- sections ---------------------------------------------------------------------------
def key_numbers(section: StudySection) -> str:
    s = section.study
    items = [
        f"{len(s.model_ids)} model(s), {s.layers.height} scored layers (aliases of other layers not counted)"
    ]
    ranked = s.best.sort(["memorability", "model_id"], descending=[True, False], nulls_last=True)
    if ranked.height:
        top = ranked.row(0, named=True)
        line = (
            f"best layer overall: <b>{escape(s.name(top['model_id']))}</b> / {escape(top['layer'])} "
            f"(depth {text(top['relative_depth'])}), memorability ρ = "
            f"<b>{text(top['memorability'])}</b>"
            f"{ci(top['memorability_ci_low'], top['memorability_ci_high'])}"
        )
        if s.ceiling and top["memorability"] is not None:
            line += (
                f", {100 * top['memorability'] / s.ceiling:.0f}% of the human "
                f"split-half ceiling {s.ceiling:.3f}"
            )
        items.append(line)
    for c in section.correlations:
        if c.model is None:
            r = c.result
            items.append(
                f"memorability vs {escape(c.target)} across layers: Spearman ρ = "
                f"{text(r.spearman)}{ci(*r.spearman_ci)}, partial on depth = "
                f"{text(r.partial_spearman)}{ci(*r.partial_ci)} (n = {r.n})"
            )
    return '<ul class="keys">' + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _row_open(r: dict) -> str:
    return (
        f'<tr data-model-id="{escape(r["model_id"])}" data-model="{escape(r["model"])}" '
        f'data-layer="{escape(r["layer"])}">'
    )


def best_table(index: int, s: Study) -> str:
    cols = [
        "model",
        "layer",
        "relative_depth",
        "module_type",
        "memorability",
        "memorability_ci_low",
        "memorability_ci_high",
        *s.targets,
        "n_layers_scored",
        "human_ceiling",
    ]
    ranked = s.best.sort(["memorability", "model_id"], descending=[True, False], nulls_last=True)
    rows = []
    for r in ranked.iter_rows(named=True):
        cells = "".join(cell(c, r[c]) for c in cols)
        rows.append(_row_open(r) + f"{cells}</tr>")
    return table(f"best-{index}", cols, rows, attrs=f' data-setup="{escape(s.setup_id)}"')


def layers_table(index: int, s: Study) -> str:
    cols = [
        "model",
        "layer",
        "layer_index",
        "relative_depth",
        "module_type",
        "output_shape",
        "memorability",
        "memorability_ci_low",
        "memorability_ci_high",
        *s.targets,
        "n_features",
    ]
    rows = []
    for r in s.layers.iter_rows(named=True):
        cells = "".join(cell(c, r[c]) for c in cols)
        rows.append(_row_open(r) + f"{cells}</tr>")
    body = table(f"layers-{index}", cols, rows, attrs=f' data-setup="{escape(s.setup_id)}"')
    return (
        f"<details><summary>All {s.layers.height} scored layers (layer_scores_wide)</summary>{body}</details>"
    )


def correlation_table(index: int, section: StudySection) -> str:
    cols = [
        "target",
        "model",
        "n",
        "spearman",
        "spearman_ci_low",
        "spearman_ci_high",
        "partial_spearman_depth",
        "partial_ci_low",
        "partial_ci_high",
        "pearson",
    ]
    rows = []
    for c in section.correlations:
        r = c.result
        values = [
            c.target,
            c.model or "all models",
            r.n,
            r.spearman,
            *r.spearman_ci,
            r.partial_spearman,
            *r.partial_ci,
            r.pearson,
        ]
        rows.append("<tr>" + "".join(cell(k, v) for k, v in zip(cols, values)) + "</tr>")
    return table(f"correlations-{index}", cols, rows)


def study_html(index: int, section: StudySection, n_studies: int) -> str:
    s = section.study
    parts = [
        f'<h2 id="study-{index}">Memorability study: {escape(s.label)}</h2>'
        if n_studies > 1
        else "<h2>Key numbers</h2>"
    ]
    parts.append(
        f'<p class="sub">data set {escape(s.dataset)}, reducer {escape(s.reducer)}, '
        f"setup <code>{escape(s.setup_id)}</code></p>"
    )
    parts.append(key_numbers(section))
    parts.extend(figure_html(f) for f in section.figures)
    parts.append("<h3>Best layer per model (best_layer_per_model)</h3>")
    parts.append(best_table(index, s))
    if section.correlations:
        parts.append("<h3>Memorability vs brain similarity across layers</h3>")
        parts.append(
            "<p>Spearman correlation across layers with a percentile bootstrap CI "
            "(1000 resamples of layers, seed 0); partial correlation controls for "
            "relative depth.</p>"
        )
        parts.append(correlation_table(index, section))
    parts.append(layers_table(index, s))
    return "\n".join(parts)


def runs_table(runs: pl.DataFrame) -> str:
    cols = runs.columns  # as the report data selects them
    classes = {"run_id": "id", "command": "cmd"}
    rows = [
        "<tr>" + "".join(cell(c, r[c], cls=classes.get(c, "")) for c in cols) + "</tr>"
        for r in runs.iter_rows(named=True)
    ]
    return table("runs", cols, rows)


def datasets_table(datasets: pl.DataFrame) -> str:
    cols = ["name", "kind", "n_images", "n_splits", "split_kind", "ceiling", "citation", "dataset_id"]
    rows = [
        "<tr>" + "".join(cell(c, r[c], cls="id" if c == "dataset_id" else "") for c in cols) + "</tr>"
        for r in datasets.iter_rows(named=True)
    ]
    return table("datasets", cols, rows)


def selection_line(runs, models, targets) -> str:
    """What the user selected, in words (escaped)."""
    if isinstance(models, str):
        models = [models]
    parts = [
        "runs: " + (", ".join(runs) if runs else "all"),
        "models: " + (" or ".join(models) if models else "all"),
        "brain targets: " + (", ".join(targets) if targets else "all"),
    ]
    return escape("; ".join(parts))


def render_index(
    data: ReportData,
    sections: list[StudySection],
    finetune: FinetuneSection | None,
    *,
    version: str,
    runs=None,
    models=None,
    targets=None,
    lead: str | None = None,
) -> str:
    """The whole page as a string (UTF-8, no external resources)."""
    body = [
        f"<h1>memtool report: {escape(data.db_name)}</h1>",
        f'<p class="sub">Selection — {selection_line(runs, models, targets)}</p>',
    ]
    if data.missing:
        body.append(
            '<div class="missing" id="missing"><b>Not in this report:</b><ul>'
            + "".join(f"<li>{prose(m)}</li>" for m in data.missing)
            + "</ul></div>"
        )
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
    body.append(
        f"<footer>Written by memtool {escape(version)} (<code>memtool report</code>) from "
        f"{escape(data.db_name)}. Figures: PNG for reading, SVG for print.</footer>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>memtool report: {escape(data.db_name)}</title>\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<style>{CSS}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )
