"""LayerPCA's fit, exactly, through the n x n Gram matrix of the reference activations.

brainscore-vision fits scikit-learn's ``PCA(n_components=1000, random_state=0)`` (the full
SVD solver, for 1000 images) on a layer's flattened float32 activations of 1000 reference
images. The centred data have rank <= n - 1, so the eigendecomposition of the n x n Gram
matrix ``Xc Xc^T`` (accumulated in float64 from the float32 centred values) gives every
principal axis the SVD gives: ``v_i = Xc^T u_i / s_i``. Signs follow sklearn's
``svd_flip(u_based_decision=False)`` (the largest-magnitude entry of each component is
positive), so the result does not depend on the eigensolver. The axis of a zero singular
value, which sklearn fills with a direction of rounding noise, is projected to 0 here.

Memory: the activations are centred in place (float32, as sklearn centres float32 data),
and the components overwrite them, column block by column block; float64 copies exist
only for one block of ``_CHUNK_BYTES`` at a time, so fitting a layer needs its 1000
activations plus ``fit_working_bytes(n)``, whatever its width.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from memtool.errors import DataError
from memtool.extract.brainscore_pca.reference import N_COMPONENTS

_CHUNK_BYTES = 16 * 2**20  # float64 working set of one Gram / projection column block


@dataclass
class Components:
    """A fitted layer: ``z = (flatten(x) - mean) @ vectors.T``; None vectors: unreduced."""

    mean: torch.Tensor | None  # (D,)
    vectors: torch.Tensor | None  # (k, D), rows are principal axes
    n_features: int
    singular_values: np.ndarray | None = None

    @property
    def out_dim(self) -> int:
        return self.n_features if self.vectors is None else int(self.vectors.shape[0])

    def nbytes(self) -> int:
        if self.vectors is None:
            return 0
        return self.vectors.numel() * 4 + self.mean.numel() * 4


def fit_working_bytes(n: int) -> int:
    """Memory the fit of one layer of ``n`` reference images needs beyond its activations:
    a float64 column block and its float32 product, the Gram matrix, eigh's output and
    workspace (a few n x n float64)."""
    return _CHUNK_BYTES * 2 + 6 * n * n * 8


def _blocks(n: int, d: int):
    chunk = max(1, _CHUNK_BYTES // (8 * n))
    return [slice(s, min(d, s + chunk)) for s in range(0, d, chunk)]


def fit_pca(x: torch.Tensor, n_components: int = N_COMPONENTS) -> Components:
    """PCA of the rows of ``x`` (n, D) float32 as sklearn's ``PCA(n_components)`` with the
    full solver; ``x`` is overwritten (its storage becomes the components). D <=
    n_components: no PCA, as LayerPCA does."""
    n, d = x.shape
    if d <= n_components:
        return Components(None, None, d)
    if n < n_components:
        raise DataError(
            f"Brain-Score's PCA needs {n_components} reference images, got {n}",
            hint=f"give at least {n_components} images",
        )
    mean = torch.empty(d, dtype=torch.float32, device=x.device)
    gram = torch.zeros(n, n, dtype=torch.float64, device=x.device)
    for cols in _blocks(n, d):
        block = x[:, cols]
        wide = block.double()
        mean[cols] = wide.mean(dim=0).float()
        block.sub_(mean[cols])  # x is centred from here on (float32, as sklearn's X - mean_)
        wide.copy_(block)
        gram.addmm_(wide, wide.T)
        del wide
    evals, evecs = torch.linalg.eigh(gram)  # ascending
    del gram
    evals, evecs = evals.flip(0)[:n_components], evecs.flip(1)[:, :n_components]
    # The centred data have rank <= n - 1: axes whose variance is rounding noise get a zero row.
    keep = evals > evals[0].clamp(min=0) * n * torch.finfo(torch.float64).eps
    sing = evals.clamp(min=0).sqrt()
    weights = torch.where(keep, 1.0 / torch.where(keep, sing, torch.ones_like(sing)), torch.zeros_like(sing))
    w = (evecs * weights).T.float()  # (k, n): row i = u_i / s_i
    del evecs
    for cols in _blocks(n, d):
        # Each column block of the components depends only on the same block of x.
        x[:n_components, cols] = w @ x[:, cols]
    vectors = x[:n_components]
    signs = torch.ones(n_components, device=x.device)
    step = max(1, _CHUNK_BYTES // (4 * d))
    for i in range(0, n_components, step):
        rows = vectors[i : i + step]
        pick = rows.abs().argmax(dim=1)
        signs[i : i + step] = torch.sign(rows.gather(1, pick[:, None])[:, 0])
    signs[signs == 0] = 1
    vectors.mul_(signs[:, None])
    return Components(mean, vectors, d, sing.cpu().numpy())
