"""The torch readout equals the numpy reference readout and scikit-learn, on real LNSIM data.

Features are real image statistics of LNSIM scenes (block-averaged pixels, and their
pairwise products for a wide layer) scored against the real human memorability scores,
in both regimes of the readout: more images than features (primal form) and fewer
(Gram form); K-fold splits (exact leave-one-out penalty) and LaMem-like splits with a
validation list (penalty by validation Spearman).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.stats import rankdata, spearmanr
from sklearn.linear_model import RidgeCV
from sklearn.preprocessing import StandardScaler

from memtool.data.base import Split
from memtool.data.splits import kfold_splits
from memtool.scoring import readout_torch as rt
from memtool.scoring.readout import DEFAULT_ALPHAS, ReadoutConfig, score_features
from memtool.scoring.stats import bootstrap_spearman_replicates, resample_ranks


@pytest.fixture(scope="module")
def lnsim(lnsim_dir):
    """240 LNSIM images: 8x8 RGB block means (192 features) and their scores."""
    import csv

    with open(lnsim_dir / "scores.csv") as fh:
        rows = list(csv.DictReader(fh))
    rows = rows[:240]
    feats = []
    for r in rows:
        with Image.open(lnsim_dir / "images" / r["image"]) as im:
            small = im.convert("RGB").resize((8, 8), Image.BOX)
        feats.append(np.asarray(small, dtype=np.float32).ravel() / 255.0)
    X = np.stack(feats)
    y = np.asarray([float(r["memorability"]) for r in rows])
    return X, y


def _wide(X):
    """Products of pairs of the first 40 features: 820 real, correlated features (d > n)."""
    i, j = np.triu_indices(40)
    return (X[:, i] * X[:, j]).astype(np.float32)


def _val_splits(n, seed=0):
    """Three LaMem-like splits: train / val / test lists."""
    out = []
    for s in range(3):
        order = np.random.default_rng(seed + s).permutation(n)
        test, val, train = order[: n // 5], order[n // 5 : n // 3], order[n // 3 :]
        out.append(Split(f"split{s + 1}", np.sort(train), np.sort(test), np.sort(val)))
    return out


def _assert_same(a, b, tol=1e-6):
    for fa, fb in zip([*a.folds, a.pooled], [*b.folds, b.pooled]):
        assert fa.fold == fb.fold
        assert fa.alpha == fb.alpha
        assert (fa.n_train, fa.n_test) == (fb.n_train, fb.n_test)
        for x, y in ((fa.rho, fb.rho), (fa.ci_low, fb.ci_low), (fa.ci_high, fb.ci_high)):
            assert (np.isnan(x) and np.isnan(y)) or abs(x - y) <= tol
    both = np.isfinite(a.predictions)
    assert np.array_equal(both, np.isfinite(b.predictions))
    np.testing.assert_allclose(a.predictions[both], b.predictions[both], rtol=0, atol=1e-9)


@pytest.mark.parametrize("wide", [False, True], ids=["primal", "gram"])
@pytest.mark.parametrize("kind", ["kfold", "val"])
def test_equals_numpy_reference(lnsim, wide, kind):
    X, y = lnsim
    X = _wide(X) if wide else X
    n = len(y)
    assert (n * 0.8 < X.shape[1]) == wide  # the regime under test
    splits = kfold_splits(n, 5, seed=3) if kind == "kfold" else _val_splits(n)
    config = ReadoutConfig(n_boot=300, seed=7)
    _assert_same(score_features(X, y, splits, config), rt.score_features(X, y, splits, config))


def test_layers_batched_equal_one_by_one(lnsim):
    X, y = lnsim
    layers = [X, _wide(X), X[:, :7], np.zeros((len(y), 5), np.float32)]  # incl. a dead layer
    splits = kfold_splits(len(y), 4, seed=1)
    config = ReadoutConfig(n_boot=200)
    batched = rt.score_layers(layers, y, splits, config)
    for feats, got in zip(layers, batched):
        _assert_same(score_features(feats, y, splits, config), got)
    assert np.isnan(batched[-1].pooled.rho)


def test_alpha_and_predictions_match_sklearn_ridgecv(lnsim):
    """The penalty is RidgeCV's (gcv, intercept) on train-standardised features."""
    X, y = lnsim
    X = X.astype(np.float64)
    splits = kfold_splits(len(y), 5, seed=0)
    got = rt.score_features(X, y, splits, ReadoutConfig(n_boot=10))
    pooled = np.full(len(y), np.nan)
    for sp, fold in zip(splits, got.folds):
        scaler = StandardScaler().fit(X[sp.train])
        model = RidgeCV(alphas=np.asarray(DEFAULT_ALPHAS)).fit(scaler.transform(X[sp.train]), y[sp.train])
        assert fold.alpha == pytest.approx(model.alpha_)
        pred = model.predict(scaler.transform(X[sp.test]))
        np.testing.assert_allclose(got.predictions[sp.test], pred, atol=1e-9)
        assert fold.rho == pytest.approx(spearmanr(pred, y[sp.test])[0], abs=1e-9)
        pooled[sp.test] = pred
    assert got.pooled.rho == pytest.approx(spearmanr(pooled, y)[0], abs=1e-9)


