"""Finding and reading weight files: checkpoints, local caches, digests, the network.

Nothing here builds a model or decides an order; ``sources`` declares the resolution
order (checkpoint, caches, offline packages, download) and calls these lookups.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from memtool.errors import WeightsError

__all__ = [
    "Checkpoint",
    "CHECKPOINT_SUFFIXES",
    "apply_state_dict",
    "find_hf_cached",
    "find_torch_cached",
    "hf_cache_dir",
    "network_problem",
    "offline_reason",
    "read_checkpoint",
    "short_path",
    "state_dict_problems",
    "torch_cache_dir",
    "weights_digest",
    "legacy_weights_digest",
    "LEGACY_MODEL_IDS",
]

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors", ".ckpt")
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_HF_FILENAMES = ("model.safetensors", "pytorch_model.bin")


def short_path(path: str | Path) -> str:
    """``path`` with the home directory written as ``~`` (for messages)."""
    text = str(path)
    home = str(Path.home())
    return "~" + text[len(home) :] if home != "/" and text.startswith(home) else text


# --------------------------------------------------------------------------- caches


def offline_reason() -> str | None:
    """``"HF_HUB_OFFLINE=1"`` (or the like) when downloads are switched off, else None."""
    for var in _OFFLINE_VARS:
        value = os.environ.get(var, "").strip()
        if value and value.lower() not in ("0", "false", "no", "off"):
            return f"{var}={value}"
    return None


def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment at call time.

    huggingface_hub fixes its own constant at import, so tests (and users) that set
    ``HF_HOME`` later would otherwise be ignored.
    """
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def torch_cache_dir() -> Path:
    """``torch.hub.get_dir()/checkpoints`` (honours ``TORCH_HOME`` at call time)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def find_hf_cached(hf_hub_id: str, filename: str | None = None) -> Path | None:
    """The cached weight file of a hub repo (``"timm/resnet50.a1_in1k"``), or None."""
    from huggingface_hub import try_to_load_from_cache

    repo_id, _, revision = hf_hub_id.partition("@")
    cache = hf_cache_dir()
    if not (cache / f"models--{repo_id.replace('/', '--')}").is_dir():
        return None
    for name in (filename,) if filename else _HF_FILENAMES:
        found = try_to_load_from_cache(repo_id, name, cache_dir=cache, revision=revision or None)
        if isinstance(found, str) and Path(found).is_file():
            return Path(found)
    return None


def find_torch_cached(url: str) -> Path | None:
    """The torch hub cache file that a download of ``url`` would have written, or None."""
    if not url:
        return None
    path = torch_cache_dir() / os.path.basename(urlparse(url).path)
    return path if path.is_file() else None


def network_problem(url: str, timeout: float = 4.0) -> str | None:
    """None when ``url``'s host answers within ``timeout`` s, else a short reason.

    Any HTTP answer (even 404) proves the network works; only failures to connect
    count. Honours the usual proxy variables through urllib.
    """
    parts = urlparse(url)
    probe = f"{parts.scheme}://{parts.netloc}/"
    try:
        urllib.request.urlopen(urllib.request.Request(probe, method="HEAD"), timeout=timeout).close()
    except urllib.error.HTTPError:
        return None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"{parts.netloc} unreachable: {reason}"
    return None


# ----------------------------------------------------------------------- checkpoints


@dataclass
class Checkpoint:
    """A state dict read from a file, with what the file says about its model.

    ``model_name`` comes from a memtool checkpoint (``{"model": name, "state_dict":
    ..., "num_classes": n}``), a timm training checkpoint (``"arch"``) or safetensors
    metadata (``model`` / ``num_classes``); it is None for a bare state dict.
    """

    path: Path
    state_dict: dict[str, torch.Tensor]
    model_name: str | None = None
    num_classes: int | None = None
    data_config: dict | None = None  # preprocessing saved with a memtool checkpoint
    head_stages: tuple[str, ...] | None = None  # a fine-tuned model's stage head (models.stage_head)


def _strip_prefix(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in ("module.", "_orig_mod."):  # DataParallel / torch.compile wrappers
        if state and all(key.startswith(prefix) for key in state):
            state = {key[len(prefix) :]: value for key, value in state.items()}
    return dict(state)


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read a state dict file (.pth/.pt/.bin/.ckpt with ``weights_only``, or .safetensors)."""
    path = Path(path).expanduser()
    hint = "save it with torch.save(model.state_dict(), FILE) or as a memtool checkpoint"
    if not path.is_file():
        raise WeightsError(f"checkpoint {path} not found", hint="check the path given to --checkpoint")
    path = path.resolve()
    model_name = num_classes = data_config = head_stages = None
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt", device="cpu") as handle:
                meta = handle.metadata() or {}
                obj = {key: handle.get_tensor(key) for key in handle.keys()}
            model_name = meta.get("model")
            num_classes = int(meta["num_classes"]) if meta.get("num_classes") else None
        else:
            _require_torch_format(path, hint)
            with warnings.catch_warnings():  # e.g. "Detected pickle protocol 76": noise here
                warnings.simplefilter("ignore")
                obj = torch.load(path, map_location="cpu", weights_only=True)
    except WeightsError:
        raise
    except Exception as exc:  # unpickling, zip and safetensors errors all mean "unreadable"
        raise _unreadable(path, exc, hint) from None

    if isinstance(obj, Mapping):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                name = obj.get("model") if isinstance(obj.get("model"), str) else obj.get("arch")
                model_name = name if isinstance(name, str) else model_name
                if isinstance(obj.get("num_classes"), int):
                    num_classes = obj["num_classes"]
                if isinstance(obj.get("data_config"), Mapping):
                    data_config = dict(obj["data_config"])
                stages = obj.get("head_stages")
                if isinstance(stages, (list, tuple)) and stages and all(isinstance(n, str) for n in stages):
                    head_stages = tuple(stages)
                obj = obj[key]
                break
    if (
        not isinstance(obj, Mapping)
        or not obj
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    ):
        raise WeightsError(f"checkpoint {path} holds no state dict (name -> tensor)", hint=hint)
    return Checkpoint(path, _strip_prefix(obj), model_name, num_classes, data_config, head_stages)


