"""Which adapter a neural data spec names: ``DIR[:SELECT]``, ``cowley2023:``,
``kriegeskorte92:``, ``demo-it`` / ``demo-hit`` (see ``memtool.data.neural``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from memtool.data.neural.base import NeuralData
from memtool.data.neural.cowley import load_cowley2023
from memtool.data.neural.kriegeskorte import load_kriegeskorte92
from memtool.data.neural.local import read_local


def demo_brain_dir() -> Path:
    """Folder of the bundled 92-image RDMs (inside the installed package)."""
    return Path(str(resources.files("memtool") / "data" / "demo_brain"))


def load_neural(spec: str) -> list[NeuralData]:
    """Parse a local neural data spec (see ``memtool.data.neural``); one entry per target."""
    spec = spec.strip()
    if spec in ("demo-it", "demo-hit"):
        choice = "monkey" if spec == "demo-it" else "human"
        found = read_local(demo_brain_dir(), select=choice)
        for d in found:
            d.spec = spec
        return found
    head, sep, rest = spec.partition(":")
    if sep and head.lower() == "cowley2023":
        path, session = split_select(rest)
        return load_cowley2023(path, session)
    if sep and head.lower() == "kriegeskorte92":
        path, which = split_select(rest)
        return load_kriegeskorte92(path, which)
    if sep and head.lower() == "local":
        spec = rest
    path, select = split_select(spec)
    return read_local(path, select=select)


def split_select(text: str) -> tuple[Path, str | None]:
    """``PATH[:SELECT]``: SELECT only when PATH:SELECT is not itself an existing path."""
    whole = Path(text).expanduser()
    if whole.exists() or ":" not in text:
        return whole, None
    path, _, select = text.rpartition(":")
    return Path(path).expanduser(), (select or None)
