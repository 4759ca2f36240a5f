"""Per-layer memorability readout: cross-validated ridge regression scored by Spearman.

For every split the training images alone define the model:

* features are z-scored with the training mean and (population) standard deviation;
  features constant on the training images carry no information and are dropped
  (equivalent to scaling them by 1, which makes them 0 on train and gives them a zero
  weight); the target is centred on its training mean, which is the unpenalised
  intercept;
* ridge weights for penalty a are ``beta(a) = (ZᵀZ + a I)⁻¹ Zᵀ yc``.

With ``Z = U S Vᵀ`` (thin SVD; or, when there are more images than features, the
eigendecomposition ``ZᵀZ = V S² Vᵀ`` and ``P = Z V = U S`` computed block-wise, so no
n x n matrix is formed) every penalty in the grid is cheap once the decomposition is
done. With ``g = Pᵀ yc`` and ``f_j(a) = 1 / (s_j² + a)``:

* weights       ``beta(a) = V (g * f(a))``
* fitted values ``yhat(a) = P (g * f(a))``
* leverages     ``h_i(a) = 1/n + sum_j P_ij² f_j(a)``; the 1/n term is the intercept,
  which is exact because the centred columns of Z are orthogonal to the ones vector.

The leave-one-out residual of a linear smoother is ``(yc_i - yhat_i) / (1 - h_i)``, so
the mean squared LOO error of every penalty needs no refitting. This is the same
criterion scikit-learn's ``RidgeCV`` (gcv mode, ``fit_intercept=True``) minimises, and
ties go to the first penalty of the grid as they do there. When a split ships a
validation set, the penalty with the highest validation Spearman is taken instead.

Accuracy is Spearman's rho between predictions and human scores on the test images,
with a percentile bootstrap over test images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from memtool.data.base import Split
from memtool.scoring.stats import (
    bootstrap_spearman_replicates,
    percentile_ci,
    spearman,
    spearman_rows,
)

# Penalty grid: 1e-2 .. 1e8, four steps per decade (41 values).
# Features are standardised, so each column of the n x d training matrix has squared
# norm n and the eigenvalues of ZᵀZ sum to n*d. The top of the grid (1e8) exceeds n*d
# even for n = 45,000 images and d = 2,048 features (9.2e7), so the heaviest penalty
# shrinks every direction to nearly nothing (prediction ~ the mean) and the optimum is
# bracketed from above. The bottom (1e-2) is far below the eigenvalues of any direction
# that carries signal (order n times its share of variance), i.e. practically the
# least-squares / minimum-norm fit. The LOO curve is smooth in log(alpha), so a factor
# of 10**0.25 ~ 1.78 between neighbours resolves it finely enough.
DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-2, 8, 41))

# Upper bound on entries of one row block of P = Z V when it is formed on the fly.
_BLOCK_ENTRIES = 1 << 22


@dataclass(frozen=True)
class ReadoutConfig:
    """Settings of the readout; ``describe()`` is what goes into a run's config hash."""

    alphas: tuple[float, ...] = DEFAULT_ALPHAS
    n_boot: int = 1000
    ci: float = 0.95
    seed: int = 0

    def describe(self) -> dict:
        """JSON-able description of the readout method and its settings."""
        return {
            "method": "ridge",
            "standardise": "z-score on train (population std); train-constant features dropped",
            "intercept": "unpenalised (train mean of y)",
            "alpha_selection": {
                "no_val": "efficient leave-one-out MSE on train (as sklearn RidgeCV gcv)",
                "val": "highest Spearman rho on val, fitted on train",
            },
            "alphas": [float(a) for a in self.alphas],
            "metric": "spearman",
            "ci": float(self.ci),
            "ci_method": "percentile bootstrap over test images",
            "n_boot": int(self.n_boot),
            "seed": int(self.seed),
        }


@dataclass(frozen=True)
class FoldScore:
    """Held-out accuracy on one split (or pooled over all splits)."""

    fold: str  # split name, or "pooled"
    rho: float  # Spearman between predicted and human scores on held-out images
    ci_low: float
    ci_high: float
    alpha: float | None  # chosen penalty (None for pooled)
    n_train: int
    n_test: int


@dataclass
class LayerScore:
    """Per-split scores, the pooled score and the out-of-fold prediction per image."""

    folds: list[FoldScore]
    pooled: FoldScore
    # Out-of-fold prediction per image: NaN where never tested; mean over the splits
    # that tested it when test sets overlap.
    predictions: np.ndarray = field(repr=False)


