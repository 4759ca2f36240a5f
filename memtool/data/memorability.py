"""Memorability data set adapters: LaMem, LNSIM (two layouts), generic CSV and the demo.

``load_memorability(spec)`` turns a spec string into a :class:`MemorabilityDataset`:

``demo``
    The small set bundled with memtool (300 LNSIM images, see ``memtool/data/demo/NOTICE``).
``lamem:/path``
    LaMem as published (Khosla et al., ICCV 2015): ``images/`` plus
    ``splits/{train,val,test}_{1..5}.txt`` whose lines are ``name score`` (whitespace
    separated; further columns are ignored). The published splits are kept.
``lnsim:/path``
    LNSIM (Lu et al., IEEE TIP 2020) in either layout:

    * the authors' release: ``Image_data/NNNN.jpg`` and ``Random_splits/subject_hrs1.mat``,
      ``Random_splits/subject_hrs2.mat``. Each file holds one matrix (variable
      ``subject_hrs1`` / ``subject_hrs2``) of hit rates with one row per random split of
      the subjects into two halves (25 in the release) and one column per image: column
      ``j`` (0-based) is image ``{j+1:04d}.jpg``. This follows the authors' naming and the
      ``subject_hrs1(trial_i, :)`` indexing of the memorability code they build on; the
      binary files themselves could not be inspected, so the orientation is an
      assumption. If the expected variable name is absent, the file's only 2-D numeric
      variable is used. Columns that are NaN in every split are images without a score
      and are skipped; images without a column are ignored.
    * a flat layout: ``images/``, ``scores.csv`` (``image,memorability``) and optionally
      ``split_halves.csv`` (``image,split,half1,half2``).

    The score is the mean of the two halves, averaged over subject splits. The ceiling
    is the mean over subject splits of the Spearman rho between the halves.
``csv:/path/file.csv``
    A ``path,score`` CSV with a header; paths are relative to the CSV's folder, extra
    columns are ignored.
a bare path
    Detected: a folder with ``splits/`` is LaMem, one with ``Image_data/`` or
    ``scores.csv`` is LNSIM, a ``.csv`` file is a generic CSV.

Sets without a published split get seeded K-fold splits. Every problem in the input
raises :class:`DataError` naming the file and, where there is one, the line.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from memtool.data.base import Item, MemorabilityDataset, Split
from memtool.data.splits import kfold_splits
from memtool.errors import DataError, UsageError

LAMEM_CITATION = (
    "Khosla, A., Raju, A. S., Torralba, A., & Oliva, A. (2015). Understanding and "
    "predicting image memorability at a large scale. ICCV 2015, 2390-2398."
)
LNSIM_CITATION = (
    "Lu, J., Xu, M., Yang, R., & Wang, Z. (2020). Understanding and predicting the "
    "memorability of outdoor natural scenes. IEEE Transactions on Image Processing, 29, "
    "4927-4941."
)

LAYOUTS_HINT = (
    "accepted: 'demo'; a LaMem folder with images/ and splits/; an LNSIM folder with "
    "Image_data/ + Random_splits/ or images/ + scores.csv; a CSV file with a path,score "
    "header (prefix lamem:, lnsim: or csv: to choose the adapter)"
)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
_MAX_LISTED = 5  # missing files named in one error message


@dataclass
class _Table:
    """What an adapter read, before subsetting and splitting (one entry per image)."""

    names: list[str] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    where: list[str] = field(default_factory=list)  # "file line N", for error messages
    halves: np.ndarray | None = None  # (subject splits, images, 2); NaN where unknown
    published: list[tuple[str, np.ndarray, np.ndarray | None, np.ndarray]] | None = None

    def add(self, name: str, path: Path, score: float, where: str) -> None:
        self.names.append(name)
        self.paths.append(path)
        self.scores.append(score)
        self.where.append(where)


# ----------------------------------------------------------------------------- API


def load_memorability(
    spec: str | os.PathLike,
    *,
    folds: int = 5,
    seed: int = 0,
    splits: Sequence[int] | None = None,
    limit: int | None = None,
    validate: bool = False,
) -> MemorabilityDataset:
    """Load a memorability data set from ``spec`` (see the module docstring).

    ``folds`` and ``seed`` make the K-fold splits of sets without published splits;
    ``splits`` picks LaMem's published splits by number (default: all present);
    ``limit`` keeps a seeded random subset of that many images before splitting.
    ``validate=True`` also refuses a set that cannot be scored (equal scores, splits too
    small for a rank correlation: see ``memtool.data.validate``) with a DataError; the
    sweep and ``memtool data check`` do that.
    """
    if folds < 2:
        raise UsageError(f"{folds} folds requested", hint="use at least 2 folds")
    if limit is not None and limit < 1:
        raise UsageError(f"limit must be a positive number of images, not {limit}")
    kind, root = _parse_spec(spec)
    if splits is not None and kind != "lamem":
        raise UsageError(
            "choosing published splits only applies to LaMem",
            hint="this data set gets seeded K-fold splits: set the number of folds instead",
        )
    if kind == "lamem":
        table, chosen = _read_lamem(root, None if splits is None else list(splits))
        name, citation, canonical = "lamem", LAMEM_CITATION, f"lamem:{root}"
    elif kind == "csv":
        table, chosen = _read_csv(root), None
        name, citation, canonical = root.name, "", f"csv:{root}"
    else:
        table, chosen = _read_lnsim(root), None
        citation = LNSIM_CITATION
        name, canonical = ("demo", "demo") if kind == "demo" else ("lnsim", f"lnsim:{root}")

    options = {
        "folds": None if table.published is not None else folds,
        "seed": seed,
        "splits": chosen,
        "limit": limit,
    }
    dataset = _finish(table, name=name, kind=kind, spec=canonical, root=root,
                      citation=citation, folds=folds, seed=seed, limit=limit, options=options)
    if validate:
        from memtool.data.validate import require_scorable

        require_scorable(dataset)
    return dataset


def check_images(
    dataset: MemorabilityDataset,
    progress: Callable[[int, int], None] | None = None,
) -> list[tuple[Path, str]]:
    """Open every image with PIL (verify, then a full decode) and return the bad ones.

    Each entry is ``(path, reason)``. ``progress(done, total)`` is called after each image.
    """
    bad = []
    total = len(dataset.items)
    for done, item in enumerate(dataset.items, start=1):
        reason = image_problem(item.path)
        if reason is not None:
            bad.append((item.path, reason))
        if progress is not None:
            progress(done, total)
    return bad


def image_problem(path: Path) -> str | None:
    """Why ``path`` is not a readable image, or None when it is."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()  # structure and checksums; the image is unusable afterwards
        with Image.open(path) as im:
            im.load()  # full decode catches truncated data that verify() misses
    except FileNotFoundError:
        return "file not found"
    except Exception as exc:  # PIL raises many types for bad files; report them all
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def summarize(dataset: MemorabilityDataset) -> dict:
    """Plain numbers describing ``dataset``, for printing."""
    scores = dataset.scores
    has = scores.size > 0
    return {
        "name": dataset.name,
        "kind": dataset.kind,
        "spec": dataset.spec,
        "root": str(dataset.root),
        "n_images": len(dataset.items),
        "score_mean": float(scores.mean()) if has else None,
        "score_std": float(scores.std()) if has else None,
        "score_min": float(scores.min()) if has else None,
        "score_max": float(scores.max()) if has else None,
        "split_kind": dataset.split_kind,
        "n_splits": len(dataset.splits),
        "splits": [
            {
                "name": sp.name,
                "train": len(sp.train),
                "val": None if sp.val is None else len(sp.val),
                "test": len(sp.test),
            }
            for sp in dataset.splits
        ],
        "ceiling": dataset.ceiling,
        "citation": dataset.citation,
    }


