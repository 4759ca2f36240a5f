"""LNSIM (Lu et al., IEEE TIP 2020) in the authors' layout or a flat one; also the demo's reader.

* The authors' release: ``Image_data/NNNN.jpg`` and ``Random_splits/subject_hrs{1,2}.mat``
  (one matrix per file, one row per random split of the subjects into two halves, one
  column per image; see the package docstring for the orientation assumed).
* A flat layout: ``images/``, ``scores.csv`` (``image,memorability``) and optionally
  ``split_halves.csv`` (``image,split,half1,half2``).

The score is the mean of the two halves, averaged over subject splits.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from memtool.data.base import IMAGE_SUFFIXES
from memtool.data.memorability.table import Table, csv_rows, duplicate, parse_score
from memtool.errors import DataError

LNSIM_CITATION = (
    "Lu, J., Xu, M., Yang, R., & Wang, Z. (2020). Understanding and predicting the "
    "memorability of outdoor natural scenes. IEEE Transactions on Image Processing, 29, "
    "4927-4941."
)


def read_lnsim(root: Path) -> Table:
    """LNSIM in the authors' layout (Image_data/ + Random_splits/) or the flat one."""
    if (root / "Image_data").is_dir():
        return _read_published(root)
    if (root / "scores.csv").is_file():
        return _read_flat(root)
    raise DataError(
        f"{root} has neither Image_data/ (LNSIM as published) nor scores.csv",
        hint="LNSIM needs Image_data/ + Random_splits/subject_hrs{1,2}.mat, or images/ + scores.csv",
    )


def _read_flat(root: Path) -> Table:
    """``images/`` + ``scores.csv`` (``image,memorability``) + optional ``split_halves.csv``."""
    path = root / "scores.csv"
    table = Table()
    seen: dict[str, str] = {}
    for line, row in csv_rows(path, {"image": ("image",), "score": ("memorability", "score")}):
        name = row["image"]
        if not name:
            raise DataError(f"{path} line {line}: missing image name")
        if name in seen:
            raise duplicate(path, line, name, seen[name])
        seen[name] = f"line {line}"
        table.add(name, root / "images" / name, parse_score(row["score"], path, line), f"{path} line {line}")
    if not table.names:
        raise DataError(f"{path} lists no images", hint="add lines 'image,memorability'")

    halves_path = root / "split_halves.csv"
    if halves_path.is_file():
        table.halves = _read_halves_csv(halves_path, table.names)
    return table


def _read_halves_csv(path: Path, names: list[str]) -> np.ndarray:
    """``image,split,half1,half2`` rows as a (subject splits, images, 2) array.

    Rows for images not in ``names`` are ignored; missing pairs stay NaN.
    """
    index = {n: i for i, n in enumerate(names)}
    cols = {"image": ("image",), "split": ("split",), "half1": ("half1",), "half2": ("half2",)}
    rows: dict[tuple[str, int], tuple[float, float]] = {}
    first: dict[tuple[str, int], int] = {}
    for line, row in csv_rows(path, cols):
        split_text = row["split"]
        try:
            split = int(split_text)
        except ValueError:
            raise DataError(
                f"{path} line {line}: split {split_text!r} is not a whole number",
                hint="the split column numbers the random subject splits",
            ) from None
        h1 = parse_score(row["half1"], path, line, "half1")
        h2 = parse_score(row["half2"], path, line, "half2")
        key = (row["image"], split)
        if key in first:
            raise DataError(
                f"{path} line {line}: image {key[0]!r} split {split} is listed twice "
                f"(first at line {first[key]})",
                hint="give one row per image and subject split",
            )
        first[key] = line
        if key[0] in index:
            rows[key] = (h1, h2)
    if not first:
        raise DataError(f"{path} lists no rows", hint="expected lines 'image,split,half1,half2'")
    split_ids = sorted({s for _, s in first})
    position = {s: k for k, s in enumerate(split_ids)}
    halves = np.full((len(split_ids), len(names), 2), np.nan)
    for (name, split), pair in rows.items():
        halves[position[split], index[name]] = pair
    return halves


