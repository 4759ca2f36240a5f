"""Checking neural data before it is scored: shapes, NaNs, RDM symmetry, readable images."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from memtool.data.neural.base import NeuralData
from memtool.errors import DataError


def validate(data: NeuralData, *, source: Path | None = None, check_images: bool = True) -> NeuralData:
    """Check shapes, NaNs, RDM symmetry and that every stimulus decodes; raise DataError."""
    where = source or data.root or data.name
    n = data.n_stimuli
    if data.kind == "responses":
        r = data.responses
        if r is None or r.ndim != 2 or r.shape[1] != n:
            shape = None if r is None else r.shape
            raise DataError(
                f"{where}: responses have shape {shape}, expected (neuroids, {n})",
                hint="one column per stimulus, in stimuli order",
            )
        if r.shape[0] == 0:
            raise DataError(f"{where}: no neuroids", hint="add at least one neuroid")
        dead = np.where(np.all(np.isnan(r), axis=1))[0]
        if dead.size:
            names = [data.neuroid_ids[i] if data.neuroid_ids else str(i) for i in dead[:5]]
            raise DataError(
                f"{where}: {dead.size} neuroid(s) have only NaN responses "
                f"({', '.join(names)}{', ...' if dead.size > 5 else ''})",
                hint="drop them from the responses and from neuroids.csv",
            )
        holes = np.isnan(r)
        if holes.any():
            rows, cols = np.where(holes)
            raise DataError(
                f"{where}: {int(holes.sum())} NaN responses (first: neuroid "
                f"{rows[0]}, image {data.stimulus_ids[cols[0]]})",
                hint="every neuroid needs a response to every image (drop the image or the neuroid)",
            )
        if not np.all(np.isfinite(r)):
            raise DataError(f"{where}: responses contain inf", hint="replace infinite values")
        if data.repeats is not None and data.repeats.shape[:2] != r.shape:
            raise DataError(
                f"{where}: repeats have shape {data.repeats.shape}, responses {r.shape}",
                hint="repeats must be (neuroids, images, repeats)",
            )
    elif data.kind == "rdm":
        m = data.rdm
        if m is None or m.ndim != 2 or m.shape[0] != m.shape[1]:
            raise DataError(
                f"{where}: the RDM has shape {None if m is None else m.shape}; it must be "
                "square (images x images)",
                hint="save the full matrix, not a vector",
            )
        if m.shape[0] != n:
            raise DataError(
                f"{where}: the RDM is {m.shape[0]}x{m.shape[0]} but there are {n} stimuli",
                hint="rows and columns follow the stimuli order",
            )
        if not np.all(np.isfinite(m)):
            raise DataError(f"{where}: the RDM contains NaN or inf", hint="fill in every pair")
        scale = max(float(np.abs(m).max()), 1e-12)
        if not np.allclose(m, m.T, rtol=0, atol=1e-6 * scale):
            i, j = np.unravel_index(np.argmax(np.abs(m - m.T)), m.shape)
            raise DataError(
                f"{where}: the RDM is not symmetric (entry [{i},{j}] = {m[i, j]:.6g} but "
                f"[{j},{i}] = {m[j, i]:.6g})",
                hint="use a dissimilarity matrix",
            )
        if not np.allclose(np.diag(m), 0, atol=1e-6 * scale):
            raise DataError(
                f"{where}: the RDM's diagonal is not zero",
                hint="an image's dissimilarity to itself must be 0",
            )
    else:
        raise ValueError(f"unknown kind {data.kind!r}")
    if check_images:
        _check_images(data.stimuli)
    return data


def _check_images(paths: list[Path]) -> None:
    from PIL import Image

    for path in paths:
        try:
            with Image.open(path) as im:
                im.load()
        except Exception as exc:  # Pillow raises many types for bad files
            reason = (
                "file not found" if isinstance(exc, FileNotFoundError) else (str(exc) or type(exc).__name__)
            )
            raise DataError(
                f"cannot read stimulus image {path}: {reason}",
                hint="replace the file or remove the image from the data",
            ) from None
