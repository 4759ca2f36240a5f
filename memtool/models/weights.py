"""Finding and reading weight files: checkpoints, local caches, digests, the network.

Nothing here builds a model; ``registry.load_model`` combines these pieces in its
resolution order (checkpoint, caches, offline packages, download).
"""

from __future__ import annotations

import hashlib
import os
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
    "torch_cache_dir",
    "weights_digest",
]

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors", ".ckpt")
_OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_HF_FILENAMES = ("model.safetensors", "pytorch_model.bin")


def short_path(path: str | Path) -> str:
    """``path`` with the home directory written as ``~`` (for messages)."""
    text = str(path)
    home = str(Path.home())
    return "~" + text[len(home):] if home != "/" and text.startswith(home) else text


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


def _strip_prefix(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    for prefix in ("module.", "_orig_mod."):  # DataParallel / torch.compile wrappers
        if state and all(key.startswith(prefix) for key in state):
            state = {key[len(prefix):]: value for key, value in state.items()}
    return dict(state)


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read a state dict file (.pth/.pt/.bin/.ckpt with ``weights_only``, or .safetensors)."""
    path = Path(path).expanduser()
    hint = "save it with torch.save(model.state_dict(), FILE) or as a memtool checkpoint"
    if not path.is_file():
        raise WeightsError(f"checkpoint {path} not found", hint="check the path given to --checkpoint")
    path = path.resolve()
    model_name = num_classes = data_config = None
    try:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt", device="cpu") as handle:
                meta = handle.metadata() or {}
                obj = {key: handle.get_tensor(key) for key in handle.keys()}
            model_name = meta.get("model")
            num_classes = int(meta["num_classes"]) if meta.get("num_classes") else None
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling, zip and safetensors errors all mean "unreadable"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"cannot read checkpoint {path}: {first}", hint=hint) from None

    if isinstance(obj, Mapping):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                name = obj.get("model") if isinstance(obj.get("model"), str) else obj.get("arch")
                model_name = name if isinstance(name, str) else model_name
                if isinstance(obj.get("num_classes"), int):
                    num_classes = obj["num_classes"]
                if isinstance(obj.get("data_config"), Mapping):
                    data_config = dict(obj["data_config"])
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
    ):
        raise WeightsError(f"checkpoint {path} holds no state dict (name -> tensor)", hint=hint)
    return Checkpoint(path, _strip_prefix(obj), model_name, num_classes, data_config)


def _first(items: list[str], n: int = 3) -> str:
    more = f", ... ({len(items)} in all)" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def apply_state_dict(module: nn.Module, state: Mapping[str, torch.Tensor], what: str, model: str) -> None:
    """Load ``state`` into ``module`` strictly, or raise one WeightsError that names the
    first missing and unexpected keys and the first shape mismatch.

    ``num_batches_tracked`` buffers absent from old checkpoints are kept as they are.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} is {tuple(state[k].shape)} in the checkpoint but {tuple(own[k].shape)} in the model"
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        problems = []
        if missing:
            problems.append(f"missing keys {_first(missing)}")
        if unexpected:
            problems.append(f"unexpected keys {_first(unexpected)}")
        if shapes:
            problems.append(f"shape mismatch: {shapes[0]}" + (f" (+{len(shapes) - 1} more)" if len(shapes) > 1 else ""))
        raise WeightsError(
            f"{what} does not fit {model}: " + "; ".join(problems),
            hint="load it with the model it was saved from (and num_classes=N / --num-classes N "
            "if its classifier has N outputs)",
        )
    full = OrderedDict((k, state.get(k, own[k])) for k in own)
    module.load_state_dict(full, strict=True)


def weights_digest(module: nn.Module) -> str:
    """A short, cheap fingerprint of a module's weights.

    Hashes every key and shape plus the values of the first two and last two tensors
    (at most 2**20 values each): any other weights, a changed head or a different
    architecture give a different digest, without hashing hundreds of megabytes.
    """
    state = module.state_dict()
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
