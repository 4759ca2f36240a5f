"""Fine-tuning one model on one split: :func:`finetune_model`.

It trains with the recipe of :mod:`memtool.finetune.recipe` (the epochs themselves:
:mod:`memtool.finetune.trainer`) and returns a :class:`FinetuneResult`; it never prints
(progress goes to a :class:`memtool.progress.Reporter`). Every epoch is committed to the
store and to ``last.pt`` as it ends, so a run found with a ``last.pt`` resumes after the
saved epoch (epoch rows beyond it are dropped and recomputed). A run whose store row says
``completed`` and whose ``best.pt`` exists is skipped. The identity of a run
(``finetune_id``) is a digest of the model, the data set's fingerprint, the split, the
recipe and whether the weights started random (:mod:`memtool.finetune.runs`), so
changing any of them starts a new run in a new folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from memtool.data.base import MemorabilityDataset
from memtool.errors import recording_failure
from memtool.finetune.data import SplitParts, load_split_dataset, split_parts
from memtool.finetune.records import FinetuneRecords, now
from memtool.finetune.runs import (
    DEFAULT_OUT,  # noqa: F401  (re-exported: its old home)
    RECIPE_VERSION,  # noqa: F401
    EpochStats,
    FinetuneConfig,
    FinetuneResult,
    canonical_model_name,
    make_finetune_id,
    run_dir_for,
)  # (re-exported: their old home)
from memtool.finetune.trainer import Trainer
from memtool.progress import NullReporter, Reporter
from memtool.store import Store


def finetune_model(
    config: FinetuneConfig,
    store: Store | str | Path,
    *,
    run_id: str | None = None,
    reporter: Reporter | None = None,
    dataset: MemorabilityDataset | None = None,
) -> FinetuneResult:
    """Fine-tune ``config.model`` on one split; resume or skip as the module docstring says.

    ``dataset`` may be passed in when several models share it (it must have been loaded
    with ``load_split_dataset`` and the same options). Raises MemtoolError for problems
    the user can fix; the store row records ``failed`` or ``interrupted``.
    """
    reporter = reporter or NullReporter()
    store = store if isinstance(store, Store) else Store(store)
    store.migrate()
    recipe = config.recipe
    if dataset is None:
        dataset = load_split_dataset(
            config.data, config.split, folds=config.folds, seed=recipe.seed, limit=config.limit
        )
    parts = split_parts(dataset, config.split, val_fraction=recipe.val_fraction, seed=recipe.seed)
    model_name = canonical_model_name(config.model)
    dataset_id = dataset.fingerprint()
    fid = make_finetune_id(model_name, dataset_id, parts.name, recipe, config.random_init)
    run_dir = run_dir_for(config.out_dir, model_name, dataset.name, parts.name, fid)
    records = FinetuneRecords(store)
    existing = records.get_run(fid)
    if config.force:
        shutil.rmtree(run_dir, ignore_errors=True)
        records.drop_epochs_after(fid, 0)
    elif existing and existing["status"] == "completed" and (run_dir / "best.pt").is_file():
        return _skipped(existing, run_dir, records, parts)
    _record_dataset(store, dataset, dataset_id)
    trainer = Trainer(config, dataset, dataset_id, parts, model_name, fid, run_dir, records, run_id, reporter)

    def mark(status: str, error: str) -> None:
        if records.get_run(fid) is None:  # failed before training started: a minimal row
            records.upsert_run(
                {
                    "finetune_id": fid,
                    "run_id": run_id,
                    "model": model_name,
                    "random_init": config.random_init,
                    "dataset_id": dataset_id,
                    "dataset": dataset.name,
                    "split": parts.name,
                    "val_source": parts.val_source,
                    "recipe": recipe.describe(),
                    "status": status,
                    "error": error,
                    "epochs_planned": recipe.epochs,
                    "started_at": now(),
                }
            )
        else:
            records.update_run(fid, status=status, error=error)

    with recording_failure(mark):
        return trainer.run()


def _record_dataset(store: Store, dataset: MemorabilityDataset, dataset_id: str) -> None:
    scores = dataset.scores
    store.upsert_dataset(
        {
            "dataset_id": dataset_id,
            "name": dataset.name,
            "kind": dataset.kind,
            "spec": dataset.spec,
            "root": str(dataset.root),
            "n_images": len(dataset.items),
            "n_splits": len(dataset.splits),
            "split_kind": dataset.split_kind,
            "ceiling": dataset.ceiling,
            "citation": dataset.citation,
            "options": dataset.options,
            "score_mean": float(scores.mean()),
            "score_std": float(scores.std()),
        }
    )


def _skipped(row: dict, run_dir: Path, records: FinetuneRecords, parts: SplitParts) -> FinetuneResult:
    epochs = [
        EpochStats(
            r["epoch"],
            r["train_loss"],
            r["val_loss"],
            r["val_rho"],
            r["lr"],
            r["seconds"],
            r["eval_seconds"],
            r["images_per_s"],
            bool(r["is_best"]),
        )
        for r in records.epochs(row["finetune_id"])
    ]
    return FinetuneResult(
        finetune_id=row["finetune_id"],
        model=row["model"],
        dataset=row["dataset"],
        dataset_id=row["dataset_id"],
        split=row["split"],
        status="skipped",
        checkpoint=run_dir / "best.pt",
        run_dir=run_dir,
        epochs=epochs,
        best_epoch=row["best_epoch"],
        best_val_rho=row["best_val_rho"],
        stopped_early=bool(row["stopped_early"]),
        test_rho=row["test_rho"],
        test_ci=(row["test_ci_low"], row["test_ci_high"]),
        n_train=len(parts.train),
        n_val=len(parts.val),
        n_test=len(parts.test),
        val_source=parts.val_source,
        penultimate_layer=row["penultimate_layer"],
        finetuned_model_id=row["finetuned_model_id"],
        seconds={"total": row["seconds"]},
    )
