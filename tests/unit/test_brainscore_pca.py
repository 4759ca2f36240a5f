"""Brain-Score features: the Gram-matrix PCA is sklearn's PCA, preprocessing is brainscore's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from memtool.errors import DataError, UsageError
from memtool.extract import brainscore_pca as bp
from memtool.extract.brainscore_pca import reference as bp_reference
from memtool.extract.tap import ProbedLayer

DEMO_IMAGES = Path(__file__).resolve().parents[2] / "memtool" / "data" / "demo" / "images"


def _data(n: int, d: int, seed: int) -> np.ndarray:
    """Images-like rows: a few strong shared factors, a decaying tail, a positive mean."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 40)) @ rng.standard_normal((40, d)) * 3
    tail = rng.standard_normal((n, d)) * np.linspace(1.0, 0.01, d)
    return (latent + tail + 5).astype(np.float32)


def test_gram_pca_projects_as_sklearn_pca():
    from sklearn.decomposition import PCA

    n, d = 150, 2000
    x, y = _data(n, d, 0), _data(40, d, 1)
    ref = PCA(n_components=n, random_state=0).fit(x.astype(np.float64))
    expected = ref.transform(y.astype(np.float64))
    fit = bp.fit_pca(torch.from_numpy(x.copy()), n_components=n)
    assert fit.vectors.shape == (n, d) and fit.out_dim == n
    ours = ((torch.from_numpy(y) - fit.mean) @ fit.vectors.T).double().numpy()
    signs = np.sign((expected * ours).sum(axis=0))
    # every axis of non-zero variance, up to sign (float32 activations: ~1e-5 relative)
    scale = np.abs(expected[:, : n - 1]).max()
    assert np.abs(expected[:, : n - 1] - ours[:, : n - 1] * signs[: n - 1]).max() < 1e-4 * scale
    np.testing.assert_allclose(fit.singular_values[: n - 1], ref.singular_values_[: n - 1], rtol=1e-5)
    # centred data of n rows have rank n - 1: the last axis is rounding noise in sklearn, 0 here
    assert ref.singular_values_[-1] < 1e-9 * ref.singular_values_[0]
    assert np.all(ours[:, -1] == 0)


def test_small_layers_pass_unreduced_and_the_reducer_projects_on_device():
    fit = bp.fit_pca(torch.ones(10, 8), n_components=8)
    assert fit.vectors is None and fit.out_dim == 8
    x = torch.from_numpy(_data(120, 300, 2))
    fits = {"big": bp.fit_pca(x.clone(), n_components=100), "small": bp.Components(None, None, 24)}
    ref = bp.ReferenceSet((), "abc", "test")
    features = bp.BrainscoreFeatures(fits, ref, n_components=100)
    batch = torch.from_numpy(_data(5, 300, 3)).reshape(5, 3, 10, 10)
    out = features.reduce("big", batch)
    assert out.shape == (5, 100) and features.out_dim((3, 10, 10)) == 100
    small = torch.arange(48, dtype=torch.float32).reshape(2, 2, 3, 4)
    assert torch.equal(features.reduce("small", small), small.reshape(2, -1))  # brainscore's flatten
    assert features.out_dim((2, 3, 4)) == 24 and features.spec == "brainscore-pca:100@abc"


def test_fit_needs_as_many_images_as_components():
    with pytest.raises(DataError, match="needs 1000 reference images, got 10"):
        bp.fit_pca(torch.ones(10, 2000))


def test_transform_is_brainscores_load_preprocess_images():
    from memtool.brainscore_env import import_brainscore as _bs

    _bs()
    from brainscore_vision.model_helpers.activations.pytorch import load_preprocess_images

    cfg = {"input_size": (3, 224, 224), "mean": (0.5, 0.4, 0.3), "std": (0.2, 0.25, 0.3)}
    paths = sorted(DEMO_IMAGES.glob("*.jpg"))[:3]
    theirs = load_preprocess_images(
        [str(p) for p in paths], image_size=224, normalize_mean=cfg["mean"], normalize_std=cfg["std"]
    )
    transform = bp.brainscore_transform(cfg)
    ours = np.stack([transform(Image.open(p).convert("RGB")).numpy() for p in paths])
    assert ours.shape == (3, 3, 224, 224)
    np.testing.assert_array_equal(ours, theirs)  # whole image resized, no crop


def _images(folder: Path, n: int) -> Path:
    folder.mkdir()
    for i in range(n):
        Image.new("RGB", (4, 4), (i % 256, 0, 0)).save(folder / f"{i:04d}.png")
    return folder


