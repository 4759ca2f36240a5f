"""The regression head: a pretrained network with one output, its parameter groups, and
folding the score standardisation into the head.

``load_model(spec, num_classes=1)`` keeps the pretrained backbone and replaces the
classifier by a fresh one-output linear layer (timm: ``reset_classifier``;
torchvision/ResMem: the last ``nn.Linear``). This module finds that head again, splits
the parameters into the recipe's four AdamW groups, and rescales the head so the saved
model outputs scores instead of z-scores.
"""

from __future__ import annotations

import torch
from torch import nn

from memtool.errors import ModelError


def load_regression_model(spec: str, *, random_init: bool = False):
    """``LoadedModel`` for ``spec`` with a fresh one-output head (pretrained backbone)."""
    from memtool.models.registry import load_model

    loaded = load_model(spec, num_classes=1, random_init=random_init)
    find_head(loaded.module, loaded.name)  # fail now, not after the first epoch
    return loaded


def find_head(module: nn.Module, name: str = "the model") -> tuple[str, nn.Module]:
    """``(dotted name, module)`` of the one-output regression head.

    The head is ``get_classifier()`` for timm models, otherwise the last ``nn.Linear``;
    it must be an ``nn.Linear`` (or 1x1 ``nn.Conv2d``) with one output and a bias.
    """
    names = {id(m): n for n, m in module.named_modules()}
    head = None
    get_classifier = getattr(module, "get_classifier", None)
    if callable(get_classifier):
        head = get_classifier()
        if isinstance(head, (tuple, list)):
            head = head[0]
    if not isinstance(head, nn.Module) or id(head) not in names or not isinstance(head, (nn.Linear, nn.Conv2d)):
        linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
        head = linears[-1] if linears else None
    if head is None:
        raise ModelError(f"cannot find the classifier of {name} to turn it into a regression head",
                         hint="fine-tune a model with a linear classifier (most timm and torchvision models)")
    outputs = head.out_features if isinstance(head, nn.Linear) else head.out_channels
    if outputs != 1 or head.bias is None:
        raise ModelError(
            f"the head of {name} ({names[id(head)]}) has {outputs} outputs"
            + ("" if head.bias is not None else " and no bias"),
            hint="build the model with num_classes=1 (memtool.finetune.heads.load_regression_model)",
        )
    return names[id(head)], head


def param_groups(module: nn.Module, recipe, head_name: str) -> list[dict]:
    """AdamW groups: backbone/head x decayed (weights, kernels) / not decayed (biases, norms)."""
    groups = {(is_head, decay): [] for is_head in (False, True) for decay in (False, True)}
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        is_head = name == head_name or name.startswith(head_name + ".")
        groups[(is_head, param.ndim >= 2)].append(param)
    out = []
    for (is_head, decay), params in groups.items():
        if params:
            out.append({
                "params": params,
                "lr": recipe.lr * (recipe.head_lr_mult if is_head else 1.0),
                "weight_decay": recipe.weight_decay if decay else 0.0,
                "name": ("head" if is_head else "backbone") + ("" if decay else "_no_decay"),
            })
    return out


@torch.no_grad()
def fold_scaling(state: dict[str, torch.Tensor], head_name: str, mean: float, std: float) -> dict:
    """A copy of ``state`` whose head outputs ``z * std + mean`` instead of ``z``."""
    out = dict(state)
    weight, bias = f"{head_name}.weight", f"{head_name}.bias"
    out[weight] = state[weight] * std
    out[bias] = state[bias] * std + mean
    return out

