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


def load_split_dataset(
    spec: str, split: int, *, folds: int, seed: int, limit: int | None
) -> MemorabilityDataset:
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
            raise UsageError(
                f"LaMem split {split} is not in {dataset.root}", hint=f"found: {', '.join(names)}"
            )
        return load_memorability(spec, folds=folds, seed=seed, splits=[split], limit=limit)
    if split > len(dataset.splits):
        raise UsageError(
            f"split {split} asked for, but {dataset.name} has {len(dataset.splits)} "
            f"{'folds' if dataset.split_kind == 'kfold' else 'splits'}",
            hint=f"use --split 1..{len(dataset.splits)}"
            + (" or more --folds" if dataset.split_kind == "kfold" else ""),
        )
    return dataset


def split_parts(dataset: MemorabilityDataset, split: int, *, val_fraction: float, seed: int) -> SplitParts:
    """The train/val/test indices of split number ``split`` (1-based), with checks."""
    if dataset.kind == "lamem":
        chosen = [sp for sp in dataset.splits if sp.name == f"split{split}"]
        if not chosen:
            raise UsageError(
                f"LaMem split {split} is not loaded",
                hint=f"loaded: {', '.join(sp.name for sp in dataset.splits)}",
            )
        sp = chosen[0]
    else:
        if not 1 <= split <= len(dataset.splits):
            raise UsageError(
                f"split {split} asked for, but {dataset.name} has {len(dataset.splits)}",
                hint=f"use --split 1..{len(dataset.splits)}",
            )
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
    for label, idx, least in (
        ("training", parts.train, MIN_TRAIN),
        ("validation", parts.val, MIN_VAL),
        ("test", parts.test, MIN_TEST),
    ):
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

    def __init__(
        self, paths: Sequence[Path], targets: Sequence[float], transform, size: tuple[int, int, int]
    ):
        self.paths = [Path(p) for p in paths]
        self.targets = torch.as_tensor(np.asarray(targets, dtype=np.float32))
        self.transform = transform
        self.size = tuple(size)

    def __len__(self) -> int:
        return len(self.paths)

    def unreadable(self, index: int, exc: DataError) -> tuple:
        """Item ``index`` of a file that cannot be read: zeros and the error for check_batch."""
        return torch.zeros(self.size), self.targets[index], index, f"{exc.message}\0{exc.hint or ''}"

    def __getitem__(self, index: int):
        from memtool.data.images import read_rgb

        try:
            image = self.transform(read_rgb(self.paths[index]))
        except DataError as exc:
            return self.unreadable(index, exc)
        return image, self.targets[index], index, ""


def check_headers(paths: Sequence[Path]) -> None:
    """Open each file's header (no decoding): a file that is no image fails now, not at the
    end of training. Truncated image data is still only found when the image is decoded."""
    from PIL import Image

    for path in paths:
        try:
            with Image.open(path):
                pass
        except Exception as exc:  # PIL raises many types for bad files
            reason = (
                "file not found" if isinstance(exc, FileNotFoundError) else (str(exc) or type(exc).__name__)
            )
            raise DataError(
                f"cannot read image {path}: {reason}", hint="remove it from the data set or replace the file"
            ) from None


def check_batch(errors: Sequence[str]) -> None:
    """Raise the first image error of a batch as a DataError."""
    for error in errors:
        if error:
            message, _, hint = error.partition("\0")
            raise DataError(message, hint=hint or None)


def make_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    shuffle: bool,
    workers: int,
    device: torch.device,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        drop_last=drop_last,
        generator=generator,
        persistent_workers=False,
    )


def default_workers(device: torch.device, workers: int | None) -> int:
    import os

    if workers is not None:
        if workers < 0:
            raise UsageError(f"--workers must not be negative ({workers})")
        return workers
    return min(8, os.cpu_count() or 1) if device.type == "cuda" else 0


# ------------------------------------------------------------------ decoded-image cache


