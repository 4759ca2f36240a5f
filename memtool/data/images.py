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

    def __init__(
        self, paths: Sequence[str | Path], transform: Callable[[Image.Image], torch.Tensor] | None = None
    ):
        self.paths = [Path(p) for p in paths]
        self.transform = transform or _to_tensor

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(read_rgb(self.paths[index])), index


def _worker_init(_worker_id: int) -> None:
    """Loader workers decode and resize; one intra-op thread each, so that N workers do
    not start N thread pools competing with the forward pass for the same cores."""
    torch.set_num_threads(1)


def make_loader(
    paths: Sequence[str | Path],
    transform: Callable[[Image.Image], torch.Tensor] | None,
    batch_size: int,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """Batches ``(images, indices)`` in the order of ``paths`` (no shuffling).

    ``num_workers`` processes decode and resize in parallel with the forward pass;
    ``pin_memory`` (for CUDA) lets batches go to the GPU asynchronously.
    """
    return DataLoader(
        ImageDataset(paths, transform),
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        persistent_workers=False,
        pin_memory=pin_memory,
        worker_init_fn=_worker_init if num_workers > 0 else None,
    )


def default_workers(device_type: str, cores: int | None = None) -> int:
    """Loader workers when ``--workers`` is not given.

    On CUDA the network is fast and decoding is the bottleneck: min(8, cores). On a CPU
    the forward pass already uses every core, so workers only pay where there are spare
    ones: a quarter of the cores, at most 4 (none on a 2-core machine).
    """
    import os

    cores = cores or os.cpu_count() or 1
    if device_type == "cuda":
        return min(8, cores)
    return min(4, cores // 4)


def split_normalisation(transform):
    """Split a preprocessing pipeline into a loader part and a part run on the device.

    For the pipelines memtool builds (timm's ``Resize, CenterCrop, (Maybe)ToTensor,
    Normalize``, the same without ``Normalize``, and torchvision's ``ImageClassification``
    preset) the loader part stops at the resized uint8 image (a quarter of the float
    bytes to move and pin) and ``on_device(batch)`` does ``/255`` and the normalisation
    where the batch lives, with the same float32 operations in the same order, so the
    network sees bitwise the same input. Returns ``(loader_transform, on_device)``;
    ``on_device`` is None when the pipeline is not one of these (then nothing changes).
    """
    from torchvision import transforms as T

    steps = None
    mean = std = None
    if isinstance(transform, T.Compose):
        steps = list(transform.transforms)
        if steps and isinstance(steps[-1], T.Normalize):
            norm = steps.pop()
            mean, std = norm.mean, norm.std
        if not steps or type(steps[-1]).__name__ not in ("ToTensor", "MaybeToTensor"):
            return transform, None
        steps.pop()
    elif type(transform).__name__ == "ImageClassification":
        steps = [
            T.Resize(
                transform.resize_size, interpolation=transform.interpolation, antialias=transform.antialias
            ),
            T.CenterCrop(transform.crop_size),
        ]
        mean, std = transform.mean, transform.std
    else:
        return transform, None
    if any(isinstance(s, (T.ToTensor, T.Normalize)) for s in steps):
        return transform, None
    loader_transform = T.Compose([*steps, T.PILToTensor()])
    mean_t = None if mean is None else torch.as_tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    std_t = None if std is None else torch.as_tensor(std, dtype=torch.float32).view(1, -1, 1, 1)

    def on_device(batch: torch.Tensor) -> torch.Tensor:
        x = batch.to(torch.float32).div_(255)
        if mean_t is not None:
            x.sub_(mean_t.to(x.device)).div_(std_t.to(x.device))
        return x

    return loader_transform, on_device


class DecodeCache:
    """Decoded, resized uint8 images per (preprocessing, image list), within a byte budget.

    A sweep shows the same images to every model, and often to several passes of one
    model; models with the same preprocessing (input size, resize, crop) get the same
    uint8 pixels. The first pass over a list decodes through the loader (workers and
    all) and keeps the batches if they fit in what is left of ``budget_bytes``; later
    passes with the same preprocessing are sliced from memory, in the same batches.
    Only uint8 output (a loader part of :func:`split_normalisation`) is kept.
    """

    def __init__(self, budget_bytes: int):
        self.budget = int(budget_bytes)
        self.used = 0
        self._store: dict = {}
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _key(paths, transform) -> tuple:
        import hashlib

        digest = hashlib.sha1("\n".join(str(p) for p in paths).encode()).hexdigest()
        return repr(transform), len(paths), digest

    def batches(
        self,
        paths: Sequence[str | Path],
        transform,
        batch_size: int,
        num_workers: int = 0,
        pin_memory: bool = False,
    ):
        """Yield ``(images, indices)`` batches as :func:`make_loader` would."""
        key = self._key(paths, transform)
        hit = self._store.get(key)
        n = len(paths)
        if hit is not None:
            self.hits += 1
            for start in range(0, n, batch_size):
                stop = min(n, start + batch_size)
                yield hit[start:stop], torch.arange(start, stop)
            return
        self.misses += 1
        parts: list[torch.Tensor] | None = []
        for images, index in make_loader(
            paths, transform, batch_size, num_workers=num_workers, pin_memory=pin_memory
        ):
            if parts is not None:
                per_image = images[0].numel() * images.element_size() if len(images) else 0
                if images.dtype != torch.uint8 or self.used + per_image * n > self.budget:
                    parts = None
                else:
                    parts.append(images)
            yield images, index
        if parts:
            stored = torch.cat(parts)
            if pin_memory:
                stored = stored.pin_memory()
            self._store[key] = stored
            self.used += stored.numel() * stored.element_size()
