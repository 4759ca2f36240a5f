"""`memtool sweep --brain-features brainscore` gives brainscore-vision's own per-layer scores.

The reference is brainscore-vision's pipeline itself, untouched: a ``PytorchWrapper`` of
tf_efficientnet_lite0 (real ImageNet weights) with ``load_preprocess_images``,
``LayerPCA.hook(n_components=1000)`` and ``LayerScores`` at 8 visual degrees, on a
benchmark built from Cowley 2023 V4 session 210325 (640 images, PLS-25, brainscore's
cross-validation) and registered in brainscore's benchmark registry. brainscore's
``_get_imagenet_val`` is pointed (``MT_IMAGENET_PATH``) at the first 1000 LNSIM images by
name, which memtool is given with ``--pca-images``.
"""

from __future__ import annotations

import os
import uuid

import numpy as np
import pytest
from typer.testing import CliRunner

from memtool.cli.main import app
from memtool.store import Store

BENCHMARK = "memtool-parity.Cowley2023-210325.V4-pls"
# Eight layers: block outputs from early to late, the head's conv, the pooled features (1280 > 1000:
# PCA) and the logits (1000: unreduced). blocks.0 (200,704 features) is left out only to
# keep the test's memory and time modest.
LAYERS = [
    "blocks.1",
    "blocks.2",
    "blocks.3",
    "blocks.5",
    "blocks.6",
    "conv_head",
    "global_pool",
    "classifier",
]
TOLERANCE = 0.005


def _benchmark_factory(d):
    """The V4 session as a NeuralBenchmark, the way brainscore's data plugins build theirs
    (the ceiling is not needed: raw scores are compared)."""
    from brainscore_core.metrics import Score

    from tests.brain._benchmarks import cowley_benchmark_factory

    return cowley_benchmark_factory(
        d,
        identifier=BENCHMARK,
        stimulus_set="memtool-parity.cowley2023-210325",
        visual_degrees=8,
        ceiling_func=lambda: Score(np.nan),
    )


class _RecordRaw:
    """The benchmark as LayerScores sees it, keeping each call's raw score."""

    def __init__(self, benchmark):
        self._benchmark = benchmark
        self.raw: list[float] = []

    def __getattr__(self, name):
        return getattr(self._benchmark, name)

    def __call__(self, candidate):
        score = self._benchmark(candidate)
        self.raw.append(float(score.attrs["raw"]))
        return score


@pytest.fixture()
def imagenet_stand_in(tmp_path, lnsim_dir, monkeypatch):
    """brainscore's _get_imagenet_val reads `<MT_IMAGENET_PATH>-files/<index>.png` when it
    exists (index 50 i for the i-th of 1000 images): the first 1000 LNSIM images by name."""
    import h5py

    hdf5 = tmp_path / "imagenet2012.hdf5"
    h5py.File(hdf5, "w").close()
    files = tmp_path / "imagenet2012.hdf5-files"
    files.mkdir()
    images = sorted((lnsim_dir / "images").glob("*.jpg"))[:1000]
    for i, image in enumerate(images):
        os.symlink(image, files / f"{50 * i}.png")
    monkeypatch.setenv("MT_IMAGENET_PATH", str(hdf5))
    return lnsim_dir / "images"


def _brainscore_scores(factory) -> dict[str, float]:
    from brainscore_vision.model_helpers.brain_transformation.neural import LayerScores

    from tests.brain._benchmarks import brainscore_lite0_wrapper

    identifier = f"memtool-parity-lite0-{uuid.uuid4().hex[:8]}"
    wrapper = brainscore_lite0_wrapper(identifier)
    benchmark = _RecordRaw(factory())
    LayerScores(identifier, wrapper, visual_degrees=8)(benchmark=benchmark, layers=LAYERS, prerun=True)
    return dict(zip(LAYERS, benchmark.raw))


@pytest.mark.slow
def test_brainscore_features_give_brainscores_own_layer_scores(
    tmp_path, monkeypatch, cowley_210325, imagenet_stand_in
):
    import brainscore_vision as bv

    from memtool.extract.brainscore_pca import resolve_reference_images

    # brainscore's caches of PCA fits and layer scores would only cost disk here
    monkeypatch.setenv(
        "RESULTCACHING_DISABLE",
        "brainscore_vision.model_helpers.activations.pca,"
        "brainscore_vision.model_helpers.brain_transformation.neural",
    )
    monkeypatch.setenv("MEMTOOL_PCA_CACHE", "off")
    factory = _benchmark_factory(cowley_210325)
    monkeypatch.setitem(bv.benchmark_registry, BENCHMARK, factory)
    # the same 1000 images, whichever way they are named
    assert (
        resolve_reference_images(None).fingerprint == resolve_reference_images(imagenet_stand_in).fingerprint
    )

    db = tmp_path / "parity.duckdb"
    pattern = "^(" + "|".join(name.replace(".", r"\.") for name in LAYERS) + ")$"
    result = CliRunner().invoke(
        app,
        [
            "sweep",
            "--model",
            "tf_efficientnet_lite0",
            "--limit",
            "40",
            "--folds",
            "2",
            "--n-boot",
            "10",
            "--layers",
            pattern,
            "--brain",
            BENCHMARK,
            "--pca-images",
            str(imagenet_stand_in),
            "--db",
            str(db),
        ],
    )  # brainscore features: the default
    assert result.exit_code == 0, result.output
    store = Store(db)
    _, rows = store.query(
        "SELECT l.layer_name, b.raw, s.n_features, bs.features, bs.n_components, bs.reference_set "
        "FROM brain_scores b JOIN brain_setups bs ON bs.setup_id = b.setup_id "
        "JOIN layer_scores s ON s.model_id = b.model_id AND s.layer_name = b.layer_name "
        "  AND s.setup_id = b.setup_id "
        "JOIN layers l ON l.model_id = b.model_id AND coalesce(l.alias_of, l.layer_name) = b.layer_name "
        "WHERE s.target = 'V4' AND list_contains(?, l.layer_name)",
        [LAYERS],
    )
    ours = {r[0]: r[1] for r in rows}
    assert sorted(ours) == sorted(LAYERS)
    assert {r[3] for r in rows} == {"brainscore"} and {r[4] for r in rows} == {1000}
    assert {r[5] for r in rows} == {resolve_reference_images(imagenet_stand_in).fingerprint}
    widths = {r[0]: r[2] for r in rows}
    assert widths["classifier"] == 1000 and widths["global_pool"] == 1000 and widths["blocks.3"] == 1000

    theirs = _brainscore_scores(factory)
    diffs = {layer: abs(ours[layer] - theirs[layer]) for layer in LAYERS}
    report = ", ".join(f"{layer} {ours[layer]:.4f}/{theirs[layer]:.4f}" for layer in LAYERS)
    print(f"raw V4 scores memtool/brainscore: {report}")
    assert max(diffs.values()) < TOLERANCE, f"memtool/brainscore raw scores: {report}"
    assert all(0.2 < theirs[layer] < 1 for layer in LAYERS), report  # real, not degenerate, scores
