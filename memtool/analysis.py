"""Correlations across layers: memorability rho against brain similarity, with and without depth.

Depth drives both scores (later layers are both more IT-like and more predictive of
memorability), so next to the plain Spearman correlation we report the partial Spearman
correlation controlling for relative depth: the Pearson correlation of the rank
residuals after regressing each variable's ranks on the ranks of depth. Pure numpy/scipy;
the SQL views compute the same numbers, and tests hold them to each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata


def _clean(*arrays):
    stacked = np.vstack([np.asarray(a, dtype=np.float64) for a in arrays])
    keep = np.all(np.isfinite(stacked), axis=0)
    return stacked[:, keep]


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of matching rows of a and b (NaN where a row is constant)."""
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    den = np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(-1) / np.where(den > 0, den, 1), np.nan)


def pearson(x, y) -> float:
    x, y = _clean(x, y)
    return float(_pearson_rows(x, y)) if x.size > 2 else float("nan")


def spearman(x, y) -> float:
    x, y = _clean(x, y)
    return float(_pearson_rows(rankdata(x), rankdata(y))) if x.size > 2 else float("nan")


def _partial_rows(rx: np.ndarray, ry: np.ndarray, rz: np.ndarray) -> np.ndarray:
    rxy, rxz, ryz = _pearson_rows(rx, ry), _pearson_rows(rx, rz), _pearson_rows(ry, rz)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rxy - rxz * ryz) / np.sqrt((1 - rxz ** 2) * (1 - ryz ** 2))


def partial_spearman(x, y, z) -> float:
    """Spearman correlation of x and y controlling for z (first-order partial on ranks)."""
    x, y, z = _clean(x, y, z)
    if x.size <= 3:
        return float("nan")
    return float(_partial_rows(rankdata(x), rankdata(y), rankdata(z)))


@dataclass(frozen=True)
class Correlation:
    n: int
    spearman: float
    spearman_ci: tuple[float, float]
    pearson: float
    partial_spearman: float  # controlling for relative depth
    partial_ci: tuple[float, float]


def correlate_across_layers(memorability, brain, depth, *, n_boot: int = 1000, ci: float = 0.95,
                            seed: int = 0) -> Correlation:
    """Correlation across layers with percentile bootstrap CIs (resampling layers)."""
    x, y, z = _clean(memorability, brain, depth)
    n = x.shape[0]
    nan2 = (float("nan"), float("nan"))
    if n <= 3:
        return Correlation(n, spearman(x, y), nan2, pearson(x, y), float("nan"), nan2)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    rx, ry, rz = (rankdata(v[idx], axis=1) for v in (x, y, z))
    boot_s = _pearson_rows(rx, ry)
    boot_p = _partial_rows(rx, ry, rz)
    q = [(1 - ci) / 2 * 100, (1 + ci) / 2 * 100]

    def interval(values):
        values = values[np.isfinite(values)]
        return tuple(float(v) for v in np.percentile(values, q)) if values.size else nan2

    return Correlation(n, spearman(x, y), interval(boot_s), pearson(x, y),
                       partial_spearman(x, y, z), interval(boot_p))