# ------------------------------------------------------------------- spec and layout


def demo_root() -> Path:
    """Folder of the bundled demo set (inside the installed package)."""
    root = resources.files("memtool.data").joinpath("demo")
    path = Path(str(root))
    if not (path / "scores.csv").is_file():
        raise DataError(
            f"the bundled demo data set is missing from {path}",
            hint="reinstall memtool, or rebuild it with scripts/build_demo.py",
        )
    return path


def _parse_spec(spec: str | os.PathLike) -> tuple[str, Path]:
    """Split ``spec`` into (adapter kind, absolute path), detecting the kind if needed."""
    text = os.fspath(spec).strip()
    if text == "demo":
        return "demo", demo_root()
    head, sep, rest = text.partition(":")
    kind = head.lower() if sep and head.lower() in ("lamem", "lnsim", "csv") else None
    path_text = rest if kind else text
    if not path_text.strip():
        raise DataError(f"no path given in data set spec {text!r}", hint=LAYOUTS_HINT)
    root = Path(path_text.strip()).expanduser().resolve()
    if not root.exists():
        raise DataError(f"data set path {root} does not exist", hint=LAYOUTS_HINT)
    if kind is None:
        kind = _detect(root)
    if kind == "csv" and not root.is_file():
        raise DataError(f"{root} is not a CSV file", hint="give the path of the CSV itself")
    if kind in ("lamem", "lnsim") and not root.is_dir():
        raise DataError(f"{root} is not a folder", hint=LAYOUTS_HINT)
    return kind, root


