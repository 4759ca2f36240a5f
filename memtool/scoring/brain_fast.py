"""brainscore's regressions in torch, batched over the cross-validation splits.

brainscore-vision's neural metric ``CrossRegressedCorrelation`` is a composition:
its ``CrossValidation`` makes the splits (10 shuffles, 90/10, seeded), and per split
``apply`` fits the ``regression`` (an ``XarrayRegression`` around scikit-learn's
``PLSRegression(n_components=25, scale=False)`` or ``Ridge(alpha=1)``) on the train
images, predicts the test images and correlates them per neuroid (Pearson); the
per-neuroid scores are aggregated (median over neuroids, mean and SEM over splits),
and the benchmark ceils the result. Of all that, only the regression is slow (NIPALS
PLS costs seconds per layer). :class:`FastRegressionMetric` replaces exactly that
part: before brainscore's own cross-validation runs, it reproduces the splits with
brainscore's own splitter, fits all of them at once in torch, and then lets
brainscore's ``CrossValidation``, ``apply``, ``XarrayRegression`` (alignment and
packaging), correlation and aggregation run unchanged with a regression that hands
back the precomputed predictions of each split.

The torch fits themselves live in :mod:`memtool.scoring.regression_torch`.
"""

from __future__ import annotations

import numpy as np
import torch

from memtool.scoring.regression_torch import (  # noqa: F401  (re-exported names)
    _nipals_coefficients,
    _SplitGram,
    centred_kernels,
    gram,
    nipals_weights,
    pls_fit,
    pls_predict_kernel,
    ridge_fit,
)

IMPLS = ("fast", "exact")


# -- brainscore's metric with the regression replaced -----------------------------------------


def _regression_kind(metric):
    """('pls', kwargs) or ('ridge', kwargs) when ``metric`` is a brainscore
    CrossRegressedCorrelation over scikit-learn PLS / Ridge that the fast path reproduces;
    None otherwise."""
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.linear_model import Ridge

    try:
        from brainscore_vision.metric_helpers.xarray_utils import XarrayRegression
        from brainscore_vision.metrics.regression_correlation.metric import (
            CrossRegressedCorrelation,
        )
    except ImportError:
        return None
    if type(metric) is not CrossRegressedCorrelation:
        return None
    cv = getattr(metric, "cross_validation", None)
    if getattr(cv, "_preprocess_indices", None) is not None:
        return None
    regression = getattr(metric, "regression", None)
    if not isinstance(regression, XarrayRegression):
        return None
    est = regression._regression
    params = est.get_params() if hasattr(est, "get_params") else {}
    if (
        type(est) is PLSRegression
        and not params.get("scale", True)
        and params.get("algorithm", "nipals") == "nipals"
    ):
        return "pls", {
            "n_components": int(params["n_components"]),
            "max_iter": int(params["max_iter"]),
            "tol": float(params["tol"]),
        }
    if type(est) is Ridge and params.get("fit_intercept", True) and params.get("positive", False) is False:
        return "ridge", {"alpha": float(params["alpha"])}
    return None


def supports(metric) -> bool:
    """Whether :class:`FastRegressionMetric` can stand in for ``metric``."""
    return _regression_kind(metric) is not None


def predict_splits(
    kind: str, params: dict, X: torch.Tensor, train: torch.Tensor, test: torch.Tensor, Y: torch.Tensor
) -> torch.Tensor:
    """Test predictions (S, n_te, m) of every split: ``X`` (N, d) all images' features,
    ``train``/``test`` (S, n)/(S, n_te) row indices, ``Y`` (S, n, m) the train targets.

    With fewer train images than features the fits run in kernel form from one Gram
    matrix of all images (cheaper, and small enough to stay in cache); otherwise on
    the features.
    """
    n, d = train.shape[1], X.shape[1]
    if n < d:
        G = gram(X - X.mean(dim=0), rows=True)
        if kind == "pls":
            return pls_predict_kernel(_SplitGram(G, train, test), Y, **params)
        K0, K_te = centred_kernels(G, train, test)
        y_mean = Y.mean(dim=1)
        eye = torch.eye(n, dtype=X.dtype, device=X.device)
        # K0 + alpha I is symmetric positive definite: Cholesky (half an LU's work)
        chol = torch.linalg.cholesky(K0 + params["alpha"] * eye)
        dual = torch.cholesky_solve(Y - y_mean[:, None, :], chol)
        return K_te @ dual + y_mean[:, None, :]
    fit = pls_fit if kind == "pls" else ridge_fit
    coef, x_mean, y_mean = fit(X[train], Y, **params)
    return (X[test] - x_mean[:, None, :]) @ coef + y_mean[:, None, :]


