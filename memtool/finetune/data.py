"""Images and scores for fine-tuning: choosing the split, carving a validation set, loaders.

A fine-tuning run uses one split of a memorability data set: LaMem's published
``splitN`` (train / val / test lists), or fold N of the seeded K-fold splits that every
other set gets. K-fold splits have no validation images, so a seeded fraction of the
training images (``val_fraction``, at least :data:`MIN_VAL`) is set aside for early
stopping and never trained on; the carve depends only on the split and the seed, so the
same command always holds out the same images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from memtool.data.base import MemorabilityDataset
from memtool.errors import DataError, UsageError

MIN_TRAIN = 4
MIN_VAL = 3
MIN_TEST = 3
PARTS = ("test", "val", "train", "all")


@dataclass
class SplitParts:
    """Indices (into ``dataset.items``) of one split's train, validation and test images."""

    name: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    val_source: str  # "published" or "carved: 0.1 of train, seed 0"

    def part(self, name: str, n_items: int) -> np.ndarray:
        if name == "all":
            return np.arange(n_items)
        return {"train": self.train, "val": self.val, "test": self.test}[name]


def load_split_dataset(spec: str, split: int, *, folds: int, seed: int,
                       limit: int | None) -> MemorabilityDataset:
    """Load the data set as a sweep with the same options would (same fingerprint).

    LaMem is loaded with only the chosen published split, so a sweep of the fine-tuned
    model with ``--split N`` tests its readout on the same held-out images.
    """
    from memtool.data.memorability import load_memorability

    if split < 1:
        raise UsageError(f"--split must be 1 or more, not {split}")
    dataset = load_memorability(spec, folds=folds, seed=seed, limit=limit)
    if dataset.kind == "lamem":
        names = [sp.name for sp in dataset.splits]
        if f"split{split}" not in names:
            raise UsageError(f"LaMem split {split} is not in {dataset.root}",
                             hint=f"found: {', '.join(names)}")
        return load_memorability(spec, folds=folds, seed=seed, splits=[split], limit=limit)
    if split > len(dataset.splits):
        raise UsageError(
            f"split {split} asked for, but {dataset.name} has {len(dataset.splits)} "
            f"{'folds' if dataset.split_kind == 'kfold' else 'splits'}",
            hint=f"use --split 1..{len(dataset.splits)}" + (" or more --folds" if dataset.split_kind == "kfold" else ""),
        )
    return dataset


def split_parts(dataset: MemorabilityDataset, split: int, *, val_fraction: float,
                seed: int) -> SplitParts:
    """The train/val/test indices of split number ``split`` (1-based), with checks."""
    if dataset.kind == "lamem":
        chosen = [sp for sp in dataset.splits if sp.name == f"split{split}"]
        if not chosen:
            raise UsageError(f"LaMem split {split} is not loaded",
                             hint=f"loaded: {', '.join(sp.name for sp in dataset.splits)}")
        sp = chosen[0]
    else:
        if not 1 <= split <= len(dataset.splits):
            raise UsageError(f"split {split} asked for, but {dataset.name} has {len(dataset.splits)}",
                             hint=f"use --split 1..{len(dataset.splits)}")
        sp = dataset.splits[split - 1]
    train = np.asarray(sp.train, dtype=np.int64)
    if sp.val is not None and len(sp.val):
        val, source = np.asarray(sp.val, dtype=np.int64), "published"
    else:
        n_val = max(MIN_VAL, int(round(val_fraction * len(train))))
        order = np.random.default_rng([seed, 7919]).permutation(len(train))
        if len(train) - n_val < MIN_TRAIN:
            raise DataError(
                f"{dataset.name} ({len(dataset.items)} images): {sp.name} has {len(train)} training "
                f"images, too few to set {n_val} aside for validation and train on at least {MIN_TRAIN}",
                hint="use more images (a larger --limit) or fewer --folds",
            )
        val = np.sort(train[order[:n_val]])
        train = np.sort(train[order[n_val:]])
        source = f"carved: {val_fraction:g} of train, seed {seed}"
    parts = SplitParts(sp.name, train, val, np.asarray(sp.test, dtype=np.int64), source)
    for label, idx, least in (("training", parts.train, MIN_TRAIN), ("validation", parts.val, MIN_VAL),
                              ("test", parts.test, MIN_TEST)):
        if len(idx) < least:
            raise DataError(
                f"{dataset.name} ({len(dataset.items)} images): {sp.name} has {len(idx)} {label} "
                f"image(s); fine-tuning needs at least {least}",
                hint="use more images (a larger --limit) or fewer --folds",
            )
    return parts


class ScoredImages(Dataset):
    """Item ``i`` is ``(image tensor, target, i, error)``.

    A file that cannot be read gives a zero tensor and the error text instead of raising
    inside a DataLoader worker (where the exception would lose its one-line message);
    :func:`check_batch` raises it in the main process.
    """

    def __init__(self, paths: Sequence[Path], targets: Sequence[float], transform, size: tuple[int, int, int]):
        self.paths = [Path(p) for p in paths]
        self.targets = torch.as_tensor(np.asarray(targets, dtype=np.float32))
        self.transform = transform
        self.size = tuple(size)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        from memtool.data.images import read_rgb

        try:
            image = self.transform(read_rgb(self.paths[index]))
            error = ""
        except DataError as exc:
            image, error = torch.zeros(self.size), f"{exc.message}\0{exc.hint or ''}"
        return image, self.targets[index], index, error


def check_headers(paths: Sequence[Path]) -> None:
    """Open each file's header (no decoding): a file that is no image fails now, not at the
    end of training. Truncated image data is still only found when the image is decoded."""
    from PIL import Image

    for path in paths:
        try:
            with Image.open(path):
                pass
        except Exception as exc:  # PIL raises many types for bad files
            reason = "file not found" if isinstance(exc, FileNotFoundError) else (str(exc) or type(exc).__name__)
            raise DataError(f"cannot read image {path}: {reason}",
                            hint="remove it from the data set or replace the file") from None


def check_batch(errors: Sequence[str]) -> None:
    """Raise the first image error of a batch as a DataError."""
    for error in errors:
        if error:
            message, _, hint = error.partition("\0")
            raise DataError(message, hint=hint or None)


def make_loader(dataset: Dataset, *, batch_size: int, shuffle: bool, workers: int,
                device: torch.device, generator: torch.Generator | None = None,
                drop_last: bool = False) -> DataLoader:
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, num_workers=workers,
        pin_memory=device.type == "cuda", drop_last=drop_last, generator=generator,
        persistent_workers=False,
    )


def default_workers(device: torch.device, workers: int | None) -> int:
    import os

    if workers is not None:
        if workers < 0:
            raise UsageError(f"--workers must not be negative ({workers})")
        return workers
    return min(8, os.cpu_count() or 1) if device.type == "cuda" else 0
