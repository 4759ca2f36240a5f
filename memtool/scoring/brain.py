"""Brain similarity of a layer: brainscore-vision benchmarks run on precomputed features.

Every brain target is a brainscore-vision ``Benchmark``, and every score is what that
benchmark returns for a ``BrainModel`` whose recordings are one layer's features:

* registry targets (``IT``, ``V4``, ``V1``, ``V2``, ``behavior`` or any identifier in
  ``brainscore_vision.benchmark_registry``) are built by brainscore-vision itself, with
  its data (Brain-Score storage, then the local cache in ``BRAINIO_HOME``), metric,
  cross-validation and ceiling;
* local response data (``memtool.data.neural``) become a brainscore-vision
  ``NeuralBenchmark`` built the way its own plugins build theirs: the regression
  metric ``pls`` (default) or ``ridge`` with its cross-validation (10 random 90/10
  splits, no stratification; ``seed`` sets the split seed), and, where single-trial
  repeats exist, its ``internal_consistency`` ceiling (split-half over even vs odd
  repeats, Spearman-Brown corrected, median over neuroids); the ceiled score is then
  brainscore's explained variance ``r**2 / ceiling``;
* local RDMs are compared with brainscore-vision's ``RDM`` (1 - Pearson r between
  images over the layer's features) and ``RDMSimilarity`` (Spearman rho between upper
  triangles), as its ``RSABenchmark`` does; a single RDM carries no ceiling.

Which images a target needs is learnt by running its benchmark once against a probe
model that records what it is shown and stops the benchmark there (``stimuli``), so
the sweep extracts exactly those images (already placed on screen by brainscore's
``place_on_screen`` at the standard 8 degrees) in its own batched forward passes. Then
``score(features)`` wraps the features of one layer in ``_LayerModel`` and calls the
benchmark. Behavioural benchmarks (``start_task(probabilities, fitting_stimuli)``) get
brainscore's own ``ProbabilitiesMapping`` readout fitted on that layer.

brainscore-vision is imported on first use only: it takes seconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from memtool.brainscore_env import brainscore_version  # noqa: F401 (part of this module's API)
from memtool.brainscore_env import import_brainscore as _bs
from memtool.brainscore_env import quiet as _quiet
from memtool.errors import DataError, MemtoolError, UsageError

# Short names for the standard public Brain-Score benchmarks.
ALIASES = {
    "V1": "FreemanZiemba2013public.V1-pls",
    "V2": "FreemanZiemba2013public.V2-pls",
    "V4": "MajajHong2015public.V4-pls",
    "IT": "MajajHong2015public.IT-pls",
    "behavior": "Rajalingham2018public-i2n",
    "behaviour": "Rajalingham2018public-i2n",
}
VISUAL_DEGREES = 8  # the field of view Brain-Score's model commitments assume
LOCAL_VERSION = 1  # bump when the way local benchmarks are built changes their scores
STORAGE_HOST = "brainscore-storage.s3.amazonaws.com"
REGRESSIONS = ("pls", "ridge")
SPEC_HELP = (
    "IT, V4, V1, V2, behavior, a Brain-Score benchmark id (e.g. MajajHong2015public.IT-pls), "
    "a folder in memtool's neural format, cowley2023:DIR[:SESSION], "
    "kriegeskorte92:FILE[:monkey|human], demo-it or demo-hit"
)


@dataclass(frozen=True)
class BrainScore:
    """One layer against one target. ``ceiled`` is None where the target has no ceiling."""

    raw: float
    ceiling: float | None
    ceiled: float | None
    error: (
        float | None
    )  # brainscore's error estimate of the returned score, where it gives one
    note: str | None = None  # why the score is missing, when it is

    @property
    def value(self) -> float:
        """What memtool stores as the layer's score: the ceiled score, else the raw one."""
        return self.ceiled if self.ceiled is not None else self.raw


# -- brainscore-vision, imported lazily (memtool.brainscore_env) -----------------------------


def brainio_cache() -> Path:
    """Where brainscore-vision keeps downloaded data (``BRAINIO_HOME``, default ~/.brainio)."""
    return Path(os.path.expanduser(os.environ.get("BRAINIO_HOME", "~/.brainio")))


