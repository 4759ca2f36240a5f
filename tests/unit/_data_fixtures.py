"""Builders for small data sets in the real published layouts (used by test_data_*.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image


def make_jpeg(path: Path, size=(32, 24), seed: int = 0) -> Path:
    """A tiny real JPEG with random content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, "JPEG", quality=90)
    return path


def make_lamem(root: Path, n_splits: int = 2, n_images: int = 12, val: bool = True) -> dict:
    """LaMem layout: images/NNNNNNNN.jpg and splits/{train,val,test}_N.txt.

    Every split holds all images: split N rotates which images are test/val.
    Returns {name: score}.
    """
    names = [f"{i:08d}.jpg" for i in range(1, n_images + 1)]
    scores = {n: round(0.5 + 0.03 * i, 4) for i, n in enumerate(names)}
    for i, n in enumerate(names):
        make_jpeg(root / "images" / n, seed=i)
    (root / "splits").mkdir(parents=True, exist_ok=True)
    for s in range(1, n_splits + 1):
        order = names[s - 1 :] + names[: s - 1]
        test, rest = order[:3], order[3:]
        parts = {"test": test, "val": rest[:2], "train": rest[2:]} if val else {"test": test, "train": rest}
        for part, members in parts.items():
            (root / "splits" / f"{part}_{s}.txt").write_text("".join(f"{n} {scores[n]}\n" for n in members))
    return scores


def make_lnsim_published(
    root: Path, n_images: int = 10, n_splits: int = 25, seed: int = 0, nan_columns=()
) -> tuple[np.ndarray, np.ndarray]:
    """LNSIM as the authors publish it: Image_data/NNNN.jpg + Random_splits/*.mat.

    subject_hrs1/2 are (n_splits, n_images) hit-rate matrices; columns listed in
    ``nan_columns`` are NaN (images without a score, no image file written).
    """
    rng = np.random.default_rng(seed)
    true = rng.uniform(0.3, 0.9, n_images)
    h1 = np.clip(true + rng.normal(0, 0.05, (n_splits, n_images)), 0, 1)
    h2 = np.clip(true + rng.normal(0, 0.05, (n_splits, n_images)), 0, 1)
    for j in nan_columns:
        h1[:, j] = h2[:, j] = np.nan
    for j in range(n_images):
        if j not in nan_columns:
            make_jpeg(root / "Image_data" / f"{j + 1:04d}.jpg", seed=j)
    (root / "Random_splits").mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(root / "Random_splits" / "subject_hrs1.mat", {"subject_hrs1": h1})
    scipy.io.savemat(root / "Random_splits" / "subject_hrs2.mat", {"subject_hrs2": h2})
    return h1, h2


def make_lnsim_flat(
    root: Path, n_images: int = 8, n_splits: int = 3, halves: bool = True
) -> tuple[dict, dict]:
    """The flat LNSIM layout: images/, scores.csv and split_halves.csv.

    Returns ({name: score}, {(name, split): (half1, half2)}).
    """
    rng = np.random.default_rng(1)
    names = [f"{i:04d}.jpg" for i in range(1, n_images + 1)]
    pairs = {}
    for i, n in enumerate(names):
        make_jpeg(root / "images" / n, seed=i)
        for s in range(n_splits):
            pairs[(n, s)] = tuple(np.round(0.3 + 0.07 * i + rng.normal(0, 0.02, 2), 6))
    scores = {n: round(float(np.mean([pairs[(n, s)] for s in range(n_splits)])), 6) for n in names}
    (root / "scores.csv").write_text("image,memorability\n" + "".join(f"{n},{scores[n]}\n" for n in names))
    if halves:
        (root / "split_halves.csv").write_text(
            "image,split,half1,half2\n"
            + "".join(f"{n},{s},{h1},{h2}\n" for (n, s), (h1, h2) in pairs.items())
        )
    return scores, pairs


def make_csv(root: Path, n_images: int = 6, extra: bool = True) -> Path:
    """A generic path,score CSV with images in a subfolder; returns the CSV path."""
    lines = ["path,score,note" if extra else "path,score"]
    for i in range(n_images):
        make_jpeg(root / "pics" / f"im{i}.jpg", seed=i)
        lines.append(f"pics/im{i}.jpg,{0.1 * i:.1f}" + (",x" if extra else ""))
    csv = root / "memo.csv"
    csv.write_text("\n".join(lines) + "\n")
    return csv
