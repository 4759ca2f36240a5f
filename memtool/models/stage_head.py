"""A regression head on the pooled outputs of a network's stages (a multi-scale head).

:class:`StageHead` wraps a network (``body``) and feeds one linear layer (``head``) with
the concatenation of the spatially averaged outputs of the body's stages, the last
module of each resolution level. The forward pass stops once the deepest stage has
run, so the layers after it (for a CNN: the final 1x1 convolution, the pooling and the
classifier) are never computed, and their parameters are *unused*: they receive no
gradient and are frozen by :func:`wrap`. The concatenated vector goes through an
identity module named ``features`` before the head, so the module that feeds the head
(the "penultimate layer" of :mod:`memtool.models.layers`) is a real layer a sweep can
tap.

Stages are timm's ``feature_info`` where a model declares it (EfficientNet-Lite0:
``blocks.0``, ``blocks.1``, ``blocks.2``, ``blocks.4``, ``blocks.6``; ResNets: ``act1``,
``layer1`` … ``layer4``). Other networks (torchvision, ResMem) get the rule
:func:`stage_names` describes, which gives the same for a torchvision ResNet.

A checkpoint of a wrapped model records its stages (``head_stages``), from which
:func:`rebuild` restores the module before its state dict is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from memtool.errors import ModelError


class _Done(Exception):
    """Raised by the deepest stage's hook: the rest of the body is not needed."""


class StageHead(nn.Module):
    """``head(features(concat(mean_hw(stage_k(x)) for each stage)))``."""

    def __init__(self, body: nn.Module, stages: Sequence[str], width: int):
        super().__init__()
        if not stages:
            raise ModelError("a stage head needs at least one stage")
        self.body = body
        self.features = nn.Identity()
        self.head = nn.Linear(int(width), 1)
        self.stages = tuple(stages)
        self.unused: frozenset[str] = frozenset()  # parameter names the forward never reaches

    def get_classifier(self) -> nn.Module:
        return self.head

    def stage_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each stage's output, pooled to (batch, channels), in the order of ``stages``."""
        seen: dict[str, torch.Tensor] = {}
        last = self.stages[-1]

        def hook_for(name: str):
            def hook(_module, _inputs, output):
                seen[name] = output
                if name == last:
                    raise _Done

            return hook

        handles = [self.body.get_submodule(s).register_forward_hook(hook_for(s)) for s in self.stages]
        try:
            self.body(x)
        except _Done:
            pass
        finally:
            for handle in handles:
                handle.remove()
        missing = [s for s in self.stages if s not in seen]
        if missing:
            raise ModelError(f"stage(s) {', '.join(missing)} did not run before {last}")
        return [_pool(seen[s]) for s in self.stages]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(torch.cat(self.stage_outputs(x), dim=1)))


def _pool(t: torch.Tensor) -> torch.Tensor:
    if isinstance(t, (tuple, list)):
        t = t[0]
    if t.ndim == 4:
        return t.mean(dim=(2, 3))
    if t.ndim == 3:  # tokens (batch, tokens, channels)
        return t.mean(dim=1)
    return t.reshape(t.shape[0], -1)


def _dry_run(module: nn.Module, input_size: Sequence[int], names: Sequence[str]) -> dict[str, tuple]:
    """Output shape of each module in ``names`` on one zero image, in completion order."""
    shapes: dict[str, tuple] = {}
    handles = []
    for name in names:

        def hook(_m, _i, out, name=name):
            if isinstance(out, (tuple, list)) and out:
                out = out[0]
            if isinstance(out, torch.Tensor):
                shapes.setdefault(name, tuple(out.shape))

        handles.append(module.get_submodule(name).register_forward_hook(hook))
    _forward_zeros(module, input_size, handles)
    return shapes


def _forward_zeros(module: nn.Module, input_size: Sequence[int], handles: list) -> None:
    """One zero image through ``module`` in evaluation mode; then the hooks are removed
    and the module's mode restored."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            module(torch.zeros(1, *(int(v) for v in input_size)))
    finally:
        for handle in handles:
            handle.remove()
        module.train(was_training)


def stage_names(module: nn.Module, input_size: Sequence[int] = (3, 224, 224)) -> list[str]:
    """The stages of ``module``: timm's ``feature_info`` modules where declared; else, of
    the modules at most two levels deep with a spatial output larger than 1 x 1, the last
    one to finish at each resolution (one zero image through the network decides)."""
    known = {name for name, _ in module.named_modules()}
    info = getattr(module, "feature_info", None)
    declared = []
    if isinstance(info, (list, tuple)):
        declared = [d.get("module") for d in info if isinstance(d, dict)]
    elif info is not None and hasattr(info, "module_name"):
        declared = list(info.module_name())
    if declared and all(isinstance(n, str) and n in known for n in declared):
        return declared
    candidates = [n for n, _ in module.named_modules() if n and n.count(".") <= 1]
    shapes = _dry_run(module, input_size, candidates)
    last_at: dict[tuple, str] = {}
    for name, shape in shapes.items():  # completion order
        if len(shape) == 4 and shape[2] * shape[3] > 1:
            last_at.pop(shape[2:], None)
            last_at[shape[2:]] = name
    if not last_at:
        raise ModelError(
            f"cannot find the stages of this {type(module).__name__}: no module outputs a feature map",
            hint="fine-tune it with --head-features penultimate",
        )
    return list(last_at.values())


def _unused_parameters(wrapper: StageHead, input_size: Sequence[int]) -> frozenset[str]:
    """Parameters of the modules a forward pass never reaches (after the deepest stage)."""
    ran: set[int] = set()
    handles = [m.register_forward_pre_hook(lambda mod, _i: ran.add(id(mod))) for m in wrapper.modules()]
    _forward_zeros(wrapper, input_size, handles)
    unused = set()
    for mod_name, mod in wrapper.named_modules():
        if id(mod) not in ran:
            for p_name, _ in mod.named_parameters(recurse=False):
                unused.add(f"{mod_name}.{p_name}" if mod_name else p_name)
    return frozenset(unused)


def wrap(module: nn.Module, input_size: Sequence[int], stages: Sequence[str] | None = None) -> StageHead:
    """``module`` with a fresh stage head (stages from :func:`stage_names` unless given);
    the parameters the forward pass never reaches are frozen and listed in ``unused``."""
    stages = list(stages) if stages else stage_names(module, input_size)
    shapes = _dry_run(module, input_size, stages)
    missing = [s for s in stages if s not in shapes]
    if missing:
        raise ModelError(f"stage(s) {', '.join(missing)} of this {type(module).__name__} never run")
    order = list(shapes)  # completion order: the deepest stage is the one that ends last
    stages = sorted(stages, key=order.index)
    width = sum(int(shapes[s][-1] if len(shapes[s]) == 3 else shapes[s][1]) for s in stages)
    with torch.random.fork_rng(devices=[]):  # the head's initial weights: seeded, as load_model's
        torch.manual_seed(0)
        wrapper = StageHead(module, stages, width)
    wrapper.unused = _unused_parameters(wrapper, input_size)
    for name, param in wrapper.named_parameters():
        if name in wrapper.unused:
            param.requires_grad_(False)
    return wrapper


def rebuild(module: nn.Module, stages: Sequence[str], state_dict: dict) -> StageHead:
    """The wrapper a checkpoint with ``head_stages`` was saved from (weights not loaded)."""
    weight = state_dict.get("head.weight")
    if weight is None or weight.ndim != 2:
        raise ModelError("a stage-head checkpoint must hold head.weight (1 x width)")
    return StageHead(module, list(stages), int(weight.shape[1]))