@contextlib.contextmanager
def _downloads_fail_fast(benchmark: str):
    """Turn a download that cannot happen into one clear error instead of minutes of retries.

    brainscore reads data from its cache and downloads what is missing from S3. Before
    a download starts we check that the storage host answers; if it does not, the
    user gets the benchmark, the cache folder that was checked and how to fill it.
    """
    from brainscore_core.supported_data_standards.brainio import fetch

    original = fetch.BotoFetcher.download_boto

    def guarded(self):
        try:
            socket.create_connection((STORAGE_HOST, 443), timeout=5).close()
        except OSError as exc:
            raise DataError(
                f"benchmark {benchmark} needs {os.path.basename(self.output_filename)}, which is not "
                f"in the Brain-Score cache {brainio_cache()} and Brain-Score's storage cannot be "
                f"reached ({type(exc).__name__}: {exc})",
                hint="run once with internet access to fill it, copy a filled cache there, "
                "or point BRAINIO_HOME at one",
            ) from None
        return original(self)

    fetch.BotoFetcher.download_boto = guarded
    try:
        yield
    finally:
        fetch.BotoFetcher.download_boto = original


# -- the model side ---------------------------------------------------------------------------


class _Probed(Exception):
    """Raised by the probe model to stop a benchmark once it has shown its stimuli."""


def _stimulus_paths(stimuli) -> list[str]:
    if hasattr(stimuli, "get_stimulus"):
        return [str(stimuli.get_stimulus(sid)) for sid in stimuli["stimulus_id"].values]
    return [str(p) for p in stimuli]


def _brain_model_base():
    _bs()
    from brainscore_vision.model_interface import BrainModel

    return BrainModel


def _make_probe():
    BrainModel = _brain_model_base()

    class Probe(BrainModel):
        """Records the region, task and stimuli a benchmark asks for; stops at look_at."""

        identifier = "memtool-probe"

        def __init__(self):
            self.region = None
            self.task = None
            self.fitting_stimuli = None
            self.stimuli = None

        def visual_degrees(self):
            return VISUAL_DEGREES

        def start_recording(self, recording_target, time_bins=None, **kwargs):
            self.region = str(recording_target)

        def start_task(self, task, fitting_stimuli=None, *args, **kwargs):
            self.task = task
            self.fitting_stimuli = fitting_stimuli

        def look_at(self, stimuli, number_of_trials=1, **kwargs):
            self.stimuli = stimuli
            raise _Probed()

    return Probe()


def _make_layer_model(
    name: str, layer: str, features: np.ndarray, rows: dict[str, int]
):
    """A BrainModel whose recordings (any region) are the given features of one layer."""
    BrainModel = _brain_model_base()
    from brainscore_core.supported_data_standards.brainio.assemblies import (
        NeuroidAssembly,
    )

    class LayerModel(BrainModel):
        def __init__(self):
            self._mapping = None

        @property
        def identifier(self):
            return f"{name}:{layer}"

        def visual_degrees(self):
            return VISUAL_DEGREES

        def start_recording(self, recording_target, time_bins=None, **kwargs):
            self._mapping = None

        def start_task(self, task, fitting_stimuli=None, *args, **kwargs):
            if task == BrainModel.Task.passive:
                self._mapping = None
                return
            if task != BrainModel.Task.probabilities:
                raise UsageError(
                    f"benchmark asks for task '{task}', which a layer readout cannot do",
                    hint="use neural benchmarks or Rajalingham2018public-i2n",
                )
            from brainscore_vision.model_helpers.brain_transformation.behavior import (
                ProbabilitiesMapping,
            )

            self._mapping = ProbabilitiesMapping(
                self.identifier, activations_model=self.activations, layer=layer
            )
            self._mapping.start_task(task, fitting_stimuli)

        def look_at(
            self, stimuli, number_of_trials=1, require_variance=False, **kwargs
        ):
            if self._mapping is not None:
                return self._mapping.look_at(stimuli, number_of_trials=number_of_trials)
            return self.activations(stimuli)

        def activations(
            self, stimuli, layers=None, number_of_trials=1, require_variance=False
        ):
            """The layer's features for ``stimuli`` as brainscore's model helpers package them."""
            paths = _stimulus_paths(stimuli)
            missing = [p for p in paths if p not in rows]
            if missing:
                raise DataError(
                    f"the benchmark showed {len(missing)} images that memtool did not "
                    f"extract (first: {missing[0]})",
                    hint="benchmarks that present several stimulus sets are not supported",
                )
            values = features[[rows[p] for p in paths]]
            k = values.shape[1]
            coords: dict[str, Any] = {}
            if hasattr(stimuli, "columns"):
                for column in stimuli.columns:
                    coords[column] = ("presentation", stimuli[column].values)
            else:
                coords["stimulus_id"] = ("presentation", paths)
            coords["stimulus_path"] = ("presentation", paths)
            coords.update(
                {
                    "neuroid_id": ("neuroid", [f"{layer}.{j}" for j in range(k)]),
                    "neuroid_num": ("neuroid", np.arange(k)),
                    "layer": ("neuroid", [layer] * k),
                    "model": ("neuroid", [name] * k),
                }
            )
            return NeuroidAssembly(
                values, coords=coords, dims=["presentation", "neuroid"]
            )

    return LayerModel()


