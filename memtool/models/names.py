"""Model names: which library builds a spec, and its canonical name.

``"resnet50"`` (timm first, then torchvision), ``"timm:resnet50.a1_in1k"``,
``"torchvision:alexnet"``, ``"resmem"`` (the ResNet-152 inside ResMem) or the path of a
checkpoint file that names its model (``{"model": name, "state_dict": ...}``). Unknown
names raise ``ModelError`` with the closest known ones.
"""

from __future__ import annotations

import difflib
import functools
from pathlib import Path

from memtool.errors import ModelError, WeightsError
from memtool.models.weights import CHECKPOINT_SUFFIXES

__all__ = ["canonical_name", "parse_model_spec", "timm_names", "tv_names"]


@functools.lru_cache(maxsize=1)
def timm_names() -> tuple[str, ...]:
    import timm

    return tuple(timm.list_models())


@functools.lru_cache(maxsize=1)
def tv_names() -> tuple[str, ...]:
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
    names = tv_names()
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
    if text.lower().endswith(CHECKPOINT_SUFFIXES):
        raise WeightsError(f"checkpoint file {text} not found", hint="check the path")

    prefix, sep, rest = text.partition(":")
    if sep:
        prefix, rest = prefix.lower().strip(), rest.strip()
        if prefix == "timm":
            found = _find_timm(rest)
            if found is None:
                raise _unknown(rest, timm_names(), "timm")
            return "timm", found
        if prefix in ("torchvision", "tv"):
            found = _find_tv(rest)
            if found is None:
                raise _unknown(rest, tv_names(), "torchvision's classification models")
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
    raise _unknown(text, timm_names() + tv_names() + ("resmem",), "timm or torchvision")


def canonical_name(source: str, arch: str) -> str:
    """The name memtool stores for a model: ``timm:ARCH``, ``torchvision:ARCH`` or ``resmem``."""
    return "resmem" if source == "resmem" else f"{source}:{arch}"
