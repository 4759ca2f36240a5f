"""Per-layer reducers: turn one layer's output batch into a small feature matrix, on device.

Reducers run inside forward hooks, on the device where the activation already is, so a
layer's full output never leaves the device and never outlives its hook. Every reducer
yields ``(batch, k)`` float32 with ``k`` fixed per layer, whatever the number of layers.

Spec strings (``--reducer``):
  ``pool``     global average over spatial positions (CNN maps ``N,C,H,W``, or ``N,H,W,C``
               as some timm models emit) or tokens (``N,L,C``): k = channels. The default: nearly
               free, and what the literature's memorability readouts use.
  ``pool:G``   average-pool to a G x G grid, then flatten: k = C * G * G.
  ``rp:K``     sparse random projection of the full, unpooled output to K dims (a count
               sketch: every input value is added, with a random sign, to one of K buckets,
               a Johnson-Lindenstrauss-type map that costs one pass over the activation
               and stores only an index and a sign per input value). Outputs with at most K
               values are kept as they are.
  ``pca:K``    top-K principal components of the full output over all images of the data
               set, computed from a count sketch of width 8K (which preserves the images'
               Gram matrix up to a small relative error), so memory stays bounded. PCA uses
               no scores, so it cannot leak labels, but it sees test images' features.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from memtool.errors import UsageError


def _layer_seed(layer: str, seed: int) -> int:
    digest = hashlib.sha1(f"{seed}:{layer}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


def first_tensor(output) -> torch.Tensor | None:
    """The tensor a module produced: itself, or the first tensor in a tuple/list/dict."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (list, tuple)):
        items = output
    elif isinstance(output, dict):
        items = list(output.values())
    else:
        return None
    for item in items:
        found = first_tensor(item)
        if found is not None:
            return found
    return None


def is_channels_last(shape: tuple[int, ...]) -> bool:
    """Guess whether a per-image 3-D shape is (H, W, C) rather than (C, H, W).

    Some timm models (ViT patch embeddings, Swin, MaxViT) emit NHWC maps. Inputs are
    square crops, so the two equal axes are the spatial ones: (C, H, W) has H == W.
    """
    return len(shape) == 3 and shape[1] != shape[2] and shape[0] == shape[1]


def _pool_grid(x: torch.Tensor, grid: int) -> torch.Tensor:
    """Average-pool spatial positions / tokens to ``grid`` cells per axis; returns (N, k)."""
    x = x.float()
    if x.dim() == 4 and is_channels_last(tuple(x.shape[1:])):
        x = x.permute(0, 3, 1, 2)
    if x.dim() <= 2:
        return x.reshape(x.shape[0], -1)
    if x.dim() == 3:  # (N, tokens, C): transformer layout
        if grid == 1:
            return x.mean(dim=1)
        return F.adaptive_avg_pool1d(x.transpose(1, 2), grid * grid).flatten(1)
    if x.dim() > 4:
        x = x.flatten(2).unsqueeze(-1)
    if grid == 1:
        return x.mean(dim=(2, 3))
    return F.adaptive_avg_pool2d(x, grid).flatten(1)