# -- targets ----------------------------------------------------------------------------------


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
        probe = _make_probe()
        try:
            with _quiet(), _downloads_fail_fast(name):
                benchmark(probe)
        except _Probed:
            pass
        except MemtoolError:
            raise
        except Exception as exc:
            raise DataError(
                f"benchmark {name} failed before showing any images: "
                f"{type(exc).__name__}: {_first_line(exc)}",
                hint="check the benchmark id and its data",
            ) from None
        if probe.stimuli is None:
            raise DataError(
                f"benchmark {name} never showed the model any images",
                hint="only benchmarks that call look_at can score layers",
            )
        ordered = (
            _stimulus_paths(probe.fitting_stimuli)
            if probe.fitting_stimuli is not None
            else []
        )
        ordered += _stimulus_paths(probe.stimuli)
        self._rows = {p: i for i, p in enumerate(dict.fromkeys(ordered))}
        self.stimuli = [Path(p) for p in self._rows]
        self.task = None if probe.task is None else str(probe.task)
        self.recorded_region = probe.region

    @property
    def target_id(self) -> str:
        """Stable digest of everything that decides the numbers (data, metric, versions)."""
        return _digest(self._identity)

    def ceiling(self) -> float | None:
        """The benchmark's ceiling (computed once, by brainscore-vision), None if it has none."""
        if self._ceiling is False:
            try:
                with _quiet(), _downloads_fail_fast(self.name):
                    self._ceiling = _finite(self.benchmark.ceiling)
            except MemtoolError:
                raise
            except Exception as exc:
                raise DataError(
                    f"the ceiling of {self.name} cannot be computed: "
                    f"{type(exc).__name__}: {_first_line(exc)}",
                    hint="check the data's repeats",
                ) from None
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
            "benchmark_version": _plain(getattr(self.benchmark, "version", None)),
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
        if self.metric == "pls" and k < 25:
            return BrainScore(
                math.nan,
                self.ceiling(),
                None,
                None,
                note=f"{k} features < the 25 components of brainscore's PLS",
            )
        if np.all(features.std(axis=0) == 0):
            return BrainScore(
                math.nan,
                self.ceiling(),
                None,
                None,
                note="the layer's features are constant over the stimuli",
            )
        model = _make_layer_model(
            self.name, layer, features.astype(np.float64, copy=False), self._rows
        )
        try:
            with _quiet(), _downloads_fail_fast(self.name):
                result = self.benchmark(model)
        except MemtoolError:
            raise
        except Exception as exc:
            raise DataError(
                f"brainscore-vision failed to score layer {layer} on {self.name}: "
                f"{type(exc).__name__}: {_first_line(exc)}",
                hint="exclude the layer with --layers REGEX or report the problem",
            ) from None
        return _brain_score(result)

    def __repr__(self) -> str:
        return f"BrainTarget({self.name!r}, region={self.region!r}, n_stimuli={len(self.stimuli)})"


