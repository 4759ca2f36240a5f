"""memtool's torch regressions equal brainscore-vision's scikit-learn ones on real V4 data.

X: real image statistics of the Cowley et al. (2023) V4 stimuli (block-mean pixels and
their pairwise products); Y: the recorded V4 responses. The fits are compared with
scikit-learn's PLSRegression / Ridge, and the fast metric with brainscore's own metric
call on the same assemblies and splits.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.cross_decomposition import PLSRegression
from sklearn.cross_decomposition._pls import _get_first_singular_vectors_power_method
from sklearn.linear_model import Ridge

from memtool.errors import UsageError
from memtool.scoring import brain_fast
from memtool.scoring.brain import load_brain_targets, local_target
from tests.brain.test_brain_scoring import _assemblies, bs, pixel_features


@pytest.fixture(scope="module")
def v4(cowley_210325):
    """(features 640 x 108, products 640 x 1,128, responses 640 x 50)."""
    X = pixel_features(cowley_210325.stimuli)
    i, j = np.triu_indices(48)
    return X, X[:, i] * X[:, j], cowley_210325.responses.T.astype(np.float64)


def _splits(n, s=3, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(s):
        order = rng.permutation(n)
        out.append((np.sort(order[: int(0.9 * n)]), np.sort(order[int(0.9 * n) :])))
    return out


def _batched(fit, X, Y, splits, **kw):
    tr = torch.as_tensor(np.stack([a for a, _ in splits]))
    te = torch.as_tensor(np.stack([b for _, b in splits]))
    Xt, Yt = torch.as_tensor(X), torch.as_tensor(Y)
    coef, xm, ym = fit(Xt[tr], Yt[tr], **kw)
    return ((Xt[te] - xm[:, None]) @ coef + ym[:, None]).numpy()


@pytest.mark.parametrize("shape", ["n>d", "n<d", "m>d", "one neuron"])
def test_pls_equals_sklearn(v4, shape):
    X, wide, Y = v4
    # the V4 images are grey: every third pixel feature is a distinct one (36 < 50 neurons)
    X = {"n>d": X, "n<d": wide, "m>d": X[:, ::3], "one neuron": X}[shape]
    Y = Y[:, :1] if shape == "one neuron" else Y
    k = 25
    splits = _splits(len(X))
    got = _batched(brain_fast.pls_fit, X, Y, splits, n_components=k)
    # what the metric runs: the kernel form when there are fewer images than features
    tr = torch.as_tensor(np.stack([a for a, _ in splits]))
    te = torch.as_tensor(np.stack([b for _, b in splits]))
    metric_path = brain_fast.predict_splits(
        "pls",
        {"n_components": k, "max_iter": 500, "tol": 1e-6},
        torch.as_tensor(X),
        tr,
        te,
        torch.as_tensor(Y)[tr],
    ).numpy()
    for s, (tr, te) in enumerate(splits):
        ref = PLSRegression(n_components=k, scale=False).fit(X[tr], Y[tr]).predict(X[te])
        ref = ref.reshape(len(te), -1)
        assert np.max(np.abs(got[s] - ref)) <= 1e-8 * np.max(np.abs(ref))
        assert np.max(np.abs(metric_path[s] - ref)) <= 1e-8 * np.max(np.abs(ref))


@pytest.mark.parametrize("wide", [False, True])
def test_ridge_equals_sklearn(v4, wide):
    X, products, Y = v4
    X = products if wide else X
    splits = _splits(len(X))
    got = _batched(brain_fast.ridge_fit, X, Y, splits, alpha=1.0)
    tr = torch.as_tensor(np.stack([a for a, _ in splits]))
    te = torch.as_tensor(np.stack([b for _, b in splits]))
    metric_path = brain_fast.predict_splits(
        "ridge", {"alpha": 1.0}, torch.as_tensor(X), tr, te, torch.as_tensor(Y)[tr]
    ).numpy()
    for s, (tr, te) in enumerate(splits):
        ref = Ridge(alpha=1.0).fit(X[tr], Y[tr]).predict(X[te])
        np.testing.assert_allclose(got[s], ref, rtol=0, atol=1e-9 * np.max(np.abs(ref)))
        np.testing.assert_allclose(metric_path[s], ref, rtol=0, atol=1e-9 * np.max(np.abs(ref)))


@pytest.mark.parametrize("tol", [1e-6, 1e-14])
def test_nipals_weights_are_sklearns_iterates(v4, tol):
    """Including where scikit-learn stops short of the singular vector (tol = 1e-6)."""
    X, _, Y = v4
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    ref, _, _ = _get_first_singular_vectors_power_method(Xc, Yc.copy(), max_iter=500, tol=tol)
    C = torch.as_tensor(Xc.T @ Yc)[None]
    got = brain_fast.nipals_weights(C, torch.tensor([0]), 500, tol)[0].numpy()
    sign = np.sign(got @ ref)
    np.testing.assert_allclose(sign * got, ref, atol=1e-10)


@pytest.mark.parametrize("wide", [False, True], ids=["primal", "kernel"])
def test_fast_metric_equals_brainscores_metric_ridge(cowley_210325, v4, wide):
    X, products, _ = v4
    X = products if wide else X
    model, neural = _assemblies(cowley_210325, X)
    kwargs = dict(crossvalidation_kwargs=dict(stratification_coord=None, random_state=3))
    exact = bs().load_metric("ridge", **kwargs)
    fast = brain_fast.FastRegressionMetric(bs().load_metric("ridge", **kwargs))
    a, b = exact(model, neural), fast(model, neural)
    assert float(b) == pytest.approx(float(a), abs=1e-9)
    assert float(b.attrs["error"]) == pytest.approx(float(a.attrs["error"]), abs=1e-9)
    raw_a, raw_b = a.attrs["raw"], b.attrs["raw"]
    raw_b = raw_b.sel(neuroid=raw_a["neuroid"]) if "neuroid" in raw_b.dims else raw_b
    np.testing.assert_allclose(raw_b.transpose(*raw_a.dims).values, raw_a.values, atol=1e-9)


@pytest.mark.slow
def test_fast_pls_target_equals_exact_target(cowley_210325, v4):
    """The whole target (brainscore's benchmark, splits, aggregation, ceiling) both ways."""
    _, products, _ = v4
    fast = local_target(cowley_210325, seed=0, impl="fast")
    exact = local_target(cowley_210325, seed=0, impl="exact")
    assert (fast.regression_impl, exact.regression_impl) == ("fast", "exact")
    assert isinstance(fast.benchmark._similarity_metric, brain_fast.FastRegressionMetric)
    assert not isinstance(exact.benchmark._similarity_metric, brain_fast.FastRegressionMetric)
    assert fast.target_id != exact.target_id  # stored apart: --force is not needed to compare
    a = exact.score(products, layer="x")
    b = fast.score(products, layer="x")
    assert b.raw == pytest.approx(a.raw, abs=1e-9)
    assert b.ceiled == pytest.approx(a.ceiled, abs=1e-9)
    assert b.error == pytest.approx(a.error, abs=1e-9)


def test_rdm_targets_have_no_regression(kriegeskorte_dir):
    target = load_brain_targets([f"kriegeskorte92:{kriegeskorte_dir}:monkey"])[0]
    assert target.regression_impl is None


def test_unknown_impl_is_a_usage_error():
    with pytest.raises(UsageError, match="implementation .quick."):
        load_brain_targets(["demo-it"], impl="quick")


def test_unsupported_metric_is_left_alone():
    metric = bs().load_metric("rdm")
    assert not brain_fast.supports(metric)
    assert brain_fast.fast_metric_or_none(metric) is None


def test_store_records_the_implementation(tmp_path, cowley_210325, v4):
    from memtool.scoring.brain import register_target, score_rows
    from memtool.store import Store

    X, _, _ = v4
    target = local_target(cowley_210325, seed=0, regression="ridge", impl="fast")
    store = Store(tmp_path / "s.duckdb")
    store.migrate()
    setup = register_target(store, target, "pool")
    score = target.score(X, layer="x")
    store.insert_brain_scores(
        [
            score_rows(
                run_id="r",
                model_id="m",
                layer="x",
                target=target,
                setup_id=setup,
                reducer_spec="pool",
                n_features=X.shape[1],
                score=score,
                seconds=0.1,
            )
        ]
    )
    _, rows = store.query("SELECT regression_impl, raw FROM brain_scores")
    assert rows == [("fast", pytest.approx(score.raw))]
    _, rows = store.query("SELECT json_extract_string(details, '$.regression_impl') FROM brain_targets")
    assert rows == [("fast",)]
