"""The generic adapter: a ``path,score`` CSV with a header, paths relative to its folder."""

from __future__ import annotations

from pathlib import Path

from memtool.data.memorability.table import Table, csv_rows, duplicate, parse_score
from memtool.errors import DataError


def read_csv(path: Path) -> Table:
    """Generic ``path,score`` CSV; paths relative to the CSV's folder."""
    table = Table()
    seen: dict[str, str] = {}
    for line, row in csv_rows(path, {"path": ("path",), "score": ("score",)}):
        rel = row["path"]
        if not rel:
            raise DataError(f"{path} line {line}: missing image path")
        score = parse_score(row["score"], path, line)
        key = Path(rel).as_posix()
        where = f"{path} line {line}"
        if key in seen:
            raise duplicate(path, line, rel, seen[key])
        seen[key] = f"line {line}"
        table.add(key, (path.parent / rel).resolve(), score, where)
    if not table.names:
        raise DataError(f"{path} lists no images", hint="add lines 'path,score' below the header")
    return table