def _split_seed(seed: int, index: int) -> tuple[int, int, int]:
    """Bootstrap seed of split ``index`` (pooled uses ``(seed, 0)``): distinct streams."""
    return (int(seed), 1, int(index))


class _RidgePath:
    """Ridge fits on one training set for a whole penalty grid, from one decomposition."""

    def __init__(self, X: np.ndarray, y: np.ndarray):
        """``X``: train rows (overwritten when already float64); ``y``: their scores."""
        X = np.asarray(X, dtype=np.float64)
        n = X.shape[0]
        self.n = n
        mean = X.mean(axis=0)
        var = X.var(axis=0)
        # A constant column's computed variance is pure rounding error, of the order
        # (n * eps * |mean|)^2 (+ n * eps * var): treat anything within that as constant.
        eps = np.finfo(np.float64).eps
        keep = var > n * eps * var + (n * eps * mean) ** 2
        self.keep = keep
        self.mean = mean[keep]
        self.scale = np.sqrt(var[keep])
        Z = X if keep.all() else X[:, keep]
        Z -= self.mean  # in place: X is the caller's scratch copy of the train rows
        Z /= self.scale
        self.y_mean = float(y.mean())
        self.yc = y - self.y_mean
        d = Z.shape[1]
        self.Z = None
        self.P = None
        if d == 0:
            self.V = np.zeros((0, 0))
            self.s2 = np.zeros(0)
            self.P = np.zeros((n, 0))
        elif n <= d:
            # Thin SVD of the tall Zᵀ = V S Uᵀ: the same factors as Z's, and LAPACK is
            # measurably quicker on this layout.
            V, s, Ut = np.linalg.svd(Z.T, full_matrices=False)
            self.V, self.s2, self.P = V, s**2, Ut.T * s
        else:
            s2, V = np.linalg.eigh(Z.T @ Z)
            self.V, self.s2, self.Z = V, np.clip(s2, 0.0, None), Z
        # g = Pᵀ yc = Vᵀ Zᵀ yc
        self.g = self.P.T @ self.yc if self.P is not None else self.V.T @ (Z.T @ self.yc)

    def _P_blocks(self):
        """Yield ``(rows, P[rows])`` without holding all of P = Z V when Z is tall."""
        if self.P is not None:
            yield slice(0, self.n), self.P
            return
        step = max(1, _BLOCK_ENTRIES // max(1, self.V.shape[1]))
        for start in range(0, self.n, step):
            rows = slice(start, min(self.n, start + step))
            yield rows, self.Z[rows] @ self.V

    def loo_mse(self, alphas: np.ndarray) -> np.ndarray:
        """Mean squared leave-one-out error (intercept refitted too) for each penalty."""
        f = 1.0 / (self.s2[:, None] + alphas[None, :])  # (r, A)
        coef = self.g[:, None] * f
        sse = np.zeros(alphas.size)
        for rows, P in self._P_blocks():
            resid = self.yc[rows, None] - P @ coef
            lev = 1.0 / self.n + (P * P) @ f
            with np.errstate(divide="ignore", invalid="ignore"):
                sse += np.sum((resid / (1.0 - lev)) ** 2, axis=0)
        return sse / self.n

    def standardise(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=np.float64)[:, self.keep] - self.mean) / self.scale

    def predict_all(self, X: np.ndarray, alphas: np.ndarray) -> np.ndarray:
        """Predictions for new images under every penalty, shape (n_new, A)."""
        f = 1.0 / (self.s2[:, None] + alphas[None, :])
        return self.y_mean + (self.standardise(X) @ self.V) @ (self.g[:, None] * f)

    def predict(self, X: np.ndarray, alpha: float) -> np.ndarray:
        beta = self.V @ (self.g / (self.s2 + alpha))
        return self.y_mean + self.standardise(X) @ beta


def _first_best(values: np.ndarray, larger_is_better: bool) -> int:
    """Index of the best finite value, the first one on ties; 0 if none is finite."""
    v = np.where(np.isfinite(values), values, np.nan)
    if np.all(np.isnan(v)):
        return 0
    return int(np.nanargmax(v) if larger_is_better else np.nanargmin(v))