_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default format is a zip archive
_PICKLE_PROTOCOL = 0x80  # older torch.save files and plain pickles start with PROTO


def _require_torch_format(path: Path, hint: str) -> None:
    """Refuse, with a message saying so, a file that is neither a zip archive nor a pickle."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
    except OSError as exc:
        raise WeightsError(
            f"cannot read checkpoint {path}: {exc.strerror}", hint="check the file's permissions"
        ) from None
    if not head:
        raise WeightsError(f"checkpoint {path} is empty (0 bytes): not a checkpoint", hint=hint)
    if head != _ZIP_MAGIC and head[0] != _PICKLE_PROTOCOL:
        raise WeightsError(
            f"{path} is not a checkpoint: it is neither a PyTorch file (zip archive or pickle) "
            f"nor .safetensors (first bytes {head.hex()})",
            hint=hint,
        )


def _unreadable(path: Path, exc: Exception, hint: str) -> WeightsError:
    """A torch/safetensors load failure as one honest line (never "use weights_only=False")."""
    text = str(exc).strip()
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found:
        # A pickle with Python objects besides tensors. Unpickling those runs arbitrary
        # code, so memtool never does, and never suggests weights_only=False.
        return WeightsError(
            f"checkpoint {path} holds Python objects besides tensors ({found.group(1)}), "
            "which memtool does not unpickle",
            hint="re-save only the tensors where it was made: torch.save(model.state_dict(), FILE), "
            "or save it as .safetensors",
        )
    text = re.sub(r"(?s)Weights only load failed.*?(?=(WeightsUnpickler|Unpickler) error|$)", "", text)
    lines = [line.strip() for line in text.splitlines() if line.strip() and "weights_only" not in line]
    first = (
        " ".join(lines[:2])
        if lines and lines[0].endswith(":")
        else (lines[0] if lines else type(exc).__name__)
    )
    return WeightsError(
        f"cannot read checkpoint {path}: it is damaged or not a checkpoint ({first})", hint=hint
    )


def _first(items: list[str], n: int = 3) -> str:
    more = f", ... ({len(items)} in all)" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def state_dict_problems(own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> list[str]:
    """Why ``state`` does not load strictly into a module whose state dict is ``own``
    (first missing and unexpected keys, first shape mismatch); empty when it fits.

    Only keys and shapes are compared, so ``own`` may live on the meta device.
    """
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} is {tuple(state[k].shape)} in the checkpoint but {tuple(own[k].shape)} in the model"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys {_first(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_first(unexpected)}")
    if shapes:
        problems.append(
            f"shape mismatch: {shapes[0]}" + (f" (+{len(shapes) - 1} more)" if len(shapes) > 1 else "")
        )
    return problems


def apply_state_dict(module: nn.Module, state: Mapping[str, torch.Tensor], what: str, model: str) -> None:
    """Load ``state`` into ``module`` strictly, or raise one WeightsError that names the
    first missing and unexpected keys and the first shape mismatch.

    ``num_batches_tracked`` buffers absent from old checkpoints are kept as they are.
    """
    own = module.state_dict()
    problems = state_dict_problems(own, state)
    if problems:
        raise WeightsError(
            f"{what} does not fit {model}: " + "; ".join(problems),
            hint="load it with the model it was saved from (and num_classes=N / --num-classes N "
            "if its classifier has N outputs)",
        )
    full = OrderedDict((k, state.get(k, own[k])) for k in own)
    module.load_state_dict(full, strict=True)


def weights_digest(module: nn.Module | Mapping[str, torch.Tensor]) -> str:
    """A short fingerprint of every byte of a module's weights (its whole state dict).

    A streaming SHA-1 over each entry's key, shape, dtype and raw bytes, in state-dict
    order: two models get the same digest only when every tensor is bit-identical. It
    reads each tensor once without copying it (a contiguous CPU tensor is hashed in
    place), about 1 GB/s on one core, so even a ResNet-152 costs a fraction of a second.
    Accepts a module or a state dict.
    """
    state = module.state_dict() if hasattr(module, "state_dict") else module
    digest = hashlib.sha1()
    for key, value in state.items():
        digest.update(f"{key}:{tuple(value.shape)}:{value.dtype};".encode())
        flat = value.detach().reshape(-1).cpu().contiguous()
        if flat.numel():
            digest.update(memoryview(flat.view(torch.uint8).numpy()))
    return digest.hexdigest()[:12]


# Model ids that memtool before 2026-12 wrote for the offline packages' weights (the
# partial digest of ``legacy_weights_digest``), and the ids of the same bytes under
# ``weights_digest``. The packages' files are fixed, so the pairs are exact; a sweep
# renames these ids in an older store (Store.adopt_model_ids) and keeps their scores.
# Other models' old ids cannot be proven to match any weights: their rows stay as they
# are and are not reused (the next sweep scores those models again).
LEGACY_MODEL_IDS = {
    "timm:tf_efficientnet_lite0@209813e27352": "timm:tf_efficientnet_lite0@46a7990964e6",
    "timm:tf_efficientnet_lite1@2a194d953968": "timm:tf_efficientnet_lite1@27c1e22dea13",
    "timm:tf_efficientnet_lite2@e26e6b884a6c": "timm:tf_efficientnet_lite2@8120509598a9",
    "resmem@0a696c567098": "resmem@032cc22ea15f",
}


def legacy_weights_digest(module: nn.Module | Mapping[str, torch.Tensor]) -> str:
    """The digest memtool used before 2026-12 (keys and shapes, values of four tensors only).

    It is blind to weights outside the first two and last two tensors, so it is no
    longer an identity; it is kept only to recognise, and migrate, model ids that older
    memtool wrote for weights whose bytes are known (the offline packages, see
    ``memtool.models.offline.LEGACY_WEIGHT_IDS``).
    """
    state = module.state_dict() if hasattr(module, "state_dict") else module
    digest = hashlib.sha1()
    for key, value in state.items():
        digest.update(f"{key}:{tuple(value.shape)}:{value.dtype};".encode())
    keys = list(state)
    for key in dict.fromkeys(keys[:2] + keys[-2:]):
        flat = state[key].detach().reshape(-1)[: 1 << 20].cpu().contiguous()
        if flat.dtype == torch.bfloat16:
            flat = flat.float()
        digest.update(flat.numpy().tobytes())
    return digest.hexdigest()[:12]