def _read_published(root: Path) -> Table:
    """``Image_data/NNNN.jpg`` + ``Random_splits/subject_hrs{1,2}.mat`` (see module doc)."""
    split_dir = root / "Random_splits"
    h1_path, h2_path = split_dir / "subject_hrs1.mat", split_dir / "subject_hrs2.mat"
    for path in (h1_path, h2_path):
        if not path.is_file():
            raise DataError(
                f"{path} does not exist",
                hint="LNSIM as published ships Random_splits/subject_hrs1.mat and "
                "subject_hrs2.mat next to Image_data/",
            )
    h1 = _load_mat_matrix(h1_path, "subject_hrs1")
    h2 = _load_mat_matrix(h2_path, "subject_hrs2")
    if h1.shape != h2.shape:
        raise DataError(
            f"{h1_path} holds a {h1.shape[0]}x{h1.shape[1]} matrix but {h2_path} a "
            f"{h2.shape[0]}x{h2.shape[1]} one",
            hint="both halves must have one row per subject split and one column per image",
        )
    files: dict[int, str] = {}
    for entry in (root / "Image_data").iterdir():
        if entry.suffix.lower() in IMAGE_SUFFIXES and entry.stem.isdigit():
            files.setdefault(int(entry.stem), entry.name)

    halves = np.stack([h1, h2], axis=-1)  # (subject splits, columns, 2)
    keep = [j for j in range(halves.shape[1]) if np.isfinite(halves[:, j]).any()]
    if not keep:
        raise DataError(f"{h1_path} holds no finite hit rates", hint="check the file")
    table = Table()
    for j in keep:
        name = files.get(j + 1, f"{j + 1:04d}.jpg")
        score = float(np.nanmean(halves[:, j]))  # mean of both halves over subject splits
        table.add(name, root / "Image_data" / name, score, f"{h1_path} column {j + 1}")
    table.halves = halves[:, keep]
    return table


def _load_mat_matrix(path: Path, variable: str) -> np.ndarray:
    """The numeric matrix ``variable`` from a MATLAB file, as float64 (splits, images).

    Falls back to the file's only 2-D numeric variable; reads v7.3 (HDF5) files with h5py.
    """
    try:
        from scipy.io import loadmat

        arrays = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
    except NotImplementedError:  # MATLAB v7.3 files are HDF5
        arrays = _load_mat73(path)
    except Exception as exc:  # scipy raises several types for damaged files
        raise DataError(f"cannot read {path}: {exc}", hint="is it a MATLAB .mat file?") from None

    def numeric(v) -> bool:
        return isinstance(v, np.ndarray) and v.dtype.kind in "fiub" and v.size > 0 and v.ndim <= 2

    if variable in arrays and numeric(arrays[variable]):
        matrix = arrays[variable]
    else:
        candidates = [k for k, v in arrays.items() if numeric(v)]
        if len(candidates) != 1:
            raise DataError(
                f"{path} has no numeric variable {variable!r} "
                f"(variables: {', '.join(sorted(arrays)) or 'none'})",
                hint=f"expected {variable}: hit rates, one row per subject split and one column per image",
            )
        matrix = arrays[candidates[0]]
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim == 1 or 1 in matrix.shape:
        matrix = matrix.reshape(1, -1)  # a single subject split
    return matrix


def _load_mat73(path: Path) -> dict[str, np.ndarray]:
    try:
        import h5py
    except ImportError:
        raise DataError(
            f"{path} is a MATLAB v7.3 file, which needs the h5py package",
            hint="pip install h5py, or re-save the file in MATLAB with save(..., '-v7')",
        ) from None
    try:
        with h5py.File(path, "r") as f:
            # HDF5 stores MATLAB arrays transposed.
            return {k: np.asarray(f[k]).T for k in f if isinstance(f[k], h5py.Dataset)}
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
