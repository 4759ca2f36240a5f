"""The report's figures: one function per figure, one shared style, byte-stable files.

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot, no global backend):
the Agg canvas renders PNGs, the SVG backend the vector copies. Style is applied through
``rc_context`` so nothing leaks into the caller's matplotlib settings. Colours: the
Okabe-Ito palette for categories (colour-blind safe) and viridis for relative depth.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
import polars as pl
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from memtool.report.data import Study, TargetCorrelation, column

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
}
TARGET_COLORS = {
    "memorability": OKABE_ITO["black"],
    "V1": OKABE_ITO["orange"],
    "V2": OKABE_ITO["sky"],
    "V4": OKABE_ITO["green"],
    "IT": OKABE_ITO["vermillion"],
    "behavior": OKABE_ITO["purple"],
}
MODEL_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<"]
DEPTH_CMAP = "viridis"
PNG_DPI = 150

STYLE = {
    "font.family": "DejaVu Sans",  # bundled with matplotlib: same glyphs everywhere
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "figure.dpi": 100,
    "savefig.dpi": PNG_DPI,
    "svg.fonttype": "path",
    "svg.hashsalt": "memtool-report",  # stable ids inside SVG files
    "path.simplify": False,
}


def style():
    """Context manager applying the report style (use around building and saving)."""
    return matplotlib.rc_context(STYLE)


def save_figure(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    """Write ``stem.png`` and ``stem.svg`` without timestamps or version stamps."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png, svg = out_dir / f"{stem}.png", out_dir / f"{stem}.svg"
    with style():
        fig.savefig(png, format="png", metadata={"Software": None})
        fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    return [png, svg]


def short_model(name: str) -> str:
    """``timm:resnet50`` -> ``resnet50``: the source prefix is noise in a panel title."""
    return name.split(":", 1)[-1]