def test_rank_helpers_equal_scipy_and_numpy():
    rng = np.random.default_rng(0)
    v = np.round(rng.normal(size=(6, 50)), 1)  # many ties
    np.testing.assert_array_equal(rt.rank_rows(torch.from_numpy(v)).numpy(), rankdata(v, axis=1))
    idx = rng.integers(0, 50, size=(30, 50))
    got = rt.resample_ranks(rt.dense_codes(torch.from_numpy(v)), torch.from_numpy(idx)).numpy()
    for row in range(v.shape[0]):
        np.testing.assert_array_equal(got[row], resample_ranks(v[row], idx))
    # the same draws as the reference bootstrap, and the same replicates
    draws = rt.boot_indices((0, 1, 2), 50, 30).numpy()
    np.testing.assert_array_equal(draws, np.random.default_rng((0, 1, 2)).integers(0, 50, (30, 50)))
    y = rng.normal(size=50)
    boot = rt._Bootstrap(torch.from_numpy(y), (0, 1, 2), 30)
    np.testing.assert_allclose(
        boot.replicates(torch.from_numpy(v)).numpy()[2],
        bootstrap_spearman_replicates(v[2], y, 30, (0, 1, 2)),
        atol=1e-12,
    )


def test_float32_within_stated_tolerance(lnsim):
    X, y = lnsim
    splits = kfold_splits(len(y), 5, seed=0)
    ref = score_features(X, y, splits, ReadoutConfig(n_boot=50))
    got = rt.score_features(X, y, splits, ReadoutConfig(n_boot=50), dtype=torch.float32)
    assert abs(got.pooled.rho - ref.pooled.rho) < 1e-3


def test_rejects_non_finite(lnsim):
    X, y = lnsim
    bad = X.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        rt.score_layers([X, bad], y, kfold_splits(len(y), 5))


def test_bootstrap_from_counts_equals_reference_on_every_row():
    """Tied, constant and continuous predictions: the count-based replicates are the reference's."""
    rng = np.random.default_rng(1)
    y = np.round(rng.normal(size=60), 1)  # tied human scores too
    rows = np.stack(
        [rng.normal(size=60), np.round(rng.normal(size=60), 1), np.full(60, 0.5), np.r_[np.zeros(59), 1.0]]
    )
    boot = rt._Bootstrap(torch.from_numpy(y), (3, 1, 0), 200)
    got = boot.replicates(torch.from_numpy(rows)).numpy()
    for row, reps in zip(rows, got):
        ref = bootstrap_spearman_replicates(row, y, 200, (3, 1, 0))
        np.testing.assert_array_equal(np.isnan(reps), np.isnan(ref))
        np.testing.assert_allclose(reps[~np.isnan(ref)], ref[~np.isnan(ref)], rtol=0, atol=1e-12)
    assert np.isnan(got[2]).all()  # constant predictions: every replicate undefined


def test_feature_constant_on_one_training_set_only(lnsim):
    """The all-image Gram shared by the splits must still drop a train-constant feature."""
    X, y = lnsim
    X = X[:, :40].astype(np.float64).copy()
    splits = kfold_splits(len(y), 5, seed=2)
    X[:, 0] = 0.25
    X[splits[0].test, 0] = np.linspace(0.0, 1.0, len(splits[0].test))  # varies off train 0
    X[:, 1] = 1e4 + X[:, 1]  # a large mean next to a small spread
    config = ReadoutConfig(n_boot=100)
    _assert_same(score_features(X, y, splits, config), rt.score_features(X, y, splits, config))