def _brain_score(result) -> BrainScore:
    """Read raw, ceiling, ceiled and error from a brainscore benchmark's Score."""
    value = _finite(result)
    attrs = getattr(result, "attrs", {})
    ceiling = _finite(attrs.get("ceiling"))
    raw = _finite(attrs.get("raw")) if "raw" in attrs else None
    error = _finite(attrs.get("error"))
    if error is None and raw is not None:
        error = _finite(getattr(attrs.get("raw"), "attrs", {}).get("error"))
    if ceiling is None:
        return BrainScore(raw if raw is not None else _nan(value), None, None, error)
    return BrainScore(raw if raw is not None else _nan(value), ceiling, value, error)


def _finite(x) -> float | None:
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


def _plain(x):
    return x if isinstance(x, (str, int, float, type(None))) else str(x)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _digest(obj) -> str:
    return hashlib.sha1(
        json.dumps(obj, sort_keys=True, default=str).encode()
    ).hexdigest()[:16]


# -- building targets -------------------------------------------------------------------------


def load_brain_targets(
    specs: list[str], *, seed: int = 0, regression: str = "pls", impl: str = "fast",
    device=None,
) -> list[BrainTarget]:
    """Turn ``--brain`` specs into targets (see SPEC_HELP); local data may give several.

    ``regression`` (pls | ridge) is the metric for local response data; registry
    benchmarks keep their own metric. ``seed`` sets the cross-validation splits of
    local response data. ``impl`` says who fits the regressions of PLS/ridge metrics:
    ``fast`` (memtool's torch reproduction, batched over the splits, on ``device``;
    ``memtool.scoring.brain_fast``) or ``exact`` (brainscore's scikit-learn metric,
    unchanged).
    """
    if regression not in REGRESSIONS:
        raise UsageError(
            f"unknown brain regression '{regression}'", hint="use pls or ridge"
        )
    from memtool.scoring.brain_fast import IMPLS

    if impl not in IMPLS:
        raise UsageError(
            f"unknown brain regression implementation '{impl}'", hint="use fast or exact"
        )
    targets: list[BrainTarget] = []
    for spec in specs:
        spec = spec.strip()
        if not spec:
            raise UsageError("empty --brain value", hint=SPEC_HELP)
        if _is_local(spec):
            from memtool.data.neural import load_neural

            for data in load_neural(spec):
                targets.append(local_target(data, seed=seed, regression=regression,
                                            impl=impl, device=device))
        else:
            targets.append(registry_target(ALIASES.get(spec, spec), impl=impl, device=device))
    names = [t.target_id for t in targets]
    if len(set(names)) != len(names):
        dup = next(t.name for t in targets if names.count(t.target_id) > 1)
        raise UsageError(
            f"brain target {dup} was given twice", hint="pass each --brain once"
        )
    return targets


def is_local_spec(spec: str) -> bool:
    """Whether a --brain value names local data (a folder, cowley2023:, kriegeskorte92:,
    demo-it/demo-hit) rather than a Brain-Score registry benchmark."""
    return _is_local(spec.strip())


def _is_local(spec: str) -> bool:
    head = spec.partition(":")[0].lower()
    if spec in ("demo-it", "demo-hit") or head in (
        "cowley2023",
        "kriegeskorte92",
        "local",
    ):
        return True
    if spec in ALIASES:
        return False
    from memtool.data.neural import _split_select

    path, _ = _split_select(spec)
    return path.exists() or "/" in spec or os.sep in spec or spec.startswith(".")


def _fast_regression(metric, impl: str, device):
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


def check_registry_specs(specs: list[str]) -> None:
    """Refuse unknown Brain-Score benchmark ids among ``--brain`` specs without building any
    benchmark (no data loaded), so the check can come before slower preparations."""
    for spec in specs:
        spec = spec.strip()
        if spec and not _is_local(spec):
            _registry_factory(ALIASES.get(spec, spec))


