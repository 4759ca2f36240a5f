"""Every correlation memtool computes in Python, in one place (numpy/scipy only).

Two kinds live here: Spearman's rho of predictions against scores over images, with a
vectorised percentile bootstrap (the memorability readout's numbers), and correlations
*across layers* (or models) of two stored scores, NaN pairs dropped: Pearson, Spearman and
the partial Spearman correlation controlling for relative depth, with bootstrap CIs over
layers (``memtool analyze``, the TUI and the report). The SQL views compute the point
estimates of the latter with the same definitions (average ranks, first-order partial
correlation; sql/views/macros.sql) plus Fisher-z intervals; tests hold the two equal.

Spearman's rho is Pearson's correlation of the two rank vectors, with tied values
given the average of the ranks they span (as ``scipy.stats.spearmanr`` does). It is
undefined (NaN) when either side is constant, because a constant rank vector has zero
variance.

The bootstrap resamples image indices with replacement. For B replicates of n images
we draw a (B, n) index matrix, rank every row of ``pred[idx]`` and ``y[idx]`` at once
and take row-wise Pearson of the ranks: one pass of array work instead of B calls to
``spearmanr``. The row ranks are exactly ``rankdata(values[idx], axis=1)``, but are
computed by counting instead of sorting (see :func:`resample_ranks`), which is an order
of magnitude quicker for thousands of images. Rows are processed in blocks so memory
stays bounded for large n; the draws are the same as one (B, n) ``rng.integers`` call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

# Upper bound on entries of one (block, n) bootstrap index block (~32 MB of int64).
_BLOCK_ENTRIES = 1 << 22


def pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``a`` with the matching row of ``b``.

    ``a`` and ``b`` broadcast against each other along the leading axis (``b`` may be
    one row shared by all rows of ``a``). Returns one value per row; a row with zero
    variance on either side gives NaN.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    num = np.sum(a * b, axis=-1)
    den = np.sqrt(np.sum(a * a, axis=-1) * np.sum(b * b, axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return np.clip(r, -1.0, 1.0)


def spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row of ``a`` with the matching row (or single row) ``b``."""
    ra = rankdata(np.atleast_2d(a), axis=-1)
    rb = rankdata(np.atleast_2d(b), axis=-1)
    return pearson_rows(ra, rb)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho of two 1-D arrays (average ranks for ties; NaN if either is constant)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"spearman: arrays differ in length ({a.size} vs {b.size})")
    if a.size < 2:
        return float("nan")
    return float(pearson_rows(rankdata(a), rankdata(b)))


