"""A Cowley 2023 V4 session as a brainscore-vision NeuralBenchmark, built the way
brainscore's own data plugins build theirs (PLS without stratification), and brainscore's
own LayerPCA model of tf_efficientnet_lite0: the reference side of the parity test and of
benchmarks/brainscore_features_cost.py."""

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


def brainscore_lite0_wrapper(identifier: str):
    """brainscore-vision's own reference for tf_efficientnet_lite0 (real offline weights): a
    ``PytorchWrapper`` preprocessing the Brain-Score way with the model's input size and
    mean/std, hooked with ``LayerPCA`` (1000 components), ready for ``LayerScores``."""
    import functools

    from brainscore_vision.model_helpers.activations.pca import LayerPCA
    from brainscore_vision.model_helpers.activations.pytorch import PytorchWrapper, load_preprocess_images

    from memtool.models.registry import load_model

    loaded = load_model("tf_efficientnet_lite0")
    cfg = loaded.data_config
    preprocessing = functools.partial(
        load_preprocess_images,
        image_size=int(cfg["input_size"][-1]),
        normalize_mean=tuple(cfg["mean"]),
        normalize_std=tuple(cfg["std"]),
    )
    wrapper = PytorchWrapper(loaded.module, preprocessing, identifier=identifier)
    LayerPCA.hook(wrapper, n_components=1000)
    return wrapper
