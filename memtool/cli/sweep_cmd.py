"""`memtool sweep`: score every layer of one or more models for memorability."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from memtool.cli.common import DB_HELP, command_line, console, default_db, user_errors
from memtool.cli.tables import result_table


@user_errors
def sweep(
    model: Optional[List[str]] = typer.Option(
        None, "--model", "-m",
        help="timm name (resnet50), torchvision:NAME, resmem, or a checkpoint file; repeatable. "
             "Default: tf_efficientnet_lite0 (the demo)"),
    data: str = typer.Option(
        "demo", "--data", "-d",
        help="demo | lamem:DIR | lnsim:DIR | csv:FILE | a path (layout detected)"),
    layers: str = typer.Option("all", help="all | leaf | blocks | penultimate | REGEX on layer names"),
    reducer: str = typer.Option("pool", help="pool | pool:G | rp:K | pca:K (see README)"),
    folds: int = typer.Option(5, help="K for seeded K-fold CV when the data set has no splits"),
    seed: int = typer.Option(0, help="seed for folds, bootstrap and projections"),
    split: Optional[List[int]] = typer.Option(None, help="published split(s) to use, e.g. --split 1 (LaMem)"),
    limit: Optional[int] = typer.Option(None, help="use a seeded subset of N images (quick runs)"),
    batch_size: int = typer.Option(32, "--batch-size", "-b", help="images per forward pass"),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N"),
    workers: Optional[int] = typer.Option(None, help="image-loading worker processes (default: 0 on CPU)"),
    checkpoint: Optional[Path] = typer.Option(None, help="weights file for the (single) model"),
    random_init: bool = typer.Option(False, "--random-init", help="use random weights on purpose"),
    force: bool = typer.Option(False, "--force", help="recompute layers the database already holds"),
    memory_budget: float = typer.Option(4.0, help="GiB of layer features held at once (more layers -> more passes)"),
    n_boot: int = typer.Option(1000, help="bootstrap resamples for confidence intervals"),
    db: Path = typer.Option(None, "--db", help=DB_HELP),
    top: int = typer.Option(10, help="rows in the best-layers table"),
) -> None:
    """Score every layer of each model for how well it predicts human memorability.

    With no options: the bundled demo (EfficientNet-Lite0 with ImageNet weights on 300 LNSIM scene images), offline, a few minutes on a laptop CPU.
    """
    from memtool.cli.progress import RichReporter
    from memtool.sweep import DEMO_MODEL, SweepConfig, run_sweep

    config = SweepConfig(
        models=list(model) if model else [DEMO_MODEL], data=data, layers=layers, reducer=reducer,
        folds=folds, seed=seed, splits=list(split) if split else None, limit=limit,
        batch_size=batch_size, device=device, workers=workers,
        checkpoint=str(checkpoint) if checkpoint else None, random_init=random_init, force=force,
        memory_budget_gb=memory_budget, n_boot=n_boot,
    )
    db = db or default_db()
    with RichReporter(console) as reporter:
        result = run_sweep(config, db, command=command_line(), reporter=reporter)
    _print_summary(result, top)


def _print_summary(result, top: int) -> None:
    from memtool.store import Store

    store = Store(result.db)
    for m in result.models:
        console.print(
            f"[bold]{m.name}[/]: {m.n_layers} layers ({m.n_aliases} aliases), "
            f"{m.n_scored} scored now, {m.n_skipped} already in the database; weights from "
            f"{m.weights_source}; {m.seconds.get('extract', 0):.1f} s extracting, "
            f"{m.seconds.get('score', 0):.1f} s scoring", highlight=False)
    ids = [m.model_id for m in result.models]
    cols, rows = store.query(
        "SELECT model, layer AS layer, round(relative_depth, 3) AS depth, module_type AS type, "
        "memorability AS rho, memorability_ci_low AS ci_low, memorability_ci_high AS ci_high, "
        "n_features AS k FROM layer_scores_wide "
        "WHERE dataset_id = ? AND list_contains(?, model_id) AND alias_of IS NULL "
        "ORDER BY memorability DESC NULLS LAST, relative_depth LIMIT ?",
        [result.dataset_id, ids, top],
    )
    ceiling = store.query("SELECT ceiling, name, n_images FROM datasets WHERE dataset_id = ?",
                          [result.dataset_id])[1][0]
    title = f"best layers for memorability on {ceiling[1]} ({ceiling[2]} images"
    title += f"; human split-half ceiling {ceiling[0]:.3f})" if ceiling[0] is not None else ")"
    if len(ids) == 1:  # one model: name it in the title, give the width to layer names
        title = f"{result.models[0].name}: " + title
        cols, rows = cols[1:], [r[1:] for r in rows]
    console.print(result_table(cols, rows, title=title, no_wrap=("layer",)))
    console.print(f"results: [bold]{result.db}[/] (run {result.run_id}); explore with "
                  f"`memtool query \"SELECT * FROM best_layer_per_model\" --db {result.db}`",
                  highlight=False, soft_wrap=True)
