"""LaMem as published (Khosla et al., ICCV 2015): ``images/`` + ``splits/{train,val,test}_N.txt``.

Each split file's lines are ``name score`` (whitespace separated; further columns are
ignored). The published splits are kept, re-indexed to the images read.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from memtool.data.memorability.table import Table, parse_score, read_lines
from memtool.errors import DataError

LAMEM_CITATION = (
    "Khosla, A., Raju, A. S., Torralba, A., & Oliva, A. (2015). Understanding and "
    "predicting image memorability at a large scale. ICCV 2015, 2390-2398."
)


def read_lamem(root: Path, chosen: list[int] | None) -> tuple[Table, list[int]]:
    """LaMem's ``images/`` + ``splits/{train,val,test}_N.txt`` (N = 1..5)."""
    split_dir = root / "splits"
    if not split_dir.is_dir():
        raise DataError(f"{split_dir} does not exist", hint="LaMem needs images/ and splits/")
    if chosen is None:
        chosen = [
            i
            for i in range(1, 6)
            if (split_dir / f"train_{i}.txt").is_file() and (split_dir / f"test_{i}.txt").is_file()
        ]
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
            for line, text in enumerate(read_lines(path), start=1):
                fields = text.split()
                if not fields:
                    continue
                if len(fields) < 2:
                    raise DataError(
                        f"{path} line {line}: missing score for {fields[0]!r}",
                        hint="each line must be 'name score'",
                    )
                name, score = fields[0], parse_score(fields[1], path, line)
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

    table = Table()
    images = root / "images"
    for name in sorted(scores):
        table.add(name, images / name, scores[name][0], scores[name][1])
    index = {name: i for i, name in enumerate(table.names)}

    def idx(names: list[str] | None) -> np.ndarray | None:
        if names is None:
            return None
        return np.sort(np.array([index[n] for n in names], dtype=np.int64))

    table.published = [
        (f"split{number}", idx(p["train"]), idx(p["val"]), idx(p["test"])) for number, p in lists
    ]
    return table, list(chosen)