class Reducer:
    """Base class. ``out_dim(shape)`` is known from one probe batch before extraction."""

    spec: str = ""

    def out_dim(self, shape: tuple[int, ...]) -> int:
        raise NotImplementedError

    def reduce(self, layer: str, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def finalize(self, layer: str, feats: np.ndarray) -> np.ndarray:
        """Post-process the full (n_images, k) matrix once extraction is done."""
        return feats

    def stored_dim(self, shape: tuple[int, ...]) -> int:
        """Width of the matrix held in memory during extraction (before ``finalize``)."""
        return self.out_dim(shape)


@dataclass
class PoolReducer(Reducer):
    grid: int = 1

    @property
    def spec(self) -> str:  # type: ignore[override]
        return "pool" if self.grid == 1 else f"pool:{self.grid}"

    def out_dim(self, shape):
        if len(shape) <= 1:
            return int(np.prod(shape)) if shape else 1
        cells = self.grid * self.grid
        if len(shape) == 2 or is_channels_last(shape):  # (tokens, C) or (H, W, C)
            return shape[-1] * cells
        return shape[0] * cells

    def reduce(self, layer, x):
        return _pool_grid(x, self.grid)


class _Sketch:
    """Count sketch of a flattened activation into ``width`` buckets (deterministic per layer)."""

    def __init__(self, width: int, seed: int):
        self.width = width
        self.seed = seed
        self._maps: dict[tuple[str, int, str], tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, layer: str, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1).float()
        dim = flat.shape[1]
        key = (layer, dim, str(flat.device))
        if key not in self._maps:
            gen = torch.Generator().manual_seed(_layer_seed(layer, self.seed))
            buckets = torch.randint(0, self.width, (dim,), generator=gen)
            signs = torch.randint(0, 2, (dim,), generator=gen).float().mul_(2).sub_(1)
            self._maps[key] = (buckets.to(flat.device), signs.to(flat.device))
        buckets, signs = self._maps[key]
        out = torch.zeros(flat.shape[0], self.width, device=flat.device, dtype=flat.dtype)
        return out.index_add_(1, buckets, flat * signs)


class RandomProjectionReducer(Reducer):
    def __init__(self, k: int, seed: int = 0):
        self.k = k
        self.sketch = _Sketch(k, seed)

    @property
    def spec(self) -> str:  # type: ignore[override]
        return f"rp:{self.k}"

    def out_dim(self, shape):
        return min(int(np.prod(shape)), self.k)

    def reduce(self, layer, x):
        flat = x.reshape(x.shape[0], -1)
        if flat.shape[1] <= self.k:
            return flat.float()
        return self.sketch(layer, flat)


class PCAReducer(Reducer):
    def __init__(self, k: int, seed: int = 0, oversample: int = 8):
        self.k = k
        self.width = oversample * k
        self.sketch = _Sketch(self.width, seed)

    @property
    def spec(self) -> str:  # type: ignore[override]
        return f"pca:{self.k}"

    def stored_dim(self, shape):
        return min(int(np.prod(shape)), self.width)

    def out_dim(self, shape):
        return min(int(np.prod(shape)), self.k)

    def reduce(self, layer, x):
        flat = x.reshape(x.shape[0], -1)
        if flat.shape[1] <= self.width:
            return flat.float()
        return self.sketch(layer, flat)

    def finalize(self, layer, feats):
        k = min(self.k, feats.shape[0], feats.shape[1])
        centred = feats.astype(np.float64) - feats.mean(axis=0, dtype=np.float64)
        u, s, _ = np.linalg.svd(centred, full_matrices=False)
        # Fix each component's sign so results do not depend on the LAPACK build.
        signs = np.sign(u[np.abs(u).argmax(axis=0), np.arange(u.shape[1])])
        signs[signs == 0] = 1
        return (u[:, :k] * s[:k] * signs[:k]).astype(np.float32)


def make_reducer(spec: str, seed: int = 0) -> Reducer:
    """Parse a ``--reducer`` spec (see the module docstring)."""
    name, _, arg = spec.strip().lower().partition(":")
    try:
        value = int(arg) if arg else None
    except ValueError:
        value = -1
    if value is not None and value < 1:
        raise UsageError(f"bad reducer '{spec}': the number after ':' must be a positive integer")
    if name == "pool":
        return PoolReducer(grid=value or 1)
    if name in ("rp", "pca"):
        if value is None:
            raise UsageError(f"reducer '{name}' needs a size, e.g. {name}:1024")
        return RandomProjectionReducer(value, seed) if name == "rp" else PCAReducer(value, seed)
    raise UsageError(
        f"unknown reducer '{spec}'", hint="use pool, pool:G, rp:K or pca:K (e.g. --reducer rp:1024)"
    )
