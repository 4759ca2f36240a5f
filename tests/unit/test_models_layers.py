"""enumerate_layers against named_modules() of tiny timm models and torchvision nets."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from torch import nn

from memtool.errors import ModelError
from memtool.models.layers import LayerInfo, enumerate_layers

TINY = ("test_resnet", "test_efficientnet", "test_vit")


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return {name: timm.create_model(name).eval() for name in TINY}


@pytest.mark.parametrize("arch", TINY)
def test_all_is_named_modules_minus_root(tiny, arch):
    model = tiny[arch]
    named = list(model.named_modules())
    layers = enumerate_layers(model, "all")
    assert [layer.name for layer in layers] == [name for name, _ in named[1:]]
    assert [layer.index for layer in layers] == list(range(1, len(named)))
    assert all(layer.module_type == type(named[layer.index][1]).__name__ for layer in layers)
    assert enumerate_layers(model) == layers  # "all" is the default


@pytest.mark.parametrize("arch", TINY)
def test_leaf_layers_have_no_children(tiny, arch):
    model = tiny[arch]
    leaves = enumerate_layers(model, "leaf")
    expected = [n for n, m in model.named_modules() if n and not list(m.children())]
    assert [layer.name for layer in leaves] == expected
    assert all(not list(model.get_submodule(layer.name).children()) for layer in leaves)


@pytest.mark.parametrize("arch", TINY)
def test_blocks_tile_the_network(tiny, arch):
    model = tiny[arch]
    blocks = [layer.name for layer in enumerate_layers(model, "blocks")]
    pure = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
    assert blocks and all(type(model.get_submodule(b)) not in pure for b in blocks)
    # no block sits inside another, and every leaf belongs to exactly one block
    assert not [a for a in blocks for b in blocks if a != b and a.startswith(b + ".")]
    for leaf in enumerate_layers(model, "leaf"):
        owners = [b for b in blocks if leaf.name == b or leaf.name.startswith(b + ".")]
        assert len(owners) == 1, leaf.name


def test_blocks_pick_the_residual_and_transformer_blocks(tiny):
    resnet = [layer.name for layer in enumerate_layers(tiny["test_resnet"], "blocks")]
    assert "layer1.0" in resnet and "layer1" not in resnet and "fc" in resnet
    vit = [layer.name for layer in enumerate_layers(tiny["test_vit"], "blocks")]
    depth = len(tiny["test_vit"].blocks)
    assert [b for b in vit if b.startswith("blocks.")] == [f"blocks.{i}" for i in range(depth)]
    assert "patch_embed" in vit and "head" in vit


@pytest.mark.parametrize(
    ("arch", "expected", "classifier"),
    [
        ("test_resnet", "global_pool", "fc"),
        ("test_efficientnet", "global_pool", "classifier"),
        ("test_vit", "head_drop", "head"),
    ],
)
def test_penultimate_output_feeds_the_classifier(tiny, arch, expected, classifier):
    model = tiny[arch]
    (layer,) = enumerate_layers(model, "penultimate")
    assert layer.name == expected
    seen = {}
    handle = model.get_submodule(layer.name).register_forward_hook(lambda m, i, o: seen.update(out=o))
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        logits = model(x)
        again = model.get_submodule(classifier)(seen["out"].flatten(1))
    handle.remove()
    torch.testing.assert_close(again, logits)


def test_penultimate_of_torchvision_models():
    resnet = torchvision.models.resnet18()
    assert [layer.name for layer in enumerate_layers(resnet, "penultimate")] == ["avgpool"]
    alexnet = torchvision.models.alexnet()
    assert [layer.name for layer in enumerate_layers(alexnet, "penultimate")] == ["classifier.5"]
    with pytest.raises(ModelError, match="classifier"):
        enumerate_layers(torchvision.models.squeezenet1_1(), "penultimate")  # conv classifier


def test_regex_selection(tiny):
    model = tiny["test_resnet"]
    chosen = enumerate_layers(model, r"^layer1\.\d+$")
    assert chosen and [layer.name for layer in chosen] == [
        n for n, _ in model.named_modules() if n.startswith("layer1.") and n.count(".") == 1
    ]
    assert all(isinstance(layer, LayerInfo) for layer in chosen)
    assert {layer.name for layer in enumerate_layers(model, "conv")} == {
        n for n, _ in model.named_modules() if "conv" in n
    }


def test_empty_or_invalid_selection_raises(tiny):
    with pytest.raises(ModelError, match="no_such_layer"):
        enumerate_layers(tiny["test_resnet"], "no_such_layer")
    with pytest.raises(ModelError, match="not a valid regex"):
        enumerate_layers(tiny["test_resnet"], "layer[")