def _detect(root: Path) -> str:
    if root.is_dir():
        if (root / "splits").is_dir():
            return "lamem"
        if (root / "Image_data").is_dir() or (root / "scores.csv").is_file():
            return "lnsim"
    elif root.suffix.lower() == ".csv":
        return "csv"
    raise DataError(f"cannot tell which kind of data set {root} is", hint=LAYOUTS_HINT)


# ---------------------------------------------------------------------- text helpers


def _parse_score(text: str, path: Path, line: int, what: str = "score") -> float:
    text = text.strip()
    if not text:
        raise DataError(f"{path} line {line}: missing {what}", hint="every image needs a number")
    try:
        value = float(text)
    except ValueError:
        raise DataError(
            f"{path} line {line}: non-numeric {what} {text!r}", hint="use a plain number like 0.73"
        ) from None
    if not math.isfinite(value):
        raise DataError(f"{path} line {line}: {what} {text!r} is not a finite number")
    return value


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text: {exc}", hint="save it as UTF-8") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None


def _csv_rows(path: Path, columns: dict[str, tuple[str, ...]]):
    """Yield ``(line, {column: text})`` for each data row of a CSV with a header.

    ``columns`` maps each wanted column to the header names accepted for it.
    """
    lines = _read_lines(path)
    reader = csv.reader(lines)
    header = next(reader, None)
    while header is not None and not any(h.strip() for h in header):
        header = next(reader, None)  # skip leading blank lines
    if header is None:
        raise DataError(f"{path} is empty", hint="expected a header line: " + ",".join(
            names[0] for names in columns.values()))
    lower = [h.strip().lower() for h in header]
    position = {}
    for col, names in columns.items():
        found = [lower.index(n) for n in names if n in lower]
        if not found:
            raise DataError(
                f"{path} line {reader.line_num}: header has no column {names[0]!r} "
                f"(found {', '.join(repr(h) for h in header)})",
                hint="the first line must name the columns: "
                + ",".join(n[0] for n in columns.values()),
            )
        position[col] = found[0]
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        yield reader.line_num, {
            col: (row[i].strip() if i < len(row) else "") for col, i in position.items()
        }


def _duplicate(path: Path, line: int, name: str, first: str) -> DataError:
    return DataError(
        f"{path} line {line}: duplicate image {name!r} (already listed at {first})",
        hint="list each image once",
    )


# -------------------------------------------------------------------------- readers


def _read_csv(path: Path) -> _Table:
    """Generic ``path,score`` CSV; paths relative to the CSV's folder."""
    table = _Table()
    seen: dict[str, str] = {}
    for line, row in _csv_rows(path, {"path": ("path",), "score": ("score",)}):
        rel = row["path"]
        if not rel:
            raise DataError(f"{path} line {line}: missing image path")
        score = _parse_score(row["score"], path, line)
        key = Path(rel).as_posix()
        where = f"{path} line {line}"
        if key in seen:
            raise _duplicate(path, line, rel, seen[key])
        seen[key] = f"line {line}"
        table.add(key, (path.parent / rel).resolve(), score, where)
    if not table.names:
        raise DataError(f"{path} lists no images", hint="add lines 'path,score' below the header")
    return table


