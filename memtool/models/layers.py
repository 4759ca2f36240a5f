"""Which layers of a network to sweep: named-module enumeration and selections.

A *layer* is a named sub-module of the network (``module.named_modules()``), the unit
the memorability study counted. Selections:

``"all"``
    Every named module except the root, in ``named_modules()`` order (containers such
    as ``layer1`` and their children alike).
``"leaf"``
    Modules without children (convolutions, norms, activations, pools, linears...).
``"blocks"``
    The outermost non-container modules: walking down from the root, a module is a
    block when it is not a *pure container* (exactly ``nn.Sequential``,
    ``nn.ModuleList`` or ``nn.ModuleDict``; subclasses such as torchvision's
    ``Conv2dNormActivation`` count as blocks) and every ancestor below the root is one.
    Blocks tile the network without overlap: for a ResNet they are the stem layers,
    each ``layerN.i`` bottleneck, the pool and ``fc``; for a ViT ``patch_embed``, each
    ``blocks.i``, the norms and the head; for AlexNet/VGG (all Sequentials) every leaf.
``"penultimate"``
    The single module whose output feeds the classifier. The classifier is
    ``get_classifier()`` for timm models, otherwise the last ``nn.Linear``. The
    penultimate layer is the classifier's preceding sibling inside its parent (timm
    ResNet/EfficientNet: ``global_pool``; timm ViT: ``head_drop``; torchvision ResNet:
    ``avgpool``; AlexNet/VGG: ``classifier.5``, the ReLU after fc7). When the
    classifier is its parent's first child, the parent's preceding sibling is used
    (torchvision ViT: ``encoder``).
anything else
    A regular expression, matched with ``re.search`` against each layer's name.

``LayerInfo.index`` is the module's position in ``named_modules()`` (the root is 0, so
layers start at 1), which stays stable between runs of the same architecture.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch import nn

from memtool.errors import ModelError

__all__ = ["LayerInfo", "SELECTIONS", "enumerate_layers"]

SELECTIONS = ("all", "leaf", "blocks", "penultimate")
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


@dataclass(frozen=True)
class LayerInfo:
    """One named sub-module: its dotted name, position in named_modules(), class name."""

    name: str
    index: int
    module_type: str


def _is_container(module: nn.Module) -> bool:
    return type(module) in _CONTAINERS


def _blocks(module: nn.Module) -> set[str]:
    """Names of the outermost non-container modules (see the module docstring)."""
    found: set[str] = set()

    def walk(mod: nn.Module, prefix: str) -> None:
        for child_name, child in mod.named_children():
            name = f"{prefix}{child_name}"
            if _is_container(child):
                walk(child, name + ".")
            else:
                found.add(name)

    walk(module, "")
    return found


def _classifier_name(module: nn.Module, names: dict[int, str]) -> str:
    get_classifier = getattr(module, "get_classifier", None)
    if callable(get_classifier):
        head = get_classifier()
        if isinstance(head, (tuple, list)):  # distilled timm models: (head, head_dist)
            head = head[0]
        if isinstance(head, nn.Module) and id(head) in names:
            return names[id(head)]
    linears = [n for n, m in module.named_modules() if n and isinstance(m, nn.Linear)]
    if not linears:
        raise ModelError(
            f"cannot find the classifier of this {type(module).__name__} "
            "(no get_classifier() and no nn.Linear) to select its penultimate layer",
            hint="select layers with a regex instead, e.g. --layers 'avgpool|pool'",
        )
    return linears[-1]


def _penultimate(module: nn.Module) -> str:
    """Name of the module whose output feeds the classifier."""
    names = {id(m): n for n, m in module.named_modules()}
    name = _classifier_name(module, names)
    while name:
        parent_name, _, child_name = name.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        siblings = [n for n, _ in parent.named_children()]
        position = siblings.index(child_name)
        if position > 0:
            return f"{parent_name}.{siblings[position - 1]}" if parent_name else siblings[position - 1]
        name = parent_name
    raise ModelError(
        f"the classifier of this {type(module).__name__} is its first module, so no layer feeds it",
        hint="select layers with a regex instead",
    )


def enumerate_layers(module: nn.Module, selection: str = "all") -> list[LayerInfo]:
    """List the layers of ``module`` picked by ``selection`` (see the module docstring).

    Accepts a ``LoadedModel`` too (its ``.module`` is used). Raises ``ModelError`` for
    a bad regex or when the selection is empty.
    """
    if not isinstance(module, nn.Module):
        module = getattr(module, "module", module)  # a LoadedModel
    if not isinstance(module, nn.Module):
        raise ModelError(f"enumerate_layers needs a torch.nn.Module, got {type(module).__name__}")
    named = list(module.named_modules())
    layers = [LayerInfo(name, index, type(mod).__name__) for index, (name, mod) in enumerate(named)]
    layers = layers[1:]  # the root module is the whole network, not a layer

    if selection == "all":
        chosen = layers
    elif selection == "leaf":
        leaves = {name for name, mod in named[1:] if next(mod.children(), None) is None}
        chosen = [layer for layer in layers if layer.name in leaves]
    elif selection == "blocks":
        blocks = _blocks(module)
        chosen = [layer for layer in layers if layer.name in blocks]
    elif selection == "penultimate":
        target = _penultimate(module)
        chosen = [layer for layer in layers if layer.name == target]
    else:
        try:
            pattern = re.compile(selection)
        except re.error as exc:
            raise ModelError(
                f"layer selection {selection!r} is not a valid regex: {exc}",
                hint=f"use one of {', '.join(SELECTIONS)} or a Python regular expression",
            ) from None
        chosen = [layer for layer in layers if pattern.search(layer.name)]

    if not chosen:
        examples = ", ".join(layer.name for layer in layers[:5]) or "none"
        raise ModelError(
            f"layer selection {selection!r} matches no layer of this "
            f"{type(module).__name__} ({len(layers)} layers, e.g. {examples})",
            hint=f"use one of {', '.join(SELECTIONS)} or a regex that matches these names",
        )
    return chosen
