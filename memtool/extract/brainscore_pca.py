"""Brain-Score's layer features: flatten, then PCA-1000 fitted on 1000 reference images.

brainscore-vision scores a layer (``LayerScores`` in
``model_helpers/brain_transformation/neural.py``) on its flattened activations projected
by ``LayerPCA`` (``model_helpers/activations/pca.py``): per layer, scikit-learn's
``PCA(n_components=1000, random_state=0)`` fitted on the activations of 1000 ImageNet
validation images (``_get_imagenet_val``); a layer with at most 1000 features is passed
unreduced. The images are preprocessed as a Brain-Score model plugin does
(``load_preprocess_images``): the whole image resized to the input size, the model's
mean and std, no centre crop. This module reproduces that, on the sweep's device and
within a memory budget:

* ``resolve_reference_images`` finds the 1000 reference images (brainscore's own
  ``_get_imagenet_val``, which honours ``MT_IMAGENET_PATH`` / ``MT_HOME``, or a folder
  given with ``--pca-images``) and fingerprints their bytes;
* ``fit_components`` captures the flattened activations of the reference images for a
  group of layers (one forward pass per batch for the whole group), and per layer fits
  the PCA exactly: with n = 1000 images the centred data have rank <= n - 1, so the
  eigendecomposition of the n x n Gram matrix (accumulated in float64) gives every
  principal axis sklearn's full SVD gives (up to sign; the axis of a zero singular
  value, which sklearn fills with rounding noise, is projected to 0 here). The
  components overwrite the captured activations in place, so fitting a layer needs
  no more memory than holding its 1000 activations;
* ``ComponentCache`` keeps fitted components on disk per (model weights, layer,
  reference set, preprocessing), so another benchmark or a re-run does not refit;
* ``BrainscoreFeatures`` is a reducer whose hook projects a batch onto the fitted
  components on the device, so a layer's flattened activations never leave it.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Sequence

import numpy as np
import torch

from memtool.errors import DataError, UsageError
from memtool.extract.reducers import Reducer, first_tensor

N_COMPONENTS = 1000  # LayerPCA's n_components in brainscore's LayerSelection / model commitments
FEATURE_MODES = ("brainscore", "reducer")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}
MODELS_BUCKET_HOST = "brain-score-models.s3.amazonaws.com"  # where _get_imagenet_val downloads from
FIT_VERSION = 1  # bump when the fit changes the stored components
_CHUNK_BYTES = 256 * 2**20  # float64 working set of one Gram / projection chunk


# -- reference images -------------------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceSet:
    """The images LayerPCA is fitted on, in the order they are shown."""

    paths: tuple[Path, ...]
    fingerprint: str  # digest of every image's bytes, in order
    source: str  # human-readable: where they came from

    def describe(self) -> dict:
        return {"fingerprint": self.fingerprint, "source": self.source, "n_images": len(self.paths)}


def imagenet_val_path() -> Path:
    """The file brainscore's ``_get_imagenet_val`` reads (``MT_IMAGENET_PATH`` / ``MT_HOME``)."""
    home = os.path.expanduser(os.getenv("MT_HOME", "~/.model-tools"))
    return Path(os.getenv("MT_IMAGENET_PATH", os.path.join(home, "imagenet2012.hdf5")))


def _fingerprint(paths: Sequence[Path]) -> str:
    digest = hashlib.sha1(f"n={len(paths)}".encode())
    for path in paths:
        try:
            digest.update(hashlib.sha1(path.read_bytes()).digest())
        except OSError as exc:
            raise DataError(f"cannot read reference image {path}: {exc.strerror}",
                            hint="check the folder given with --pca-images") from None
    return digest.hexdigest()[:16]


def resolve_reference_images(pca_images: str | Path | None, n: int = N_COMPONENTS) -> ReferenceSet:
    """The ``n`` reference images: the first ``n`` files of ``pca_images`` by name, else
    brainscore's own ImageNet-validation sample. Raises one clear error when neither exists."""
    if pca_images is not None:
        root = Path(pca_images).expanduser()
        if not root.is_dir():
            raise DataError(f"--pca-images {root} is not a folder",
                            hint=f"give a folder of at least {n} images")
        files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if len(files) < n:
            raise DataError(f"--pca-images {root} holds {len(files)} images; Brain-Score's PCA "
                            f"needs {n}", hint=f"give a folder of at least {n} images "
                            "(the first by name are used)")
        chosen = tuple(files[:n])
        return ReferenceSet(chosen, _fingerprint(chosen), f"folder {root} (first {n} by name)")
    hdf5 = imagenet_val_path()
    if not hdf5.is_file():
        try:
            socket.create_connection((MODELS_BUCKET_HOST, 443), timeout=5).close()
        except OSError:
            raise DataError(
                f"Brain-Score features need {n} reference images: ImageNet validation is not at "
                f"{hdf5} and Brain-Score's storage cannot be reached",
                hint="set MT_IMAGENET_PATH to a copy of brainscore's imagenet2012.hdf5, or pass "
                f"--pca-images DIR (a folder of >= {n} images)") from None
    from memtool.brainscore_env import import_brainscore as _bs, quiet as _quiet

    _bs()
    with _quiet():
        from brainscore_vision.model_helpers.activations.pca import _get_imagenet_val

        try:
            chosen = tuple(Path(p) for p in _get_imagenet_val(num_images=n))
        except Exception as exc:
            raise DataError(f"brainscore's ImageNet validation images cannot be read from "
                            f"{hdf5}: {type(exc).__name__}: {exc}".splitlines()[0],
                            hint="replace the file (MT_IMAGENET_PATH) or pass --pca-images DIR") from None
    return ReferenceSet(chosen, _fingerprint(chosen), f"brainscore ImageNet val ({hdf5})")


