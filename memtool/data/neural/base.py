"""The neural data type every adapter returns, and memtool's cache for unpacked stimuli.

Images stored inside a zip or a .mat file are written once to memtool's cache folder
(``$MEMTOOL_CACHE``, else ``$XDG_CACHE_HOME/memtool``, else ``~/.cache/memtool``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class NeuralData:
    """One scoring target's data: stimuli plus responses of one region, or one RDM."""

    name: str  # e.g. "cowley2023-210325", "kriegeskorte92-monkey"
    kind: str  # "responses" | "rdm"
    region: str  # "V1" | "V2" | "V4" | "IT" | a label from the data
    spec: str  # a spec that loads this again
    stimulus_ids: list[str]
    stimuli: list[Path]
    stimulus_meta: dict[str, list] = field(default_factory=dict)  # extra per-image columns
    responses: np.ndarray | None = None  # (neuroids, images): mean over repeats
    repeats: np.ndarray | None = None  # (neuroids, images, repeats), NaN-padded
    neuroid_ids: list[str] | None = None
    rdm: np.ndarray | None = None  # (images, images)
    description: str = ""
    citation: str = ""
    root: Path | None = None

    @property
    def n_stimuli(self) -> int:
        return len(self.stimuli)

    @property
    def n_neuroids(self) -> int | None:
        return None if self.responses is None else int(self.responses.shape[0])

    def fingerprint(self) -> str:
        """Digest of stimulus ids, image bytes and the numbers: equal digests, equal scores."""
        h = hashlib.sha1(f"{self.kind}\t{self.region}\n".encode())
        for sid, path in zip(self.stimulus_ids, self.stimuli):
            h.update(f"{sid}\t{file_digest(path)}\n".encode())
        for array in (self.responses, self.repeats, self.rdm):
            h.update(b"|" if array is None else np.ascontiguousarray(array, dtype=np.float64).tobytes())
        return h.hexdigest()[:16]


def cache_dir() -> Path:
    """memtool's cache folder (created on demand)."""
    if os.environ.get("MEMTOOL_CACHE"):
        base = Path(os.environ["MEMTOOL_CACHE"])
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "memtool"
    return base.expanduser()


def file_digest(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def materialise(key: str, write) -> Path:
    """Return ``cache/neural/<key>``, filling it once with ``write(tmp_dir)`` (atomic rename)."""
    final = cache_dir() / "neural" / key
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=final.parent))
    try:
        write(tmp)
        try:
            tmp.rename(final)
        except OSError:  # another process got there first
            if not final.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
