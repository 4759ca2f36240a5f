"""A brain target (one brainscore-vision benchmark) and the score of one layer against it.

``BrainTarget`` runs its benchmark once against the probe model
(``memtool.scoring.brain.adapters``) to learn which images it shows (``stimuli``, already
placed on screen by brainscore's ``place_on_screen`` at the standard 8 degrees), so the
sweep extracts exactly those images in its own batched forward passes. ``score(features)``
then wraps the features of one layer in a layer model and calls the benchmark, and reads
raw, ceiling, ceiled and error from the ``Score`` it returns (``BrainScore``). The
benchmark's ceiling is computed once, by brainscore-vision.

How targets are built lives in ``registry`` (Brain-Score benchmarks) and ``local``
(response data and RDMs); ``specs`` turns ``--brain`` values into them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from memtool.brainscore_env import brainscore_version
from memtool.errors import DataError
from memtool.runtime import digest
from memtool.scoring.brain.adapters import (
    VISUAL_DEGREES,
    Probed,
    make_layer_model,
    make_probe,
    stimulus_paths,
)
from memtool.scoring.brain.guard import brainscore_call

REGRESSIONS = ("pls", "ridge")  # brainscore's regression metrics (load_metric names)


@dataclass(frozen=True)
class BrainScore:
    """One layer against one target. ``ceiled`` is None where the target has no ceiling."""

    raw: float
    ceiling: float | None
    ceiled: float | None
    error: float | None  # brainscore's error estimate of the returned score, where it gives one
    note: str | None = None  # why the score is missing, when it is

    @property
    def value(self) -> float:
        """What memtool stores as the layer's score: the ceiled score, else the raw one."""
        return self.ceiled if self.ceiled is not None else self.raw