def ellipsize(text: str, width: int) -> str:
    """Shorten to ``width`` characters with an ellipsis in the middle, then make it literal.

    Names come from the database: a ``$`` would switch matplotlib to math mode, so it is
    escaped here, which every label from the store goes through.
    """
    if len(text) > width:
        keep = width - 1
        text = text[: keep // 2] + "…" + text[len(text) - (keep - keep // 2) :]
    return text.replace("$", r"\$")


def _fmt(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.2f}"


def target_axis_label(region: str, names: list[str]) -> str:
    """``IT similarity`` plus the stored brain target it came from, when there is one."""
    if len(names) == 1 and names[0] != region:
        return f"{region} similarity ({ellipsize(names[0], 40)})"
    if len(names) > 1:
        return f"{region} similarity ({len(names)} brain targets, one per model)"
    return f"{region} similarity"


def _grid(n: int, max_cols: int) -> tuple[int, int]:
    """(rows, cols) for n panels: square-ish (4 -> 2x2), at most max_cols wide."""
    cols = min(n, max_cols, max(1, math.ceil(math.sqrt(n)) if n > 3 else n))
    return math.ceil(n / cols), cols


# -- 1. memorability vs each brain target ----------------------------------------------
def memorability_vs_brain(study: Study, correlations: list[TargetCorrelation]) -> Figure:
    """One scatter per brain target: every layer of every model, coloured by depth."""
    targets = study.targets
    pooled = {c.target: c.result for c in correlations if c.model is None}
    nrows, ncols = _grid(len(targets), 3)
    with style():
        width = max(3.7 * ncols + 0.9, 6.0)  # one panel: room for the title
        fig = Figure(figsize=(width, 3.4 * nrows + 0.9), layout="constrained")
        axes = fig.subplots(nrows, ncols, sharey=True, squeeze=False).ravel()
        norm = Normalize(0.0, 1.0)
        models = study.model_ids
        use_markers = 1 < len(models) <= len(MODEL_MARKERS)
        y_all = column(study.layers, "memorability")
        for ax, target in zip(axes, targets):
            for k, model in enumerate(models):
                frame = study.layers.filter(pl.col("model_id") == model)
                ax.scatter(
                    column(frame, target),
                    column(frame, "memorability"),
                    c=column(frame, "relative_depth"),
                    cmap=DEPTH_CMAP,
                    norm=norm,
                    s=16,
                    marker=MODEL_MARKERS[k] if use_markers else "o",
                    edgecolors="#333333",
                    linewidths=0.3,
                    alpha=0.9,
                )
            r = pooled[target]
            ax.set_title(
                f"$\\bf{{{target}}}$  (n = {r.n} layers)\n"
                f"Spearman ρ = {_fmt(r.spearman)}   partial ρ | depth = "
                f"{_fmt(r.partial_spearman)}"
            )
            ax.set_xlabel(target_axis_label(target, study.target_names.get(target, [])))
            ax.tick_params(labelleft=True)
        for ax in axes[::ncols]:
            ax.set_ylabel("memorability ρ (held-out)")
        for ax in axes[len(targets) :]:
            ax.set_visible(False)
        if np.isfinite(y_all).any():
            lo, hi = np.nanmin(y_all), np.nanmax(y_all)
            pad = 0.05 * (hi - lo or 1.0)
            axes[0].set_ylim(lo - pad, hi + pad)
        bar = fig.colorbar(
            ScalarMappable(norm=norm, cmap=DEPTH_CMAP), ax=axes.tolist(), shrink=0.85, aspect=25
        )
        bar.set_label("relative depth (0 = input, 1 = output)")
        if use_markers:
            handles = [
                Line2D(
                    [],
                    [],
                    marker=MODEL_MARKERS[k],
                    color="#555555",
                    linestyle="",
                    markersize=5,
                    label=ellipsize(short_model(study.name(m)), 30),
                )
                for k, m in enumerate(models)
            ]
            fig.legend(handles=handles, loc="outside lower center", ncols=min(len(models), 4), frameon=False)
        fig.suptitle(
            "Memorability vs brain similarity across layers\n" + ellipsize(study.label, 70), fontsize=10.5
        )
    return fig


# -- 2. per-model depth profiles --------------------------------------------------------
def depth_profiles(study: Study) -> Figure:
    """Small multiples: memorability rho (with CI) and brain scores against relative depth."""
    models = study.model_ids
    nrows, ncols = _grid(len(models), 4)
    panel_w = 6.4 if len(models) == 1 else 3.2
    with style():
        fig = Figure(
            figsize=(panel_w * ncols, 2.6 * nrows + 1.0 + 0.8 * (len(models) == 1)), layout="constrained"
        )
        axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
        for ax, model in zip(axes, models):
            frame = study.layers.filter(pl.col("model_id") == model).sort(["relative_depth", "layer_index"])
            depth = column(frame, "relative_depth")
            ax.fill_between(
                depth,
                column(frame, "memorability_ci_low"),
                column(frame, "memorability_ci_high"),
                color="#000000",
                alpha=0.12,
                linewidth=0,
            )
            ax.plot(
                depth,
                column(frame, "memorability"),
                color=TARGET_COLORS["memorability"],
                linewidth=0.9,
                marker="o",
                markersize=1.8,
            )
            for target in study.targets:
                values = column(frame, target)
                keep = np.isfinite(values)
                ax.plot(depth[keep], values[keep], color=TARGET_COLORS[target], linewidth=1.1)
            best = study.best.filter(pl.col("model_id") == model)
            if best.height:
                ax.plot(
                    column(best, "relative_depth"),
                    column(best, "memorability"),
                    marker="*",
                    markersize=10,
                    color=OKABE_ITO["yellow"],
                    markeredgecolor="#000000",
                    markeredgewidth=0.7,
                    linestyle="",
                    zorder=5,
                )
            ax.set_title(ellipsize(short_model(study.name(model)), 34))
            ax.set_xlim(-0.02, 1.02)
            ax.tick_params(labelbottom=True, labelleft=True)
        for ax in axes[len(models) :]:
            ax.set_visible(False)
        ylabel = "ρ or similarity" if study.targets else "memorability ρ (held-out)"
        for ax in axes[::ncols]:
            ax.set_ylabel(ylabel)
        for ax in axes[: len(models)][-ncols:]:
            ax.set_xlabel("relative depth (0 = input, 1 = output)")
        handles = [
            Line2D(
                [],
                [],
                color=TARGET_COLORS["memorability"],
                linewidth=0.9,
                marker="o",
                markersize=1.8,
                label="memorability ρ, shaded 95% CI",
            ),
            Line2D(
                [],
                [],
                color=OKABE_ITO["yellow"],
                marker="*",
                linestyle="",
                markeredgecolor="#000000",
                markersize=10,
                label="best layer",
            ),
        ]
        handles += [
            Line2D([], [], color=TARGET_COLORS[t], linewidth=1.1, label=f"{t} similarity")
            for t in study.targets
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), frameon=False)
        fig.suptitle(f"Scores by relative depth — {ellipsize(study.label, 80)}", fontsize=10.5)
    return fig


