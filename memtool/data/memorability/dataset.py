"""``load_memorability``: a spec → an adapter's table → a checked, split data set.

After the adapter has read its files, the table is subset (``limit``), its image files
are checked, it gets its published or seeded K-fold splits, and the human split-half
ceiling is computed where the set has subject halves.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from memtool.data.base import Item, MemorabilityDataset, Split
from memtool.data.memorability.adapters import ADAPTERS, parse_spec
from memtool.data.memorability.table import Table
from memtool.data.splits import kfold_splits
from memtool.errors import DataError, UsageError

_MAX_LISTED = 5  # missing files named in one error message


def load_memorability(
    spec: str | os.PathLike,
    *,
    folds: int = 5,
    seed: int = 0,
    splits: Sequence[int] | None = None,
    limit: int | None = None,
    validate: bool = False,
) -> MemorabilityDataset:
    """Load a memorability data set from ``spec`` (see ``memtool.data.memorability``).

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
    kind, root = parse_spec(spec)
    adapter = ADAPTERS[kind]
    if splits is not None and not adapter.published_splits:
        raise UsageError(
            "choosing published splits only applies to LaMem",
            hint="this data set gets seeded K-fold splits: set the number of folds instead",
        )
    table, chosen = adapter.read(root, None if splits is None else list(splits))

    options = {
        "folds": None if table.published is not None else folds,
        "seed": seed,
        "splits": chosen,
        "limit": limit,
    }
    dataset = _finish(
        table,
        name=adapter.name or root.name,
        kind=kind,
        spec=adapter.spec(root),
        root=root,
        citation=adapter.citation,
        folds=folds,
        seed=seed,
        limit=limit,
        options=options,
    )
    if validate:
        from memtool.data.validate import require_scorable

        require_scorable(dataset)
    return dataset


def _finish(
    table: Table,
    *,
    name: str,
    kind: str,
    spec: str,
    root: Path,
    citation: str,
    folds: int,
    seed: int,
    limit: int | None,
    options: dict,
) -> MemorabilityDataset:
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
        name=name,
        kind=kind,
        spec=spec,
        root=root,
        items=items,
        splits=splits,
        split_kind=split_kind,
        ceiling=ceiling,
        citation=citation,
        options=options,
    )


def _require_files(table: Table, keep: np.ndarray, root: Path) -> None:
    missing = [i for i in keep if not table.paths[i].is_file()]
    if not missing:
        return
    shown = "; ".join(f"{table.paths[i]} (listed at {table.where[i]})" for i in missing[:_MAX_LISTED])
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
            raise DataError(
                f"{root}: the image limit leaves {split_name} without train or test images",
                hint="use a larger limit",
            )
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
