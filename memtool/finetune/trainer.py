"""One fine-tuning run from its first epoch (or the one after ``last.pt``) to its test score.

:class:`Trainer` builds the model, the images and the optimisation, resumes from
``last.pt`` when there is one, fits the closed-form ridge head first when the recipe says
so (LP-FT; scored as epoch 0), trains epoch after epoch until early stopping or the last
epoch, and tests the best epoch's weights. After every epoch, in this order: the epoch's
row and the run's progress columns are committed to the store; ``last.pt`` replaces the
previous one; when validation rho improved, ``best.pt`` is written. A ``best.pt`` that
the last step did not finish is rebuilt on resume from ``last.pt`` (whose weights are that
best epoch's).
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from memtool.errors import DataError, ModelError
from memtool.finetune.data import ScoredImages, ViewImages, ViewSpec, check_headers, default_workers
from memtool.finetune.ema import EvaluatedWeights
from memtool.finetune.optim import Optimisation
from memtool.finetune.passes import Passes
from memtool.finetune.recipe import eval_transform, input_config, train_transform
from memtool.finetune.records import now
from memtool.finetune.run_state import RunState
from memtool.finetune.runs import EpochStats, FinetuneResult


class Trainer(RunState):
    """State of one run between epochs (``finetune_model`` builds and runs it)."""

    def __init__(
        self, config, dataset, dataset_id, parts, model_name, fid, run_dir, records, run_id, reporter
    ):
        self.config, self.recipe = config, config.recipe
        self.dataset, self.dataset_id, self.parts = dataset, dataset_id, parts
        self.model_name, self.fid, self.run_dir = model_name, fid, run_dir
        self.best_path, self.last_path = run_dir / "best.pt", run_dir / "last.pt"
        self.records, self.run_id, self.reporter = records, run_id, reporter
        self.seconds = {"train": 0.0, "eval": 0.0, "bookkeeping": 0.0, "load": 0.0}

    # -- setup ---------------------------------------------------------------------------
    def _setup(self) -> None:
        from memtool.finetune.heads import find_head, load_regression_model
        from memtool.runtime import resolve_device

        t0 = time.perf_counter()
        recipe, parts = self.recipe, self.parts
        self.device = resolve_device(self.config.device)
        self.workers = default_workers(self.device, self.config.workers)
        loaded = load_regression_model(
            self.config.model, random_init=self.config.random_init, head_features=recipe.head_features
        )
        if loaded.name != self.model_name and not self.model_name.startswith("checkpoint:"):
            raise ModelError(f"{self.config.model} built {loaded.name}, expected {self.model_name}")
        self.model_name = loaded.name
        self.module = loaded.module
        self.head_name, _ = find_head(self.module, loaded.name)
        self.penultimate = _penultimate_name(self.module)
        self.data_config = input_config(loaded.data_config, recipe.img_size)
        size = self.data_config["input_size"]

        y = self.dataset.scores
        self.mean = float(y[parts.train].mean())
        self.std = float(y[parts.train].std())
        if not self.std > 0:
            raise DataError(
                f"all {len(parts.train)} training scores of {parts.name} are equal",
                hint="memorability scores must vary to learn from them",
            )
        self.y = y
        z = (y - self.mean) / self.std
        paths = self.dataset.paths
        evaluate = eval_transform(self.data_config)

        views = ViewSpec.from_data_config(self.data_config)

        def subset(idx, mode):
            """Cached views where the preprocessing allows, else the transforms on files."""
            chosen = [paths[i] for i in idx]
            if views is not None and mode in ("eval", "flip", "shift"):
                return ViewImages(chosen, z[idx], views, mode)
            transform = evaluate if mode == "eval" else train_transform(self.data_config, recipe)
            return ScoredImages(chosen, z[idx], transform, size)

        check_headers([paths[i] for i in (*parts.val, *parts.test)])  # evaluated after training
        self.train_set = subset(parts.train, recipe.augment)
        self.train_eval_set = subset(parts.train, "eval")  # the linear probe's features
        self.val_set = subset(parts.val, "eval")
        self.test_set = subset(parts.test, "eval")
        self.drop_last = len(parts.train) >= recipe.batch_size
        steps_per_epoch = max(1, len(parts.train) // recipe.batch_size if self.drop_last else 1)

        self.module.to(self.device)
        if self.device.type == "cuda":
            self.module.to(memory_format=torch.channels_last)
            torch.backends.cudnn.benchmark = True
        self.optim = Optimisation(self.module, recipe, self.head_name, steps_per_epoch, self.device)
        self.passes = Passes(
            self.module, self.device, self.optim, recipe.batch_size, self.workers, self.reporter
        )
        self.weights = EvaluatedWeights(self.module, recipe.ema_decay)
        self.seconds["load"] = time.perf_counter() - t0

    # -- the run ---------------------------------------------------------------------------
    def run(self) -> FinetuneResult:
        self._setup()
        self._resume()
        recipe, parts = self.recipe, self.parts
        self.records.upsert_run(
            {
                "finetune_id": self.fid,
                "run_id": self.run_id,
                "model": self.model_name,
                "random_init": self.config.random_init,
                "dataset_id": self.dataset_id,
                "dataset": self.dataset.name,
                "split": parts.name,
                "val_source": parts.val_source,
                "recipe": recipe.describe(),
                "status": "running",
                "error": None,
                "n_train": len(parts.train),
                "n_val": len(parts.val),
                "n_test": len(parts.test),
                "epochs_planned": recipe.epochs,
                "epochs_done": self.progress.epoch,
                "penultimate_layer": self.penultimate,
                "checkpoint": str(self.best_path.resolve()),
                "out_dir": str(self.run_dir.resolve()),
                "device": str(self.device),
                "started_at": now(),
                "finished_at": None,
            }
        )
        self.records.drop_epochs_after(self.fid, self.progress.epoch)  # rows of epochs to be repeated
        z_val = (self.y[parts.val] - self.mean) / self.std
        if recipe.head_init == "ridge" and self.progress.resumed_from is None:
            self._linear_probe(z_val)
        while not self.progress.stopped and self.progress.epoch < recipe.epochs:
            epoch = self.progress.epoch + 1
            t0 = time.perf_counter()
            train_loss, seen = self.passes.train_epoch(
                self.train_set,
                generator=torch.Generator().manual_seed(recipe.seed * 1_000_003 + epoch),
                drop_last=self.drop_last,
                freeze_norm=recipe.bn == "frozen",
                label=f"epoch {epoch}/{recipe.epochs}: train",
                after_step=self.weights.update,
            )
            t_train = time.perf_counter() - t0
            if not math.isfinite(train_loss):
                raise ModelError(
                    f"training of {self.model_name} diverged in epoch {epoch} (loss {train_loss})",
                    hint=f"lower --lr (now {recipe.lr:g})",
                )
            t0 = time.perf_counter()
            with self.weights.evaluated():
                val_pred = self._predict(self.val_set, f"epoch {epoch}/{recipe.epochs}: validate")
                t_eval = time.perf_counter() - t0
                self._end_epoch(
                    epoch, train_loss, val_pred, z_val, self.optim.backbone_lr(), t_train, t_eval, seen
                )
        return self._finish()

    def _predict(self, dataset, label: str) -> np.ndarray:
        return self.passes.predict(dataset, label, tta_flip=self.recipe.tta_flip)

    def _end_epoch(
        self,
        epoch: int,
        train_loss: float,
        val_pred: np.ndarray,
        z_val: np.ndarray,
        lr: float,
        t_train: float,
        t_eval: float,
        seen: int,
    ) -> None:
        """Early-stopping bookkeeping, the epoch's row, last.pt and (if improved) best.pt.
        Runs with the evaluated weights in the module."""
        from memtool.finetune.heads import fold_scaling
        from memtool.scoring.stats import spearman

        recipe, parts, progress = self.recipe, self.parts, self.progress
        val_loss = float(np.mean((val_pred - z_val) ** 2))
        val_rho = spearman(val_pred, z_val)
        self.seconds["train"] += t_train
        self.seconds["eval"] += t_eval
        t0 = time.perf_counter()
        improved = progress.record(epoch, val_rho, patience=recipe.patience, epochs=recipe.epochs)
        stats = EpochStats(
            epoch,
            train_loss,
            val_loss,
            val_rho,
            lr,
            round(t_train, 4),
            round(t_eval, 4),
            seen / t_train if t_train > 0 else float("nan"),
            improved,
        )
        progress.history.append(stats)
        self.records.write_epoch(
            {"finetune_id": self.fid, **vars(stats)},
            {
                "epochs_done": epoch,
                "best_epoch": progress.best_epoch,
                "best_val_rho": progress.best_val_rho,
                "stopped_early": progress.stopped,
                "seconds": self._total_seconds(),
            },
        )
        if improved:
            self.best_state = fold_scaling(self.weights.cpu_state(), self.head_name, self.mean, self.std)
        self._save_state()
        if improved:
            self._write_best()
        self.seconds["bookkeeping"] += time.perf_counter() - t0
        what = "linear probe (epoch 0)" if epoch == 0 else f"epoch {epoch}/{recipe.epochs}"
        self.reporter.message(
            f"{self.model_name} {parts.name} {what}: train loss "
            f"{train_loss:.4f}, val loss {val_loss:.4f}, val rho {val_rho:.4f}"
            + (" (best)" if improved else "")
            + (f"; no gain for {progress.bad_epochs} epochs: stopping" if progress.stopped else "")
        )

    def _linear_probe(self, z_val: np.ndarray) -> None:
        """LP-FT's first step: the head becomes the sweep's ridge readout of the penultimate
        features of the training images; scored on the validation images as epoch 0."""
        from memtool.finetune.heads import find_head, ridge_head, set_head

        t0 = time.perf_counter()
        parts = self.parts
        _, head = find_head(self.module, self.model_name)
        z_train = (self.y[parts.train] - self.mean) / self.std
        train_x = self.passes.head_inputs(self.train_eval_set, head, "linear probe: features")
        published = parts.val_source == "published"
        val_x = (
            self.passes.head_inputs(self.val_set, head, "linear probe: validation features")
            if published
            else None
        )
        weight, bias, alpha = ridge_head(
            train_x, z_train, val_features=val_x, val_z=z_val if published else None
        )
        set_head(head, weight, bias)
        self.probe_alpha = alpha
        train_loss = float(np.mean((train_x @ weight + bias - z_train) ** 2))
        t_train = time.perf_counter() - t0
        self.weights.restart()  # the average starts from the probed model
        t0 = time.perf_counter()
        with self.weights.evaluated():
            val_pred = self._predict(self.val_set, "linear probe: validate")
            self._end_epoch(
                0, train_loss, val_pred, z_val, 0.0, t_train, time.perf_counter() - t0, len(parts.train)
            )

    def _finish(self) -> FinetuneResult:
        from memtool.models.weights import weights_digest
        from memtool.scoring.stats import bootstrap_spearman_ci, spearman

        parts, progress = self.parts, self.progress
        t0 = time.perf_counter()
        self.module.load_state_dict(self.best_state)  # head now outputs scores
        self.module.eval()
        y_test = self.y[parts.test]
        test_pred = self._predict(self.test_set, "test")
        test_rho = spearman(test_pred, y_test)
        low, high = bootstrap_spearman_ci(test_pred, y_test, n_boot=self.config.n_boot, seed=self.recipe.seed)
        test_loss = float(
            np.mean(((test_pred - self.mean) / self.std - (y_test - self.mean) / self.std) ** 2)
        )
        self.seconds["eval"] += time.perf_counter() - t0

        model_id = f"{self.model_name}@{weights_digest(_StateView(self.best_state))}"
        total = self._total_seconds()
        self.records.update_run(
            self.fid,
            status="completed",
            error=None,
            test_rho=test_rho,
            test_ci_low=low,
            test_ci_high=high,
            test_loss=test_loss,
            finetuned_model_id=model_id,
            epochs_done=progress.epoch,
            best_epoch=progress.best_epoch,
            best_val_rho=progress.best_val_rho,
            stopped_early=progress.stopped,
            seconds=total,
            finished_at=now(),
        )
        self.records.write_evaluation(
            {
                "predictor_id": model_id,
                "predictor": str(self.best_path.resolve()),
                "dataset_id": self.dataset_id,
                "dataset": self.dataset.name,
                "split": parts.name,
                "part": "test",
                "n_images": len(parts.test),
                "rho": test_rho,
                "ci_low": low,
                "ci_high": high,
                "n_boot": self.config.n_boot,
                "seconds": round(time.perf_counter() - t0, 3),
            }
        )
        self.reporter.message(
            f"{self.model_name} {parts.name}: best epoch {progress.best_epoch}, test rho {test_rho:.4f} "
            f"[{low:.3f}, {high:.3f}] on {len(parts.test)} images"
        )
        return FinetuneResult(
            finetune_id=self.fid,
            model=self.model_name,
            dataset=self.dataset.name,
            dataset_id=self.dataset_id,
            split=parts.name,
            status="completed",
            checkpoint=self.best_path,
            run_dir=self.run_dir,
            epochs=list(progress.history),
            best_epoch=progress.best_epoch,
            best_val_rho=progress.best_val_rho,
            stopped_early=progress.stopped,
            test_rho=test_rho,
            test_ci=(low, high),
            n_train=len(parts.train),
            n_val=len(parts.val),
            n_test=len(parts.test),
            val_source=parts.val_source,
            penultimate_layer=self.penultimate,
            finetuned_model_id=model_id,
            resumed_from=progress.resumed_from,
            seconds={**{k: round(v, 3) for k, v in self.seconds.items()}, "total": total},
            test_paths=[self.dataset.paths[i] for i in parts.test],
            test_predictions=test_pred,
            module=self.module,
            data_config=self.data_config,
        )


class _StateView:
    """Lets ``weights_digest`` (which calls ``.state_dict()``) read a plain state dict."""

    def __init__(self, state: dict):
        self._state = state

    def state_dict(self) -> dict:
        return self._state


def _penultimate_name(module) -> str | None:
    from memtool.models.layers import enumerate_layers

    try:
        return enumerate_layers(module, "penultimate")[0].name
    except ModelError:
        return None
