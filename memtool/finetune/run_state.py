"""A fine-tuning run's state on disk: ``last.pt`` (to resume) and ``best.pt`` (the result).

:class:`RunState` is the part of :class:`memtool.finetune.trainer.Trainer` that writes and
reads them; it uses the trainer's attributes (paths, weights, optimisation, progress).
"""

from __future__ import annotations

import numpy as np
import torch

from memtool.errors import ModelError
from memtool.finetune import checkpoint as ckpt
from memtool.finetune.stopping import Progress


class RunState:
    def _resume(self) -> None:
        """Load ``last.pt`` (and ``best.pt``) when present; otherwise start afresh."""
        from memtool.finetune.heads import fold_scaling
        from memtool.models.weights import apply_state_dict

        self.progress = Progress()
        self.best_state: dict | None = None
        _seed_everything(self.recipe.seed)  # augmentation and dropout draw from these
        self.weights.restart()
        if not self.last_path.is_file():
            return  # an old best.pt here is replaced after the first epoch
        state = ckpt.read_state(self.last_path, finetune_id=self.fid, model_name=self.model_name)
        apply_state_dict(
            self.module, state["model_state"], f"training state {self.last_path}", self.model_name
        )
        self.optim.load_state_dict(state)
        ckpt.set_rng_state(state["rng"])
        self.weights.restart()
        self.weights.load_state_dict(state["ema"])
        self.progress = progress = Progress.from_state(state)
        self.mean, self.std = float(state["target_mean"]), float(state["target_std"])

        best = ckpt.read_best(self.best_path) if self.best_path.is_file() else None
        if best is not None and best.get("finetune_id") != self.fid:
            best = None  # another run's file: ignore it
        if progress.best_epoch == progress.epoch and (best is None or best["epoch"] != progress.epoch):
            # Killed between last.pt and best.pt: the current weights are the best ones.
            self.best_state = fold_scaling(self.weights.eval_state(), self.head_name, self.mean, self.std)
            self._write_best()
        elif best is None or best["epoch"] != progress.best_epoch:
            raise ModelError(
                f"{self.best_path} is missing or from another epoch than the best one "
                f"({progress.best_epoch}) recorded in {self.last_path}",
                hint="delete the run's folder (or pass --force) to train it again",
            )
        else:
            self.best_state = dict(best["state_dict"])
        self.reporter.message(
            f"{self.model_name}: resuming {self.parts.name} after epoch {progress.epoch}/{self.recipe.epochs}"
            + (" (already stopped early; evaluating)" if progress.stopped else "")
        )

    def _write_best(self) -> None:
        ckpt.save_best(
            self.best_path,
            model_name=self.model_name,
            state_dict=self.best_state,
            data_config=self.data_config,
            recipe=self.recipe.describe(),
            epoch=self.progress.best_epoch,
            val_rho=self.progress.best_val,
            finetune_id=self.fid,
            dataset={
                "spec": self.dataset.spec,
                "name": self.dataset.name,
                "dataset_id": self.dataset_id,
                "split": self.parts.name,
                "split_number": self.config.split,
                "folds": self.config.folds,
                "seed": self.recipe.seed,
                "limit": self.config.limit,
                "val_fraction": self.recipe.val_fraction,
                "val_source": self.parts.val_source,
            },
            target_scaling={"mean": self.mean, "std": self.std, "folded_into_head": True},
            head=self.head_name,
            penultimate=self.penultimate,
            head_stages=getattr(self.module, "stages", None),
        )

    def _save_state(self) -> None:
        progress = self.progress
        ckpt.save_state(
            self.last_path,
            {
                "finetune_id": self.fid,
                "model": self.model_name,
                "epoch": progress.epoch,
                "model_state": self.weights.training_state(),  # training, not averaged, weights
                **self.optim.state_dict(),
                "ema": self.weights.state_dict(),
                "rng": ckpt.rng_state(),
                **{k: v for k, v in progress.state().items() if k != "epoch"},
                "seconds": self._total_seconds(),
                "target_mean": self.mean,
                "target_std": self.std,
            },
        )

    def _total_seconds(self) -> float:
        return round(self.progress.previous_seconds + sum(self.seconds.values()), 3)


def _seed_everything(seed: int) -> None:
    import random

    torch.manual_seed(seed)  # CPU and every CUDA device
    random.seed(seed)
    np.random.seed(seed % 2**32)
