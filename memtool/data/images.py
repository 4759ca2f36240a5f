"""Reading images for the networks: a torch Dataset over image paths and its loader."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from memtool.errors import DataError


def read_rgb(path: str | Path) -> Image.Image:
    """Open ``path`` fully decoded as an RGB PIL image, or raise DataError."""
    try:
        with Image.open(path) as im:
            return im.convert("RGB")  # convert() decodes the whole file
    except Exception as exc:  # PIL raises many types for bad or missing files
        reason = str(exc) or type(exc).__name__
        if isinstance(exc, FileNotFoundError):
            reason = "file not found"
        raise DataError(
            f"cannot read image {path}: {reason}",
            hint="remove it from the data set or replace the file",
        ) from None


def _to_tensor(image: Image.Image) -> torch.Tensor:
    """Default transform: float tensor (3, H, W) with values in [0, 1]."""
    array = np.asarray(image, dtype=np.float32) / 255.0
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


class ImageDataset(Dataset):
    """Images in a fixed order; item ``i`` is ``(transform(image_i), i)``.

    ``transform`` maps an RGB PIL image to a tensor (e.g. a torchvision preprocessing
    pipeline); without one the image becomes a (3, H, W) float tensor in [0, 1].
    """

    def __init__(self, paths: Sequence[str | Path],
                 transform: Callable[[Image.Image], torch.Tensor] | None = None):
        self.paths = [Path(p) for p in paths]
        self.transform = transform or _to_tensor

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(read_rgb(self.paths[index])), index


def make_loader(paths: Sequence[str | Path],
                transform: Callable[[Image.Image], torch.Tensor] | None,
                batch_size: int, num_workers: int = 0) -> DataLoader:
    """Batches ``(images, indices)`` in the order of ``paths`` (no shuffling)."""
    return DataLoader(
        ImageDataset(paths, transform),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        persistent_workers=False,
    )
