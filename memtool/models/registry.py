"""Loading and listing models: the public face of ``memtool.models``.

Model specs (``names``): ``"resnet50"`` (timm first, then torchvision),
``"timm:resnet50.a1_in1k"``, ``"torchvision:alexnet"``, ``"resmem"`` (the ResNet-152
inside ResMem) or the path of a checkpoint file that names its model
(``{"model": name, "state_dict": ...}``).

Pretrained weights are looked for in the order that ``sources`` declares (checkpoint →
HF/torch caches → offline pip packages → download); the first that exists wins and
``LoadedModel.weights_source`` says which. ``list_models`` (and ``memtool models``) reads
the same declaration to say which local source already holds a model's weights. Nothing
ever falls back to random weights: ``random_init=True`` asks for them. When every step
fails, a ``WeightsError`` lists what was tried and how to fix it. Random initialisation
is seeded (seed 0, without touching the global RNG), so the same architecture always
gets the same random weights and ``weights_id``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from memtool.errors import UsageError, WeightsError
from memtool.models import weights as W
from memtool.models.builders import BUILDERS, data_config, transform_from_config
from memtool.models.names import canonical_name, parse_model_spec, tv_names
from memtool.models.sources import CacheListing, WeightsCfg, weights_cfg

__all__ = [
    "LoadedModel",
    "ModelInfo",
    "list_models",
    "load_model",
    "parse_model_spec",
    "transform_from_config",
]


@dataclass
class LoadedModel:
    """A built network ready for feature extraction (eval mode, on the CPU).

    ``source`` is ``"timm"``, ``"torchvision"``, ``"resmem"`` (the ResNet-152 inside
    ResMem, torchvision architecture) or ``"checkpoint"`` when the spec was a checkpoint
    file (``name``/``arch`` then are those of the model named inside it).
    ``weights_id`` is a short digest of the weights (see ``weights.weights_digest``).
    """

    spec: str
    name: str
    source: str
    arch: str
    module: nn.Module
    transform: Callable
    data_config: dict
    weights_source: str
    weights_id: str
    n_params: int


@dataclass(frozen=True)
class ModelInfo:
    """A model :func:`load_model` can build; ``offline_weights`` says which local source
    already holds its weights here (``"hf-cache"``, ``"torch-cache"``,
    ``"package:<name>"``) or None (download, checkpoint or random init needed)."""

    name: str
    source: str
    offline_weights: str | None = None


def resolve_checkpoint(
    spec: str | Path, checkpoint: str | Path | None, random_init: bool, *, cli: bool = False
) -> tuple[str, str, W.Checkpoint | None]:
    """``(source, arch, checkpoint)`` of a model spec that may itself be a checkpoint file
    (whose model it names), or be given one; the checkpoint is read, not applied. ``cli``
    words the usage errors with the command's options."""
    source, arch = parse_model_spec(spec)
    ckpt = None
    if source == "checkpoint":
        if checkpoint is not None:
            option = "--checkpoint" if cli else "checkpoint="
            raise UsageError(f"the model {spec} is itself a checkpoint file; do not also pass {option}")
        ckpt = W.read_checkpoint(arch)
        if not ckpt.model_name:
            raise WeightsError(
                f"checkpoint {ckpt.path} does not name its model",
                hint=f"give the model and the file, e.g. resnet50 --checkpoint {ckpt.path}",
            )
        source, arch = parse_model_spec(ckpt.model_name)
        if source == "checkpoint":
            raise WeightsError(f"checkpoint {ckpt.path} names a file ({arch}) instead of a model")
    elif checkpoint is not None:
        ckpt = W.read_checkpoint(checkpoint)
    if ckpt is not None and random_init:
        raise UsageError(f"{'--random-init' if cli else 'random_init'} and a checkpoint exclude each other")
    return source, arch, ckpt


