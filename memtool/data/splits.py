"""Seeded K-fold cross-validation splits for data sets that ship without a split."""

from __future__ import annotations

import numpy as np

from memtool.data.base import Split
from memtool.errors import DataError


def kfold_splits(n: int, k: int = 5, seed: int = 0) -> list[Split]:
    """Partition ``range(n)`` into ``k`` folds after a seeded shuffle.

    Fold ``i`` (named ``fold1`` .. ``foldK``) tests on the i-th chunk of the shuffled
    indices and trains on the rest. The test sets are disjoint and together cover every
    index; fold sizes differ by at most one. Index arrays are sorted ``int64``. There is
    no validation set (``val=None``): hyper-parameters are chosen on ``train``.
    The same ``(n, k, seed)`` always gives the same folds.
    """
    if k < 2:
        raise DataError(f"{k} folds requested", hint="use at least 2 folds")
    if n < k:
        raise DataError(
            f"{n} images but {k} folds requested",
            hint="every fold needs at least one test image: use fewer folds or more images",
        )
    order = np.random.default_rng(seed).permutation(n)
    splits = []
    for i, chunk in enumerate(np.array_split(order, k), start=1):
        test = np.sort(chunk).astype(np.int64)
        train = np.setdiff1d(np.arange(n, dtype=np.int64), test)
        splits.append(Split(name=f"fold{i}", train=train, test=test, val=None))
    return splits