def _check_inputs(X: np.ndarray, y: np.ndarray, splits: Sequence[Split], alphas) -> None:
    if X.ndim != 2:
        raise ValueError(f"features must be a 2-D (images x features) array, got shape {X.shape}")
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"scores must be 1-D with one value per image ({X.shape[0]}), got shape {y.shape}")
    bad = int(X.size - np.count_nonzero(np.isfinite(X)))
    if bad:
        raise ValueError(
            f"features contain {bad} NaN or infinite value(s) out of {X.size}; "
            "the layer's activations are not finite"
        )
    if not np.all(np.isfinite(y)):
        raise ValueError("memorability scores contain NaN or infinite values")
    if len(splits) == 0:
        raise ValueError("no splits given")
    if len(alphas) == 0 or np.any(~(np.asarray(alphas) > 0)):
        raise ValueError(f"ridge penalties must be positive, got {alphas}")
    for sp in splits:
        if len(sp.train) < 2 or len(sp.test) < 1:
            raise ValueError(f"split {sp.name!r} needs at least 2 train and 1 test image(s)")


def score_features(
    X: np.ndarray,
    y: np.ndarray,
    splits: Sequence[Split],
    config: ReadoutConfig = ReadoutConfig(),
) -> LayerScore:
    """Cross-validated ridge readout of memorability from one layer's features.

    ``X`` is (images x features), any float dtype (computed in float64); ``y`` the human
    scores; ``splits`` index into both. Raises ``ValueError`` on non-finite features.
    A layer whose features are all constant predicts the train mean everywhere and gets
    rho = NaN per split and pooled (no exception).
    """
    X = np.asarray(X)
    y = np.asarray(y, dtype=np.float64)
    alphas = np.asarray(config.alphas, dtype=np.float64)
    _check_inputs(X, y, splits, alphas)

    n = X.shape[0]
    pred_sum = np.zeros(n)
    pred_count = np.zeros(n, dtype=np.int64)
    folds: list[FoldScore] = []
    replicates: list[np.ndarray] = []
    informative = False  # does any split have a non-constant training feature?
    for i, sp in enumerate(splits):
        train = np.asarray(sp.train, dtype=np.int64)
        test = np.asarray(sp.test, dtype=np.int64)
        path = _RidgePath(X[train], y[train])
        informative |= bool(path.keep.any())
        if sp.val is None:
            best = _first_best(path.loo_mse(alphas), larger_is_better=False)
        else:
            val = np.asarray(sp.val, dtype=np.int64)
            rhos = spearman_rows(path.predict_all(X[val], alphas).T, y[val])
            best = _first_best(rhos, larger_is_better=True)
        alpha = float(alphas[best])
        pred = path.predict(X[test], alpha)
        np.add.at(pred_sum, test, pred)
        np.add.at(pred_count, test, 1)

        seed = _split_seed(config.seed, i)
        reps = bootstrap_spearman_replicates(pred, y[test], config.n_boot, seed)
        replicates.append(reps)
        low, high = percentile_ci(reps, config.ci)
        rho = spearman(pred, y[test])
        folds.append(FoldScore(sp.name, rho, low, high, alpha, len(train), len(test)))

    predictions = np.where(pred_count > 0, pred_sum / np.maximum(pred_count, 1), np.nan)
    tested = np.flatnonzero(pred_count)
    n_train = int(np.mean([f.n_train for f in folds]))
    disjoint = sum(len(sp.test) for sp in splits) == tested.size
    if not informative:
        # No split had a usable feature: every prediction is a train mean. Concatenating
        # folds would rank images by their fold's train mean, which is not a signal.
        rho, low, high = float("nan"), float("nan"), float("nan")
    elif disjoint:
        rho = spearman(predictions[tested], y[tested])
        low, high = percentile_ci(
            bootstrap_spearman_replicates(
                predictions[tested], y[tested], config.n_boot, (int(config.seed), 0)
            ),
            config.ci,
        )
    else:
        # Overlapping test sets: average the per-split estimates, and the per-split
        # bootstrap replicates index by index, so the interval reflects the mean.
        rho = float(np.mean([f.rho for f in folds]))
        low, high = percentile_ci(np.mean(replicates, axis=0), config.ci)
    pooled = FoldScore("pooled", rho, low, high, None, n_train, int(tested.size))
    return LayerScore(folds=folds, pooled=pooled, predictions=predictions)
