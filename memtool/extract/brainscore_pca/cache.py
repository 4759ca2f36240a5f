"""Fitted components on disk per (model weights, layer, reference set, preprocessing), so
another benchmark or a re-run does not refit."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from memtool.extract.brainscore_pca.pca import Components
from memtool.extract.brainscore_pca.reference import N_COMPONENTS, ReferenceSet

FIT_VERSION = 2  # bump when the fit changes the stored components


# -- the on-disk cache ------------------------------------------------------------------------


def cache_root() -> Path | None:
    """``$MEMTOOL_CACHE/brainscore-pca`` (default ~/.cache/memtool); None when
    ``MEMTOOL_PCA_CACHE=off``."""
    if os.getenv("MEMTOOL_PCA_CACHE", "").lower() in ("0", "off", "no", "false"):
        return None
    base = os.getenv("MEMTOOL_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "memtool")
    return Path(base) / "brainscore-pca"


class ComponentCache:
    """Fitted components per (model weights, layer, reference set, preprocessing)."""

    def __init__(
        self,
        root: Path | None,
        model_id: str,
        reference: ReferenceSet,
        preprocessing: dict,
        n_components: int = N_COMPONENTS,
    ):
        self.root = root
        self._base = {
            "model": model_id,
            "reference": reference.fingerprint,
            "preprocessing": preprocessing,
            "n_components": n_components,
            "fit_version": FIT_VERSION,
        }

    def _stem(self, layer: str) -> Path | None:
        if self.root is None:
            return None
        key = hashlib.sha1(json.dumps({**self._base, "layer": layer}, sort_keys=True).encode())
        return self.root / key.hexdigest()[:24]

    def load(self, layer: str, device: torch.device) -> Components | None:
        stem = self._stem(layer)
        if stem is None or not stem.with_suffix(".json").is_file():
            return None
        try:
            meta = json.loads(stem.with_suffix(".json").read_text())
            if meta.get("vectors") is None:
                return Components(None, None, int(meta["n_features"]))
            mean = torch.from_numpy(np.load(stem.with_suffix(".mean.npy"))).to(device)
            vectors = torch.from_numpy(np.load(stem.with_suffix(".vectors.npy"), mmap_mode="r").copy()).to(
                device
            )
        except (OSError, ValueError, KeyError):
            return None  # a damaged entry is refitted and overwritten
        return Components(
            mean,
            vectors,
            int(meta["n_features"]),
            np.asarray(meta.get("singular_values") or [], dtype=np.float64),
        )

    def save(self, layer: str, fit: Components) -> None:
        stem = self._stem(layer)
        if stem is None:
            return
        try:
            stem.parent.mkdir(parents=True, exist_ok=True)
            meta = {
                **self._base,
                "layer": layer,
                "n_features": fit.n_features,
                "vectors": None if fit.vectors is None else list(fit.vectors.shape),
            }
            if fit.vectors is not None:
                meta["singular_values"] = [float(s) for s in fit.singular_values]
                for suffix, tensor in ((".mean.npy", fit.mean), (".vectors.npy", fit.vectors)):
                    tmp = stem.with_suffix(f"{suffix}.tmp")
                    with open(tmp, "wb") as fh:
                        np.save(fh, tensor.cpu().numpy())
                    os.replace(tmp, stem.with_suffix(suffix))
            tmp = stem.with_suffix(".json.tmp")
            tmp.write_text(json.dumps(meta))
            os.replace(tmp, stem.with_suffix(".json"))  # written last: marks the entry complete
        except OSError:
            pass  # a cache that cannot be written costs a refit next time, nothing more
