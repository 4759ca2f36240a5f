"""`memtool analyze`: are the layers that predict memorability the brain-like ones?

Reads the analysis views (sql/views/memorability_brain_*.sql, best_memorability_layer_brain,
brain_region_tracking_memorability) through ``memtool.store.read`` and prints them as
tables, adding percentile bootstrap CIs over layers from
``memtool.scoring.stats.correlate_across_layers``.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from memtool.cli.common import DB_HELP, console, default_db, user_errors


@user_errors
def analyze(
    db: Path = typer.Option(None, "--db", help=DB_HELP),
    model: Optional[List[str]] = typer.Option(
        None, "--model", "-m", help="only these models (name as stored, e.g. timm:resnet50); repeatable"
    ),
    target: Optional[List[str]] = typer.Option(
        None,
        "--target",
        "-t",
        help="only these brain targets (region such as IT, or target name); repeatable",
    ),
    n_boot: int = typer.Option(1000, help="bootstrap resamples of layers for the CIs (0: none)"),
    seed: int = typer.Option(0, help="seed of the bootstrap"),
) -> None:
    """Correlate memorability with brain similarity across layers, per model and pooled.

    Shows Spearman's rho across layers with a Fisher-z and a bootstrap CI, the partial
    correlation controlling for relative depth, the best-memorability layer of each model
    with its brain scores, and the region whose similarity best tracks memorability.
    """
    from memtool.errors import UsageError
    from memtool.store import Store

    if n_boot < 0:
        raise UsageError("--n-boot must be 0 or more")
    store = Store(db or default_db())
    rows = correlations(store, models=model, targets=target, n_boot=n_boot, seed=seed)
    if not rows:
        raise UsageError(
            f"{store.path} holds no layer with both a memorability and a brain score"
            + (" for the chosen --model/--target" if model or target else ""),
            hint="score brain targets with `memtool sweep --brain IT` (the demo `memtool sweep` "
            "scores the bundled monkey IT data)",
        )
    console.print(correlation_table(rows, boot=n_boot > 0))
    console.print(best_layer_table(store, models=model, targets=target))
    console.print(tracking_table(store, models=model))


def correlations(
    store, *, models=None, targets=None, model_ids=None, dataset_id=None, n_boot: int = 1000, seed: int = 0
) -> list[dict]:
    """memorability_brain_partial rows with the Fisher CI of rho and bootstrap CIs over layers.

    ``models``: model names as stored; ``targets``: regions or brain target names;
    ``model_ids`` narrows the per-model rows to those models (pooled rows always cover
    every model in the database); ``dataset_id`` keeps one memorability data set.
    """
    from memtool.scoring.stats import correlate_across_layers
    from memtool.store import read

    with read.reading(store) as s:
        out = read.brain_correlations(
            s, models=models, targets=targets, model_ids=model_ids, dataset_id=dataset_id
        ).to_dicts()
        layers = read.brain_layer_pairs(s).rows() if out and n_boot > 0 else []
    if not layers:
        for row in out:
            row["boot_ci"] = row["boot_partial_ci"] = (None, None)
        return out
    width = len(read.RANK_GROUP)
    groups: dict[tuple, list[tuple[float, float, float]]] = {}
    for r in layers:
        groups.setdefault(tuple(r[:width]), []).append(tuple(r[width:]))
    for row in out:
        mem, brain, depth = zip(*groups[tuple(row[k] for k in read.RANK_GROUP)])
        corr = correlate_across_layers(mem, brain, depth, n_boot=n_boot, seed=seed)
        row["boot_ci"] = corr.spearman_ci
        row["boot_partial_ci"] = corr.partial_ci
    return out


def _num(x, digits: int = 3) -> str:
    if x is None or x != x:
        return "-"
    return f"{x:+.{digits}f}"


def _short(x: float) -> str:
    text = f"{x:+.2f}"
    return text.replace("0.", ".", 1) if abs(x) < 1 else text


def _ci(low, high) -> str:
    if low is None or high is None or low != low or high != high:
        return "-"
    return f"[{_short(low)},{_short(high)}]"


def _target_label(row: dict) -> str:
    name, region = row["brain_target"], row["region"]
    label = name if name == region else f"{name} ({region})"
    metric = row.get("brain_metric")
    return f"{label} {metric}" if metric and metric not in name else label


def _table(title: str):
    from rich.table import Table

    return Table(title=title, header_style="bold cyan", show_edge=False, title_justify="left")


def correlation_table(rows: list[dict], *, boot: bool = True, title: str | None = None):
    """One row per model (and pooled) x brain target: rho and partial rho with 95% CIs.

    The CIs shown are the bootstrap ones when ``boot`` (the Fisher-z ones are in the
    views), so the table fits an 80-column terminal.
    """
    table = _table(title or "memorability rho vs brain score: Spearman across layers")
    one_model = len({r["model"] for r in rows}) == 1  # then the title names it
    if one_model:
        table.title = f"{rows[0]['model']}: {table.title}"
    else:
        table.add_column("model", overflow="fold", min_width=8)
    table.add_column("brain target", overflow="fold", min_width=8)
    for name in ("n", "rho", "95% CI", "partial", "95% CI"):
        table.add_column(name, no_wrap=True, justify="right")
    for r in rows:
        if boot:
            ci, pci = _ci(*r["boot_ci"]), _ci(*r["boot_partial_ci"])
        else:
            ci = _ci(r["spearman_ci_low"], r["spearman_ci_high"])
            pci = _ci(r["partial_ci_low"], r["partial_ci_high"])
        cells = [
            _target_label(r),
            str(r["n_layers"]),
            _num(r["spearman"], 2),
            ci,
            _num(r["partial_spearman"], 2),
            pci,
        ]
        table.add_row(*cells if one_model else [r["model"], *cells])
    table.caption = (
        "rho: Spearman correlation across layers between memorability rho and brain "
        "score; partial: the same with relative depth held fixed; 95% CIs "
        + ("by bootstrap over layers" if boot else "by Fisher z")
    )
    return table


def best_layer_table(store, *, models=None, targets=None):
    from memtool.store import read

    with read.reading(store) as s:
        rows = read.best_memorability_layer_brain(s, models=models, targets=targets).to_dicts()
    table = _table("best memorability layer of each model and its brain scores")
    table.add_column("model", overflow="fold", min_width=8)
    table.add_column("best layer (depth)", overflow="fold", min_width=8)
    table.add_column("rho", justify="right", no_wrap=True)
    table.add_column("brain target", overflow="fold", min_width=8)
    table.add_column("brain", justify="right", no_wrap=True)
    table.add_column("rank", justify="right", no_wrap=True)
    table.add_column("most brain-like layer", overflow="fold", min_width=8)
    for d in rows:
        if d["brain_target"] is None:
            continue
        rank = f"{d['brain_rank']}/{d['n_brain_layers']}" if d["brain_rank"] is not None else "-"
        best = (
            f"{d['best_brain_layer']} ({d['best_brain_score']:.3f})"
            if d["best_brain_score"] is not None
            else "-"
        )
        table.add_row(
            d["model"],
            f"{d['best_memorability_layer']} ({d['relative_depth']:.2f})",
            _num(d["memorability"]),
            _target_label(d),
            _num(d["brain"]),
            rank,
            best,
        )
    table.caption = "rank: the best memorability layer's place among the model's layers for that target"
    return table


def tracking_table(store, *, models=None):
    from memtool.store import read

    with read.reading(store) as s:
        rows = read.region_tracking(s, models=models).to_dicts()
    table = _table("which brain target's similarity best tracks memorability across layers")
    for name in ("model", "best target", "rho", "partial", "runner-up (rho)", "best by partial", "of"):
        table.add_column(name, overflow="fold", min_width=3)
    for d in rows:
        runner = (
            f"{d['runner_up_target']} ({_num(d['runner_up_spearman'])})" if d["runner_up_target"] else "-"
        )
        bp = (
            f"{d['best_partial_target']} ({_num(d['best_partial_spearman'])})"
            if d["best_partial_target"]
            else "-"
        )
        table.add_row(
            d["model"],
            f"{d['best_target']} ({d['best_region']})"
            if d["best_target"] != d["best_region"]
            else d["best_target"],
            _num(d["spearman"]),
            _num(d["partial_spearman"]),
            runner,
            bp,
            str(d["n_targets"]),
        )
    return table


def print_brain_summary(
    db: Path, model_ids: list[str], *, dataset_id: str | None = None, n_boot: int = 1000, seed: int = 0
) -> None:
    """After a sweep with brain targets: the memorability-vs-brain correlation across layers."""
    from memtool.store import Store

    rows = correlations(Store(db), model_ids=model_ids, dataset_id=dataset_id, n_boot=n_boot, seed=seed)
    rows = [r for r in rows if r["scope"] == "model"]
    if rows:
        console.print(
            correlation_table(rows, title="does memorability track brain similarity across layers?")
        )
        console.print(f"more: `memtool analyze --db {db}`", highlight=False, soft_wrap=True)
