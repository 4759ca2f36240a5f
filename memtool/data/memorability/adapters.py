"""The memorability adapters by kind, and how a spec string picks one.

Each :class:`Adapter` says how its kind of data set is read, named and cited; adding a
kind is one entry in :data:`ADAPTERS` (and, to detect it from a bare path, one rule in
:func:`detect`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from memtool.data.memorability.csvfile import read_csv
from memtool.data.memorability.lamem import LAMEM_CITATION, read_lamem
from memtool.data.memorability.lnsim import LNSIM_CITATION, read_lnsim
from memtool.data.memorability.table import Table
from memtool.errors import DataError

LAYOUTS_HINT = (
    "accepted: 'demo'; a LaMem folder with images/ and splits/; an LNSIM folder with "
    "Image_data/ + Random_splits/ or images/ + scores.csv; a CSV file with a path,score "
    "header (prefix lamem:, lnsim: or csv: to choose the adapter)"
)


@dataclass(frozen=True)
class Adapter:
    """How one kind of memorability data set is read, named and cited.

    ``read(root, splits)`` returns the table and the published splits it kept (None for
    sets that have none); ``name`` is the data set's short name (None: the file's own
    name); only adapters with ``published_splits`` accept a choice of splits.
    """

    kind: str
    read: Callable[[Path, list[int] | None], tuple[Table, list[int] | None]]
    citation: str
    name: str | None
    published_splits: bool = False

    def spec(self, root: Path) -> str:
        """The canonical spec that loads this data set again."""
        return "demo" if self.kind == "demo" else f"{self.kind}:{root}"


def _without_splits(read: Callable[[Path], Table]):
    return lambda root, _splits: (read(root), None)


ADAPTERS: dict[str, Adapter] = {
    "lamem": Adapter("lamem", read_lamem, LAMEM_CITATION, "lamem", published_splits=True),
    "lnsim": Adapter("lnsim", _without_splits(read_lnsim), LNSIM_CITATION, "lnsim"),
    "csv": Adapter("csv", _without_splits(read_csv), "", None),
    # The bundled demo is 300 LNSIM images in the flat layout.
    "demo": Adapter("demo", _without_splits(read_lnsim), LNSIM_CITATION, "demo"),
}
_PREFIXES = ("lamem", "lnsim", "csv")  # kinds a spec may name as "kind:path"


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


def parse_spec(spec: str | os.PathLike) -> tuple[str, Path]:
    """Split ``spec`` into (adapter kind, absolute path), detecting the kind if needed."""
    text = os.fspath(spec).strip()
    if text == "demo":
        return "demo", demo_root()
    head, sep, rest = text.partition(":")
    kind = head.lower() if sep and head.lower() in _PREFIXES else None
    path_text = rest if kind else text
    if not path_text.strip():
        raise DataError(f"no path given in data set spec {text!r}", hint=LAYOUTS_HINT)
    root = Path(path_text.strip()).expanduser().resolve()
    if not root.exists():
        raise DataError(f"data set path {root} does not exist", hint=LAYOUTS_HINT)
    if kind is None:
        kind = detect(root)
    if kind == "csv" and not root.is_file():
        raise DataError(f"{root} is not a CSV file", hint="give the path of the CSV itself")
    if kind in ("lamem", "lnsim") and not root.is_dir():
        raise DataError(f"{root} is not a folder", hint=LAYOUTS_HINT)
    return kind, root


def detect(root: Path) -> str:
    """The adapter kind of a bare path: LaMem's splits/, LNSIM's files, or a .csv file."""
    if root.is_dir():
        if (root / "splits").is_dir():
            return "lamem"
        if (root / "Image_data").is_dir() or (root / "scores.csv").is_file():
            return "lnsim"
    elif root.suffix.lower() == ".csv":
        return "csv"
    raise DataError(f"cannot tell which kind of data set {root} is", hint=LAYOUTS_HINT)