def registry_target(identifier: str, *, impl: str = "fast", device=None) -> BrainTarget:
    """A benchmark from ``brainscore_vision.benchmark_registry``, built by brainscore-vision."""
    factory = _registry_factory(identifier)
    try:
        with _quiet(), _downloads_fail_fast(identifier):
            benchmark = factory()
    except MemtoolError:
        raise
    except Exception as exc:
        raise DataError(
            f"benchmark {identifier} cannot be loaded: {type(exc).__name__}: "
            f"{_first_line(exc)}",
            hint=f"check the Brain-Score cache {brainio_cache()} (BRAINIO_HOME)",
        ) from None
    regression_impl = None
    if hasattr(benchmark, "_similarity_metric"):
        benchmark._similarity_metric, regression_impl = _fast_regression(
            benchmark._similarity_metric, impl, device)
    metric = identifier.rsplit("-", 1)[-1] if "-" in identifier else "brainscore"
    region = str(
        getattr(benchmark, "region", None) or getattr(benchmark, "parent", None) or ""
    )
    target = BrainTarget(
        name=identifier,
        region=region,
        kind="registry",
        metric=metric,
        spec=identifier,
        benchmark=benchmark,
        citation=_bibtex_title(getattr(benchmark, "bibtex", None)),
        identity={
            "benchmark": identifier,
            "version": _plain(getattr(benchmark, "version", None)),
            "brainscore_vision": brainscore_version(),
            # scores made before the fast path existed were brainscore's own (exact)
            **({"regression_impl": "fast"} if regression_impl == "fast" else {}),
        },
        ceiling_method="brainscore-vision benchmark ceiling",
        n_splits=10 if metric in REGRESSIONS else 0,
    )
    target.regression_impl = regression_impl
    if target.task is not None:
        target.region = "behavior"
    elif target.recorded_region:
        target.region = target.recorded_region
    if not target.region:
        target.region = identifier
    return target


def _registry_factory(identifier: str):
    """The registry's factory for a benchmark id (importing its plugin when needed)."""
    bv = _bs()
    factory = bv.benchmark_registry.get(identifier)
    if factory is None:
        from brainscore_core.plugin_management.import_plugin import import_plugin

        try:
            with _quiet():
                import_plugin("brainscore_vision", "benchmarks", identifier)
        except AssertionError:
            raise UsageError(
                f"unknown brain target '{identifier}': no such Brain-Score benchmark",
                hint=f"use {SPEC_HELP}",
            ) from None
        factory = bv.benchmark_registry.get(identifier)
        if factory is None:
            raise UsageError(
                f"Brain-Score benchmark '{identifier}' did not register itself",
                hint="check the brainscore-vision installation",
            )
    return factory

def _bibtex_title(bibtex) -> str:
    if not isinstance(bibtex, str):
        return ""
    for key in ("title", "doi", "url"):
        for line in bibtex.splitlines():
            stripped = line.strip()
            if stripped.lower().startswith(key):
                return stripped.split("=", 1)[-1].strip(' ,{}"')
    return ""


