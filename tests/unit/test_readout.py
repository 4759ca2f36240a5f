"""The ridge readout against scikit-learn (RidgeCV, brute-force Ridge) and its pooling rules."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.model_selection import KFold
from sklearn.preprocessing import StandardScaler

from memtool.data.base import Split
from memtool.scoring import readout
from memtool.scoring.readout import (
    DEFAULT_ALPHAS,
    FoldScore,
    LayerScore,
    ReadoutConfig,
    score_features,
)
from memtool.scoring.stats import bootstrap_spearman_replicates, percentile_ci

GRID = np.asarray(DEFAULT_ALPHAS)


def _data(n: int, d: int, seed: int, dtype=np.float64, constant_cols: int = 0):
    """Correlated features on very different scales with a planted low-rank signal."""
    rng = np.random.default_rng(seed)
    k = min(d, 12)
    latent = rng.normal(size=(n, k))
    X = latent @ rng.normal(size=(k, d)) + 0.7 * rng.normal(size=(n, d))
    X = X * rng.uniform(0.05, 20.0, size=d) + rng.normal(scale=5.0, size=d)
    X[:, :constant_cols] = 2.5
    signal = latent[:, :3] @ np.array([1.0, -0.6, 0.4])
    y = 0.7 + 0.05 * (signal + 1.2 * rng.normal(size=n))  # memorability-like, away from 0
    return X.astype(dtype), y


def _kfold(n: int, k: int = 5, seed: int = 0) -> list[Split]:
    folds = KFold(n_splits=k, shuffle=True, random_state=seed).split(np.arange(n))
    return [Split(f"fold{i + 1}", tr, te) for i, (tr, te) in enumerate(folds)]


def _sklearn_fold(X, y, sp: Split):
    X = X.astype(np.float64)
    scaler = StandardScaler().fit(X[sp.train])
    model = RidgeCV(alphas=GRID, store_cv_results=True).fit(scaler.transform(X[sp.train]), y[sp.train])
    return model, model.predict(scaler.transform(X[sp.test]))


SHAPES = [  # (n, d, dtype, constant columns): n > d, n < d, n ~ d, float32 with constants
    (150, 40, np.float64, 0),
    (90, 300, np.float64, 0),
    (60, 50, np.float64, 0),
    (400, 16, np.float32, 2),
]


@pytest.mark.parametrize("n,d,dtype,const", SHAPES)
def test_kfold_matches_ridgecv(n, d, dtype, const):
    X, y = _data(n, d, seed=n + d, dtype=dtype, constant_cols=const)
    splits = _kfold(n, seed=d)
    res = score_features(X, y, splits, ReadoutConfig(n_boot=200))
    assert [f.fold for f in res.folds] == [sp.name for sp in splits]
    for sp, fold in zip(splits, res.folds):
        model, sk_pred = _sklearn_fold(X, y, sp)
        assert fold.alpha == model.alpha_
        np.testing.assert_allclose(res.predictions[sp.test], sk_pred, rtol=1e-6, atol=0)
        assert fold.rho == pytest.approx(spearmanr(sk_pred, y[sp.test])[0], abs=1e-6)
        assert (fold.n_train, fold.n_test) == (len(sp.train), len(sp.test))
        assert fold.ci_low <= fold.rho <= fold.ci_high


def test_chosen_alphas_are_not_stuck_at_the_grid_edges():
    # Guards the comparison above against being trivially true at a boundary.
    chosen = []
    for n, d, dtype, const in SHAPES:
        X, y = _data(n, d, seed=n + d, dtype=dtype, constant_cols=const)
        chosen += [f.alpha for f in score_features(X, y, _kfold(n, seed=d), ReadoutConfig(n_boot=10)).folds]
    interior = [a for a in chosen if GRID[0] < a < GRID[-1]]
    assert len(interior) >= len(chosen) // 2


@pytest.mark.parametrize("n,d", [(150, 40), (90, 300)])
def test_loo_curve_equals_sklearn_gcv(n, d, monkeypatch):
    X, y = _data(n, d, seed=3)
    sp = _kfold(n)[0]
    model, _ = _sklearn_fold(X, y, sp)
    sk_curve = model.cv_results_.mean(axis=0)
    ours = readout._RidgePath(X[sp.train], y[sp.train]).loo_mse(GRID)
    np.testing.assert_allclose(ours, sk_curve, rtol=1e-6)
    # The tall case forms P = Z V in row blocks; tiny blocks must give the same curve.
    monkeypatch.setattr(readout, "_BLOCK_ENTRIES", 7 * d)
    blocked = readout._RidgePath(X[sp.train], y[sp.train]).loo_mse(GRID)
    np.testing.assert_allclose(blocked, ours, rtol=1e-10)


def _val_splits(n: int, n_splits: int, seed: int) -> list[Split]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_splits):
        perm = rng.permutation(n)
        a, b = int(0.6 * n), int(0.8 * n)
        out.append(
            Split(
                f"split{i + 1}",
                np.sort(perm[:a]),
                np.sort(perm[b:]),
                val=np.sort(perm[a:b]),
            )
        )
    return out


@pytest.mark.parametrize("n,d", [(200, 30), (120, 260)])
def test_val_split_matches_bruteforce_ridge(n, d):
    X, y = _data(n, d, seed=d)
    splits = _val_splits(n, 3, seed=1)
    res = score_features(X, y, splits, ReadoutConfig(n_boot=100))
    fold_preds = []
    for sp, fold in zip(splits, res.folds):
        scaler = StandardScaler().fit(X[sp.train])
        Ztr, Zval, Zte = (scaler.transform(X[i]) for i in (sp.train, sp.val, sp.test))
        best_alpha, best_rho = None, None
        for alpha in GRID:
            rho = spearmanr(Ridge(alpha=alpha).fit(Ztr, y[sp.train]).predict(Zval), y[sp.val])[0]
            if best_rho is None or rho > best_rho:
                best_alpha, best_rho = alpha, rho
        assert fold.alpha == best_alpha
        pred = Ridge(alpha=best_alpha).fit(Ztr, y[sp.train]).predict(Zte)
        assert fold.rho == pytest.approx(spearmanr(pred, y[sp.test])[0], abs=1e-6)
        fold_preds.append(pred)
    # Overlapping test sets: predictions are averaged over the splits that tested each image.
    total, count = np.zeros(n), np.zeros(n)
    for sp, pred in zip(splits, fold_preds):
        np.add.at(total, sp.test, pred)
        np.add.at(count, sp.test, 1)
    tested = count > 0
    np.testing.assert_allclose(res.predictions[tested], total[tested] / count[tested], rtol=1e-6)
    assert np.all(np.isnan(res.predictions[~tested]))


def test_pooled_kfold_is_spearman_of_concatenated_predictions():
    X, y = _data(200, 60, seed=4)
    splits = _kfold(200, seed=2)
    res = score_features(X, y, splits, ReadoutConfig(n_boot=500))
    concat_pred = np.concatenate([_sklearn_fold(X, y, sp)[1] for sp in splits])
    concat_y = np.concatenate([y[sp.test] for sp in splits])
    assert res.pooled.rho == pytest.approx(spearmanr(concat_pred, concat_y)[0], abs=1e-6)
    assert res.pooled.fold == "pooled" and res.pooled.alpha is None
    assert res.pooled.n_test == 200
    assert res.pooled.n_train == int(np.mean([len(sp.train) for sp in splits]))
    assert not np.any(np.isnan(res.predictions))
    assert res.pooled.ci_low < res.pooled.rho < res.pooled.ci_high
    # the pooled interval uses all images, so it is tighter than a single fold's
    assert res.pooled.ci_high - res.pooled.ci_low < min(f.ci_high - f.ci_low for f in res.folds)


def test_pooled_overlapping_splits_average_rhos_and_replicates():
    n = 150
    X, y = _data(n, 40, seed=5)
    rng = np.random.default_rng(0)
    splits = []
    for i in range(4):  # repeated random halves: test sets overlap, some images never tested
        perm = rng.permutation(n - 10)
        splits.append(Split(f"split{i + 1}", perm[:90], perm[90:]))
    cfg = ReadoutConfig(n_boot=300, ci=0.9, seed=7)
    res = score_features(X, y, splits, cfg)
    assert res.pooled.rho == pytest.approx(np.mean([f.rho for f in res.folds]), abs=1e-12)
    distinct = np.unique(np.concatenate([sp.test for sp in splits]))
    assert res.pooled.n_test == distinct.size < sum(len(sp.test) for sp in splits)
    assert np.all(np.isnan(res.predictions[n - 10 :]))
    # CI: percentiles of the index-wise mean of the per-split bootstrap replicates
    reps = []
    for i, sp in enumerate(splits):
        pred = _sklearn_fold(X, y, sp)[1]
        reps.append(bootstrap_spearman_replicates(pred, y[sp.test], 300, readout._split_seed(7, i)))
    lo, hi = percentile_ci(np.mean(reps, axis=0), 0.9)
    assert (res.pooled.ci_low, res.pooled.ci_high) == pytest.approx((lo, hi), abs=1e-6)


def test_seeded_results_are_deterministic():
    X, y = _data(120, 30, seed=6)
    splits = _kfold(120)
    a = score_features(X, y, splits, ReadoutConfig(n_boot=200, seed=1))
    b = score_features(X, y, splits, ReadoutConfig(n_boot=200, seed=1))
    c = score_features(X, y, splits, ReadoutConfig(n_boot=200, seed=2))
    assert a.folds == b.folds and a.pooled == b.pooled
    assert a.pooled.rho == c.pooled.rho and a.pooled.ci_low != c.pooled.ci_low
    # splits get distinct bootstrap streams: two identical splits, two different intervals
    sp = splits[0]
    twins = score_features(X, y, [sp, Split("copy", sp.train, sp.test)], ReadoutConfig(n_boot=200))
    first, second = twins.folds
    assert first.rho == second.rho and first.ci_low != second.ci_low


def test_float32_features_are_computed_in_float64():
    X, y = _data(100, 20, seed=8, dtype=np.float32)
    splits = _kfold(100)
    a = score_features(X, y, splits, ReadoutConfig(n_boot=50))
    b = score_features(X.astype(np.float64), y, splits, ReadoutConfig(n_boot=50))
    assert a.folds == b.folds
    np.testing.assert_array_equal(a.predictions, b.predictions)


def test_constant_layer_gives_nan_not_an_error():
    rng = np.random.default_rng(9)
    X = np.full((60, 12), 3.25, dtype=np.float32)
    y = rng.normal(size=60)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = score_features(X, y, _kfold(60), ReadoutConfig(n_boot=100))
    for fold in res.folds + [res.pooled]:
        assert np.isnan(fold.rho) and np.isnan(fold.ci_low) and np.isnan(fold.ci_high)
    assert np.all(np.isfinite(res.predictions))
    assert all(f.alpha == GRID[0] for f in res.folds)  # all penalties tie: the first, as sklearn


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_features_raise_value_error(bad):
    X, y = _data(50, 8, seed=10)
    X[7, 3] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        score_features(X, y, _kfold(50))


def test_bad_shapes_raise_value_error():
    X, y = _data(50, 8, seed=11)
    with pytest.raises(ValueError):
        score_features(X[:, 0], y, _kfold(50))
    with pytest.raises(ValueError):
        score_features(X, y[:-1], _kfold(50))


def test_config_describe_is_json_and_tracks_settings():
    cfg = ReadoutConfig()
    desc = cfg.describe()
    json.dumps(desc)
    assert desc["alphas"] == list(DEFAULT_ALPHAS)
    assert desc["n_boot"] == 1000 and desc["ci"] == 0.95 and desc["seed"] == 0
    assert ReadoutConfig(seed=3).describe() != desc
    assert np.all(np.diff(GRID) > 0) and GRID[0] == pytest.approx(1e-2) and GRID[-1] == pytest.approx(1e8)


def test_typical_layer_size_runs():
    rng = np.random.default_rng(12)
    X = rng.normal(size=(300, 1280)).astype(np.float32)
    y = X[:, :5].sum(axis=1) + rng.normal(scale=2.0, size=300)
    res = score_features(X, y, _kfold(300))
    assert isinstance(res, LayerScore) and len(res.folds) == 5
    assert all(isinstance(f, FoldScore) for f in res.folds)
    assert res.predictions.shape == (300,) and np.all(np.isfinite(res.predictions))
    assert -1.0 <= res.pooled.rho <= 1.0 and res.pooled.ci_low < res.pooled.ci_high