class BrainTarget:
    """A brain data set to score layers against, wrapping one brainscore-vision benchmark.

    ``stimuli`` are the images to show the network, in the order in which ``score``
    expects the rows of its feature matrix. ``features`` says which features the sweep
    scores it on: ``brainscore`` (Brain-Score's PCA-1000, memtool.extract.brainscore_pca)
    or ``reducer`` (the sweep's --reducer); the sweep sets it.
    """

    features: str = "reducer"

    def __init__(
        self,
        *,
        name: str,
        region: str,
        kind: str,
        metric: str,
        spec: str,
        benchmark,
        identity: dict,
        citation: str = "",
        n_neuroids: int | None = None,
        ceiling_method: str | None = None,
        n_splits: int = 0,
    ):
        self.name = name
        self.region = region
        self.kind = kind  # registry | local-responses | local-rdm
        self.metric = metric
        self.spec = spec
        self.citation = citation
        self.n_neuroids = n_neuroids
        self.ceiling_method = ceiling_method
        self.n_splits = n_splits
        self.benchmark = benchmark
        self._identity = identity
        # who fitted the regression: "fast" (memtool's torch), "exact" (brainscore's
        # scikit-learn), None (the metric has no regression: RDM, behaviour)
        self.regression_impl: str | None = None
        self._ceiling: float | None | bool = False  # False: not computed yet
        probe = make_probe()
        with brainscore_call(
            name,
            f"benchmark {name} failed before showing any images",
            hint="check the benchmark id and its data",
        ):
            try:
                benchmark(probe)
            except Probed:
                pass
        if probe.stimuli is None:
            raise DataError(
                f"benchmark {name} never showed the model any images",
                hint="only benchmarks that call look_at can score layers",
            )
        ordered = stimulus_paths(probe.fitting_stimuli) if probe.fitting_stimuli is not None else []
        ordered += stimulus_paths(probe.stimuli)
        self._rows = {p: i for i, p in enumerate(dict.fromkeys(ordered))}
        self.stimuli = [Path(p) for p in self._rows]
        self.task = None if probe.task is None else str(probe.task)
        self.recorded_region = probe.region

    @property
    def target_id(self) -> str:
        """Stable digest of everything that decides the numbers (data, metric, versions)."""
        return digest(self._identity)

    def ceiling(self) -> float | None:
        """The benchmark's ceiling (computed once, by brainscore-vision), None if it has none."""
        if self._ceiling is False:
            with brainscore_call(
                self.name, f"the ceiling of {self.name} cannot be computed", hint="check the data's repeats"
            ):
                self._ceiling = finite(self.benchmark.ceiling)
        return self._ceiling

    def describe(self) -> dict:
        """What the store records about the target."""
        ceiling = self.ceiling()
        return {
            "target_id": self.target_id,
            "name": self.name,
            "region": self.region,
            "kind": self.kind,
            "benchmark": getattr(self.benchmark, "identifier", self.name),
            "benchmark_version": plain(getattr(self.benchmark, "version", None)),
            "metric": self.metric,
            "ceiling": ceiling,
            "ceiling_method": self.ceiling_method,
            "score_kind": "ceiled" if ceiling is not None else "raw",
            "brainscore_vision": brainscore_version(),
            "n_stimuli": len(self.stimuli),
            "n_neuroids": self.n_neuroids,
            "n_splits": self.n_splits,
            "spec": self.spec,
            "citation": self.citation,
            "task": self.task,
            "visual_degrees": VISUAL_DEGREES,
            "regression_impl": self.regression_impl,
        }

    def score(self, features: np.ndarray, *, layer: str = "layer") -> BrainScore:
        """Score one layer: ``features`` is (n_stimuli, k), rows in ``stimuli`` order."""
        features = np.asarray(features)
        if features.ndim != 2 or features.shape[0] != len(self.stimuli):
            raise DataError(
                f"features for {self.name} have shape {features.shape}; expected "
                f"({len(self.stimuli)}, k), one row per stimulus",
                hint="extract the target's stimuli in the order of target.stimuli",
            )
        if not np.all(np.isfinite(features)):
            raise DataError(
                f"layer {layer} has NaN or inf features on the stimuli of {self.name}",
                hint="check the weights, or exclude the layer with --layers REGEX",
            )
        k = features.shape[1]
        unscorable = None
        if self.metric == "pls" and k < 25:
            unscorable = f"{k} features < the 25 components of brainscore's PLS"
        elif np.all(features.std(axis=0) == 0):
            unscorable = "the layer's features are constant over the stimuli"
        if unscorable is not None:
            return BrainScore(math.nan, self.ceiling(), None, None, note=unscorable)
        model = make_layer_model(self.name, layer, features.astype(np.float64, copy=False), self._rows)
        with brainscore_call(
            self.name,
            f"brainscore-vision failed to score layer {layer} on {self.name}",
            hint="exclude the layer with --layers REGEX or report the problem",
        ):
            result = self.benchmark(model)
        return _brain_score(result)

    def __repr__(self) -> str:
        return f"BrainTarget({self.name!r}, region={self.region!r}, n_stimuli={len(self.stimuli)})"


def _brain_score(result) -> BrainScore:
    """Read raw, ceiling, ceiled and error from a brainscore benchmark's Score."""
    value = finite(result)
    attrs = getattr(result, "attrs", {})
    ceiling = finite(attrs.get("ceiling"))
    raw = finite(attrs.get("raw")) if "raw" in attrs else None
    error = finite(attrs.get("error"))
    if error is None and raw is not None:
        error = finite(getattr(attrs.get("raw"), "attrs", {}).get("error"))
    if ceiling is None:
        return BrainScore(raw if raw is not None else _nan(value), None, None, error)
    return BrainScore(raw if raw is not None else _nan(value), ceiling, value, error)


def finite(x) -> float | None:
    """A scalar Score / array / number as float, None when missing, not scalar or not finite."""
    if x is None:
        return None
    try:
        arr = np.asarray(getattr(x, "values", x), dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if arr.size != 1:
        return None
    v = float(arr.reshape(-1)[0])
    return v if math.isfinite(v) else None


def _nan(x):
    return math.nan if x is None else x


def plain(x):
    return x if isinstance(x, (str, int, float, type(None))) else str(x)


def fast_regression(metric, impl: str, device):
    """The metric to use and the implementation recorded with its scores.

    ``fast``: brainscore's PLS/ridge metric with memtool's torch regression
    (``brain_fast.FastRegressionMetric``); ``exact``: the metric unchanged. A metric
    without such a regression (RDM, behaviour) is left alone and records None.
    """
    from memtool.scoring.brain_fast import FastRegressionMetric, supports

    if metric is None or not supports(metric):
        return metric, None
    if impl == "fast":
        return FastRegressionMetric(metric, device=device), "fast"
    return metric, "exact"