def local_target(data, *, seed: int = 0, regression: str = "pls", impl: str = "fast",
                 device=None) -> BrainTarget:
    """A target from ``memtool.data.neural.NeuralData``, scored by brainscore-vision code."""
    bv = _bs()
    from brainscore_core.metrics import Score
    from brainscore_vision.benchmark_helpers.neural_common import NeuralBenchmark

    if data.kind == "responses" and regression == "pls" and int(0.9 * data.n_stimuli) < 25:
        raise UsageError(
            f"{data.name} has {data.n_stimuli} images, too few for brainscore's 25-component "
            "PLS on 90% training splits (28 needed)",
            hint="use --brain-metric ridge, or add images",
        )
    fingerprint = data.fingerprint()
    metric = "rdm" if data.kind == "rdm" else regression
    identity = {
        "data": fingerprint,
        "kind": data.kind,
        "region": data.region,
        "metric": metric,
        "seed": seed if data.kind == "responses" else None,
        "local_version": LOCAL_VERSION,
        "brainscore_vision": brainscore_version(),
    }
    if data.kind != "rdm" and impl == "fast":
        identity["regression_impl"] = "fast"  # exact scores keep the identity they always had
    identifier = f"memtool.{data.name}.{data.region}-{metric}.{_digest(identity)[:10]}"
    stimulus_set = _stimulus_set(data, identifier)
    prefix = "demo" if data.spec in ("demo-it", "demo-hit") else "local"
    common = dict(
        name=f"{prefix}:{data.name}",
        region=data.region,
        spec=data.spec,
        identity=identity,
        citation=data.citation,
    )
    if data.kind == "rdm":
        benchmark = _rdm_benchmark(identifier, data, stimulus_set)
        return BrainTarget(
            kind="local-rdm",
            metric="rdm",
            benchmark=benchmark,
            ceiling_method=None,
            n_splits=1,
            **common,
        )
    assembly = _neuroid_assembly(data.responses.T, data, stimulus_set)
    with _quiet():
        similarity = bv.load_metric(
            regression,
            crossvalidation_kwargs=dict(stratification_coord=None, random_state=seed),
        )
    similarity, regression_impl = _fast_regression(similarity, impl, device)
    if data.repeats is not None:
        repetitions = _repetition_assembly(data, stimulus_set)
        ceiling_func = lambda: bv.load_ceiling("internal_consistency")(repetitions)  # noqa: E731
        method = "brainscore internal_consistency: split-half (even/odd repeats), Spearman-Brown"
    else:
        ceiling_func = lambda: Score(np.nan)  # noqa: E731  no repeats, no ceiling
        method = None
    benchmark = NeuralBenchmark(
        identifier=identifier,
        version=LOCAL_VERSION,
        assembly=assembly,
        similarity_metric=similarity,
        visual_degrees=VISUAL_DEGREES,
        number_of_trials=1,
        ceiling_func=ceiling_func,
        parent=data.region,
    )
    target = BrainTarget(
        kind="local-responses",
        metric=regression,
        benchmark=benchmark,
        n_neuroids=data.n_neuroids,
        ceiling_method=method,
        n_splits=10,
        **common,
    )
    target.regression_impl = regression_impl
    return target


def _stimulus_set(data, identifier: str):
    import pandas as pd
    from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet

    columns = {"stimulus_id": list(data.stimulus_ids)}
    for key, values in data.stimulus_meta.items():
        if key not in columns:
            columns[key] = list(values)
    columns.setdefault("filename", [p.name for p in data.stimuli])
    stimulus_set = StimulusSet(pd.DataFrame(columns))
    stimulus_set.stimulus_paths = {
        sid: str(p) for sid, p in zip(data.stimulus_ids, data.stimuli)
    }
    stimulus_set.identifier = identifier
    return stimulus_set


def _presentation_coords(stimulus_set, index: np.ndarray) -> dict:
    return {
        c: ("presentation", stimulus_set[c].values[index]) for c in stimulus_set.columns
    }


def _neuroid_assembly(values: np.ndarray, data, stimulus_set):
    """(images, neuroids) responses as a NeuroidAssembly like brainscore's data plugins give."""
    from brainscore_core.supported_data_standards.brainio.assemblies import (
        NeuroidAssembly,
    )

    n_images, n_neuroids = values.shape
    coords = _presentation_coords(stimulus_set, np.arange(n_images))
    coords.update(_neuroid_coords(data, n_neuroids))
    assembly = NeuroidAssembly(
        values[:, :, None], coords=coords, dims=["presentation", "neuroid", "time_bin"]
    ).squeeze("time_bin")
    assembly.attrs["stimulus_set"] = stimulus_set
    assembly.attrs["stimulus_set_identifier"] = stimulus_set.identifier
    return assembly


def _neuroid_coords(data, n: int) -> dict:
    ids = data.neuroid_ids or [f"{data.region}-{i}" for i in range(n)]
    return {
        "neuroid_id": ("neuroid", list(ids)),
        "region": ("neuroid", [data.region] * n),
        "time_bin_start": ("time_bin", [70]),
        "time_bin_end": ("time_bin", [170]),
    }


