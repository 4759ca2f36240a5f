"""Local targets: response data and RDMs (``memtool.data.neural``) as brainscore benchmarks.

* response data become a brainscore-vision ``NeuralBenchmark`` built the way its own
  plugins build theirs: the regression metric ``pls`` (default) or ``ridge`` with its
  cross-validation (10 random 90/10 splits, no stratification; ``seed`` sets the split
  seed), and, where single-trial repeats exist, its ``internal_consistency`` ceiling
  (split-half over even vs odd repeats, Spearman-Brown corrected, median over neuroids);
  the ceiled score is then brainscore's explained variance ``r**2 / ceiling``;
* RDMs are compared with brainscore-vision's ``RDM`` (1 - Pearson r between images over
  the layer's features) and ``RDMSimilarity`` (Spearman rho between upper triangles), as
  its ``RSABenchmark`` does; a single RDM carries no ceiling.
"""

from __future__ import annotations

import numpy as np

from memtool.brainscore_env import brainscore_version, import_brainscore, quiet
from memtool.errors import UsageError
from memtool.runtime import digest
from memtool.scoring.brain.adapters import VISUAL_DEGREES
from memtool.scoring.brain.assemblies import (
    neuroid_assembly,
    presentation_coords,
    repetition_assembly,
    to_stimulus_set,
)
from memtool.scoring.brain.target import BrainTarget, fast_regression

LOCAL_VERSION = 1  # bump when the way local benchmarks are built changes their scores


def local_target(
    data, *, seed: int = 0, regression: str = "pls", impl: str = "fast", device=None
) -> BrainTarget:
    """A target from ``memtool.data.neural.NeuralData``, scored by brainscore-vision code."""
    bv = import_brainscore()
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
    identifier = f"memtool.{data.name}.{data.region}-{metric}.{digest(identity)[:10]}"
    stimulus_set = to_stimulus_set(data, identifier)
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
    assembly = neuroid_assembly(data.responses.T, data, stimulus_set)
    with quiet():
        similarity = bv.load_metric(
            regression,
            crossvalidation_kwargs=dict(stratification_coord=None, random_state=seed),
        )
    similarity, regression_impl = fast_regression(similarity, impl, device)
    if data.repeats is not None:
        repetitions = repetition_assembly(data, stimulus_set)
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


def _rdm_benchmark(identifier: str, data, stimulus_set):
    """A benchmark comparing the layer's RDM with a fixed neural RDM (no ceiling)."""
    bv = import_brainscore()
    with quiet():
        bv.load_metric("rdm")  # imports the plugin that defines RDM and RDMSimilarity
    from brainscore_core.metrics import Score
    from brainscore_core.supported_data_standards.brainio.assemblies import DataAssembly
    from brainscore_vision.benchmark_helpers.screen import place_on_screen
    from brainscore_vision.benchmarks import BenchmarkBase
    from brainscore_vision.metrics.rdm.metric import RDM, RDMSimilarity

    coords = presentation_coords(stimulus_set, np.arange(len(stimulus_set)))
    neural_rdm = DataAssembly(data.rdm, coords=coords, dims=["presentation", "presentation"])
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
            if "time_bin" in model_assembly.dims and model_assembly.sizes["time_bin"] == 1:
                model_assembly = model_assembly.squeeze("time_bin")
            raw = Score(RDMSimilarity()(RDM()(model_assembly), neural_rdm))
            raw.attrs[Score.RAW_VALUES_KEY] = Score(float(raw))
            raw.attrs["ceiling"] = Score(np.nan)
            return raw

    return PrecomputedRDMBenchmark()
