"""The report's fine-tuning figures: test rho per run, and rho against brain similarity.

Same style and file handling as ``memtool.report.figures``.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from memtool.report.data import FinetuneResults, column
from memtool.report.figures import (
    OKABE_ITO,
    TARGET_COLORS,
    _ceiling_line,
    _fmt,
    _grid,
    _interval_plot,
    ellipsize,
    short_model,
    style,
    target_axis_label,
)


def finetune_label(row: dict, repeated: set[str]) -> str:
    """A fine-tuning run's name on an axis: the model, plus split and data set when needed."""
    text = ellipsize(short_model(row["model"]), 28)
    if row.get("random_init"):
        text += " (random init)"
    if row["model"] in repeated:
        text += f"\n{ellipsize(row['dataset'], 14)} · {ellipsize(row['split'], 12)}"
    return text


def finetune_rho(ft: FinetuneResults) -> Figure:
    """Fine-tuned test rho per run with its bootstrap CI, sorted, next to the human ceiling."""
    runs = ft.runs.sort(["test_rho", "finetune_id"], descending=[False, True], nulls_last=False)
    counts: dict[str, int] = {}
    for m in runs["model"].to_list():
        counts[m] = counts.get(m, 0) + 1
    repeated = {m for m, k in counts.items() if k > 1}
    labels = [finetune_label(r, repeated) for r in runs.iter_rows(named=True)]
    ceilings = set(runs["ceiling"].drop_nulls().to_list())
    datasets = sorted(set(runs["dataset"].to_list()))
    ceiling = ceilings.pop() if len(ceilings) == 1 and len(datasets) == 1 else None
    row_h = 0.42 if repeated else 0.34
    with style():
        fig = Figure(figsize=(7.0, 1.4 + row_h * runs.height), layout="constrained")
        ax = fig.subplots()
        _interval_plot(
            ax,
            column(runs, "test_rho"),
            column(runs, "test_ci_low"),
            column(runs, "test_ci_high"),
            labels,
            OKABE_ITO["blue"],
        )
        _ceiling_line(ax, ceiling, "human split-half ceiling", runs.height)
        ax.set_xlabel("test memorability ρ after fine-tuning (95% bootstrap CI)")
        fig.suptitle(f"Fine-tuned models — {ellipsize(', '.join(datasets), 60)}", fontsize=10.5)
    return fig


def finetune_vs_similarity(ft: FinetuneResults, dataset: str, split: str) -> Figure:
    """Across models: fine-tuned test rho against penultimate-layer similarity per target.

    Filled points: the fine-tuned network's penultimate layer; open points: the same layer
    of the pretrained network (when scored), both against the fine-tuned test rho.
    """
    rel = ft.relations.filter((pl.col("dataset") == dataset) & (pl.col("split") == split))
    data = ft.penultimate.filter((pl.col("dataset") == dataset) & (pl.col("split") == split))
    nrows, ncols = _grid(rel.height, 3)
    with style():
        fig = Figure(figsize=(max(4.0 * ncols, 6.0), 3.5 * nrows + 1.0), layout="constrained")
        axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False).ravel()
        for ax, c in zip(axes, rel.iter_rows(named=True)):
            region = c["region"]
            frame = data.filter(
                (pl.col("region") == region) & (pl.col("brain_target_id") == c["brain_target_id"])
            ).sort(["model", "finetune_id"])
            y = column(frame, "test_rho")
            color = TARGET_COLORS.get(region, OKABE_ITO["blue"])
            x_base, x_tuned = column(frame, "pretrained_similarity"), column(frame, "finetuned_similarity")
            for xb, xt, yi in zip(x_base, x_tuned, y):
                if np.isfinite(xb) and np.isfinite(xt):
                    ax.plot([xb, xt], [yi, yi], color="#bbbbbb", linewidth=0.8, zorder=1)
            ax.scatter(x_base, y, s=26, facecolors="white", edgecolors=color, linewidths=1.1, zorder=2)
            ax.scatter(x_tuned, y, s=26, color=color, edgecolors="#333333", linewidths=0.4, zorder=3)
            if frame.height <= 12:
                for name, xt, xb, yi in zip(frame["model"].to_list(), x_tuned, x_base, y):
                    xi = xt if np.isfinite(xt) else xb
                    if np.isfinite(xi):
                        ax.annotate(
                            ellipsize(short_model(name), 18),
                            (xi, yi),
                            xytext=(4, 3),
                            textcoords="offset points",
                            fontsize=6.5,
                            color="#333333",
                        )
            tuned, base = _fmt(c["finetuned_rho"]), _fmt(c["from_pretrained_rho"])
            if max(c["finetuned_n"], c["from_pretrained_n"]) < 3:
                line = f"n = {max(c['finetuned_n'], c['from_pretrained_n'])}: needs 3 models or more"
            elif c["finetuned_n"] == c["from_pretrained_n"]:
                line = f"fine-tuned {tuned}, pretrained {base} (n = {c['finetuned_n']})"
            else:
                line = (
                    f"fine-tuned {tuned} (n = {c['finetuned_n']}), "
                    f"pretrained {base} (n = {c['from_pretrained_n']})"
                )
            ax.set_title(f"$\\bf{{{region}}}$  Spearman ρ across models\n{line}")
            ax.margins(x=0.18, y=0.08)
            ax.set_xlabel("penultimate-layer " + target_axis_label(region, [c["brain_target"]]))
            ax.tick_params(labelleft=True)
        for ax in axes[::ncols]:
            ax.set_ylabel("fine-tuned test ρ")
        for ax in axes[rel.height :]:
            ax.set_visible(False)
        handles = [
            Line2D(
                [],
                [],
                marker="o",
                linestyle="",
                color="#555555",
                markersize=5,
                label="penultimate layer after fine-tuning",
            ),
            Line2D(
                [],
                [],
                marker="o",
                linestyle="",
                markerfacecolor="white",
                markeredgecolor="#555555",
                markersize=5,
                label="same layer, pretrained weights",
            ),
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
        fig.suptitle(
            "Fine-tuned accuracy vs penultimate-layer brain similarity\n"
            + ellipsize(f"{dataset} · {split}", 60),
            fontsize=10.5,
        )
    return fig