def _read_lamem(root: Path, chosen: list[int] | None) -> tuple[_Table, list[int]]:
    """LaMem's ``images/`` + ``splits/{train,val,test}_N.txt`` (N = 1..5)."""
    split_dir = root / "splits"
    if not split_dir.is_dir():
        raise DataError(f"{split_dir} does not exist", hint="LaMem needs images/ and splits/")
    if chosen is None:
        chosen = [i for i in range(1, 6) if (split_dir / f"train_{i}.txt").is_file()
                  and (split_dir / f"test_{i}.txt").is_file()]
        if not chosen:
            raise DataError(
                f"{split_dir} has no published split (train_1.txt + test_1.txt ...)",
                hint="LaMem ships splits/train_N.txt, val_N.txt and test_N.txt for N = 1..5",
            )
    scores: dict[str, tuple[float, str]] = {}  # name -> (score, "file line N")
    lists: list[tuple[int, dict[str, list[str] | None]]] = []
    for number in chosen:
        parts: dict[str, list[str] | None] = {}
        owner: dict[str, str] = {}  # name -> "file line N" within this split
        for part in ("train", "val", "test"):
            path = split_dir / f"{part}_{number}.txt"
            if not path.is_file():
                if part == "val":
                    parts[part] = None
                    continue
                raise DataError(
                    f"split file {path} does not exist",
                    hint=f"split {number} needs train_{number}.txt and test_{number}.txt",
                )
            names = []
            for line, text in enumerate(_read_lines(path), start=1):
                fields = text.split()
                if not fields:
                    continue
                if len(fields) < 2:
                    raise DataError(f"{path} line {line}: missing score for {fields[0]!r}",
                                    hint="each line must be 'name score'")
                name, score = fields[0], _parse_score(fields[1], path, line)
                where = f"{path} line {line}"
                if name in owner:
                    raise DataError(
                        f"{where}: image {name!r} is listed again in split {number} "
                        f"(already at {owner[name]})",
                        hint="an image must appear once per split (train, val or test)",
                    )
                owner[name] = where
                if name in scores and not math.isclose(scores[name][0], score, abs_tol=1e-12):
                    raise DataError(
                        f"image {name!r} has score {score:g} at {where} but "
                        f"{scores[name][0]:g} at {scores[name][1]}",
                        hint="the same image must have the same score in every split file",
                    )
                scores.setdefault(name, (score, where))
                names.append(name)
            if not names:
                raise DataError(f"{path} lists no images", hint="expected lines 'name score'")
            parts[part] = names
        lists.append((number, parts))

    table = _Table()
    images = root / "images"
    for name in sorted(scores):
        table.add(name, images / name, scores[name][0], scores[name][1])
    index = {name: i for i, name in enumerate(table.names)}

    def idx(names: list[str] | None) -> np.ndarray | None:
        if names is None:
            return None
        return np.sort(np.array([index[n] for n in names], dtype=np.int64))

    table.published = [(f"split{number}", idx(p["train"]), idx(p["val"]), idx(p["test"]))
                       for number, p in lists]
    return table, list(chosen)


def _read_lnsim(root: Path) -> _Table:
    """LNSIM in the authors' layout (Image_data/ + Random_splits/) or the flat one."""
    if (root / "Image_data").is_dir():
        return _read_lnsim_published(root)
    if (root / "scores.csv").is_file():
        return _read_lnsim_flat(root)
    raise DataError(
        f"{root} has neither Image_data/ (LNSIM as published) nor scores.csv",
        hint="LNSIM needs Image_data/ + Random_splits/subject_hrs{1,2}.mat, "
        "or images/ + scores.csv",
    )


def _read_lnsim_flat(root: Path) -> _Table:
    """``images/`` + ``scores.csv`` (``image,memorability``) + optional ``split_halves.csv``."""
    path = root / "scores.csv"
    table = _Table()
    seen: dict[str, str] = {}
    for line, row in _csv_rows(path, {"image": ("image",), "score": ("memorability", "score")}):
        name = row["image"]
        if not name:
            raise DataError(f"{path} line {line}: missing image name")
        if name in seen:
            raise _duplicate(path, line, name, seen[name])
        seen[name] = f"line {line}"
        table.add(name, root / "images" / name, _parse_score(row["score"], path, line),
                  f"{path} line {line}")
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
    for line, row in _csv_rows(path, cols):
        split_text = row["split"]
        try:
            split = int(split_text)
        except ValueError:
            raise DataError(f"{path} line {line}: split {split_text!r} is not a whole number",
                            hint="the split column numbers the random subject splits") from None
        h1 = _parse_score(row["half1"], path, line, "half1")
        h2 = _parse_score(row["half2"], path, line, "half2")
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


