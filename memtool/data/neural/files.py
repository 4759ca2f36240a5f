"""Reading the files of neural data: numeric ``.npy`` arrays, CSV tables, repeat means.

Each reader raises :class:`DataError` naming the file and what is wrong with it.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np

from memtool.errors import DataError


def read_csv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path}: {exc}", hint="check the file") from None
    missing = [c for c in required if c not in columns]
    if missing:
        raise DataError(
            f"{path} lacks the column(s) {', '.join(missing)} (has: {', '.join(columns) or 'none'})",
            hint=f"the header must include {','.join(required)}",
        )
    for line, row in enumerate(rows, start=2):
        for c in required:
            if not row.get(c):
                raise DataError(f"{path} line {line}: empty {c}", hint="fill in every required column")
    return rows


def load_npy(path: Path) -> np.ndarray:
    hint = "save it with numpy.save as a numeric array"
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(np.lib.format.MAGIC_PREFIX))
    except OSError as exc:
        raise DataError(
            f"cannot read {path}: {exc.strerror}", hint="check the path and its permissions"
        ) from None
    if head != np.lib.format.MAGIC_PREFIX:  # np.load would try it as a pickle and say so
        what = (
            "is a Python pickle, not a .npy array"
            if head[:1] == b"\x80"
            else "is an .npz archive, not a .npy array"
            if head[:2] == b"PK"
            else "is empty (0 bytes)"
            if not head
            else f"is not a .npy file (it lacks NumPy's header; first bytes {head[:4].hex()})"
        )
        raise DataError(f"{path} {what}", hint=hint)
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {str(exc).splitlines()[0]}", hint=hint) from None
    if not np.issubdtype(array.dtype, np.number):
        raise DataError(f"{path} holds {array.dtype} values, not numbers", hint="save a float array")
    return array.astype(np.float64, copy=False)


def mean_over_repeats(array: np.ndarray, path: Path) -> np.ndarray:
    """Mean over the repeat axis ignoring NaN padding (all-NaN cells stay NaN for validate)."""
    if array.ndim == 2:
        return array
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "Mean of empty slice"
        return np.nanmean(array, axis=2)