# -- preprocessing ----------------------------------------------------------------------------


def brainscore_preprocessing(data_config: dict) -> dict:
    """What decides the pixels a Brain-Score plugin feeds the model (recorded with scores)."""
    size = [int(s) for s in data_config["input_size"][-2:]]
    return {"resize": size, "mean": [float(m) for m in data_config["mean"]],
            "std": [float(s) for s in data_config["std"]], "crop": None}


def brainscore_transform(data_config: dict) -> Callable:
    """brainscore's ``load_preprocess_images``: resize the whole image to the input size
    (torchvision's default bilinear), ToTensor, Normalize with the model's mean/std."""
    from torchvision import transforms as T

    p = brainscore_preprocessing(data_config)
    return T.Compose([T.Resize(tuple(p["resize"])), T.ToTensor(),
                      T.Normalize(mean=p["mean"], std=p["std"])])


# -- the fit ----------------------------------------------------------------------------------


@dataclass
class Components:
    """A fitted layer: ``z = (flatten(x) - mean) @ vectors.T``; None vectors: unreduced."""

    mean: torch.Tensor | None  # (D,)
    vectors: torch.Tensor | None  # (k, D), rows are principal axes
    n_features: int
    singular_values: np.ndarray | None = None

    @property
    def out_dim(self) -> int:
        return self.n_features if self.vectors is None else int(self.vectors.shape[0])

    def nbytes(self) -> int:
        if self.vectors is None:
            return 0
        return self.vectors.numel() * 4 + self.mean.numel() * 4


