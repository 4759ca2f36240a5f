"""`memtool predict` and `memtool evaluate`: a checkpoint or ResMem on images and data sets."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from memtool.cli.common import DB_HELP, console, default_db, user_errors
from memtool.cli.tables import result_table

CHECKPOINT_HELP = "memtool checkpoint (best.pt from memtool finetune) or a state dict with --model"
BASELINE_HELP = "a published memorability network instead of a checkpoint: resmem"


@user_errors
def predict(
    images: List[Path] = typer.Argument(..., help="image files and/or folders (searched recursively)"),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c", help=CHECKPOINT_HELP),
    baseline: Optional[str] = typer.Option(None, "--baseline", help=BASELINE_HELP),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="the model a bare state dict belongs to"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="write image,score rows to this CSV"),
    db: Optional[Path] = typer.Option(
        None, "--db", help="also store the scores in this database's predictions table"
    ),
    batch_size: int = typer.Option(32, "--batch-size", "-b"),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N"),
    workers: Optional[int] = typer.Option(None, help="image-loading processes"),
    skip_bad: bool = typer.Option(
        False, "--skip-bad", help="leave out images that cannot be read instead of stopping"
    ),
    show: int = typer.Option(20, help="rows shown in the terminal"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars or progress lines"),
) -> None:
    """Predict memorability scores for images with a fine-tuned checkpoint or ResMem."""
    import csv

    from memtool.cli.progress import progress_reporter
    from memtool.finetune.predict import collect_images, load_predictor

    paths = collect_images(images)
    predictor = load_predictor(checkpoint=checkpoint, baseline=baseline, model=model)
    with progress_reporter(console, quiet) as reporter:
        scores, bad = predictor.predict(
            paths, batch_size=batch_size, device=device, workers=workers, skip_bad=skip_bad, reporter=reporter
        )
    skipped = {path for path, _ in bad}
    kept = [(p, s) for p, s in zip(paths, scores) if p not in skipped]
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["image", "score", "predictor"])
            for path, score in kept:
                writer.writerow([str(path), f"{score:.6f}", predictor.predictor_id])
    if db is not None:
        from memtool.finetune.records import FinetuneRecords
        from memtool.store import Store

        store = Store(db)
        store.migrate()
        FinetuneRecords(store).write_predictions(
            predictor.predictor_id, predictor.name, [p for p, _ in kept], [s for _, s in kept]
        )
    rows = [(str(p), s) for p, s in kept[:show]]
    console.print(
        result_table(
            ["image", "score"], rows, no_wrap=("image",), title=f"memorability predicted by {predictor.name}"
        )
    )
    if len(kept) > show:
        console.print(f"{len(kept) - show} more rows not shown" + ("" if out else " (use --out FILE.csv)"))
    for path, reason in bad:
        console.print(f"[yellow]skipped[/] {path}: {reason}", highlight=False, soft_wrap=True)
    where = [str(x) for x in (out, db) if x is not None]
    console.print(
        f"{len(kept)} images scored" + (f"; written to {' and '.join(where)}" if where else ""),
        highlight=False,
    )


@user_errors
def evaluate(
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", "-c", help=CHECKPOINT_HELP),
    baseline: Optional[str] = typer.Option(None, "--baseline", help=BASELINE_HELP),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="the model a bare state dict belongs to"),
    data: Optional[str] = typer.Option(
        None,
        "--data",
        "-d",
        help="scored data set (as for sweep); default: the data set and "
        "split a memtool checkpoint was fine-tuned on",
    ),
    split: Optional[int] = typer.Option(
        None, "--split", help="LaMem's split N or fold N (default 1 or the checkpoint's)"
    ),
    part: str = typer.Option("test", help="test | val | train | all images of the data set"),
    folds: Optional[int] = typer.Option(None, help="K of the seeded K-fold (default 5 or the checkpoint's)"),
    seed: Optional[int] = typer.Option(
        None, help="seed of folds and validation carve (default 0 or the checkpoint's)"
    ),
    limit: Optional[int] = typer.Option(None, help="seeded subset of N images (default: the checkpoint's)"),
    val_fraction: Optional[float] = typer.Option(
        None, help="validation carve of K-fold sets (default 0.1 or the checkpoint's)"
    ),
    n_boot: int = typer.Option(1000, help="bootstrap resamples for the CI"),
    batch_size: int = typer.Option(32, "--batch-size", "-b"),
    device: str = typer.Option("auto", help="auto | cpu | cuda | cuda:N"),
    workers: Optional[int] = typer.Option(None, help="image-loading processes"),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="write image,score,prediction rows to this CSV"
    ),
    db: Path = typer.Option(None, "--db", help=DB_HELP),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars or progress lines"),
) -> None:
    """Spearman rho of a checkpoint or a baseline on held-out images of a scored data set.

    `memtool evaluate --checkpoint best.pt` uses the checkpoint's own test images;
    `memtool evaluate --baseline resmem --data lamem:DIR --split 1` scores ResMem on the
    same images, so the two are compared on equal terms. Results go to the evaluations table.
    """
    import csv

    from memtool.cli.progress import progress_reporter
    from memtool.errors import UsageError
    from memtool.finetune.data import load_split_dataset, split_parts
    from memtool.finetune.predict import evaluate as run_evaluation
    from memtool.finetune.predict import load_predictor
    from memtool.finetune.records import FinetuneRecords
    from memtool.store import Store

    if data is None and baseline is not None and checkpoint is None:
        raise UsageError(
            "which data set? a baseline needs --data",
            hint="e.g. --baseline resmem --data lamem:/data/lamem --split 1",
        )
    predictor = load_predictor(checkpoint=checkpoint, baseline=baseline, model=model)
    own = predictor.info.get("dataset") if isinstance(predictor.info.get("dataset"), dict) else {}
    if data is None and not own:
        raise UsageError(
            "which data set? a checkpoint that does not record one needs --data",
            hint="e.g. --data lamem:/data/lamem --split 1",
        )

    def pick(value, key, default):
        if value is not None:
            return value
        return own.get(key, default) if data is None else default

    spec = data or own["spec"]
    number = pick(split, "split_number", 1)
    seed_ = pick(seed, "seed", 0)
    dataset = load_split_dataset(
        spec, number, folds=pick(folds, "folds", 5), seed=seed_, limit=pick(limit, "limit", None)
    )
    parts = split_parts(dataset, number, val_fraction=pick(val_fraction, "val_fraction", 0.1), seed=seed_)
    with progress_reporter(console, quiet) as reporter:
        result = run_evaluation(
            predictor,
            dataset,
            parts,
            part,
            n_boot=n_boot,
            seed=seed_,
            batch_size=batch_size,
            device=device,
            workers=workers,
            reporter=reporter,
        )
    store = Store(db or default_db())
    store.migrate()
    FinetuneRecords(store).write_evaluation(
        {
            "predictor_id": result.predictor_id,
            "predictor": result.predictor,
            "dataset_id": result.dataset_id,
            "dataset": result.dataset,
            "split": result.split,
            "part": result.part,
            "n_images": result.n_images,
            "rho": result.rho,
            "ci_low": result.ci[0],
            "ci_high": result.ci[1],
            "n_boot": n_boot,
            "seconds": result.seconds,
        }
    )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["image", "score", "prediction"])
            for path, y, p in zip(result.paths, result.scores, result.predictions):
                writer.writerow([str(path), f"{y:.6f}", f"{p:.6f}"])
    console.print(f"[bold]{result.predictor_id}[/] ({result.predictor})", highlight=False, soft_wrap=True)
    console.print(
        result_table(
            ["dataset", "split", "part", "images", "rho", "ci_low", "ci_high"],
            [
                (
                    result.dataset,
                    result.split,
                    result.part,
                    result.n_images,
                    result.rho,
                    result.ci[0],
                    result.ci[1],
                )
            ],
            title="Spearman rho with human memorability",
        )
    )
    console.print(f"stored in [bold]{store.path}[/] (evaluations table)", highlight=False, soft_wrap=True)
