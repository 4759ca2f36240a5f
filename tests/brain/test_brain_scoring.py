"""Brain scores are what brainscore-vision computes for the same activations.

Features are real image statistics (a small grid of mean pixel values per image), not
noise, so the scores are away from zero and a misaligned row would change them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.stats import spearmanr

from memtool.errors import DataError, UsageError
from memtool.scoring import brain
from memtool.scoring.brain import guard
from memtool.scoring.brain import BrainScore, load_brain_targets, local_target


def pixel_features(paths, grid: int = 6) -> np.ndarray:
    """Mean colour of each cell of a grid x grid partition of each image: (n, 3 grid^2)."""
    rows = []
    for p in paths:
        with Image.open(p) as im:
            rows.append(
                np.asarray(im.convert("RGB").resize((grid, grid), Image.BOX), dtype=np.float64).ravel()
            )
    return np.stack(rows) / 255.0


def bs():
    import brainscore_vision

    return brainscore_vision


def _assemblies(d, features):
    """Model and neural assemblies built here, independently of memtool.scoring.brain."""
    from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly

    pres = {
        "stimulus_id": ("presentation", d.stimulus_ids),
        "filename": ("presentation", [p.name for p in d.stimuli]),
    }
    n, k = d.responses.shape[0], features.shape[1]
    neural = NeuroidAssembly(
        d.responses.T,
        dims=["presentation", "neuroid"],
        coords={**pres, "neuroid_id": ("neuroid", d.neuroid_ids), "region": ("neuroid", ["V4"] * n)},
    )
    model = NeuroidAssembly(
        features,
        dims=["presentation", "neuroid"],
        coords={
            **pres,
            "neuroid_id": ("neuroid", [f"f{j}" for j in range(k)]),
            "layer": ("neuroid", ["x"] * k),
        },
    )
    return model, neural


def _repetitions(d):
    """Single trials with repetition = even/odd trial of the image (Cowley2026 plugin's halves)."""
    from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly

    values, ids, names, half = [], [], [], []
    for i in range(d.repeats.shape[1]):
        trials = [r for r in range(d.repeats.shape[2]) if not np.isnan(d.repeats[0, i, r])]
        if len(trials) < 2:
            continue
        for k, r in enumerate(trials):
            values.append(d.repeats[:, i, r])
            ids.append(d.stimulus_ids[i])
            names.append(d.stimuli[i].name)
            half.append(k % 2)
    n = d.repeats.shape[0]
    return NeuroidAssembly(
        np.stack(values),
        dims=["presentation", "neuroid"],
        coords={
            "stimulus_id": ("presentation", ids),
            "filename": ("presentation", names),
            "repetition": ("presentation", half),
            "neuroid_id": ("neuroid", d.neuroid_ids),
            "region": ("neuroid", ["V4"] * n),
        },
    )


@pytest.fixture(scope="module")
def v4_target(cowley_210325):
    return local_target(cowley_210325, seed=0)


@pytest.mark.slow
def test_local_responses_score_is_brainscores_pls_with_its_ceiling(cowley_210325, v4_target):
    from brainscore_vision.benchmark_helpers.neural_common import explained_variance

    d = cowley_210325
    assert [str(p) for p in v4_target.stimuli] == [str(p) for p in d.stimuli]
    features = pixel_features(v4_target.stimuli)
    ours = v4_target.score(features, layer="pixels")

    model, neural = _assemblies(d, features)
    metric = bs().load_metric("pls", crossvalidation_kwargs=dict(stratification_coord=None, random_state=0))
    raw = metric(model, neural)
    ceiling = bs().load_ceiling("internal_consistency")(_repetitions(d))
    ceiled = explained_variance(raw, ceiling)

    assert ours.raw == pytest.approx(float(raw), abs=1e-9)
    assert ours.ceiling == pytest.approx(float(ceiling), abs=1e-9)
    assert ours.ceiled == pytest.approx(float(ceiled), abs=1e-9)
    assert ours.error == pytest.approx(float(raw.attrs["error"]), abs=1e-9)
    assert 0 < ours.ceiling < 1 and 0.05 < ours.raw < 1
    assert ours.value == ours.ceiled

    shuffled = v4_target.score(features[np.random.default_rng(1).permutation(len(features))])
    assert abs(shuffled.raw) < ours.raw / 2  # rows are matched to images, not just counted


def test_ceiling_from_repeats_is_between_0_and_1(v4_target):
    info = v4_target.describe()
    assert 0 < info["ceiling"] < 1 and info["score_kind"] == "ceiled"
    assert info["kind"] == "local-responses" and info["metric"] == "pls" and info["region"] == "V4"
    assert info["brainscore_vision"] and info["n_stimuli"] == 640 and info["n_neuroids"] == 50
    assert v4_target.name == "local:cowley2023-210325"


def test_no_repeats_means_raw_score_and_no_ceiling(cowley_dir):
    target = load_brain_targets([f"cowley2023:{cowley_dir}:210224"], regression="ridge")[0]
    assert target.ceiling() is None and target.describe()["score_kind"] == "raw"
    result = target.score(pixel_features(target.stimuli))
    assert target.metric == "ridge" and result.ceiled is None and result.ceiling is None
    assert 0 < result.raw < 1 and result.value == result.raw and result.error > 0


def test_rdm_target_is_spearman_of_upper_triangles():
    target = load_brain_targets(["demo-it"])[0]
    assert (target.name, target.region, target.kind, target.metric) == (
        "demo:kriegeskorte92-monkey",
        "IT",
        "local-rdm",
        "rdm",
    )
    features = pixel_features(target.stimuli)
    ours = target.score(features, layer="pixels")
    rdm = load_brain_targets(["demo-it"])[0]  # same data, fresh object: same number
    from memtool.data.neural import load_neural

    neural = load_neural("demo-it")[0].rdm
    iu = np.triu_indices(92, k=1)
    expected = spearmanr((1 - np.corrcoef(features))[iu], neural[iu]).statistic
    assert ours.raw == pytest.approx(expected, abs=1e-12)
    assert ours.ceiling is None and ours.ceiled is None and ours.value == ours.raw
    assert rdm.score(features).raw == ours.raw and rdm.target_id == target.target_id


def test_pls_needs_25_features_and_constant_layers_are_skipped(v4_target):
    few = v4_target.score(np.random.default_rng(0).random((640, 10)))
    assert few.raw != few.raw and few.ceiled is None and "25 components" in few.note
    flat = v4_target.score(np.ones((640, 30)))
    assert flat.raw != flat.raw and "constant" in flat.note
    with pytest.raises(DataError, match="expected \\(640, k\\)"):
        v4_target.score(np.ones((639, 30)))
    with pytest.raises(DataError, match="NaN or inf"):
        v4_target.score(np.full((640, 30), np.nan))


# -- the registry path ---------------------------------------------------------------------

REGISTERED = "memtool-test.Cowley2023-210325.V4-pls"


@pytest.fixture()
def registered(monkeypatch, cowley_210325):
    """A benchmark built from the local V4 session the way brainscore's Cowley2026 plugin
    builds its own (PLS without stratification, internal-consistency ceiling, 11.2 degrees),
    registered in brainscore_vision.benchmark_registry."""
    from tests.brain._benchmarks import cowley_benchmark_factory

    repetitions = _repetitions(cowley_210325)
    factory = cowley_benchmark_factory(
        cowley_210325,
        identifier=REGISTERED,
        stimulus_set="memtool-test.cowley2023-210325",
        visual_degrees=11.2,
        ceiling_func=lambda: bs().load_ceiling("internal_consistency")(repetitions),
    )
    monkeypatch.setitem(bs().benchmark_registry, REGISTERED, factory)
    return factory


class _PixelModel:
    """A BrainModel written for the test: reads each shown image and returns pixel features."""

    def __new__(cls):
        from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly
        from brainscore_vision.model_interface import BrainModel

        class PixelModel(BrainModel):
            identifier = "pixels"

            def visual_degrees(self):
                return 8

            def start_recording(self, region, time_bins=None):
                pass

            def look_at(self, stimuli, number_of_trials=1):
                paths = [stimuli.get_stimulus(s) for s in stimuli["stimulus_id"]]
                x = pixel_features(paths)
                coords = {c: ("presentation", stimuli[c].values) for c in stimuli.columns}
                coords.update(
                    {
                        "neuroid_id": ("neuroid", [f"p{j}" for j in range(x.shape[1])]),
                        "layer": ("neuroid", ["pixels"] * x.shape[1]),
                    }
                )
                return NeuroidAssembly(x, coords=coords, dims=["presentation", "neuroid"])

        return PixelModel()


@pytest.mark.slow
def test_registry_benchmark_runs_through_brainscores_own_code_path(registered, cowley_210325):
    target = load_brain_targets([REGISTERED])[0]
    assert (target.kind, target.region, target.metric, target.name) == ("registry", "V4", "pls", REGISTERED)
    # brainscore placed the 11.2-degree images on the 8-degree screen: new, smaller files
    assert len(target.stimuli) == 640 and target.stimuli[0] != cowley_210325.stimuli[0]
    with Image.open(target.stimuli[0]) as im:
        assert im.size == (80, 80)
    ours = target.score(pixel_features(target.stimuli), layer="pixels")
    direct = registered()(_PixelModel())
    assert ours.ceiled == pytest.approx(float(direct), abs=1e-9)
    assert ours.raw == pytest.approx(float(direct.attrs["raw"]), abs=1e-9)
    assert ours.ceiling == pytest.approx(float(direct.attrs["ceiling"]), abs=1e-9)
    info = target.describe()
    assert info["benchmark"] == REGISTERED and info["brainscore_vision"] == brain.brainscore_version()
    assert 0 < info["ceiling"] < 1


def test_missing_brainscore_data_fails_fast_with_the_cache_path(monkeypatch, tmp_path):
    monkeypatch.setenv("BRAINIO_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(guard, "STORAGE_HOST", "brainscore-storage.invalid")  # never resolves
    from brainscore_core.supported_data_standards.brainio import fetch

    monkeypatch.setattr(fetch, "_local_data_path", None)  # re-read BRAINIO_HOME
    with pytest.raises(DataError) as info:
        load_brain_targets(["IT"])
    text = info.value.one_line()
    assert "MajajHong2015public.IT-pls" in text and str(tmp_path / "empty-cache") in text
    assert "BRAINIO_HOME" in text and "\n" not in text


def test_unknown_specs():
    with pytest.raises(UsageError, match="unknown brain target 'NoSuch2099.IT-pls'"):
        load_brain_targets(["NoSuch2099.IT-pls"])
    with pytest.raises(DataError, match="does not exist"):
        load_brain_targets(["./no/such/folder"])
    with pytest.raises(UsageError, match="unknown brain regression 'lasso'"):
        load_brain_targets(["demo-it"], regression="lasso")
    with pytest.raises(UsageError, match="given twice"):
        load_brain_targets(["demo-it", "demo-it"])


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_behaviour_task_uses_brainscores_probabilities_readout():
    """A layer model answers start_task(probabilities) with brainscore's ProbabilitiesMapping."""
    from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet
    from brainscore_vision.model_interface import BrainModel

    from memtool.data.neural import load_neural

    d = load_neural("demo-it")[0]
    labels = ["animate" if a == "1" else "inanimate" for a in d.stimulus_meta["animal"]]
    frame = pd.DataFrame({"stimulus_id": d.stimulus_ids, "image_label": labels})
    fit, test = (
        StimulusSet(frame.iloc[::2].reset_index(drop=True)),
        StimulusSet(frame.iloc[1::2].reset_index(drop=True)),
    )
    for s in (fit, test):
        s.stimulus_paths = {sid: str(p) for sid, p in zip(d.stimulus_ids, d.stimuli)}
    features = pixel_features(d.stimuli)
    model = brain.make_layer_model("pixels", "grid", features, {str(p): i for i, p in enumerate(d.stimuli)})
    model.start_task(BrainModel.Task.probabilities, fit)
    proba = model.look_at(test)
    assert proba.dims == ("presentation", "choice") and proba.shape == (46, 2)
    np.testing.assert_allclose(proba.values.sum(axis=1), 1.0)
    assert list(proba["stimulus_id"].values) == list(test["stimulus_id"])


def test_brain_score_value_prefers_ceiled():
    assert BrainScore(0.5, 0.8, 0.3125, None).value == 0.3125
    assert BrainScore(0.5, None, None, None).value == 0.5


def test_pls_needs_enough_images(cowley_210325):
    from memtool.data.neural import NeuralData

    d, n = cowley_210325, 20
    few = NeuralData(
        name="few",
        kind="responses",
        region="V4",
        spec="",
        stimulus_ids=d.stimulus_ids[:n],
        stimuli=d.stimuli[:n],
        responses=d.responses[:, :n],
        neuroid_ids=d.neuroid_ids,
    )
    with pytest.raises(UsageError, match="20 images, too few"):
        local_target(few)
    assert local_target(few, regression="ridge").metric == "ridge"
