"""`memtool sweep`: score every layer of one or more models for memorability."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import List, Optional

import typer

from memtool.cli.common import DB_HELP, command_line, console, default_db, user_errors
from memtool.cli.tables import result_table


@user_errors
def sweep(
    model: Optional[List[str]] = typer.Option(
        None,
        "--model",
        "-m",
        help="timm name (resnet50), torchvision:NAME, resmem, or a checkpoint file; repeatable. "
        "Default: tf_efficientnet_lite0 (the demo)",
    ),
    models_from: Optional[Path] = typer.Option(
        None, "--models-from", help="a text file with one model spec per line (# comments); adds to --model"
    ),
    data: str = typer.Option(
        "demo", "--data", "-d", help="demo | lamem:DIR | lnsim:DIR | csv:FILE | a path (layout detected)"
    ),
    layers: str = typer.Option("all", help="all | leaf | blocks | penultimate | REGEX on layer names"),
    reducer: str = typer.Option("pool", help="pool | pool:G | rp:K | pca:K (see README)"),
    folds: int = typer.Option(5, help="K for seeded K-fold CV when the data set has no splits"),
    seed: int = typer.Option(0, help="seed for folds, bootstrap and projections"),
    split: Optional[List[int]] = typer.Option(None, help="published split(s) to use, e.g. --split 1 (LaMem)"),
    limit: Optional[int] = typer.Option(None, help="use a seeded subset of N images (quick runs)"),
    batch_size: int = typer.Option(32, "--batch-size", "-b", help="images per forward pass"),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N"),
    workers: Optional[int] = typer.Option(
        None,
        help="image-decoding worker processes (default: min(8, cores) on CUDA; cores/4, at most 4, on a CPU)",
    ),
    checkpoint: Optional[Path] = typer.Option(None, help="weights file for the (single) model"),
    random_init: bool = typer.Option(False, "--random-init", help="use random weights on purpose"),
    force: bool = typer.Option(False, "--force", help="recompute layers the database already holds"),
    memory_budget: float = typer.Option(
        4.0, help="GiB of layer features held at once (more layers -> more passes)"
    ),
    n_boot: int = typer.Option(1000, help="bootstrap resamples for confidence intervals"),
    db: Path = typer.Option(None, "--db", help=DB_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars or progress lines"),
    top: int = typer.Option(10, help="rows in the best-layers table"),
    brain: Optional[List[str]] = typer.Option(
        None,
        "--brain",
        help="also score every layer against brain data; repeatable: IT | V4 | V1 | V2 | behavior "
        "(public Brain-Score benchmarks) | a Brain-Score benchmark id | DIR (memtool neural "
        "format) | cowley2023:DIR[:SESSION] | kriegeskorte92:FILE[:monkey|human] | demo-it | "
        "none. Default: demo-it for the demo, else none",
    ),
    brain_metric: str = typer.Option("pls", help="regression for local response data: pls | ridge"),
    brain_regression: str = typer.Option(
        "fast",
        "--brain-regression",
        help="who fits the PLS/ridge regression of brain scores: fast (memtool's torch "
        "reproduction, batched over the 10 splits, equal scores) | exact (brainscore-vision's "
        "own scikit-learn metric, unchanged; slow)",
    ),
    brain_features: Optional[str] = typer.Option(
        None,
        "--brain-features",
        help="features brain targets are scored on: brainscore (flatten + PCA-1000 on reference "
        "images, Brain-Score's own) | reducer (--reducer). Default: brainscore for "
        "Brain-Score benchmarks, reducer for local data",
    ),
    pca_images: Optional[Path] = typer.Option(
        None,
        "--pca-images",
        help="folder of >= 1000 images (first 1000 by name) to fit Brain-Score's PCA on; "
        "default: brainscore's ImageNet val (MT_IMAGENET_PATH)",
    ),
    engine: str = typer.Option(
        "local", help="local (in this process) | ray (one task per model on a Ray cluster)"
    ),
    address: Optional[str] = typer.Option(
        None, help="Ray cluster address (auto | HOST:PORT); default: start a local Ray"
    ),
    results_dir: Optional[Path] = typer.Option(
        None, help="where Ray workers write result shards (default: <db>.shards)"
    ),
    max_retries: int = typer.Option(2, help="Ray: retries of a task whose worker died"),
    cpus_per_task: float = typer.Option(1.0, help="Ray: CPUs per task when the cluster has no GPU"),
) -> None:
    """Score every layer of each model for how well it predicts human memorability.

    With no options: the bundled demo (EfficientNet-Lite0 with ImageNet weights on 300 LNSIM scene images), offline, a few minutes on a laptop CPU.
    """
    from memtool.cli.progress import progress_reporter
    from memtool.sweep import DEMO_MODEL, SweepConfig, run_sweep

    specs = list(model or []) + (read_models_file(models_from) if models_from else [])
    config = SweepConfig(
        models=specs or [DEMO_MODEL],
        data=data,
        layers=layers,
        reducer=reducer,
        folds=folds,
        seed=seed,
        splits=list(split) if split else None,
        limit=limit,
        batch_size=batch_size,
        device=device,
        workers=workers,
        checkpoint=str(checkpoint) if checkpoint else None,
        random_init=random_init,
        force=force,
        memory_budget_gb=memory_budget,
        n_boot=n_boot,
        brain=_brain_specs(brain, demo=not specs and data == "demo"),
        brain_regression=brain_metric,
        brain_regression_impl=brain_regression,
        brain_features=brain_features,
        pca_images=str(pca_images) if pca_images else None,
    )
    db = db or default_db()
    with progress_reporter(console, quiet) as reporter:
        result = run_sweep(
            config,
            db,
            command=command_line(),
            reporter=reporter,
            engine=engine,
            ray_options={
                "address": address,
                "results_dir": results_dir,
                "max_retries": max_retries,
                "cpus_per_task": cpus_per_task,
            },
        )
    _print_summary(result, top)
    if config.brain:
        from memtool.cli.analyze_cmd import print_brain_summary

        print_brain_summary(
            result.db,
            [m.model_id for m in result.models if not m.error],
            dataset_id=result.dataset_id,
            n_boot=n_boot,
            seed=seed,
        )
    _fail_if_any_failed(result)


def _fail_if_any_failed(result) -> None:
    """A sweep where some model failed ends with one line and that failure's exit code."""
    from memtool.errors import ModelError

    failed = [m for m in result.models if m.error]
    if not failed:
        return
    names = ", ".join(m.name for m in failed)
    if len(failed) == len(result.models):
        text = f"{names} failed" if len(failed) == 1 else f"all {len(failed)} models failed ({names})"
    else:
        text = (
            f"{len(failed)} of {len(result.models)} models failed ({names}); "
            "the other models' results are stored"
        )
    exc = ModelError(
        text, hint="see each model's error above; rerun the same command to retry (scored layers are skipped)"
    )
    exc.exit_code = failed[0].exit_code or ModelError.exit_code
    raise exc


