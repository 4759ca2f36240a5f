"""Spearman and its bootstrap interval against scipy and a slow reference loop."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.stats import rankdata, spearmanr

from memtool.scoring import stats
from memtool.scoring.stats import (
    bootstrap_spearman_ci,
    bootstrap_spearman_replicates,
    pearson_rows,
    percentile_ci,
    resample_ranks,
    spearman,
)


def _pair(n: int, signal: float, seed: int, ties: bool = False):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    pred = signal * y + rng.normal(size=n)
    if ties:
        y, pred = np.round(y, 1), np.round(pred, 1)
    return pred, y


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("n", [2, 5, 57, 400])
def test_spearman_equals_scipy(n, ties):
    pred, y = _pair(n, 0.7, seed=n, ties=ties)
    assert spearman(pred, y) == pytest.approx(spearmanr(pred, y)[0], abs=1e-12)


def test_spearman_nan_for_constant_side():
    y = np.arange(10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warnings leak out
        assert np.isnan(spearman(np.full(10, 3.0), y))
        assert np.isnan(spearman(y, np.full(10, -1.0)))
        assert np.isnan(spearman([1.0], [2.0]))


def test_pearson_rows_matches_corrcoef_and_flags_constant_rows():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(6, 30)), rng.normal(size=(6, 30))
    a[2] = 4.0
    got = pearson_rows(a, b)
    for i in range(6):
        if i == 2:
            assert np.isnan(got[i])
        else:
            assert got[i] == pytest.approx(np.corrcoef(a[i], b[i])[0, 1], abs=1e-12)
    # one shared row broadcasts against all rows
    shared = pearson_rows(a, b[0])
    assert shared[0] == pytest.approx(np.corrcoef(a[0], b[0])[0, 1], abs=1e-12)


@pytest.mark.parametrize("ties", [False, True])
def test_resample_ranks_equal_rankdata(ties):
    pred, _ = _pair(80, 0.0, seed=3, ties=ties)
    idx = np.random.default_rng(4).integers(0, 80, size=(50, 80))
    assert np.array_equal(resample_ranks(pred, idx), rankdata(pred[idx], axis=1))


def _slow_replicates(pred, y, n_boot, seed):
    idx = np.random.default_rng(seed).integers(0, len(y), size=(n_boot, len(y)))
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for row in idx:
            out.append(spearmanr(pred[row], y[row])[0])
    return np.asarray(out, dtype=float)


@pytest.mark.parametrize("ties", [False, True])
def test_bootstrap_matches_slow_loop(ties):
    pred, y = _pair(25, 0.5, seed=5, ties=ties)
    fast = bootstrap_spearman_replicates(pred, y, n_boot=300, seed=11)
    slow = _slow_replicates(pred, y, 300, 11)
    np.testing.assert_allclose(fast, slow, atol=1e-12)
    lo, hi = bootstrap_spearman_ci(pred, y, n_boot=300, ci=0.9, seed=11)
    slow_lo, slow_hi = np.percentile(slow[np.isfinite(slow)], [5, 95])
    assert (lo, hi) == pytest.approx((slow_lo, slow_hi), abs=1e-12)


def test_bootstrap_blocks_give_the_same_draws(monkeypatch):
    pred, y = _pair(90, 0.5, seed=6)
    whole = bootstrap_spearman_replicates(pred, y, n_boot=200, seed=3)
    monkeypatch.setattr(stats, "_BLOCK_ENTRIES", 90 * 7)  # blocks of 7 replicates
    blocked = bootstrap_spearman_replicates(pred, y, n_boot=200, seed=3)
    np.testing.assert_array_equal(whole, blocked)


def test_bootstrap_is_deterministic_and_seed_dependent():
    pred, y = _pair(100, 0.5, seed=7)
    a = bootstrap_spearman_ci(pred, y, seed=123)
    assert a == bootstrap_spearman_ci(pred, y, seed=123)
    assert a != bootstrap_spearman_ci(pred, y, seed=124)


def test_bootstrap_ci_contains_estimate_for_strong_signal():
    pred, y = _pair(200, 2.0, seed=8)
    rho = spearman(pred, y)
    lo, hi = bootstrap_spearman_ci(pred, y, n_boot=1000, ci=0.95, seed=0)
    assert rho > 0.8
    assert lo < rho < hi


def test_bootstrap_ci_narrows_with_more_images():
    small = bootstrap_spearman_ci(*_pair(40, 0.6, seed=9), seed=0)
    large = bootstrap_spearman_ci(*_pair(2000, 0.6, seed=9), seed=0)
    assert (large[1] - large[0]) < 0.5 * (small[1] - small[0])


def test_bootstrap_constant_predictions_give_nan_interval():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lo, hi = bootstrap_spearman_ci(np.zeros(30), np.arange(30.0), n_boot=50)
    assert np.isnan(lo) and np.isnan(hi)


def test_percentile_ci_rejects_bad_level():
    with pytest.raises(ValueError):
        percentile_ci(np.arange(10.0), ci=1.5)
