"""Plain data types shared by the adapters, the sweep and the scorers (no torch here)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# File name endings the data adapters read as images (memorability sets and neural stimuli).
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}


@dataclass(frozen=True)
class Item:
    """One image with its human memorability score."""

    name: str  # unique within the data set (e.g. "0001.jpg" or LaMem's "00012345.jpg")
    path: Path  # absolute path to the image file
    score: float


@dataclass(frozen=True)
class Split:
    """One train/test partition of a data set, as integer indices into ``items``.

    ``val`` is set when the data set ships a validation list (LaMem): hyper-parameters
    are then chosen on it. K-fold splits have ``val=None`` and choose them on ``train``.
    """

    name: str  # "fold1".. or "split1"..
    train: np.ndarray
    test: np.ndarray
    val: np.ndarray | None = None


@dataclass
class MemorabilityDataset:
    name: str  # short human name, e.g. "demo", "lamem", "lnsim", "scores.csv"
    kind: str  # adapter: "demo" | "lamem" | "lnsim" | "csv"
    spec: str  # canonical spec the user can pass again, e.g. "lamem:/data/lamem"
    root: Path
    items: list[Item]
    splits: list[Split]
    split_kind: str  # "kfold" (seeded, made by memtool) | "published" (shipped with the set)
    ceiling: float | None = None  # human split-half consistency (Spearman), when known
    citation: str = ""
    options: dict = field(default_factory=dict)  # folds, seed, chosen splits, limit ...

    @property
    def scores(self) -> np.ndarray:
        return np.asarray([it.score for it in self.items], dtype=np.float64)

    @property
    def paths(self) -> list[Path]:
        return [it.path for it in self.items]

    def fingerprint(self) -> str:
        """Digest of names, scores and split assignment: equal digests mean equal work."""
        h = hashlib.sha1()
        for it in self.items:
            h.update(f"{it.name}\t{it.score:.9g}\n".encode())
        for sp in self.splits:
            h.update(sp.name.encode())
            for part in (sp.train, sp.val, sp.test):
                h.update(b"|" if part is None else np.asarray(part, dtype=np.int64).tobytes())
        return h.hexdigest()[:16]
