"""The reference images Brain-Score's LayerPCA is fitted on, and the Brain-Score preprocessing.

``resolve_reference_images`` finds the 1000 reference images (brainscore's own
``_get_imagenet_val``, which honours ``MT_IMAGENET_PATH`` / ``MT_HOME``, or a folder
given with ``--pca-images``) and fingerprints their bytes; ``brainscore_transform`` is
brainscore's ``load_preprocess_images`` (the whole image resized to the input size, the
model's mean and std, no centre crop).
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from memtool.errors import DataError

N_COMPONENTS = 1000  # LayerPCA's n_components in brainscore's LayerSelection / model commitments
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}
MODELS_BUCKET_HOST = "brain-score-models.s3.amazonaws.com"  # where _get_imagenet_val downloads from


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
            raise DataError(
                f"cannot read reference image {path}: {exc.strerror}",
                hint="check the folder given with --pca-images",
            ) from None
    return digest.hexdigest()[:16]


def resolve_reference_images(pca_images: str | Path | None, n: int = N_COMPONENTS) -> ReferenceSet:
    """The ``n`` reference images: the first ``n`` files of ``pca_images`` by name, else
    brainscore's own ImageNet-validation sample. Raises one clear error when neither exists."""
    if pca_images is not None:
        root = Path(pca_images).expanduser()
        if not root.is_dir():
            raise DataError(
                f"--pca-images {root} is not a folder", hint=f"give a folder of at least {n} images"
            )
        files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if len(files) < n:
            raise DataError(
                f"--pca-images {root} holds {len(files)} images; Brain-Score's PCA needs {n}",
                hint=f"give a folder of at least {n} images (the first by name are used)",
            )
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
                f"--pca-images DIR (a folder of >= {n} images)",
            ) from None
    from memtool.brainscore_env import import_brainscore as _bs, quiet as _quiet

    _bs()
    with _quiet():
        from brainscore_vision.model_helpers.activations.pca import _get_imagenet_val

        try:
            chosen = tuple(Path(p) for p in _get_imagenet_val(num_images=n))
        except Exception as exc:
            raise DataError(
                f"brainscore's ImageNet validation images cannot be read from "
                f"{hdf5}: {type(exc).__name__}: {exc}".splitlines()[0],
                hint="replace the file (MT_IMAGENET_PATH) or pass --pca-images DIR",
            ) from None
    return ReferenceSet(chosen, _fingerprint(chosen), f"brainscore ImageNet val ({hdf5})")


# -- preprocessing ----------------------------------------------------------------------------


def brainscore_preprocessing(data_config: dict) -> dict:
    """What decides the pixels a Brain-Score plugin feeds the model (recorded with scores)."""
    size = [int(s) for s in data_config["input_size"][-2:]]
    return {
        "resize": size,
        "mean": [float(m) for m in data_config["mean"]],
        "std": [float(s) for s in data_config["std"]],
        "crop": None,
    }


def brainscore_transform(data_config: dict) -> Callable:
    """brainscore's ``load_preprocess_images``: resize the whole image to the input size
    (torchvision's default bilinear), ToTensor, Normalize with the model's mean/std."""
    from torchvision import transforms as T

    p = brainscore_preprocessing(data_config)
    return T.Compose([T.Resize(tuple(p["resize"])), T.ToTensor(), T.Normalize(mean=p["mean"], std=p["std"])])
