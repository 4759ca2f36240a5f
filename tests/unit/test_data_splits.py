import numpy as np
import pytest

from memtool.data.splits import kfold_splits
from memtool.errors import DataError


def test_folds_partition_all_images():
    splits = kfold_splits(23, k=5, seed=3)
    assert [s.name for s in splits] == [f"fold{i}" for i in range(1, 6)]
    tests = np.concatenate([s.test for s in splits])
    assert sorted(tests.tolist()) == list(range(23))  # disjoint and covering
    for s in splits:
        assert s.val is None
        assert set(s.train.tolist()) | set(s.test.tolist()) == set(range(23))
        assert not set(s.train.tolist()) & set(s.test.tolist())
        assert len(s.test) in (4, 5)
        assert s.train.dtype == np.int64


def test_folds_are_seeded():
    a, b, c = kfold_splits(50, 5, seed=1), kfold_splits(50, 5, seed=1), kfold_splits(50, 5, seed=2)
    assert all(np.array_equal(x.test, y.test) for x, y in zip(a, b))
    assert not all(np.array_equal(x.test, y.test) for x, y in zip(a, c))
    # shuffled, not consecutive chunks
    assert not np.array_equal(a[0].test, np.arange(10))


def test_too_few_images_for_folds():
    with pytest.raises(DataError, match="3 images but 5 folds requested") as err:
        kfold_splits(3, 5)
    assert err.value.hint


def test_n_equal_k_gives_leave_one_out():
    splits = kfold_splits(4, 4)
    assert all(len(s.test) == 1 and len(s.train) == 3 for s in splits)
