"""`memtool finetune`: fine-tune models for memorability and score their penultimate layer."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from memtool.cli.common import DB_HELP, command_line, console, default_db, user_errors
from memtool.cli.tables import fmt, result_table

# Defaults of the recipe options: those of memtool.finetune.recipe.Recipe (kept here as
# literals so `memtool --help` imports nothing heavy; a test holds them equal).
RECIPE_DEFAULTS = dict(
    epochs=8,
    batch_size=32,
    lr=3e-5,
    head_lr_mult=1.0,
    weight_decay=0.05,
    warmup_epochs=1.0,
    patience=3,
    val_fraction=0.1,
    seed=0,
    head_init="ridge",
    layer_decay=0.8,
    freeze_fraction=0.3,
    bn="frozen",
    ema_decay=0.99,
    augment="flip",
    tta_flip=True,
    head_features="stages",
)
D = RECIPE_DEFAULTS


@user_errors
def finetune(
    model: Optional[List[str]] = typer.Option(
        None, "--model", "-m", help="model to fine-tune (timm name, torchvision:NAME, resmem); repeatable"
    ),
    models_from: Optional[Path] = typer.Option(
        None, "--models-from", help="a text file with one model spec per line (# comments); adds to --model"
    ),
    data: str = typer.Option(
        "demo", "--data", "-d", help="demo | lamem:DIR | lnsim:DIR | csv:FILE | a path (as for sweep)"
    ),
    split: Optional[List[int]] = typer.Option(
        None,
        "--split",
        help="split(s) to train on: LaMem's published split N, else fold N of "
        "the seeded K-fold; repeatable (default 1)",
    ),
    recipe_name: str = typer.Option(
        "default",
        "--recipe",
        help="default (the measured recipe) | v2 (the same, head on the penultimate features) | "
        "v1 (memtool's first); the options below override it",
    ),
    epochs: Optional[int] = typer.Option(
        None, help=f"maximum epochs, early stopping may end sooner (default {D['epochs']})"
    ),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help=f"(default {D['batch_size']})"),
    lr: Optional[float] = typer.Option(
        None, help=f"peak AdamW learning rate of the top of the backbone (default {D['lr']:g})"
    ),
    head_lr_mult: Optional[float] = typer.Option(
        None, help=f"head learning rate / lr (default {D['head_lr_mult']:g})"
    ),
    weight_decay: Optional[float] = typer.Option(
        None, help=f"AdamW weight decay, weights only (default {D['weight_decay']:g})"
    ),
    warmup_epochs: Optional[float] = typer.Option(
        None, help=f"linear warm-up before the cosine decay (default {D['warmup_epochs']:g})"
    ),
    patience: Optional[int] = typer.Option(
        None, help=f"epochs without a better validation rho before stopping (default {D['patience']})"
    ),
    head_features: Optional[str] = typer.Option(
        None,
        "--head-features",
        help="what the head reads: stages (the pooled outputs of every stage) | penultimate "
        f"(the classifier's input, as in the study) (default {D['head_features']})",
    ),
    head_init: Optional[str] = typer.Option(
        None,
        help=f"ridge (LP-FT: the sweep's ridge readout of the head's features) | random (default {D['head_init']})",
    ),
    layer_decay: Optional[float] = typer.Option(
        None,
        help=f"learning-rate factor per tenth of depth, top to bottom (1 = none) (default {D['layer_decay']:g})",
    ),
    freeze: Optional[float] = typer.Option(
        None,
        help=f"share of the backbone's depth frozen, from the input on (default {D['freeze_fraction']:g})",
    ),
    bn: Optional[str] = typer.Option(
        None, help=f"frozen (pretrained batch-norm statistics) | train (default {D['bn']})"
    ),
    ema: Optional[float] = typer.Option(
        None, help=f"decay of the weights' moving average, 0 = off (default {D['ema_decay']:g})"
    ),
    augment: Optional[str] = typer.Option(
        None, help=f"flip | shift | rrc (random resized crop) (default {D['augment']})"
    ),
    tta: Optional[bool] = typer.Option(
        None, "--tta/--no-tta", help="average each image's and its mirror image's score (default tta)"
    ),
    img_size: Optional[int] = typer.Option(None, help="input size in pixels (default: the model's own)"),
    val_fraction: Optional[float] = typer.Option(
        None,
        help="share of train held out for validation when the "
        f"data set has no validation list (default {D['val_fraction']:g})",
    ),
    folds: int = typer.Option(5, help="K of the seeded K-fold for sets without published splits"),
    seed: Optional[int] = typer.Option(
        None, help="seed for folds, validation carve, shuffling and augmentation (default 0)"
    ),
    limit: Optional[int] = typer.Option(None, help="use a seeded subset of N images (quick runs)"),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N"),
    workers: Optional[int] = typer.Option(
        None, help="image-loading processes (default: 0 on CPU, min(8, cores) on CUDA)"
    ),
    out: Path = typer.Option(
        Path("memtool-finetune"),
        "--out",
        "-o",
        help="folder for checkpoints (MODEL/DATA-SPLIT-ID/best.pt, last.pt)",
    ),
    random_init: bool = typer.Option(False, "--random-init", help="start from random weights (a control)"),
    n_boot: int = typer.Option(1000, help="bootstrap resamples for the test rho's CI"),
    penultimate: bool = typer.Option(
        True,
        "--penultimate/--no-penultimate",
        help="score the penultimate layer of each fine-tuned and pretrained model with the sweep's code",
    ),
    brain: Optional[List[str]] = typer.Option(
        None,
        "--brain",
        help="brain targets for the penultimate-layer sweep, as for sweep --brain "
        "(repeatable; default: demo-it for the demo, else none)",
    ),
    force: bool = typer.Option(False, "--force", help="retrain runs that finished before"),
    db: Path = typer.Option(None, "--db", help=DB_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars or progress lines"),
) -> None:
    """Fine-tune pretrained networks to predict memorability; every epoch lands in the store.

    LP-FT: the head, on the pooled outputs of every stage, starts as the sweep's ridge
    readout of them, then the network up to its deepest stage trains (AdamW, layer-wise
    learning rates, warm-up + cosine, moving average of the weights, flips only); early
    stopping on validation rho.
    Re-running the same command resumes: finished models are skipped, an interrupted one
    continues from its last epoch. See docs/finetune.md for the recipe and the study.
    """
    from memtool.cli.progress import progress_reporter
    from memtool.cli.sweep_cmd import read_models_file
    from memtool.errors import UsageError
    from memtool.finetune.recipe import RECIPE_V1, RECIPE_V2, Recipe
    from memtool.finetune.study import StudyConfig, run_study

    models = list(model or []) + (read_models_file(models_from) if models_from else [])
    if not models:
        raise UsageError("no model to fine-tune", hint="pass --model NAME (repeatable) or --models-from FILE")
    if not brain:  # as the sweep: the demo's penultimate layers meet the bundled monkey IT data
        brain = ["demo-it"] if data == "demo" and penultimate else []
    elif [b.lower() for b in brain] == ["none"]:
        brain = []
    presets = {"default": {}, "v2": dict(RECIPE_V2), "v1": dict(RECIPE_V1)}
    if recipe_name not in presets:
        raise UsageError(f"unknown recipe {recipe_name!r}", hint="use --recipe default, v2 or v1")
    given = dict(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        head_lr_mult=head_lr_mult,
        weight_decay=weight_decay,
        warmup_epochs=warmup_epochs,
        patience=patience,
        head_init=head_init,
        head_features=head_features,
        layer_decay=layer_decay,
        freeze_fraction=freeze,
        bn=bn,
        ema_decay=ema,
        augment=augment,
        tta_flip=tta,
        img_size=img_size,
        val_fraction=val_fraction,
        seed=seed,
    )
    recipe = Recipe(**{**presets[recipe_name], **{k: v for k, v in given.items() if v is not None}})
    config = StudyConfig(
        models=models,
        data=data,
        splits=list(split or [1]),
        folds=folds,
        limit=limit,
        recipe=recipe,
        device=device,
        workers=workers,
        out_dir=out,
        random_init=random_init,
        n_boot=n_boot,
        force=force,
        score_penultimate=penultimate,
        brain=list(brain) or None,
    )
    db = db or default_db()
    with progress_reporter(console, quiet) as reporter:
        result = run_study(config, db, command=command_line(), reporter=reporter)
    _summary(result)


def _summary(result) -> None:
    from memtool.errors import MemtoolError
    from memtool.store import Store

    store = Store(result.db)
    ids = [r.finetune_id for r in result.results]
    if ids:
        _, rows = store.query(
            "SELECT model, split, status, epochs_done, epochs_planned, best_epoch, best_val_rho, "
            "test_rho, test_ci_low, test_ci_high, IT, seconds FROM finetune_results "
            "WHERE list_contains(?, finetune_id) ORDER BY test_rho DESC NULLS LAST",
            [ids],
        )
        shown = [
            (
                model,
                split if status == "completed" else f"{split} ({status})",
                f"{done}/{planned}",
                best,
                val,
                test,
                f"[{fmt(low)}, {fmt(high)}]",
                it,
                f"{seconds:.0f}" if seconds is not None else "-",
            )
            for model, split, status, done, planned, best, val, test, low, high, it, seconds in rows
        ]
        console.print(
            result_table(
                ["model", "split", "epochs", "best", "val rho", "test rho", "95% CI", "IT", "s"],
                shown,
                title="fine-tuned models (held-out test rho)",
                no_wrap=("model",),
            )
        )
        for r in result.results:
            console.print(f"{r.model} {r.split}: {r.checkpoint}", highlight=False, soft_wrap=True)
    if result.brain_scored:
        cols, rows = store.query(
            "SELECT dataset, split, region, finetuned_n AS n, finetuned_rho AS rho, "
            "finetuned_ci_low AS ci_low, finetuned_ci_high AS ci_high, pretrained_best_n AS n_pre, "
            "pretrained_best_rho AS rho_pre_best, pretrained_penult_rho AS rho_pre_penult "
            "FROM finetune_brain_relation ORDER BY dataset, split, region"
        )
        if rows:
            console.print(
                result_table(
                    cols,
                    rows,
                    title="across models: test rho vs penultimate-layer brain similarity (Spearman)",
                )
            )
    console.print(
        f"results: [bold]{result.db}[/] (run {result.run_id}); per-epoch rows in "
        "finetune_epochs, summaries in the finetune_results and finetune_brain_relation "
        "views",
        highlight=False,
        soft_wrap=True,
    )
    if result.failures:
        first = result.failures[0]
        raise MemtoolError(
            f"{len(result.failures)} of the study's steps failed; first: {first.model} split "
            f"{first.split} ({first.stage}): {first.error}",
            hint="fix that and run the same command again (finished models are skipped)",
        )
