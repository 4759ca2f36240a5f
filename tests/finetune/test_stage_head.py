"""The stage head: which stages, what it computes, what it freezes, how it round-trips."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision

from memtool.finetune.heads import apply_freeze, backbone_depths, find_head, param_groups
from memtool.finetune.recipe import Recipe
from memtool.models.layers import enumerate_layers
from memtool.models.stage_head import StageHead, stage_names, wrap

LITE0_STAGES = ["blocks.0", "blocks.1", "blocks.2", "blocks.4", "blocks.6"]


@pytest.fixture(scope="module")
def lite0():
    torch.manual_seed(0)
    return wrap(timm.create_model("tf_efficientnet_lite0", num_classes=1), (3, 96, 96))


def test_stages_are_timms_feature_info_or_the_last_module_of_each_resolution():
    assert stage_names(timm.create_model("tf_efficientnet_lite0")) == LITE0_STAGES
    resnet = torchvision.models.resnet18(weights=None)  # no feature_info: the rule decides
    # timm's own ResNet declares the same stages (its stem activation is called act1)
    assert stage_names(resnet) == ["relu", "layer1", "layer2", "layer3", "layer4"]


def test_forward_is_the_head_on_the_pooled_stage_outputs(lite0):
    x = torch.randn(2, 3, 96, 96)
    seen = {}
    hooks = [
        lite0.body.get_submodule(s).register_forward_hook(lambda m, i, o, s=s: seen.setdefault(s, o))
        for s in LITE0_STAGES
    ]
    with torch.no_grad():
        lite0.body.eval()
        lite0.body(x)  # the whole network, for reference
        for h in hooks:
            h.remove()
        expected = lite0.head(torch.cat([seen[s].mean(dim=(2, 3)) for s in LITE0_STAGES], dim=1))
        out = lite0.eval()(x)
    assert lite0.head.in_features == 16 + 24 + 40 + 112 + 320
    torch.testing.assert_close(out, expected)
    # The module feeding the head is a real layer: the sweep's "penultimate".
    assert enumerate_layers(lite0, "penultimate")[0].name == "features"
    assert find_head(lite0)[0] == "head"


def test_layers_after_the_deepest_stage_are_unused_frozen_and_get_no_gradient(lite0):
    tail = {
        n
        for n, _ in lite0.named_parameters()
        if n.startswith(("body.conv_head", "body.bn2", "body.classifier"))
    }
    assert tail and lite0.unused == tail
    assert not any(p.requires_grad for n, p in lite0.named_parameters() if n in tail)
    lite0.train()
    lite0(torch.randn(2, 3, 64, 64)).sum().backward()
    grads = {n for n, p in lite0.named_parameters() if p.grad is not None}
    assert grads == {n for n, _ in lite0.named_parameters()} - tail
    lite0.zero_grad(set_to_none=True)
    # Depth deciles, freezing and the optimiser's groups see only the layers that run.
    depths = backbone_depths(lite0, "head")
    assert not set(depths) & tail and max(depths.values()) == 1.0
    assert next(reversed(depths)).startswith("body.blocks.6")
    recipe = Recipe(freeze_fraction=0.3)
    frozen = apply_freeze(lite0, recipe, "head")
    assert frozen > 0
    groups = param_groups(lite0, recipe, "head")
    names = {id(p): n for n, p in lite0.named_parameters()}
    assert not {names[id(p)] for g in groups for p in g["params"]} & tail


def test_a_network_without_feature_maps_is_refused():
    from memtool.errors import ModelError

    mlp = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4), torch.nn.Linear(4, 1))
    with pytest.raises(ModelError, match="no module outputs a feature map") as caught:
        wrap(mlp, (3, 8, 8))
    assert "--head-features penultimate" in caught.value.hint


def test_a_fine_tuned_checkpoint_loads_back_as_its_stage_head(trained):
    from memtool.models.registry import load_model

    loaded = load_model(trained.result.checkpoint)
    assert isinstance(loaded.module, StageHead) and list(loaded.module.stages) == LITE0_STAGES
    assert trained.result.penultimate_layer == "features"


def test_a_sweep_of_a_stage_head_checkpoint_scores_the_layers_that_run(tmp_path):
    from memtool.store import Store
    from memtool.sweep import SweepConfig, run_sweep

    torch.manual_seed(0)
    wrapped = wrap(timm.create_model("test_efficientnet", num_classes=1), (3, 64, 64))
    path = tmp_path / "best.pt"
    config = {"input_size": [3, 64, 64], "mean": [0.5] * 3, "std": [0.5] * 3}
    torch.save(
        {
            "model": "timm:test_efficientnet",
            "state_dict": wrapped.state_dict(),
            "num_classes": 1,
            "head_stages": list(wrapped.stages),
            "data_config": {**config, "interpolation": "bilinear", "crop_pct": 0.875},
        },
        path,
    )
    db = tmp_path / "s.duckdb"
    run_sweep(SweepConfig(models=[str(path)], data="demo", limit=24, folds=3, n_boot=10, device="cpu"), db)
    _, rows = Store(db).query("SELECT DISTINCT layer_name FROM layer_scores")
    scored = {r[0] for r in rows}
    assert "features" in scored and "head" in scored and any(n.startswith("body.blocks.4") for n in scored)
    assert not {n for n in scored if n.startswith(("body.conv_head", "body.bn2", "body.global_pool"))}
