"""The memorability readout in torch, on the sweep's device: same numbers as ``readout``.

This computes exactly what :func:`memtool.scoring.readout.score_features` (the numpy
reference, kept for the tests) computes: per split, z-scoring with the training mean
and population standard deviation (train-constant features dropped), an unpenalised
intercept, ridge weights for every penalty of the 41-point grid from one
eigendecomposition, the penalty chosen by exact leave-one-out MSE on train (first
best on ties, as scikit-learn's ``RidgeCV``) or by Spearman rho on the validation
list, Spearman rho on the test images and percentile bootstrap intervals whose
resamples are the very index draws of the reference (numpy's ``default_rng``).

What makes it quicker:

* **Gram (dual) form when a split has fewer training images than features.** With the
  eigendecomposition ``Z Zᵀ = U S² Uᵀ`` (n x n, instead of the reference's thin SVD of
  the n x d matrix): fitted values ``U (S² f(a) Uᵀ yc)``, leverages
  ``1/n + (U∘U) S² f(a)`` and weights ``beta(a) = Zᵀ U f(a) Uᵀ yc`` with
  ``f_j(a) = 1 / (s_j² + a)``. Otherwise the primal form ``ZᵀZ = V S² Vᵀ`` (d x d).
* **Bootstrap batched over splits and layers.** The resample indices depend only on the
  seed, the split and the number of test images, so they are drawn once (and cached)
  for every layer; the ranks of the resampled human scores are the same for every
  layer, so they are computed once per split; the ranks of the resampled predictions
  of all layers of a call are computed in one batched sort.
* **Everything on one device** (CPU or CUDA), float64 by default. On CUDA float32 is
  allowed (``dtype=torch.float32``); its rho agrees with float64 to about 1e-4 on
  standardised features (the tests hold float64 to 1e-6 of the reference).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from memtool.data.base import Split
from memtool.scoring.readout import (
    FoldScore,
    LayerScore,
    ReadoutConfig,
    _check_inputs,
    _split_seed,
)
from memtool.scoring.regression_torch import gram
from memtool.scoring.spearman_torch import (  # noqa: F401  (re-exported names)
    _Bootstrap,
    boot_indices,
    bootstrap,
    dense_codes,
    pearson_rows,
    rank_rows,
    resample_ranks,
    spearman_rows,
)
from memtool.scoring.stats import percentile_ci

# Rows of P = Z V formed at once in the primal form (bounded memory for many images).
_ROW_BLOCK_ENTRIES = 1 << 23
# Widest layer whose all-image Gram matrix is kept across splits (32 MiB in float64).
_SHARED_MAX_FEATURES = 2048


def _first_best(values: torch.Tensor, larger_is_better: bool) -> int:
    """Index of the best finite value, first on ties; 0 if none is finite (as the reference)."""
    v = values.detach().cpu().numpy()
    v = np.where(np.isfinite(v), v, np.nan)
    if np.all(np.isnan(v)):
        return 0
    return int(np.nanargmax(v) if larger_is_better else np.nanargmin(v))


class _Shared:
    """One layer's Gram matrix over all images, from which each split's training Gram
    is the total minus the Gram of the images left out (which are fewer)."""

    def __init__(self, X: torch.Tensor):
        self.X = X
        self.shift = X.mean(dim=0)  # features shifted by their overall mean: no cancellation
        self.G = None

    def traingram(self, train_np: np.ndarray, mean: torch.Tensor) -> torch.Tensor | None:
        """Uncentred-to-centred ``X_trᵀ X_tr - n mean meanᵀ`` of a split's train rows, or
        None where leaving out is not cheaper (or train rows repeat)."""
        N, d = self.X.shape
        n = train_np.shape[0]
        if 2 * (N - n) >= n or d > _SHARED_MAX_FEATURES or np.unique(train_np).size != n:
            return None
        if self.G is None:
            self.G = gram(self.X - self.shift)
        mask = np.ones(N, dtype=bool)
        mask[train_np] = False
        out = torch.as_tensor(np.flatnonzero(mask), device=self.X.device)
        mu = mean - self.shift
        return self.G - gram(self.X[out] - self.shift) - n * torch.outer(mu, mu)


class _Path:
    """Ridge fits of one training set for a whole penalty grid (primal or Gram form)."""

    def __init__(
        self,
        X: torch.Tensor,
        y: torch.Tensor,
        shared: _Shared | None = None,
        train_np: np.ndarray | None = None,
    ):
        n = X.shape[0]
        self.n = n
        mean = X.mean(dim=0)
        Xc = X - mean  # two-pass variance, as numpy's var; the centred rows are reused
        var = (Xc * Xc).mean(dim=0)
        eps = torch.finfo(X.dtype).eps
        keep = var > n * eps * var + (n * eps * mean) ** 2
        self.keep = keep
        self.all_kept = bool(keep.all())
        self.mean = mean[keep]
        self.scale = torch.sqrt(var[keep])
        Z = Xc if self.all_kept else Xc[:, keep]
        Z /= self.scale
        self.y_mean = y.mean()
        self.yc = y - self.y_mean
        d = Z.shape[1]
        self.d = d
        self.Z = Z
        if d == 0:
            self.dual = False
            self.Q = torch.zeros((n, 0), dtype=X.dtype, device=X.device)
            self.s2 = torch.zeros(0, dtype=X.dtype, device=X.device)
            self.c = torch.zeros(0, dtype=X.dtype, device=X.device)
            self.V = torch.zeros((0, 0), dtype=X.dtype, device=X.device)
        elif n <= d:
            self.dual = True
            s2, U = torch.linalg.eigh(gram(Z, rows=True))
            self.s2 = s2.clamp_min(0.0)
            self.Q = U  # fitted values U (s2 f c), leverages (U∘U)(s2 f)
            self.c = U.T @ self.yc
        else:
            self.dual = False
            C = None if shared is None else shared.traingram(train_np, mean)
            if C is None:
                ZtZ = gram(Z)
            else:  # ZᵀZ = D⁻¹ (X_trᵀ X_tr - n mean meanᵀ) D⁻¹ on the kept features
                ZtZ = (C if self.all_kept else C[keep][:, keep]) / torch.outer(self.scale, self.scale)
            s2, V = torch.linalg.eigh(ZtZ)
            self.s2 = s2.clamp_min(0.0)
            self.V = V
            self.Q = None  # P = Z V, formed block by block
            self.c = V.T @ (Z.T @ self.yc)  # g

    def _weights(self, alphas: torch.Tensor) -> torch.Tensor:
        """(r, A) multipliers of the fitted values and leverages."""
        f = 1.0 / (self.s2[:, None] + alphas[None, :])
        return self.s2[:, None] * f if self.dual else f

    def loo_mse(self, alphas: torch.Tensor) -> torch.Tensor:
        w = self._weights(alphas)
        coef = self.c[:, None] * w
        sse = torch.zeros(alphas.shape[0], dtype=alphas.dtype, device=alphas.device)
        if self.Q is not None:
            blocks = [(slice(0, self.n), self.Q)]
        else:
            step = max(1, _ROW_BLOCK_ENTRIES // max(1, self.d))
            blocks = ((slice(s, min(self.n, s + step)), None) for s in range(0, self.n, step))
        for rows, Q in blocks:
            if Q is None:
                Q = self.Z[rows] @ self.V
            resid = self.yc[rows, None] - Q @ coef
            lev = 1.0 / self.n + (Q * Q) @ w
            sse += ((resid / (1.0 - lev)) ** 2).sum(dim=0)
        return sse / self.n

    def betas(self, alphas: torch.Tensor) -> torch.Tensor:
        """(d, A) ridge weights on the standardised features for each penalty."""
        f = 1.0 / (self.s2[:, None] + alphas[None, :])
        if self.d == 0:
            return torch.zeros((0, alphas.shape[0]), dtype=alphas.dtype, device=alphas.device)
        if self.dual:
            return self.Z.T @ (self.Q @ (self.c[:, None] * f))
        return self.V @ (self.c[:, None] * f)

    def standardise(self, X: torch.Tensor) -> torch.Tensor:
        Xk = X if self.all_kept else X[:, self.keep]
        return (Xk - self.mean) / self.scale

    def predict(self, X: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
        """(n_new, A) predictions."""
        return self.y_mean + self.standardise(X) @ self.betas(alphas)


def score_layers(
    features: Sequence,
    y,
    splits: Sequence[Split],
    config: ReadoutConfig = ReadoutConfig(),
    *,
    device=None,
    dtype: torch.dtype = torch.float64,
) -> list[LayerScore]:
    """Cross-validated ridge readout of memorability for several layers at once.

    ``features`` holds one (images x k_l) matrix per layer (numpy or torch, any float
    dtype; widths may differ), ``y`` the human scores, ``splits`` index into both. The
    result for each layer equals ``readout.score_features`` on it (rho to about 1e-12
    in float64). Raises ``ValueError`` on non-finite features, as the reference does.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    y_np = np.asarray(y, dtype=np.float64)
    alphas_np = np.asarray(config.alphas, dtype=np.float64)
    mats = []
    for X in features:
        Xt = torch.as_tensor(X)
        if Xt.ndim == 2 and not bool(torch.isfinite(Xt).all()):
            bad = int(Xt.numel() - int(torch.isfinite(Xt).sum()))
            raise ValueError(
                f"features contain {bad} NaN or infinite value(s) out of {Xt.numel()}; "
                "the layer's activations are not finite"
            )
        _check_inputs(np.empty((Xt.shape[0], 0)) if Xt.ndim == 2 else Xt.numpy(), y_np, splits, alphas_np)
        mats.append(Xt.to(device=device, dtype=dtype))
    if not mats:
        return []
    L = len(mats)
    n = y_np.shape[0]
    yt = torch.as_tensor(y_np, device=device, dtype=dtype)
    alphas = torch.as_tensor(alphas_np, device=device, dtype=dtype)

    pred_sum = torch.zeros((L, n), dtype=dtype, device=device)
    pred_count = np.zeros(n, dtype=np.int64)
    informative = [False] * L
    chosen = np.zeros((len(splits), L))
    fold_rho = np.zeros((len(splits), L))
    fold_reps: list[np.ndarray] = []
    shared = [_Shared(X) for X in mats]
    for i, sp in enumerate(splits):
        train_np = np.asarray(sp.train, dtype=np.int64)
        train = torch.as_tensor(train_np, device=device)
        test_np = np.asarray(sp.test, dtype=np.int64)
        test = torch.as_tensor(test_np, device=device)
        val = None if sp.val is None else torch.as_tensor(np.asarray(sp.val, dtype=np.int64), device=device)
        preds = torch.empty((L, test.shape[0]), dtype=dtype, device=device)
        for l, X in enumerate(mats):
            path = _Path(X[train], yt[train], shared[l], train_np)
            informative[l] |= bool(path.keep.any())
            if val is None:
                best = _first_best(path.loo_mse(alphas), larger_is_better=False)
            else:
                rhos = spearman_rows(path.predict(X[val], alphas).T, yt[val])
                best = _first_best(rhos, larger_is_better=True)
            chosen[i, l] = alphas_np[best]
            preds[l] = path.predict(X[test], alphas[best : best + 1])[:, 0]
            del path
        pred_sum.index_add_(1, test, preds)
        np.add.at(pred_count, test_np, 1)
        boot = bootstrap(yt[test], _split_seed(config.seed, i), config.n_boot)
        fold_reps.append(boot.replicates(preds).cpu().numpy())
        fold_rho[i] = spearman_rows(preds, yt[test]).cpu().numpy()

    counts = torch.as_tensor(pred_count, device=device, dtype=dtype)
    predictions = (
        torch.where(counts > 0, pred_sum / counts.clamp_min(1.0), torch.full_like(pred_sum, float("nan")))
        .cpu()
        .numpy()
    )
    tested_np = np.flatnonzero(pred_count)
    disjoint = sum(len(sp.test) for sp in splits) == tested_np.size
    n_train = int(np.mean([len(sp.train) for sp in splits]))
    pooled_rho = np.full(L, np.nan)
    pooled_reps = None
    if disjoint:
        tested = torch.as_tensor(tested_np, device=device)
        oof = torch.as_tensor(predictions[:, tested_np], device=device, dtype=dtype)
        pooled_rho = spearman_rows(oof, yt[tested]).cpu().numpy()
        boot = bootstrap(yt[tested], (int(config.seed), 0), config.n_boot)
        pooled_reps = boot.replicates(oof).cpu().numpy()

    out: list[LayerScore] = []
    for l in range(L):
        folds = []
        for i, sp in enumerate(splits):
            low, high = percentile_ci(fold_reps[i][l], config.ci)
            folds.append(
                FoldScore(
                    sp.name,
                    float(fold_rho[i, l]),
                    low,
                    high,
                    float(chosen[i, l]),
                    len(sp.train),
                    len(sp.test),
                )
            )
        if not informative[l]:
            rho, low, high = float("nan"), float("nan"), float("nan")
        elif disjoint:
            rho = float(pooled_rho[l])
            low, high = percentile_ci(pooled_reps[l], config.ci)
        else:
            rho = float(np.mean([f.rho for f in folds]))
            low, high = percentile_ci(np.mean([r[l] for r in fold_reps], axis=0), config.ci)
        pooled = FoldScore("pooled", rho, low, high, None, n_train, int(tested_np.size))
        out.append(LayerScore(folds=folds, pooled=pooled, predictions=predictions[l]))
    return out


def score_features(
    X,
    y,
    splits: Sequence[Split],
    config: ReadoutConfig = ReadoutConfig(),
    *,
    device=None,
    dtype: torch.dtype = torch.float64,
) -> LayerScore:
    """One layer: :func:`score_layers` of ``[X]``."""
    return score_layers([X], y, splits, config, device=device, dtype=dtype)[0]
