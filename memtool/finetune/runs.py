"""What a fine-tuning run is: its options, its identity, its folder and what it produced.

The identity of a run (``finetune_id``) is a digest of the model, the data set's
fingerprint, the split, the recipe and whether the weights started random, so changing
any of them starts a new run in a new folder (:func:`run_dir_for`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from memtool.finetune.recipe import Recipe

if TYPE_CHECKING:  # the annotations only: naming a run needs neither
    import numpy as np
    import torch

DEFAULT_OUT = Path("memtool-finetune")
RECIPE_VERSION = 2  # bump when the recipe's fixed choices (loss, augmentation, ...) change


@dataclass(kw_only=True)
class FinetuneOptions:
    """How every run of a fine-tuning command trains and where it keeps its files (shared
    by one run's :class:`FinetuneConfig` and the study's ``StudyConfig``)."""

    folds: int = 5
    limit: int | None = None
    recipe: Recipe = field(default_factory=Recipe)
    device: str = "auto"
    workers: int | None = None
    out_dir: Path = DEFAULT_OUT
    random_init: bool = False
    n_boot: int = 1000
    force: bool = False

    def options(self) -> dict:
        """The :class:`FinetuneOptions` fields of this config, by name."""
        return {f.name: getattr(self, f.name) for f in fields(FinetuneOptions)}


@dataclass
class FinetuneConfig(FinetuneOptions):
    """What to fine-tune on which data; ``recipe`` holds the training hyper-parameters."""

    model: str
    data: str = "demo"
    split: int = 1  # LaMem: published split N; other sets: fold N of the seeded K-fold


@dataclass
class EpochStats:
    epoch: int
    train_loss: float
    val_loss: float
    val_rho: float
    lr: float
    seconds: float
    eval_seconds: float
    images_per_s: float
    is_best: bool


@dataclass
class FinetuneResult:
    """What a fine-tuning run produced. ``module`` is the best model (head in score units,
    eval mode) and ``test_predictions`` its scores for ``test_paths``; both are None for a
    run skipped because it had finished before."""

    finetune_id: str
    model: str
    dataset: str
    dataset_id: str
    split: str
    status: str  # "completed" | "skipped"
    checkpoint: Path
    run_dir: Path
    epochs: list[EpochStats]
    best_epoch: int | None
    best_val_rho: float | None
    stopped_early: bool
    test_rho: float | None
    test_ci: tuple[float | None, float | None]
    n_train: int
    n_val: int
    n_test: int
    val_source: str
    penultimate_layer: str | None
    finetuned_model_id: str | None
    resumed_from: int | None = None
    seconds: dict = field(default_factory=dict)
    test_paths: list[Path] = field(default_factory=list)
    test_predictions: np.ndarray | None = None
    module: torch.nn.Module | None = None
    data_config: dict | None = None


def canonical_model_name(spec: str) -> str:
    """``resnet50`` -> ``timm:resnet50`` (the name load_model and the store use)."""
    from memtool.models.registry import parse_model_spec

    source, arch = parse_model_spec(spec)
    if source == "resmem":
        return "resmem"
    if source == "checkpoint":
        return f"checkpoint:{arch}"
    return f"{source}:{arch}"


def make_finetune_id(model: str, dataset_id: str, split: str, recipe: Recipe, random_init: bool) -> str:
    """Digest naming a run: the same model, data, split and recipe resume the same run."""
    blob = json.dumps(
        {
            "model": model,
            "dataset": dataset_id,
            "split": split,
            "recipe": asdict(recipe),
            "recipe_version": RECIPE_VERSION,
            "random_init": random_init,
        },
        sort_keys=True,
    )
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[:80] or "model"


def run_dir_for(out_dir: Path, model: str, dataset: str, split: str, finetune_id: str) -> Path:
    return Path(out_dir) / _slug(model) / f"{_slug(dataset)}-{split}-{finetune_id[:8]}"