def _read_lnsim_published(root: Path) -> _Table:
    """``Image_data/NNNN.jpg`` + ``Random_splits/subject_hrs{1,2}.mat`` (see module doc)."""
    split_dir = root / "Random_splits"
    h1_path, h2_path = split_dir / "subject_hrs1.mat", split_dir / "subject_hrs2.mat"
    for path in (h1_path, h2_path):
        if not path.is_file():
            raise DataError(f"{path} does not exist",
                            hint="LNSIM as published ships Random_splits/subject_hrs1.mat and "
                            "subject_hrs2.mat next to Image_data/")
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
    table = _Table()
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
                hint=f"expected {variable}: hit rates, one row per subject split and one "
                "column per image",
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


# ------------------------------------------------------------------------ finishing


def _finish(table: _Table, *, name: str, kind: str, spec: str, root: Path, citation: str,
            folds: int, seed: int, limit: int | None, options: dict) -> MemorabilityDataset:
    """Subset, check files, split and compute the ceiling."""
    n = len(table.names)
    keep = np.arange(n)
    if limit is not None and limit < n:
        keep = np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))
    _require_files(table, keep, root)
    items = [Item(table.names[i], table.paths[i], float(table.scores[i])) for i in keep]

    if table.published is not None:
        split_kind = "published"
        splits = _restrict_published(table.published, keep, n, root)
    else:
        split_kind = "kfold"
        if len(items) < folds:
            raise DataError(
                f"{root}: {len(items)} images but {folds} folds requested",
                hint="use fewer folds (or a larger limit)",
            )
        splits = kfold_splits(len(items), folds, seed)

    ceiling = None if table.halves is None else split_half_ceiling(table.halves[:, keep])
    return MemorabilityDataset(
        name=name, kind=kind, spec=spec, root=root, items=items, splits=splits,
        split_kind=split_kind, ceiling=ceiling, citation=citation, options=options,
    )


def _require_files(table: _Table, keep: np.ndarray, root: Path) -> None:
    missing = [i for i in keep if not table.paths[i].is_file()]
    if not missing:
        return
    shown = "; ".join(
        f"{table.paths[i]} (listed at {table.where[i]})" for i in missing[:_MAX_LISTED]
    )
    more = f" and {len(missing) - _MAX_LISTED} more" if len(missing) > _MAX_LISTED else ""
    raise DataError(
        f"{len(missing)} image file(s) of the data set at {root} are missing: {shown}{more}",
        hint="restore the missing files or remove their lines from the score file",
    )


def _restrict_published(published, keep: np.ndarray, n: int, root: Path) -> list[Split]:
    """Published splits re-indexed to the kept images (all of them without a limit)."""
    new_index = np.full(n, -1, dtype=np.int64)
    new_index[keep] = np.arange(len(keep))

    def remap(part: np.ndarray | None) -> np.ndarray | None:
        if part is None:
            return None
        mapped = new_index[part]
        return np.sort(mapped[mapped >= 0])

    splits = []
    for split_name, train, val, test in published:
        sp = Split(split_name, remap(train), remap(test), remap(val))
        if len(sp.train) == 0 or len(sp.test) == 0:
            raise DataError(f"{root}: the image limit leaves {split_name} without train or "
                            "test images", hint="use a larger limit")
        splits.append(sp)
    return splits


def split_half_ceiling(halves: np.ndarray) -> float | None:
    """Mean over subject splits of the Spearman rho between the two halves' hit rates.

    ``halves`` is (subject splits, images, 2); images with a NaN in a split are left out
    of that split. Returns None when no split has three or more usable, varying pairs.
    """
    from scipy.stats import spearmanr

    rhos = []
    for pairs in halves:
        ok = np.isfinite(pairs).all(axis=1)
        a, b = pairs[ok, 0], pairs[ok, 1]
        if ok.sum() >= 3 and np.ptp(a) > 0 and np.ptp(b) > 0:
            rhos.append(spearmanr(a, b)[0])
    return float(np.mean(rhos)) if rhos else None
