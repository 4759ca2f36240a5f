"""One real fine-tuning run shared by the fine-tuning tests.

EfficientNet-Lite0 with its real ImageNet weights (shipped in a pip package, offline),
fine-tuned for 2 epochs on 48 of the bundled LNSIM demo images at 128 px: fold 1 of a
4-fold split (36 train -> 27 train + 9 validation, 12 test). A reporter looks into the
store each time an epoch is announced, to prove the rows land while training runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from memtool.finetune.recipe import Recipe
from memtool.finetune.train import FinetuneConfig, FinetuneResult, finetune_model
from memtool.progress import NullReporter
from memtool.store import Store

MODEL = "tf_efficientnet_lite0"
RECIPE = dict(epochs=2, batch_size=8, img_size=128, val_fraction=0.25)
DATA = dict(data="demo", limit=48, folds=4, split=1)
N_BOOT = 100

# The same run on the command line (used by the kill/resume test).
CLI_ARGS = [
    "--model",
    MODEL,
    "--data",
    "demo",
    "--limit",
    "48",
    "--folds",
    "4",
    "--split",
    "1",
    "--epochs",
    "2",
    "--batch-size",
    "8",
    "--img-size",
    "128",
    "--val-fraction",
    "0.25",
    "--n-boot",
    str(N_BOOT),
]


class StoreWatcher(NullReporter):
    """Records, at every epoch message, which epoch rows the store already holds."""

    def __init__(self, db: Path):
        super().__init__()
        self.db = db
        self.seen: list[tuple[str, list[int]]] = []

    def message(self, text: str) -> None:
        super().message(text)
        if " epoch " in text and "train loss" in text:
            rows = Store(self.db).query("SELECT epoch FROM finetune_epochs ORDER BY epoch")[1]
            self.seen.append((text, [r[0] for r in rows]))


@dataclass
class Trained:
    result: FinetuneResult
    db: Path
    out: Path
    watcher: StoreWatcher


def config(out: Path, **changes) -> FinetuneConfig:
    recipe = Recipe(**{**RECIPE, **changes.pop("recipe", {})})
    return FinetuneConfig(model=MODEL, recipe=recipe, out_dir=out, n_boot=N_BOOT, **{**DATA, **changes})


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Trained:
    root = tmp_path_factory.mktemp("finetune")
    db, out = root / "ft.duckdb", root / "out"
    watcher = StoreWatcher(db)
    result = finetune_model(config(out), db, reporter=watcher)
    return Trained(result, db, out, watcher)