class FastRegressionMetric:
    """brainscore's ``CrossRegressedCorrelation`` with its regression fitted in torch.

    brainscore's own splitter makes the splits, brainscore's own ``aggregate`` functions
    (median over neuroids, then mean and SEM over splits) turn the per-split, per-neuroid
    correlations into the score, and the benchmark ceils it as usual. The regression of
    all splits is one batched torch fit. The per-neuroid Pearson r of the predictions
    (brainscore calls ``scipy.stats.pearsonr`` once per neuroid and split, through
    xarray, which alone costs more than the fast fit) is computed for all neuroids and
    splits at once, with the same formula. The tests hold the result to brainscore's
    metric call on real data.
    """

    def __init__(self, metric, device=None):
        kind = _regression_kind(metric)
        if kind is None:
            raise ValueError(f"no fast regression for {type(metric).__name__}")
        self.kind, self.params = kind
        self._metric = metric
        self.device = torch.device(device) if device is not None else torch.device("cpu")

    def __getattr__(self, name):  # everything else is the wrapped metric's
        if name.startswith("__") or name == "_metric":  # copies/pickles before __init__
            raise AttributeError(name)
        return getattr(self._metric, name)

    def __call__(self, source, target):
        scores = self._split_scores(source, target)
        if scores is None:  # a layout the fast path does not handle: brainscore's own call
            return self._metric(source, target)
        from brainscore_vision.metric_helpers.transformations import apply_aggregate

        cv = self._metric.cross_validation
        score = apply_aggregate(self._metric.aggregate, scores)
        return apply_aggregate(cv.aggregate, score)

    def _split_scores(self, source, target):
        """Per-split, per-neuroid correlations as the Score brainscore's CV would merge."""
        from brainscore_core.supported_data_standards.brainio.assemblies import (
            walk_coords,
        )
        from brainscore_vision.metrics import Score

        metric = self._metric
        cv = metric.cross_validation
        regression = metric.regression
        split_coord = cv._split_coord
        coord = regression._stimulus_coord
        neuroid_dim = regression._neuroid_dim
        if split_coord != coord:
            return None
        dims = list(regression._expected_dims)
        if set(source.dims) != set(dims) or set(target.dims) != set(dims):
            return None
        src = source.transpose(*dims)
        tgt = target.transpose(*dims)
        src_ids = np.asarray(src[coord].values).tolist()
        tgt_ids = np.asarray(tgt[coord].values).tolist()
        if (
            len(set(src_ids)) != len(src_ids)
            or len(set(tgt_ids)) != len(tgt_ids)
            or sorted(src_ids) != sorted(tgt_ids)
        ):
            return None  # repeated or unmatched stimuli: brainscore's subset semantics
        src_row = {sid: i for i, sid in enumerate(src_ids)}
        tgt_row = {sid: i for i, sid in enumerate(tgt_ids)}
        values, splits = cv._split.build_splits(tgt)
        values = np.asarray(getattr(values, "values", values)).tolist()
        trains = [[values[i] for i in tr] for tr, _ in splits]
        tests = [[values[i] for i in te] for _, te in splits]
        if len({len(t) for t in trains}) != 1 or len({len(t) for t in tests}) != 1:
            return None
        dev = self.device
        Xs = torch.as_tensor(np.asarray(src.values, dtype=np.float64), device=dev)
        Yt = torch.as_tensor(np.asarray(tgt.values, dtype=np.float64), device=dev)

        def rows(groups, lookup):
            return torch.as_tensor([[lookup[sid] for sid in g] for g in groups], device=dev)

        train, test = rows(trains, src_row), rows(tests, src_row)
        Y = Yt[rows(trains, tgt_row)]
        pred = predict_splits(self.kind, self.params, Xs, train, test, Y)
        actual = Yt[rows(tests, tgt_row)]
        r = _pearson_columns(pred, actual).cpu().numpy()  # (splits, neuroids)
        neuroid_coords = {name: (d_, v) for name, d_, v in walk_coords(tgt) if d_ == (neuroid_dim,)}
        return Score(
            r, coords={"split": np.arange(len(splits)), **neuroid_coords}, dims=["split", neuroid_dim]
        )


def _pearson_columns(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson r of matching columns over the rows (axis -2), as ``scipy.stats.pearsonr``:
    NaN where either side is constant, clipped to [-1, 1]."""
    a = a - a.mean(dim=-2, keepdim=True)
    b = b - b.mean(dim=-2, keepdim=True)
    na = torch.linalg.vector_norm(a, dim=-2)
    nb = torch.linalg.vector_norm(b, dim=-2)
    ok = (na > 0) & (nb > 0)
    r = (
        (a / torch.where(ok, na, torch.ones_like(na))[..., None, :])
        * (b / torch.where(ok, nb, torch.ones_like(nb))[..., None, :])
    ).sum(dim=-2)
    return torch.where(ok, r.clamp(-1.0, 1.0), torch.full_like(r, float("nan")))


def fast_metric_or_none(metric, device=None):
    """``FastRegressionMetric(metric)`` where the fast path applies, else None."""
    return FastRegressionMetric(metric, device) if supports(metric) else None