class ImageCache:
    """Decoded, resized images (uint8 tensors) kept in memory, up to ``max_bytes``.

    Fine-tuning reads every training image once per epoch and the validation images after
    every epoch; decoding and resizing a JPEG each time costs a visible share of a CPU
    epoch. Images are kept in the order first read until the budget is spent; later ones
    are decoded each time (so LaMem-sized sets still work, only without the saving).
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = int(max_bytes)
        self.used = 0
        self._items: dict[tuple, torch.Tensor] = {}

    def get(self, path: Path, key: tuple, make) -> torch.Tensor:
        full = (str(path), *key)
        hit = self._items.get(full)
        if hit is not None:
            return hit
        value = make(path)
        size = value.numel() * value.element_size()
        if self.used + size <= self.max_bytes:
            self._items[full] = value
            self.used += size
        return value

    def clear(self) -> None:
        self._items.clear()
        self.used = 0


IMAGE_CACHE = ImageCache(max_bytes=3 * 2**30)


@dataclass(frozen=True)
class ViewSpec:
    """How to cut a view out of an image resized as the evaluation preprocessing does.

    ``resize`` is the evaluation transform's part before its centre crop (timm: resize the
    shorter side to ``size / crop_pct``); the view is a ``size`` crop of that image, at
    the centre (evaluation) or shifted by up to the centre crop's margin (``shift``),
    optionally mirrored, then scaled to [0, 1] and normalised with ``mean``/``std``.
    """

    resize: object  # a callable PIL image -> PIL image
    size: tuple[int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    key: tuple  # identifies the resize in the image cache

    @classmethod
    def from_data_config(cls, data_config: dict) -> "ViewSpec | None":
        """The views of a data config's evaluation transform (None if it has no centre crop)."""
        from torchvision import transforms as T

        from memtool.finetune.recipe import eval_transform

        steps = list(getattr(eval_transform(data_config), "transforms", []))
        crops = [i for i, t in enumerate(steps) if isinstance(t, T.CenterCrop)]
        if not crops:
            return None
        crop = steps[crops[0]]
        size = tuple(
            int(v) for v in (crop.size if isinstance(crop.size, (tuple, list)) else (crop.size,) * 2)
        )
        resize = T.Compose(steps[: crops[0]])
        return cls(
            resize=resize,
            size=size,
            mean=tuple(float(v) for v in data_config["mean"]),
            std=tuple(float(v) for v in data_config["std"]),
            key=("view", repr(resize)),
        )


def _decode_resized(spec: ViewSpec):
    from memtool.data.images import read_rgb

    def make(path: Path) -> torch.Tensor:
        array = np.asarray(spec.resize(read_rgb(path)), dtype=np.uint8)
        return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()

    return make


def cut_view(
    base: torch.Tensor,
    spec: ViewSpec,
    *,
    shift: bool = False,
    flip: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A normalised float view of a cached uint8 image (see :class:`ViewSpec`)."""
    _, h, w = base.shape
    th, tw = spec.size
    if h < th or w < tw:  # as torchvision's CenterCrop: pad with zeros to the crop size
        padded = torch.zeros((base.shape[0], max(h, th), max(w, tw)), dtype=base.dtype)
        top, left = (max(h, th) - h) // 2, (max(w, tw) - w) // 2
        padded[:, top : top + h, left : left + w] = base
        base, (_, h, w) = padded, padded.shape
    top, left = int(round((h - th) / 2.0)), int(round((w - tw) / 2.0))
    if shift:
        my, mx = min(top, h - th - top), min(left, w - tw - left)  # the centre crop's margins
        dy = int(torch.randint(-my, my + 1, (1,), generator=generator)) if my > 0 else 0
        dx = int(torch.randint(-mx, mx + 1, (1,), generator=generator)) if mx > 0 else 0
        top, left = top + dy, left + dx
    view = base[:, top : top + th, left : left + tw]
    if flip:
        view = view.flip(-1)
    out = view.to(torch.float32).div(255)
    mean = torch.tensor(spec.mean, dtype=torch.float32).view(-1, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32).view(-1, 1, 1)
    return (out - mean) / std


class ViewImages(ScoredImages):
    """Like :class:`ScoredImages`, but from cached resized images: ``mode`` is ``eval``
    (the evaluation view, equal to the evaluation transform), ``flip`` (the evaluation
    view mirrored with probability 0.5) or ``shift`` (shifted and maybe mirrored).
    Randomness comes from torch's global RNG, as torchvision's transforms draw it."""

    def __init__(
        self,
        paths: Sequence[Path],
        targets: Sequence[float],
        spec: ViewSpec,
        mode: str,
        cache: ImageCache | None = None,
    ):
        super().__init__(paths, targets, None, (3, *spec.size))
        self.spec, self.mode = spec, mode
        self.cache = IMAGE_CACHE if cache is None else cache
        self._make = _decode_resized(spec)

    def __getitem__(self, index: int):
        try:
            base = self.cache.get(self.paths[index], self.spec.key, self._make)
        except DataError as exc:
            return self.unreadable(index, exc)
        flip = self.mode in ("flip", "shift") and bool(torch.rand(()) < 0.5)
        image = cut_view(base, self.spec, shift=self.mode == "shift", flip=flip)
        return image, self.targets[index], index, ""
