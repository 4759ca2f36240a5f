"""Looking at a loaded memorability data set: unreadable images, and a plain summary."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from memtool.data.base import MemorabilityDataset


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
