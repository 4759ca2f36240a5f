"""The regression head: a pretrained network with one output, its parameter groups, and
folding the score standardisation into the head.

``load_model(spec, num_classes=1)`` keeps the pretrained backbone and replaces the
classifier by a fresh one-output linear layer (timm: ``reset_classifier``;
torchvision/ResMem: the last ``nn.Linear``). This module finds that head again, sets it
to the sweep's ridge readout of the penultimate features (LP-FT), freezes early
parameters, splits the rest into the recipe's AdamW groups (layer-wise learning rates),
and rescales the head so the saved model outputs scores instead of z-scores. The moving
average of the weights lives in :mod:`memtool.finetune.ema` (``WeightEMA`` is importable
from here too).
"""

from __future__ import annotations

import torch
from torch import nn

from memtool.errors import ModelError
from memtool.finetune.ema import WeightEMA  # noqa: F401 (re-exported: its old home)


def load_regression_model(spec: str, *, random_init: bool = False, head_features: str = "penultimate"):
    """``LoadedModel`` for ``spec`` with a fresh one-output head (pretrained backbone).

    ``head_features``: ``penultimate`` replaces the classifier; ``stages`` wraps the
    network in a :class:`memtool.models.stage_head.StageHead` (the head reads the pooled
    outputs of every stage; the layers after the deepest stage are frozen, unused).
    """
    import dataclasses

    from memtool.models.registry import load_model

    loaded = load_model(spec, num_classes=1, random_init=random_init)
    if head_features == "stages":
        from memtool.models.stage_head import wrap

        loaded = dataclasses.replace(loaded, module=wrap(loaded.module, loaded.data_config["input_size"]))
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
    if (
        not isinstance(head, nn.Module)
        or id(head) not in names
        or not isinstance(head, (nn.Linear, nn.Conv2d))
    ):
        linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
        head = linears[-1] if linears else None
    if head is None:
        raise ModelError(
            f"cannot find the classifier of {name} to turn it into a regression head",
            hint="fine-tune a model with a linear classifier (most timm and torchvision models)",
        )
    outputs = head.out_features if isinstance(head, nn.Linear) else head.out_channels
    if outputs != 1 or head.bias is None:
        raise ModelError(
            f"the head of {name} ({names[id(head)]}) has {outputs} outputs"
            + ("" if head.bias is not None else " and no bias"),
            hint="build the model with num_classes=1 (memtool.finetune.heads.load_regression_model)",
        )
    return names[id(head)], head


def backbone_depths(module: nn.Module, head_name: str) -> dict[str, float]:
    """Relative depth (0 first .. 1 last) of every backbone parameter, by registration
    order (the order timm and torchvision build their stages in), the head excluded."""
    unused = getattr(module, "unused", frozenset())  # a stage head's never-reached layers
    names = [
        n
        for n, _ in module.named_parameters()
        if n not in unused and not (n == head_name or n.startswith(head_name + "."))
    ]
    last = max(1, len(names) - 1)
    return {n: i / last for i, n in enumerate(names)}


def apply_freeze(module: nn.Module, recipe, head_name: str) -> int:
    """Stop gradients of backbone parameters shallower than ``recipe.freeze_fraction``;
    returns how many parameter tensors were frozen."""
    frozen = 0
    if recipe.freeze_fraction <= 0:
        return 0
    depths = backbone_depths(module, head_name)
    for name, param in module.named_parameters():
        if name in depths and depths[name] < recipe.freeze_fraction:
            param.requires_grad_(False)
            frozen += 1
    return frozen