def resample_ranks(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Average ranks within each row of ``values[idx]``; equals ``rankdata(values[idx], axis=1)``.

    Every resampled value is one of the original values. Give each distinct value a
    code q (its position in sorted order) and count, per row, how often each code was
    drawn: C[b, q]. An element with code q then has ``sum_{p<q} C[b, p]`` smaller
    elements and ``C[b, q]`` equal ones (itself included), so its average rank is
    ``sum_{p<q} C[b, p] + (C[b, q] + 1) / 2``. Counting and a cumulative sum replace a
    sort of every row.
    """
    uniq, code = np.unique(np.asarray(values, dtype=np.float64), return_inverse=True)
    n_rows, u = idx.shape[0], uniq.size
    drawn = code[idx]
    counts = np.bincount((drawn + (np.arange(n_rows) * u)[:, None]).ravel(), minlength=n_rows * u).reshape(
        n_rows, u
    )
    avg_rank = np.cumsum(counts, axis=1) - counts + (counts + 1) / 2.0
    return np.take_along_axis(avg_rank, drawn, axis=1)


def bootstrap_spearman_replicates(pred: np.ndarray, y: np.ndarray, n_boot: int = 1000, seed=0) -> np.ndarray:
    """Spearman's rho on ``n_boot`` resamples (with replacement) of the paired images.

    The resample indices are ``numpy.random.default_rng(seed).integers(0, n, (n_boot, n))``
    (drawn block by block, which yields the same numbers). ``seed`` is anything
    ``default_rng`` accepts, e.g. an int or a tuple of ints. Replicates whose resample is
    constant on either side are NaN.
    """
    pred = np.asarray(pred, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if pred.shape != y.shape:
        raise ValueError(f"bootstrap: arrays differ in length ({pred.size} vs {y.size})")
    n = pred.size
    out = np.full(n_boot, np.nan)
    if n < 2 or n_boot < 1:
        return out
    rng = np.random.default_rng(seed)
    block = max(1, _BLOCK_ENTRIES // n)
    for start in range(0, n_boot, block):
        stop = min(n_boot, start + block)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = pearson_rows(resample_ranks(pred, idx), resample_ranks(y, idx))
    return out


def percentile_ci(replicates: np.ndarray, ci: float = 0.95) -> tuple[float, float]:
    """Equal-tailed percentile interval of bootstrap replicates, ignoring NaN ones.

    Returns ``(nan, nan)`` when no replicate is finite.
    """
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must be between 0 and 1, got {ci}")
    reps = np.asarray(replicates, dtype=np.float64)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return float("nan"), float("nan")
    tail = (1.0 - ci) / 2.0
    low, high = np.quantile(reps, [tail, 1.0 - tail])
    return float(low), float(high)


def bootstrap_spearman_ci(
    pred: np.ndarray, y: np.ndarray, n_boot: int = 1000, ci: float = 0.95, seed=0
) -> tuple[float, float]:
    """Percentile bootstrap interval of Spearman's rho between ``pred`` and ``y``.

    Deterministic for a given ``seed``; see :func:`bootstrap_spearman_replicates`.
    """
    return percentile_ci(bootstrap_spearman_replicates(pred, y, n_boot, seed), ci)


# -- across layers: correlations of two stored scores, NaN pairs dropped -----------------------
# Depth drives both scores (later layers are both more IT-like and more predictive of
# memorability), so next to the plain Spearman correlation we report the partial Spearman
# correlation controlling for relative depth: the first-order partial correlation of the
# average ranks, (r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2)).


def finite_pairs(*arrays) -> np.ndarray:
    """Stack 1-D arrays as rows and keep the columns where every value is finite."""
    stacked = np.vstack([np.asarray(a, dtype=np.float64) for a in arrays])
    return stacked[:, np.all(np.isfinite(stacked), axis=0)]


def pearson_finite(x, y) -> float:
    """Pearson's r over the finite pairs; NaN for fewer than 3."""
    x, y = finite_pairs(x, y)
    return float(pearson_rows(x, y)) if x.size > 2 else float("nan")


def spearman_finite(x, y) -> float:
    """Spearman's rho (average ranks) over the finite pairs; NaN for fewer than 3."""
    x, y = finite_pairs(x, y)
    return float(pearson_rows(rankdata(x), rankdata(y))) if x.size > 2 else float("nan")


def partial_rows(rx: np.ndarray, ry: np.ndarray, rz: np.ndarray) -> np.ndarray:
    """First-order partial correlation of matching rows of x and y given z."""
    rxy, rxz, ryz = pearson_rows(rx, ry), pearson_rows(rx, rz), pearson_rows(ry, rz)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rxy - rxz * ryz) / np.sqrt((1 - rxz**2) * (1 - ryz**2))


def partial_spearman(x, y, z) -> float:
    """Spearman correlation of x and y controlling for z (first-order partial on ranks)."""
    x, y, z = finite_pairs(x, y, z)
    if x.size <= 3:
        return float("nan")
    return float(partial_rows(rankdata(x), rankdata(y), rankdata(z)))


@dataclass(frozen=True)
class Correlation:
    n: int
    spearman: float
    spearman_ci: tuple[float, float]
    pearson: float
    partial_spearman: float  # controlling for relative depth
    partial_ci: tuple[float, float]


def correlate_across_layers(
    memorability, brain, depth, *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0
) -> Correlation:
    """Correlation across layers with percentile bootstrap CIs (resampling layers)."""
    x, y, z = finite_pairs(memorability, brain, depth)
    n = x.shape[0]
    nan2 = (float("nan"), float("nan"))
    if n <= 3:
        return Correlation(n, spearman_finite(x, y), nan2, pearson_finite(x, y), float("nan"), nan2)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    rx, ry, rz = (rankdata(v[idx], axis=1) for v in (x, y, z))
    boot_s = pearson_rows(rx, ry)
    boot_p = partial_rows(rx, ry, rz)
    q = [(1 - ci) / 2 * 100, (1 + ci) / 2 * 100]

    def interval(values):
        values = values[np.isfinite(values)]
        return tuple(float(v) for v in np.percentile(values, q)) if values.size else nan2

    return Correlation(
        n,
        spearman_finite(x, y),
        interval(boot_s),
        pearson_finite(x, y),
        partial_spearman(x, y, z),
        interval(boot_p),
    )