# -- 3. best layer per model -------------------------------------------------------------
def _interval_plot(
    ax, values: np.ndarray, lo: np.ndarray, hi: np.ndarray, labels: list[str], color: str
) -> None:
    """Points with horizontal CI bars, one row per label, bottom to top."""
    y = np.arange(len(values))
    err = np.vstack([np.where(np.isfinite(lo), values - lo, 0), np.where(np.isfinite(hi), hi - values, 0)])
    ax.errorbar(
        values, y, xerr=err, fmt="o", color=color, ecolor="#555555", elinewidth=1.0, capsize=2.5, markersize=5
    )
    ax.set_yticks(y, labels)
    ax.grid(axis="y", visible=False)
    lows = lo[np.isfinite(lo)]
    ax.set_xlim(min(0.0, float(lows.min()) - 0.02) if lows.size else 0.0, 1.0)


def _ceiling_line(ax, ceiling: float | None, text: str, n_rows: int) -> None:
    ax.set_ylim(-0.7, n_rows - 0.3 + (0.7 if ceiling is not None else 0))
    if ceiling is None:
        return
    ax.axvline(ceiling, color=OKABE_ITO["vermillion"], linestyle="--", linewidth=1.2)
    ax.annotate(
        f"{text} {ceiling:.2f}",
        (ceiling, 1.0),
        xycoords=("data", "axes fraction"),
        xytext=(-4, -2),
        textcoords="offset points",
        ha="right",
        va="top",
        fontsize=8,
        color=OKABE_ITO["vermillion"],
    )


def best_layers(study: Study) -> Figure:
    """Each model's best memorability layer with its CI, sorted, next to the human ceiling."""
    best = study.best.sort(["memorability", "model_id"], descending=[False, True], nulls_last=False)
    n = best.height
    labels = [
        f"{ellipsize(short_model(study.name(m)), 30)}\n{ellipsize(layer, 30)} · depth {d:.2f}"
        for m, layer, d in zip(
            best["model_id"].to_list(), best["layer"].to_list(), column(best, "relative_depth")
        )
    ]
    with style():
        fig = Figure(figsize=(7.5, 1.4 + 0.42 * n), layout="constrained")
        ax = fig.subplots()
        _interval_plot(
            ax,
            column(best, "memorability"),
            column(best, "memorability_ci_low"),
            column(best, "memorability_ci_high"),
            labels,
            OKABE_ITO["blue"],
        )
        _ceiling_line(ax, study.ceiling, "human split-half ceiling", n)
        ax.set_xlabel("memorability ρ of the best layer (95% CI)")
        fig.suptitle(f"Best layer per model — {ellipsize(study.label, 80)}", fontsize=10.5)
    return fig