def param_groups(module: nn.Module, recipe, head_name: str) -> list[dict]:
    """AdamW groups: head / backbone depth decile x decayed (weights, kernels) or not
    (biases, norms). A backbone parameter in decile ``k`` (0..9) gets ``lr *
    layer_decay ** (9 - k)``; frozen parameters are left out."""
    depths = backbone_depths(module, head_name)
    decay_rate = float(getattr(recipe, "layer_decay", 1.0))
    groups: dict[tuple, list] = {}
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        if name not in depths:
            level = "head"
        else:  # without decay every backbone parameter shares the top level's rate
            level = min(9, int(depths[name] * 10)) if decay_rate != 1.0 else 9
        groups.setdefault((level, param.ndim >= 2), []).append(param)
    out = []
    for (level, decay), params in groups.items():
        if level == "head":
            lr, name = recipe.lr * recipe.head_lr_mult, "head"
        else:
            lr = recipe.lr * decay_rate ** (9 - level)
            name = "backbone" if decay_rate == 1.0 else f"backbone{level}"
        name += "" if decay else "_no_decay"
        out.append(
            {"params": params, "lr": lr, "weight_decay": recipe.weight_decay if decay else 0.0, "name": name}
        )
    return out


def freeze_norm_statistics(module: nn.Module) -> None:
    """Put batch-norm layers in evaluation mode (running statistics stay as pretrained)."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


@torch.no_grad()
def ridge_head(features, z, *, val_features=None, val_z=None):
    """The sweep's ridge readout of ``features`` (images x d) for targets ``z``, as the
    ``(weight (d,), bias, alpha)`` of a linear head on the raw features.

    Standardisation, dropped constant features, the penalty grid and its choice (exact
    leave-one-out error on the training images, or Spearman rho on validation images
    when given) are those of :func:`memtool.scoring.readout.score_features`; the
    standardisation is folded into the weights, so ``features @ weight + bias`` equals
    the readout's prediction.
    """
    import numpy as np

    from memtool.scoring.readout import DEFAULT_ALPHAS, _first_best, _RidgePath
    from memtool.scoring.stats import spearman_rows

    X = np.asarray(features, dtype=np.float64)
    alphas = np.asarray(DEFAULT_ALPHAS, dtype=np.float64)
    path = _RidgePath(X.copy(), np.asarray(z, dtype=np.float64))
    if val_features is None:
        best = _first_best(path.loo_mse(alphas), larger_is_better=False)
    else:
        rhos = spearman_rows(
            path.predict_all(np.asarray(val_features, dtype=np.float64), alphas).T,
            np.asarray(val_z, dtype=np.float64),
        )
        best = _first_best(rhos, larger_is_better=True)
    alpha = float(alphas[best])
    beta = path.V @ (path.g / (path.s2 + alpha))  # weights on standardised features
    weight = np.zeros(X.shape[1])
    weight[path.keep] = beta / path.scale
    bias = path.y_mean - float(np.dot(path.mean, beta / path.scale))
    return weight, bias, alpha


@torch.no_grad()
def set_head(head: nn.Module, weight, bias: float) -> None:
    """Write a linear readout into a one-output ``nn.Linear`` or 1x1 ``nn.Conv2d`` head."""
    w = torch.as_tensor(weight, dtype=head.weight.dtype, device=head.weight.device)
    head.weight.copy_(w.reshape(head.weight.shape))
    head.bias.fill_(float(bias))


class HeadInput:
    """Context manager capturing the (flattened) input of the head on every forward."""

    def __init__(self, head: nn.Module):
        self.head = head
        self.batches: list[torch.Tensor] = []

    def __enter__(self) -> HeadInput:
        def hook(_module, inputs):
            self.batches.append(inputs[0].detach().float().reshape(inputs[0].shape[0], -1).cpu())

        self._handle = self.head.register_forward_pre_hook(hook)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()


@torch.no_grad()
def fold_scaling(state: dict[str, torch.Tensor], head_name: str, mean: float, std: float) -> dict:
    """A copy of ``state`` whose head outputs ``z * std + mean`` instead of ``z``."""
    out = dict(state)
    weight, bias = f"{head_name}.weight", f"{head_name}.bias"
    out[weight] = state[weight] * std
    out[bias] = state[bias] * std + mean
    return out
