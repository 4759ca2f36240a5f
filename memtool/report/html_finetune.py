"""The fine-tuning part of index.html: runs, their test rho and what it relates to."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Sequence

import polars as pl

from memtool.report.data import FinetuneResults
from memtool.report.markup import FigureRef, cell, ci, figure_html, table, text


@dataclass
class FinetuneSection:
    data: FinetuneResults
    figures: list[FigureRef] = field(default_factory=list)


def _plain_table(table_id: str, frame: pl.DataFrame, cols: Sequence[str]) -> str:
    rows = [
        "<tr>" + "".join(cell(c, r[c], cls="id" if c.endswith("_id") else "") for c in cols) + "</tr>"
        for r in frame.iter_rows(named=True)
    ]
    return table(table_id, cols, rows)


def finetune_html(section: FinetuneSection) -> str:
    ft = section.data
    parts = ["<h2>Fine-tuned models</h2>"]
    top = ft.runs.sort(["test_rho", "finetune_id"], descending=[True, False]).row(0, named=True)
    n_models = ft.runs["model"].n_unique()
    items = [
        f"{ft.runs.height} completed fine-tuning run(s) of {n_models} model(s)",
        f"best: <b>{escape(top['model'])}</b> on {escape(top['dataset'])} "
        f"{escape(top['split'])}, test ρ = <b>{text(top['test_rho'])}</b>"
        f"{ci(top['test_ci_low'], top['test_ci_high'])} on {text(top['n_test'])} test images",
    ]
    for c in ft.relations.iter_rows(named=True):
        items.append(
            f"{escape(c['dataset'])} {escape(c['split'])}, {escape(c['region'])} "
            f"({escape(c['brain_target'])}): fine-tuned test ρ vs penultimate-layer similarity "
            f"across models, Spearman {text(c['finetuned_rho'])} (n = {c['finetuned_n']}); "
            f"with the pretrained layer's similarity {text(c['from_pretrained_rho'])} "
            f"(n = {c['from_pretrained_n']})"
        )
    parts.append('<ul class="keys">' + "".join(f"<li>{i}</li>" for i in items) + "</ul>")
    parts.extend(figure_html(f) for f in section.figures)
    parts.append("<h3>Completed fine-tuning runs (finetune_results)</h3>")
    parts.append(
        _plain_table(
            "finetune",
            ft.runs,
            [
                "model",
                "random_init",
                "dataset",
                "split",
                "n_test",
                "epochs_done",
                "best_epoch",
                "best_val_rho",
                "test_rho",
                "test_ci_low",
                "test_ci_high",
                "resmem_test_rho",
                "penultimate_layer",
                "finetune_id",
                "run_id",
            ],
        )
    )
    if ft.penultimate.height:
        parts.append("<h3>Penultimate-layer brain similarity (finetune_penultimate_scores)</h3>")
        parts.append(
            _plain_table(
                "finetune-penultimate",
                ft.penultimate,
                [
                    "model",
                    "dataset",
                    "split",
                    "region",
                    "brain_target",
                    "test_rho",
                    "finetuned_similarity",
                    "pretrained_similarity",
                    "pretrained_best_rho",
                    "pretrained_penultimate_rho",
                    "penultimate_layer",
                    "finetune_id",
                ],
            )
        )
    if ft.relations.height:
        parts.append("<h3>Fine-tuned test ρ vs penultimate-layer similarity, across models</h3>")
        parts.append(
            _plain_table(
                "finetune-relations",
                ft.relations,
                [
                    "dataset",
                    "split",
                    "region",
                    "brain_target",
                    "finetuned_n",
                    "finetuned_rho",
                    "from_pretrained_n",
                    "from_pretrained_rho",
                    "brain_target_id",
                ],
            )
        )
    return "\n".join(parts)
