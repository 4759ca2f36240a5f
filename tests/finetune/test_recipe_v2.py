"""The pieces of the measured recipe: LP-FT head, layer-wise rates, freezing, frozen batch
norm, weight averaging, cached views and test-time flips. Tiny models, no real training
beyond one short run of a random-init timm test model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from memtool.data.base import Split
from memtool.finetune.data import ImageCache, ViewImages, ViewSpec, cut_view
from memtool.finetune.heads import (
    HeadInput,
    WeightEMA,
    apply_freeze,
    backbone_depths,
    find_head,
    freeze_norm_statistics,
    param_groups,
    ridge_head,
    set_head,
)
from memtool.finetune.recipe import RECIPE_V1, Recipe, eval_transform, input_config
from memtool.scoring.readout import score_features
from tests.unit._data_fixtures import make_jpeg


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
        self.body = nn.Sequential(
            nn.Conv2d(4, 6, 3), nn.BatchNorm2d(6), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )
        self.fc = nn.Linear(6, 1)

    def forward(self, x):
        return self.fc(self.body(self.stem(x)))


def test_ridge_head_predicts_what_the_sweeps_readout_predicts():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 12)) * rng.uniform(0.1, 5, size=12) + rng.normal(size=12)
    X[:, 3] = 2.5  # a constant feature: dropped by the readout, weight 0 here
    y = X[:, 0] - 0.5 * X[:, 5] + rng.normal(scale=1.0, size=60)
    train, test = np.arange(45), np.arange(45, 60)
    score = score_features(X, y, [Split("s", train, test)])
    weight, bias, alpha = ridge_head(X[train], y[train])
    np.testing.assert_allclose(X[test] @ weight + bias, score.predictions[test], rtol=1e-9, atol=1e-9)
    assert alpha == score.folds[0].alpha and weight[3] == 0
    # With a validation list the penalty is the one with the best validation rho, as in the sweep.
    val = np.arange(30, 45)
    fit = np.arange(30)
    score = score_features(X, y, [Split("s", fit, test, val=val)])
    weight, bias, alpha = ridge_head(X[fit], y[fit], val_features=X[val], val_z=y[val])
    np.testing.assert_allclose(X[test] @ weight + bias, score.predictions[test], rtol=1e-9, atol=1e-9)
    assert alpha == score.folds[0].alpha


def test_lp_head_in_the_model_gives_the_readouts_predictions():
    torch.manual_seed(0)
    net = Net().eval()
    x = torch.randn(40, 3, 12, 12)
    y = np.random.default_rng(1).normal(size=40)
    _, head = find_head(net)
    with torch.no_grad(), HeadInput(head) as captured:
        net(x)
    feats = captured.batches[0].numpy()
    assert feats.shape == (40, 6)
    weight, bias, _ = ridge_head(feats[:30], y[:30])
    set_head(head, weight, bias)
    with torch.no_grad():
        out = net(x).reshape(-1).numpy()
    expected = score_features(feats.astype(np.float64), y, [Split("s", np.arange(30), np.arange(30, 40))])
    np.testing.assert_allclose(out[30:], expected.predictions[30:], rtol=1e-4, atol=1e-5)


def test_layer_decay_and_freezing():
    net = Net()
    recipe = Recipe(lr=1e-3, head_lr_mult=2.0, layer_decay=0.5, freeze_fraction=0.25)
    depths = backbone_depths(net, "fc")
    assert list(depths) == [n for n, _ in net.named_parameters() if not n.startswith("fc")]
    assert depths["stem.0.weight"] == 0 and depths["body.1.bias"] == 1
    frozen = apply_freeze(net, recipe, "fc")
    assert frozen == 2 and not net.stem[0].weight.requires_grad and net.stem[1].weight.requires_grad
    groups = param_groups(net, recipe, "fc")
    in_groups = {id(p) for g in groups for p in g["params"]}
    assert id(net.stem[0].weight) not in in_groups and id(net.fc.weight) in in_groups
    lr = {id(p): g["lr"] for g in groups for p in g["params"]}
    assert lr[id(net.fc.weight)] == pytest.approx(2e-3)
    assert lr[id(net.body[1].bias)] == pytest.approx(1e-3)  # the last backbone tensor: full lr
    k = int(depths["body.0.weight"] * 10)
    assert lr[id(net.body[0].weight)] == pytest.approx(1e-3 * 0.5 ** (9 - k))
    decays = {g["name"]: g["weight_decay"] for g in groups}
    assert all(v == 0 for n, v in decays.items() if n.endswith("_no_decay"))


def test_frozen_batch_norm_keeps_its_statistics():
    torch.manual_seed(0)
    net = Net()
    before = net.stem[1].running_mean.clone()
    net.train()
    freeze_norm_statistics(net)
    net(torch.randn(8, 3, 12, 12) + 3)
    assert torch.equal(net.stem[1].running_mean, before) and net.training and not net.stem[1].training


def test_weight_ema_follows_its_formula_and_copies_integer_buffers():
    torch.manual_seed(0)
    net = Net()
    ema = WeightEMA(net, decay=0.9)
    start = net.fc.weight.detach().clone()
    expected = start.clone()
    for step in range(1, 6):
        with torch.no_grad():
            net.fc.weight.add_(1.0)
            net.stem[1].num_batches_tracked += 1
        ema.update(net)
        d = min(0.9, (1 + step) / (10 + step))
        expected = d * expected + (1 - d) * net.fc.weight.detach()
    torch.testing.assert_close(ema.state["fc.weight"], expected)
    assert int(ema.state["stem.1.num_batches_tracked"]) == 5
    again = WeightEMA(Net(), decay=0.5)
    again.load_state_dict(ema.state_dict())
    assert again.updates == 5 and again.decay == 0.9
    torch.testing.assert_close(again.state["fc.weight"], expected)


DATA_CONFIG = {
    "input_size": (3, 40, 40),
    "mean": (0.485, 0.456, 0.406),
    "std": (0.229, 0.224, 0.225),
    "interpolation": "bicubic",
    "crop_pct": 0.875,
}


def test_cached_views_equal_the_evaluation_transform(tmp_path):
    from memtool.data.images import read_rgb

    paths = [make_jpeg(tmp_path / f"{i}.jpg", seed=i) for i in range(3)]
    config = input_config(DATA_CONFIG, 32)
    spec = ViewSpec.from_data_config(config)
    images = ViewImages(paths, [0.1, 0.2, 0.3], spec, "eval", cache=ImageCache(1 << 30))
    for i, path in enumerate(paths):
        view, target, index, error = images[i]
        assert error == "" and index == i and target == pytest.approx([0.1, 0.2, 0.3][i])
        torch.testing.assert_close(view, eval_transform(config)(read_rgb(path)), rtol=0, atol=1e-6)
    assert images.cache.used > 0
    base = images.cache.get(paths[0], spec.key, None)  # cached: the maker is not called
    torch.testing.assert_close(cut_view(base, spec, flip=True), images[0][0].flip(-1))
    # A shifted view stays within the centre crop's margin: it is some crop of the image.
    torch.manual_seed(0)
    shifted = cut_view(base, spec, shift=True)
    _, h, w = base.shape
    crops = [
        cut_view(base[:, t : t + 32, l : l + 32], dataclasses.replace(spec, size=(32, 32)))
        for t in range(h - 31)
        for l in range(w - 31)
    ]
    assert any(torch.equal(shifted, c) for c in crops)


def test_image_cache_respects_its_budget(tmp_path):
    cache = ImageCache(max_bytes=100)
    value = cache.get(tmp_path / "a", ("k",), lambda p: torch.zeros(200, dtype=torch.uint8))
    assert value.numel() == 200 and cache.used == 0  # too big: returned, not kept
    cache.get(tmp_path / "b", ("k",), lambda p: torch.zeros(60, dtype=torch.uint8))
    assert cache.used == 60


class Lopsided(nn.Module):
    """Scores the left half of the image: a flip changes its output."""

    def forward(self, x):
        return x[..., : x.shape[-1] // 2].mean(dim=(1, 2, 3)).unsqueeze(1)


def test_predictor_flip_averaging(tmp_path):
    from memtool.finetune.predict import Predictor

    paths = [make_jpeg(tmp_path / f"{i}.jpg", seed=i) for i in range(2)]
    config = input_config(DATA_CONFIG, 32)
    plain = Predictor("x", "x@1", Lopsided(), eval_transform(config), (3, 32, 32))
    tta = dataclasses.replace(plain, tta_flip=True)
    a, _ = plain.predict(paths, device="cpu")
    b, _ = tta.predict(paths, device="cpu")
    from memtool.data.images import read_rgb

    x = torch.stack([eval_transform(config)(read_rgb(p)) for p in paths])
    mirrored = Lopsided()(x.flip(-1)).reshape(-1).numpy()
    np.testing.assert_allclose(b, 0.5 * (a + mirrored), rtol=1e-6)
    assert not np.allclose(a, b)


def test_cli_defaults_are_the_recipes():
    from memtool.cli.finetune_cmd import RECIPE_DEFAULTS

    defaults = {f.name: f.default for f in dataclasses.fields(Recipe)}
    assert {k: defaults[k] for k in RECIPE_DEFAULTS} == RECIPE_DEFAULTS
    Recipe(**RECIPE_V1)  # the earlier recipe is still a valid one


def test_new_recipe_fields_are_checked():
    from memtool.errors import UsageError

    for bad in (
        dict(head_init="lp"),
        dict(layer_decay=0),
        dict(freeze_fraction=1.0),
        dict(bn="x"),
        dict(ema_decay=1.0),
        dict(augment="jitter"),
        dict(head_features="all"),
    ):
        with pytest.raises(UsageError):
            Recipe(**bad)


def test_short_lp_ft_run_starts_from_the_probe(tmp_path):
    """A run of a random-init timm test model: epoch 0 is the ridge readout of its
    head's features (the default stage head), scored on the validation images; training
    then goes on."""
    from memtool.finetune.data import load_split_dataset, split_parts
    from memtool.finetune.heads import load_regression_model
    from memtool.finetune.train import FinetuneConfig, finetune_model
    from memtool.scoring.stats import spearman

    recipe = Recipe(epochs=1, batch_size=8, img_size=64, val_fraction=0.25, tta_flip=False, ema_decay=0.5)
    config = FinetuneConfig(
        model="test_efficientnet",
        data="demo",
        limit=40,
        folds=4,
        split=1,
        recipe=recipe,
        out_dir=tmp_path / "out",
        random_init=True,
        n_boot=50,
        device="cpu",
    )
    result = finetune_model(config, tmp_path / "ft.duckdb")
    assert [e.epoch for e in result.epochs] == [0, 1] and result.epochs[0].is_best

    # The probe, computed here from the sweep's readout on the same features.
    dataset = load_split_dataset("demo", 1, folds=4, seed=0, limit=40)
    parts = split_parts(dataset, 1, val_fraction=0.25, seed=0)
    loaded = load_regression_model("test_efficientnet", random_init=True, head_features=recipe.head_features)
    spec = ViewSpec.from_data_config(input_config(loaded.data_config, 64))
    _, head = find_head(loaded.module)
    feats = {}
    for part in ("train", "val"):
        idx = getattr(parts, part)
        views = torch.stack(
            [
                ViewImages([dataset.paths[i] for i in idx], dataset.scores[idx], spec, "eval")[k][0]
                for k in range(len(idx))
            ]
        )
        with torch.no_grad(), HeadInput(head) as captured:
            loaded.module.eval()(views)
        feats[part] = captured.batches[0].numpy().astype(np.float64)
    y = dataset.scores
    z = (y - y[parts.train].mean()) / y[parts.train].std()
    X = np.concatenate([feats["train"], feats["val"]])
    n = len(parts.train)
    readout = score_features(
        X, np.concatenate([z[parts.train], z[parts.val]]), [Split("s", np.arange(n), np.arange(n, len(X)))]
    )
    assert result.epochs[0].val_rho == pytest.approx(
        spearman(readout.predictions[n:], z[parts.val]), abs=1e-6
    )