def load_model(
    spec: str | Path,
    *,
    checkpoint: str | Path | None = None,
    random_init: bool = False,
    num_classes: int | None = None,
    head_stages: list[str] | tuple[str, ...] | None = None,
) -> LoadedModel:
    """Build the model named by ``spec`` with weights resolved in the order of ``sources.ORDER``.

    ``checkpoint`` loads a state dict file strictly (a mismatch raises ``WeightsError``
    naming the first missing/unexpected keys and shape mismatch). ``random_init`` asks
    for seeded random weights. ``num_classes`` changes the classifier (a fresh head on
    top of pretrained weights; a memtool checkpoint's own ``num_classes`` is the default).
    ``head_stages`` wraps the built network in a fresh stage head over those stages
    (:mod:`memtool.models.stage_head`), as a fine-tuned stage-head model is built.
    """
    source, arch, ckpt = resolve_checkpoint(spec, checkpoint, random_init)
    from_file = ckpt is not None and checkpoint is None  # the spec itself was the file
    if ckpt is not None and num_classes is None:
        num_classes = ckpt.num_classes

    name = canonical_name(source, arch)
    staged = ckpt is not None and ckpt.head_stages  # a fine-tuned model with a stage head
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        module, config, transform, weights_source = BUILDERS[source](
            arch, name, None if staged else ckpt, random_init or bool(staged), num_classes
        )
    if staged:
        from memtool.models.stage_head import rebuild

        module = rebuild(module, ckpt.head_stages, ckpt.state_dict)
        W.apply_state_dict(module, ckpt.state_dict, f"checkpoint {ckpt.path}", name)
        weights_source = f"checkpoint:{ckpt.path}"
    elif head_stages:
        from memtool.models.stage_head import wrap

        module = wrap(module.to("cpu"), config["input_size"], head_stages)
    module = module.to("cpu").eval()
    if ckpt is not None and ckpt.data_config:  # e.g. a fine-tuned model's own input size
        config = data_config(
            *(
                ckpt.data_config.get(k, config[k])
                for k in ("input_size", "mean", "std", "interpolation", "crop_pct")
            )
        )
        transform = transform_from_config(config)
    return LoadedModel(
        spec=str(spec),
        name=name,
        source="checkpoint" if from_file else source,
        arch=arch,
        module=module,
        transform=transform,
        data_config=config,
        weights_source=weights_source,
        weights_id=W.weights_digest(module),
        n_params=sum(p.numel() for p in module.parameters()),
    )


# -------------------------------------------------------------------------- listing


def _info(family: str, arch: str, listing: CacheListing, cfg: WeightsCfg | None = None) -> ModelInfo:
    name = canonical_name(family, arch)
    hit = (cfg or weights_cfg(family, arch, name)).offline(listing)
    return ModelInfo(name, family, hit[0].listed() if hit else None)


def list_models(pattern: str | None = None, *, pretrained_only: bool = True) -> list[ModelInfo]:
    """Models :func:`load_model` can build, timm first, then torchvision, then resmem.

    ``pattern`` is a shell wildcard on the name (``"resnet5*"``); without wildcard
    characters it matches any name containing it. A ``"timm:"`` / ``"torchvision:"``
    prefix restricts the source. With ``pretrained_only`` timm names carry their
    pretrained tags (``resnet50.a1_in1k``) and models without published weights are
    left out. ``offline_weights`` comes from the same weight sources ``load_model`` tries.
    """
    import timm

    text = (pattern or "*").strip()
    only, sep, rest = text.partition(":")
    if sep and only.lower() in ("timm", "torchvision", "tv", "resmem"):
        only, text = ("torchvision" if only.lower() == "tv" else only.lower()), rest or "*"
    else:
        only = None
    if not any(ch in text for ch in "*?["):
        text = f"*{text}*"
    infos: list[ModelInfo] = []
    listing = CacheListing.read()

    if only in (None, "timm"):
        infos += [_info("timm", arch, listing) for arch in timm.list_models(text, pretrained=pretrained_only)]

    if only in (None, "torchvision"):
        for arch in tv_names():
            if not fnmatch.fnmatch(arch, text):
                continue
            cfg = weights_cfg("torchvision", arch, canonical_name("torchvision", arch))
            if pretrained_only and not cfg.published:
                continue
            infos.append(_info("torchvision", arch, listing, cfg))

    if only in (None, "resmem") and fnmatch.fnmatch("resmem", text):
        info = _info("resmem", "resnet152", listing)
        if info.offline_weights or not pretrained_only:
            infos.append(info)
    return infos