def _repetition_assembly(data, stimulus_set):
    """Single trials as presentations, repetition = even/odd trial of its image.

    Relabelling each image's valid trials 0, 1, 0, 1 ... (as brainscore's Cowley2026
    plugin does) makes the two halves of the split-half ceiling balanced per image
    whatever the number of repeats. Images with fewer than two trials are left out.
    """
    from brainscore_core.supported_data_standards.brainio.assemblies import (
        NeuroidAssembly,
    )

    repeats = data.repeats  # (neuroids, images, repeats)
    valid = ~np.all(np.isnan(repeats), axis=0)  # (images, repeats)
    image_index, trial_index, half = [], [], []
    for i in range(repeats.shape[1]):
        trials = np.flatnonzero(valid[i])
        if trials.size < 2:
            continue
        image_index += [i] * trials.size
        trial_index += trials.tolist()
        half += [k % 2 for k in range(trials.size)]
    if not image_index:
        raise DataError(
            f"{data.name}: no image has two or more repeats, so there is no ceiling",
            hint="give mean responses (neuroids x images) instead of repeats",
        )
    image_index = np.asarray(image_index)
    values = repeats[:, image_index, np.asarray(trial_index)].T  # (trials, neuroids)
    coords = _presentation_coords(stimulus_set, image_index)
    coords["repetition"] = ("presentation", np.asarray(half))
    coords.update(_neuroid_coords(data, values.shape[1]))
    assembly = NeuroidAssembly(
        values[:, :, None], coords=coords, dims=["presentation", "neuroid", "time_bin"]
    ).squeeze("time_bin")
    assembly.attrs["stimulus_set"] = stimulus_set
    return assembly


def _rdm_benchmark(identifier: str, data, stimulus_set):
    """A benchmark comparing the layer's RDM with a fixed neural RDM (no ceiling)."""
    bv = _bs()
    with _quiet():
        bv.load_metric("rdm")  # imports the plugin that defines RDM and RDMSimilarity
    from brainscore_core.metrics import Score
    from brainscore_core.supported_data_standards.brainio.assemblies import DataAssembly
    from brainscore_vision.benchmark_helpers.screen import place_on_screen
    from brainscore_vision.benchmarks import BenchmarkBase
    from brainscore_vision.metrics.rdm.metric import RDM, RDMSimilarity

    coords = _presentation_coords(stimulus_set, np.arange(len(stimulus_set)))
    neural_rdm = DataAssembly(
        data.rdm, coords=coords, dims=["presentation", "presentation"]
    )
    region = data.region

    class PrecomputedRDMBenchmark(BenchmarkBase):
        """brainscore's RSABenchmark procedure against a given RDM instead of responses."""

        def __init__(self):
            super().__init__(
                identifier=identifier,
                version=LOCAL_VERSION,
                parent=region,
                ceiling_func=lambda: Score(np.nan),
                bibtex=None,
            )
            self.region = region

        @property
        def ceiling(self):  # one RDM: no ceiling (and nothing worth caching on disk)
            return Score(np.nan)

        def __call__(self, candidate):
            candidate.start_recording(region, time_bins=[(70, 170)])
            shown = place_on_screen(
                stimulus_set,
                target_visual_degrees=candidate.visual_degrees(),
                source_visual_degrees=VISUAL_DEGREES,
            )
            model_assembly = candidate.look_at(shown, number_of_trials=1)
            if (
                "time_bin" in model_assembly.dims
                and model_assembly.sizes["time_bin"] == 1
            ):
                model_assembly = model_assembly.squeeze("time_bin")
            raw = Score(RDMSimilarity()(RDM()(model_assembly), neural_rdm))
            raw.attrs[Score.RAW_VALUES_KEY] = Score(float(raw))
            raw.attrs["ceiling"] = Score(np.nan)
            return raw

    return PrecomputedRDMBenchmark()


# -- store records ----------------------------------------------------------------------------


def brain_setup_id(target: BrainTarget, reducer_spec: str) -> str:
    """The setup id of a target's scores with a reducer (pure: no store needed).

    In Brain-Score features mode ``reducer_spec`` is ``brainscore-pca:1000@<reference
    fingerprint>``, so the two modes of one target never share a setup.
    """
    return _digest({"brain_target": target.target_id, "reducer": reducer_spec})