def test_reference_folder_first_1000_by_name(tmp_path):
    folder = _images(tmp_path / "ref", 1003)
    (folder / "notes.txt").write_text("not an image")
    ref = bp.resolve_reference_images(folder)
    assert len(ref.paths) == 1000 and ref.paths[0].name == "0000.png" and ref.paths[-1].name == "0999.png"
    assert ref.fingerprint == bp.resolve_reference_images(folder).fingerprint
    (folder / "0000.png").unlink()  # another set of images, another fingerprint
    assert bp.resolve_reference_images(folder).fingerprint != ref.fingerprint
    few = _images(tmp_path / "few", 999)
    with pytest.raises(DataError, match="holds 999 images; Brain-Score's PCA needs 1000"):
        bp.resolve_reference_images(few)


def test_no_reference_images_is_one_line_naming_both_ways(tmp_path, monkeypatch):
    monkeypatch.setenv("MT_IMAGENET_PATH", str(tmp_path / "none.hdf5"))
    monkeypatch.setattr(bp_reference, "MODELS_BUCKET_HOST", "brain-score-models.invalid")
    with pytest.raises(DataError) as info:
        bp.resolve_reference_images(None)
    text = info.value.one_line()
    assert "\n" not in text and str(tmp_path / "none.hdf5") in text
    assert "MT_IMAGENET_PATH" in text and "--pca-images DIR" in text


def test_cache_round_trip_and_keys(tmp_path, monkeypatch):
    ref = bp.ReferenceSet((), "f1", "test")
    pre = {"resize": [224, 224], "mean": [0.5] * 3, "std": [0.5] * 3, "crop": None}
    cache = bp.ComponentCache(tmp_path, "m@w", ref, pre, n_components=100)
    fit = bp.fit_pca(torch.from_numpy(_data(100, 400, 4)), n_components=100)
    cache.save("layer1", fit)
    cache.save("tiny", bp.Components(None, None, 12))
    back = cache.load("layer1", torch.device("cpu"))
    assert torch.equal(back.vectors, fit.vectors) and torch.equal(back.mean, fit.mean)
    assert cache.load("tiny", torch.device("cpu")).vectors is None
    assert bp.ComponentCache(tmp_path, "m@w2", ref, pre, 100).load("layer1", torch.device("cpu")) is None
    other = bp.ComponentCache(tmp_path, "m@w", bp.ReferenceSet((), "f2", "t"), pre, 100)
    assert other.load("layer1", torch.device("cpu")) is None
    monkeypatch.setenv("MEMTOOL_CACHE", str(tmp_path / "c"))
    assert bp.cache_root() == tmp_path / "c" / "brainscore-pca"
    monkeypatch.setenv("MEMTOOL_PCA_CACHE", "off")
    assert bp.cache_root() is None


def test_groups_count_everything_a_group_holds():
    layers = [ProbedLayer(f"l{i}", i, "Conv2d", exec_order=i, output_shape=(10, 10, 11)) for i in range(6)]
    # per layer: 1000 x 1100 x 4 (fit, then components) + 640 x 1000 x 4 (features) bytes
    per = 1000 * 1100 * 4 + 640 * 1000 * 4
    assert bp.layer_bytes(layers[0], 1000, 640) == per
    reserve = bp.fit_working_bytes(1000)  # one fit's float64 block, Gram and eigh at a time
    assert reserve < 128 * 2**20
    groups = bp.plan_groups(layers, 1000, 640, 2 * per + reserve)
    assert [len(g) for g in groups] == [2, 2, 2]
    assert [len(g) for g in bp.plan_groups(layers, 1000, 640, 2 * per + reserve - 1)] == [1] * 6
    small = ProbedLayer("fc", 9, "Linear", exec_order=9, output_shape=(1000,))  # unreduced
    assert bp.layer_bytes(small, 1000, 640) == 640 * 1000 * 4


def test_groups_end_as_early_as_they_can():
    # five equal layers, three to a group: two groups either way, and the one that runs
    # the network furthest (the last) takes three, so the first pass stops after layer 1
    layers = [ProbedLayer(f"l{i}", i, "Conv2d", exec_order=i, output_shape=(2000,)) for i in range(5)]
    per = bp.layer_bytes(layers[0], 1000, 640)
    groups = bp.plan_groups(layers, 1000, 640, 3 * per + bp.fit_working_bytes(1000))
    assert [[p.name for p in g] for g in groups] == [["l0", "l1"], ["l2", "l3", "l4"]]


def test_a_layer_beyond_the_budget_is_one_line_naming_the_budget_it_needs():
    wide = ProbedLayer("stem", 0, "Conv2d", exec_order=0, output_shape=(64, 112, 112))
    with pytest.raises(UsageError) as info:
        bp.plan_groups([wide], 1000, 640, 2**30)
    text = info.value.one_line()
    assert "\n" not in text and "stem" in text and "802,816 features" in text
    assert "raise --memory-budget to at least 3.07 GiB" in text and info.value.exit_code == 2


def test_unknown_mode():
    with pytest.raises(UsageError, match="unknown --brain-features 'pca'"):
        bp.check_mode("pca")
    assert bp.check_mode(None) is None and bp.check_mode("reducer") == "reducer"
