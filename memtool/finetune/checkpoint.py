"""Checkpoint files of a fine-tuning run: the best model and the resumable training state.

``best.pt`` is a *memtool checkpoint*: ``{"model": "timm:resnet50", "state_dict": ...,
"num_classes": 1, ...}`` that ``memtool.models.registry.load_model`` (and therefore
``memtool sweep --model best.pt`` and ``memtool predict --checkpoint best.pt``) loads
directly. Its head outputs memorability scores (the z-scoring is folded in); the extra
keys record the preprocessing (``data_config``), the stages of a stage head
(``head_stages``, which ``load_model`` rebuilds the wrapper from), the recipe, the epoch, the validation
rho, the data set and split, and the memtool version.

``last.pt`` is rewritten after every epoch: the weights as they are mid-training (head
on the z-score scale), the optimiser, scheduler and gradient-scaler states, every RNG
state, the epoch history and the early-stopping counters: everything needed to carry on
exactly where an interrupted run stopped.

Both are written to a temporary file, flushed to disk and renamed over the old one, so a
kill at any moment leaves either the previous file or the new one, never half a file.
Both load with ``torch.load(..., weights_only=True)``: no pickled code.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from memtool import __version__
from memtool.errors import WeightsError

BEST_FORMAT = "memtool-finetune/1"
STATE_FORMAT = "memtool-finetune-state/1"


def atomic_save(obj, path: Path) -> None:
    """``torch.save`` to ``path`` through a flushed temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        torch.save(obj, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _plain(value):
    """Tuples to lists (recursively) so the data stays JSON- and weights_only-friendly."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def save_best(
    path: Path,
    *,
    model_name: str,
    state_dict: dict,
    data_config: dict,
    recipe: dict,
    epoch: int,
    val_rho: float,
    finetune_id: str,
    dataset: dict,
    target_scaling: dict,
    head: str,
    penultimate: str | None,
    head_stages: tuple[str, ...] | list[str] | None = None,
) -> None:
    """Write the best model as a memtool checkpoint (see the module docstring)."""
    atomic_save(
        {
            "format": BEST_FORMAT,
            "model": model_name,
            "state_dict": {k: v.detach().cpu().contiguous() for k, v in state_dict.items()},
            "num_classes": 1,
            "data_config": _plain(data_config),
            "recipe": _plain(recipe),
            "epoch": int(epoch),
            "val_rho": float(val_rho),
            "finetune_id": finetune_id,
            "dataset": _plain(dataset),
            "target_scaling": dict(target_scaling),
            "head": head,
            "penultimate": penultimate,
            **({"head_stages": list(head_stages)} if head_stages else {}),
            "memtool_version": __version__,
        },
        path,
    )


def _load(path: Path, what: str) -> dict:
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # zip, unpickling and IO errors all mean "unreadable"
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise WeightsError(
            f"cannot read {what} {path}: {first}",
            hint="the file is damaged; delete it (the run then restarts from scratch)",
        ) from None
    if not isinstance(obj, dict):
        raise WeightsError(
            f"{what} {path} is not a memtool fine-tuning file",
            hint="delete it (the run then restarts from scratch)",
        )
    return obj


def read_best(path: Path) -> dict:
    """The contents of a ``best.pt`` (WeightsError when unreadable or not one)."""
    obj = _load(path, "checkpoint")
    if obj.get("format") != BEST_FORMAT or not isinstance(obj.get("state_dict"), dict):
        raise WeightsError(
            f"checkpoint {path} was not written by memtool finetune",
            hint="delete it (the run then restarts from scratch)",
        )
    return obj


def checkpoint_extras(path: Path) -> dict:
    """The non-weight keys of a memtool checkpoint, read without loading its weights
    (memory-mapped); empty for other files and for files that cannot be read."""
    path = Path(path)
    if path.suffix == ".safetensors":
        return {}
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        return {}  # an old format simply has no extras; unreadable files fail where they are loaded
    return {k: v for k, v in obj.items() if k != "state_dict"} if isinstance(obj, dict) else {}


def rng_state() -> dict:
    """Every RNG the training loop draws from: torch (CPU and CUDA), Python, numpy."""
    np_state = np.random.get_state(legacy=False)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": _plain(random.getstate()),
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
        },
    }


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` captured (CUDA states only where CUDA is present)."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": state["numpy"]["key"].numpy().astype(np.uint32), "pos": state["numpy"]["pos"]},
            "has_gauss": 0,
            "gauss": 0.0,
        }
    )


def save_state(path: Path, state: dict) -> None:
    """Write the resumable training state (``last.pt``)."""
    atomic_save({"format": STATE_FORMAT, "memtool_version": __version__, **state}, path)


def read_state(path: Path, *, finetune_id: str, model_name: str) -> dict:
    """Read ``last.pt`` and check that it belongs to this run (WeightsError otherwise)."""
    obj = _load(path, "training state")
    if obj.get("format") != STATE_FORMAT:
        raise WeightsError(
            f"{path} is not a memtool training state", hint="delete it (the run then restarts from scratch)"
        )
    if obj.get("model") != model_name or obj.get("finetune_id") != finetune_id:
        raise WeightsError(
            f"training state {path} belongs to {obj.get('model')} (run {obj.get('finetune_id')}), "
            f"not to {model_name} (run {finetune_id})",
            hint="use another --out folder or delete the file",
        )
    return obj
