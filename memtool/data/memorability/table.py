"""What every memorability adapter reads into, and the text parsing they share.

An adapter turns its files into a :class:`Table` (one entry per image, with where each
entry came from for error messages); ``dataset.load_memorability`` subsets, splits and
checks it. The helpers here raise :class:`DataError` naming the file and the line.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from memtool.errors import DataError


@dataclass
class Table:
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


def parse_score(text: str, path: Path, line: int, what: str = "score") -> float:
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


def read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text: {exc}", hint="save it as UTF-8") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None


def csv_rows(path: Path, columns: dict[str, tuple[str, ...]]):
    """Yield ``(line, {column: text})`` for each data row of a CSV with a header.

    ``columns`` maps each wanted column to the header names accepted for it.
    """
    lines = read_lines(path)
    reader = csv.reader(lines)
    header = next(reader, None)
    while header is not None and not any(h.strip() for h in header):
        header = next(reader, None)  # skip leading blank lines
    if header is None:
        raise DataError(
            f"{path} is empty",
            hint="expected a header line: " + ",".join(names[0] for names in columns.values()),
        )
    lower = [h.strip().lower() for h in header]
    position = {}
    for col, names in columns.items():
        found = [lower.index(n) for n in names if n in lower]
        if not found:
            raise DataError(
                f"{path} line {reader.line_num}: header has no column {names[0]!r} "
                f"(found {', '.join(repr(h) for h in header)})",
                hint="the first line must name the columns: " + ",".join(n[0] for n in columns.values()),
            )
        position[col] = found[0]
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        yield reader.line_num, {col: (row[i].strip() if i < len(row) else "") for col, i in position.items()}


def duplicate(path: Path, line: int, name: str, first: str) -> DataError:
    return DataError(
        f"{path} line {line}: duplicate image {name!r} (already listed at {first})",
        hint="list each image once",
    )
