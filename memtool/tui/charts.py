"""Terminal plots drawn with plotext (through textual-plotext's PlotextPlot widget).

Each function redraws a PlotextPlot from plain lists and returns a short description of
what it drew (the screens show it and tests assert on it). Missing values (None, NaN)
are dropped point by point, since plotext cannot draw them.
"""

from __future__ import annotations

import math
from typing import Sequence

import polars as pl
from textual_plotext import PlotextPlot

TARGET_COLORS = {
    "memorability": (230, 159, 0),
    "V1": (86, 180, 233),
    "V2": (0, 158, 115),
    "V4": (204, 121, 167),
    "IT": (213, 94, 0),
    "behavior": (240, 228, 66),
}
MODEL_COLORS = [
    (0, 114, 178),
    (230, 159, 0),
    (0, 158, 115),
    (204, 121, 167),
    (86, 180, 233),
    (213, 94, 0),
    (240, 228, 66),
    (170, 170, 170),
]  # Okabe-Ito, colour-blind safe
MAX_MODEL_SERIES = len(MODEL_COLORS)


def _finite(*columns: Sequence) -> list[list[float]]:
    keep = [
        all(v is not None and not (isinstance(v, float) and math.isnan(v)) for v in values)
        for values in zip(*columns)
    ]
    return [[float(v) for v, k in zip(col, keep) if k] for col in columns]


def _reset(widget: PlotextPlot, title: str, xlabel: str, ylabel: str):
    plt = widget.plt
    plt.clear_figure()
    plt.title(title)
    plt.xlabel(xlabel)
    plt.ylabel(ylabel)
    return plt


def empty(widget: PlotextPlot, title: str) -> str:
    _reset(widget, title, "", "")
    widget.refresh()
    return title


def depth_profile(
    widget: PlotextPlot,
    title: str,
    depth: Sequence,
    series: dict[str, Sequence],
    cursor_depth: float | None = None,
) -> str:
    """Lines of each score against relative depth, with the cursor's depth marked."""
    plt = _reset(widget, title, "relative depth", "score")
    drawn = []
    for name, values in series.items():
        x, y = _finite(depth, values)
        if not x:
            continue
        plt.plot(x, y, label=name, marker="braille", color=TARGET_COLORS.get(name, (170, 170, 170)))
        drawn.append(name)
    plt.xlim(0, 1)
    if cursor_depth is not None:
        plt.vline(float(cursor_depth), color=(128, 128, 128))
    widget.refresh()
    return f"{title}: {', '.join(drawn) or 'nothing to draw'}"


def scatter(widget: PlotextPlot, points: pl.DataFrame, target: str, title: str) -> str:
    """Memorability rho (y) against the brain score (x) of ``memtool.store.read.points``
    rows, one colour per model when few; ``target`` names the x axis."""
    plt = _reset(widget, title, f"{target} score", "memorability rho")
    models = sorted(set(points["model"].to_list()))
    if len(models) <= MAX_MODEL_SERIES:
        for i, model in enumerate(models):
            sel = points.filter(pl.col("model") == model)
            x, y = _finite(sel["brain"].to_list(), sel["memorability"].to_list())
            plt.scatter(x, y, label=model.split(":")[-1], marker="●", color=MODEL_COLORS[i])
    else:
        x, y = _finite(points["brain"].to_list(), points["memorability"].to_list())
        plt.scatter(x, y, label=f"{len(models)} models", marker="●", color=MODEL_COLORS[0])
    widget.refresh()
    return f"{title}: {points.height} layers from {len(models)} models"


def learning_curve(widget: PlotextPlot, title: str, curve: pl.DataFrame) -> str:
    """Train and validation loss (left axis) and validation rho (right axis) by epoch, from
    one job's ``finetune_epochs`` rows (epoch, train_loss, val_loss, val_rho)."""
    plt = _reset(widget, title, "epoch", "loss")
    drawn = []
    epoch = curve["epoch"].to_list()
    for name, column, color, side in (
        ("train loss", "train_loss", (0, 114, 178), "left"),
        ("val loss", "val_loss", (86, 180, 233), "left"),
        ("val rho", "val_rho", (230, 159, 0), "right"),
    ):
        x, y = _finite(epoch, curve[column].to_list())
        if x:
            plt.plot(x, y, label=name, marker="braille", color=color, yside=side)
            drawn.append(name)
    if "val rho" in drawn:
        plt.ylabel("val rho", yside="right")
    widget.refresh()
    return f"{title}: {', '.join(drawn) or 'no values'} over {curve.height} epochs"


def relation(
    widget: PlotextPlot, title: str, series: dict[str, tuple[Sequence, Sequence]], *, xlabel: str, ylabel: str
) -> str:
    """Scatter across models, one series per kind of x (fine-tuned / pretrained layer)."""
    plt = _reset(widget, title, xlabel, ylabel)
    counts = []
    for i, (name, (x, y)) in enumerate(series.items()):
        xs, ys = _finite(x, y)
        if xs:
            plt.scatter(xs, ys, label=name, marker="●", color=MODEL_COLORS[i % len(MODEL_COLORS)])
        counts.append(f"{name} {len(xs)}")
    widget.refresh()
    return f"{title}: {', '.join(counts)} models"