def fit_pca(x: torch.Tensor, n_components: int = N_COMPONENTS) -> Components:
    """PCA of the rows of ``x`` (n, D) float32 as sklearn's ``PCA(n_components)`` with the
    full solver, through the n x n Gram matrix; ``x`` is overwritten (its storage becomes
    the components). D <= n_components: no PCA, as LayerPCA does."""
    n, d = x.shape
    if d <= n_components:
        return Components(None, None, d)
    if n < n_components:
        raise DataError(f"Brain-Score's PCA needs {n_components} reference images, got {n}",
                        hint=f"give at least {n_components} images")
    chunk = max(1, _CHUNK_BYTES // (8 * n))
    mean = torch.zeros(d, dtype=torch.float64, device=x.device)
    for s in range(0, d, chunk):
        mean[s:s + chunk] = x[:, s:s + chunk].double().mean(dim=0)
    gram = torch.zeros(n, n, dtype=torch.float64, device=x.device)
    for s in range(0, d, chunk):
        block = x[:, s:s + chunk].double() - mean[s:s + chunk]
        gram.addmm_(block, block.T)
        x[:, s:s + chunk] = block.float()  # x is centred from here on
    evals, evecs = torch.linalg.eigh(gram)  # ascending
    evals, evecs = evals.flip(0)[:n_components], evecs.flip(1)[:, :n_components]
    # The centred data have rank <= n - 1: axes whose variance is rounding noise get a zero
    # row (sklearn's full SVD fills them with a direction of rounding noise).
    keep = evals > evals[0].clamp(min=0) * n * torch.finfo(torch.float64).eps
    sing = evals.clamp(min=0).sqrt()
    # Sign convention of sklearn's svd_flip(u_based_decision=False) is on the components;
    # fixed below per row, so results do not depend on the eigensolver's signs.
    weights = torch.where(keep, 1.0 / torch.where(keep, sing, torch.ones_like(sing)),
                          torch.zeros_like(sing))
    w = (evecs * weights).T.float()  # (k, n): row i = u_i / s_i
    for s in range(0, d, chunk):
        # Each column block of the components depends only on the same block of x.
        x[:n_components, s:s + chunk] = w @ x[:, s:s + chunk]
    vectors = x[:n_components]
    signs = torch.ones(n_components, device=x.device)
    for i in range(0, n_components, 64):
        rows = vectors[i:i + 64]
        pick = rows.abs().argmax(dim=1)
        signs[i:i + 64] = torch.sign(rows.gather(1, pick[:, None])[:, 0])
    signs[signs == 0] = 1
    vectors.mul_(signs[:, None])
    return Components(mean.float(), vectors, d, sing.cpu().numpy())


class _Capture:
    """Context manager: hooks write each layer's flattened output into device tensors."""

    def __init__(self, model: torch.nn.Module, layers: Sequence, n: int, device: torch.device):
        self.model = model
        self.layers = list(layers)
        self.buffers = {p.name: torch.empty(n, int(np.prod(p.output_shape)), dtype=torch.float32,
                                            device=device) for p in self.layers}
        self._rows = slice(0, 0)
        self._handles: list = []

    def set_rows(self, rows: slice) -> None:
        self._rows = rows

    def __enter__(self) -> "_Capture":
        modules = dict(self.model.named_modules())

        def hook_for(name):
            target = self.buffers[name]

            def hook(_module, _inputs, output):
                t = first_tensor(output).detach()
                target[self._rows] = t.reshape(t.shape[0], -1).float()
            return hook

        self._handles = [modules[p.name].register_forward_hook(hook_for(p.name)) for p in self.layers]
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


def fit_components(model: torch.nn.Module, layers: Sequence, reference: ReferenceSet,
                   transform: Callable, device: torch.device, *, batch_size: int = 32,
                   workers: int = 0, n_components: int = N_COMPONENTS,
                   on_batch: Callable[[int], None] | None = None) -> dict[str, Components]:
    """Fit LayerPCA for ``layers`` (ProbedLayer) in one pass over the reference images."""
    from memtool.data.images import make_loader
    from memtool.extract.tap import run_batches

    fits: dict[str, Components] = {}
    big = [p for p in layers if p.n_features > n_components]
    for p in layers:
        if p.n_features <= n_components:
            fits[p.name] = Components(None, None, p.n_features)
    if big:
        with _Capture(model, big, len(reference.paths), device) as capture:
            run_batches(model, capture, make_loader(reference.paths, transform, batch_size,
                                                    num_workers=workers),
                        device, autocast=False, on_batch=on_batch)
        for p in big:
            fits[p.name] = fit_pca(capture.buffers.pop(p.name), n_components)
    return fits


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

    def __init__(self, root: Path | None, model_id: str, reference: ReferenceSet,
                 preprocessing: dict, n_components: int = N_COMPONENTS):
        self.root = root
        self._base = {"model": model_id, "reference": reference.fingerprint,
                      "preprocessing": preprocessing, "n_components": n_components,
                      "fit_version": FIT_VERSION}

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
            vectors = torch.from_numpy(np.load(stem.with_suffix(".vectors.npy"), mmap_mode="r")
                                       .copy()).to(device)
        except (OSError, ValueError, KeyError):
            return None  # a damaged entry is refitted and overwritten
        return Components(mean, vectors, int(meta["n_features"]),
                          np.asarray(meta.get("singular_values") or [], dtype=np.float64))

    def save(self, layer: str, fit: Components) -> None:
        stem = self._stem(layer)
        if stem is None:
            return
        try:
            stem.parent.mkdir(parents=True, exist_ok=True)
            meta = {**self._base, "layer": layer, "n_features": fit.n_features,
                    "vectors": None if fit.vectors is None else list(fit.vectors.shape)}
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


# -- the reducer ------------------------------------------------------------------------------


class BrainscoreFeatures(Reducer):
    """Reducer of fitted layers: flatten, subtract the reference mean, project (on device)."""

    def __init__(self, fits: dict[str, Components], reference: ReferenceSet,
                 n_components: int = N_COMPONENTS):
        self.fits = fits
        self.n_components = n_components
        self.reference = reference

    @property
    def spec(self) -> str:  # type: ignore[override]
        return f"brainscore-pca:{self.n_components}@{self.reference.fingerprint}"

    def out_dim(self, shape):
        d = int(np.prod(shape))
        return min(d, self.n_components)

    def reduce(self, layer, x):
        flat = x.reshape(x.shape[0], -1).float()
        fit = self.fits[layer]
        if fit.vectors is None:
            return flat
        return (flat - fit.mean) @ fit.vectors.T


def features_spec(reference: ReferenceSet, n_components: int = N_COMPONENTS) -> str:
    """The ``reducer`` recorded for brain scores computed on Brain-Score features."""
    return f"brainscore-pca:{n_components}@{reference.fingerprint}"


def plan_groups(layers: Sequence, n_reference: int, n_stimuli: int, budget_bytes: int,
                n_components: int = N_COMPONENTS) -> list[list]:
    """Layers (in execution order) grouped so that one group's fit buffers (n_reference x D
    float32, which become the components) plus its features fit ``budget_bytes``."""
    from memtool.extract.tap import group_by_size

    def size(p) -> int:
        d = p.n_features
        return n_stimuli * min(d, n_components) * 4 + (n_reference * d * 4 if d > n_components else 0)

    return group_by_size(layers, size, budget_bytes)


def check_mode(mode: str | None) -> str | None:
    if mode is not None and mode not in FEATURE_MODES:
        raise UsageError(f"unknown --brain-features '{mode}'",
                         hint="use brainscore (Brain-Score's PCA-1000 features) or reducer (the sweep's --reducer)")
    return mode


__all__ = [
    "N_COMPONENTS", "FEATURE_MODES", "ReferenceSet", "resolve_reference_images", "imagenet_val_path",
    "brainscore_preprocessing", "brainscore_transform", "Components", "fit_pca", "fit_components",
    "ComponentCache", "cache_root", "BrainscoreFeatures", "features_spec", "plan_groups",
    "check_mode",
]
