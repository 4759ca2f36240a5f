"""A Cowley 2023 V4 session as a brainscore-vision NeuralBenchmark, built the way
brainscore's own data plugins build theirs (PLS without stratification), for the tests
that register it in brainscore's registry."""

from __future__ import annotations

import pandas as pd


def cowley_benchmark_factory(d, *, identifier: str, stimulus_set: str, visual_degrees: float, ceiling_func):
    """A factory (what brainscore's registry holds) of the benchmark of session ``d``."""

    def factory():
        import brainscore_vision as bv
        from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly
        from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet
        from brainscore_vision.benchmark_helpers.neural_common import NeuralBenchmark

        stimuli = StimulusSet(
            pd.DataFrame({"stimulus_id": d.stimulus_ids, "filename": [p.name for p in d.stimuli]})
        )
        stimuli.stimulus_paths = {s: str(p) for s, p in zip(d.stimulus_ids, d.stimuli)}
        stimuli.identifier = stimulus_set
        neural = NeuroidAssembly(
            d.responses.T[:, :, None],
            dims=["presentation", "neuroid", "time_bin"],
            coords={
                "stimulus_id": ("presentation", d.stimulus_ids),
                "filename": ("presentation", [p.name for p in d.stimuli]),
                "neuroid_id": ("neuroid", d.neuroid_ids),
                "region": ("neuroid", ["V4"] * len(d.neuroid_ids)),
                "time_bin_start": ("time_bin", [50]),
                "time_bin_end": ("time_bin", [150]),
            },
        ).squeeze("time_bin")
        neural.attrs["stimulus_set"] = stimuli
        return NeuralBenchmark(
            identifier=identifier,
            version=1,
            assembly=neural,
            similarity_metric=bv.load_metric("pls", crossvalidation_kwargs=dict(stratification_coord=None)),
            visual_degrees=visual_degrees,
            number_of_trials=1,
            parent="V4",
            ceiling_func=ceiling_func,
        )

    return factory
