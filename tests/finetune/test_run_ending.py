"""A fine-tuning run stopped mid-way records how it ended in finetune_runs, with the same
words as the runs table: SIGTERM and Ctrl-C -> interrupted, anything else -> failed."""

from __future__ import annotations

import pytest

from memtool.errors import Terminated
from memtool.finetune.recipe import Recipe
from memtool.finetune.records import FinetuneRecords
from memtool.finetune.train import FinetuneConfig, finetune_model
from memtool.progress import NullReporter
from memtool.store import Store


class StopAtFirstEpoch(NullReporter):
    """Raises ``exc`` where the first epoch is announced (after its row and last.pt)."""

    def __init__(self, exc: BaseException):
        super().__init__()
        self.exc = exc

    def message(self, text: str) -> None:
        super().message(text)
        if "train loss" in text:
            raise self.exc


@pytest.mark.parametrize(
    "exc, expected",
    [
        (Terminated(), ("interrupted", "terminated by SIGTERM")),
        (KeyboardInterrupt(), ("interrupted", "interrupted by the user")),
        (RuntimeError("disk gone"), ("failed", "RuntimeError: disk gone")),
    ],
)
def test_a_run_stopped_after_its_first_epoch_records_how(tmp_path, exc, expected):
    config = FinetuneConfig(
        model="test_resnet",
        random_init=True,
        data="demo",
        limit=24,
        folds=2,
        recipe=Recipe(epochs=2, batch_size=4, img_size=32, val_fraction=0.3),
        device="cpu",
        workers=0,
        out_dir=tmp_path / "out",
        n_boot=10,
    )
    with pytest.raises(type(exc)):
        finetune_model(config, tmp_path / "t.duckdb", reporter=StopAtFirstEpoch(exc))
    runs = Store(tmp_path / "t.duckdb").query("SELECT finetune_id, status, error FROM finetune_runs")[1]
    assert [(status, error) for _, status, error in runs] == [expected]
    assert [e["epoch"] for e in FinetuneRecords(Store(tmp_path / "t.duckdb")).epochs(runs[0][0])] == [0]