def read_models_file(path: Path) -> list[str]:
    """Model specs from a file: one per line, blank lines and # comments ignored."""
    from memtool.errors import UsageError

    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read models file {path}: {exc.strerror}") from None
    specs = [line.split("#", 1)[0].strip() for line in lines]
    specs = [s for s in specs if s]
    if not specs:
        raise UsageError(f"models file {path} names no model", hint="one timm/torchvision name per line")
    return specs


def _brain_specs(given, *, demo: bool) -> list[str]:
    """--brain values; the demo scores the bundled monkey IT data unless told otherwise."""
    if not given:
        if demo and importlib.util.find_spec("brainscore_vision") is None:
            console.print(
                "[yellow]note:[/] brain scoring of the demo skipped: brainscore-vision "
                "is not installed (pip install brainscore-vision)",
                highlight=False,
            )
            return []
        return ["demo-it"] if demo else []
    return [] if [g.lower() for g in given] == ["none"] else list(given)


def _print_summary(result, top: int) -> None:
    from memtool.store import Store

    store = Store(result.db)
    for m in result.models:
        if m.error:
            console.print(f"[bold red]{m.name}[/]: failed: {m.error}", highlight=False)
            continue
        console.print(
            f"[bold]{m.name}[/]: {m.n_layers} layers ({m.n_aliases} aliases), "
            f"{m.n_scored} scored now, {m.n_skipped} already in the database; weights from "
            f"{m.weights_source}; {m.seconds.get('extract', 0):.1f} s extracting, "
            f"{m.seconds.get('score', 0):.1f} s scoring",
            highlight=False,
        )
    ids = [m.model_id for m in result.models if not m.error]
    if not ids:
        return
    cols, rows = store.query(
        "SELECT model, layer AS layer, round(relative_depth, 3) AS depth, module_type AS type, "
        "round(memorability, 3) AS rho, "
        "printf('%.2f..%.2f', memorability_ci_low, memorability_ci_high) AS \"95% CI\", "
        "n_features AS k FROM layer_scores_wide "
        "WHERE setup_id = ? AND list_contains(?, model_id) AND alias_of IS NULL "
        "ORDER BY memorability DESC NULLS LAST, relative_depth LIMIT ?",
        [result.setup_id, ids, top],
    )
    ceiling = store.query(
        "SELECT ceiling, name, n_images FROM datasets WHERE dataset_id = ?", [result.dataset_id]
    )[1][0]
    title = f"best layers for memorability on {ceiling[1]} ({ceiling[2]} images"
    title += f"; human split-half ceiling {ceiling[0]:.3f})" if ceiling[0] is not None else ")"
    if (
        len(ids) == 1 and len(result.models) == 1
    ):  # one model: name it in the title, give the width to layer names
        title = f"{result.models[0].name}: " + title
        cols, rows = cols[1:], [r[1:] for r in rows]
    elif len(result.models) > 1:  # several models: room for names, no type or width
        keep = [i for i, c in enumerate(cols) if c not in ("type", "k")]
        cols, rows = [cols[i] for i in keep], [[r[i] for i in keep] for r in rows]
    console.print(result_table(cols, rows, title=title, no_wrap=cols))
    console.print(
        f"results: [bold]{result.db}[/] (run {result.run_id}); explore with "
        f'`memtool query "SELECT * FROM best_layer_per_model" --db {result.db}`',
        highlight=False,
        soft_wrap=True,
    )