def register_target(sink, target: BrainTarget, reducer_spec: str,
                    features: dict | None = None) -> str:
    """Record the target through a result sink (``sink.register_brain_target``); return the setup id."""
    records = target_records(target, reducer_spec, features)
    sink.register_brain_target(records)
    return records["setup"]["setup_id"]


def target_records(target: BrainTarget, reducer_spec: str, features: dict | None = None) -> dict:
    """The rows that record a target: ``dataset``, ``setup``, ``brain_target`` and, with
    ``features`` (features mode, reference set fingerprint and source, n_components),
    ``brain_setup``.

    Brain scores land in ``layer_scores`` with ``dataset_id = target_id`` and
    ``target = region``; the setup id ties them to the reducer, so results are reused
    exactly when the target, its metric, brainscore-vision's version and the reducer
    are the same. In Brain-Score features mode ``reducer_spec`` is
    ``brainscore-pca:1000@<reference fingerprint>``.
    """
    info = target.describe()
    target_id = info["target_id"]
    setup_id = brain_setup_id(target, reducer_spec)
    dataset = {
        "dataset_id": target_id,
        "name": target.name,
        "kind": f"brain-{target.kind}",
        "spec": target.spec,
        "root": None,
        "n_images": len(target.stimuli),
        "n_splits": target.n_splits,
        "split_kind": "brainscore-vision",
        "ceiling": info["ceiling"],
        "citation": target.citation,
        "options": {"metric": target.metric, "benchmark": info["benchmark"]},
        "score_mean": None,
        "score_std": None,
    }
    setup = {
        "setup_id": setup_id,
        "dataset_id": target_id,
        "reducer": reducer_spec,
        "readout": {
            "method": "brainscore-vision benchmark",
            "metric": target.metric,
            "benchmark": info["benchmark"],
            "brainscore_vision": info["brainscore_vision"],
        },
        "description": {
            "target": target.region,
            "kind": "brain",
            "name": target.name,
            "score": info["score_kind"],
        },
    }
    row = {
        k: info[k]
        for k in (
            "target_id",
            "name",
            "region",
            "kind",
            "benchmark",
            "metric",
            "ceiling",
            "ceiling_method",
            "score_kind",
            "brainscore_vision",
            "n_stimuli",
            "n_neuroids",
            "spec",
            "citation",
        )
    }
    row["details"] = json.dumps(
        {
            k: info[k]
            for k in ("benchmark_version", "n_splits", "task", "visual_degrees",
                      "regression_impl")
        }
    )
    records = {"dataset": dataset, "setup": setup, "brain_target": row}
    if features is not None:
        records["brain_setup"] = {"setup_id": setup["setup_id"], "target_id": row["target_id"],
                                  "reducer": reducer_spec, **features}
    return records


def score_rows(
    *,
    run_id: str,
    model_id: str,
    layer: str,
    target: BrainTarget,
    setup_id: str,
    reducer_spec: str,
    n_features: int,
    score: BrainScore,
    seconds: float,
) -> tuple[dict, dict]:
    """The ``layer_scores`` row (pooled; score = ceiled if there is a ceiling, else raw)
    and the ``brain_scores`` row (raw, ceiling, ceiled, error) of one layer."""
    value = score.value
    pooled = {
        "run_id": run_id,
        "model_id": model_id,
        "layer_name": layer,
        "dataset_id": target.target_id,
        "setup_id": setup_id,
        "target": target.region,
        "fold": "pooled",
        "metric": target.metric,
        "score": None if value is None or not math.isfinite(value) else float(value),
        "ci_low": None,
        "ci_high": None,
        "alpha": None,
        "n_train": None,
        "n_test": len(target.stimuli),
        "reducer": reducer_spec,
        "n_features": int(n_features),
        "seconds": round(seconds, 4),
    }
    detail = {
        "model_id": model_id,
        "layer_name": layer,
        "setup_id": setup_id,
        "target_id": target.target_id,
        "run_id": run_id,
        "raw": score.raw
        if score.raw is not None and math.isfinite(score.raw)
        else None,
        "ceiling": score.ceiling,
        "ceiled": score.ceiled,
        "error": score.error,
        "note": score.note,
        "seconds": round(seconds, 4),
        "regression_impl": target.regression_impl,
    }
    return pooled, detail
