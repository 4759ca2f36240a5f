"""The pipeline's one loop: a memory budget that forces several passes changes nothing stored.

Memorability and a brain target (the bundled monkey IT RDM on the sweep's reducer) go
through the same loop (memtool.pipeline.loop); with a budget a few layers wide, each is
extracted in several passes over its own stimuli (24 images, 92 stimuli), and every row
is the one a single-pass sweep stores.
"""

from __future__ import annotations

import pytest

pytest.importorskip("brainscore_vision")

from memtool.progress import NullReporter  # noqa: E402
from memtool.store import Store  # noqa: E402
from memtool.sweep import SweepConfig, run_sweep  # noqa: E402

pytestmark = pytest.mark.slow
CONFIG = dict(
    models=["test_resnet"],
    random_init=True,
    limit=24,
    folds=3,
    n_boot=20,
    batch_size=16,
    commit_every=5,
    layers=r"^(?!fc$)",
    brain=["demo-it"],
)
ROWS = {
    "layer_scores": "SELECT layer_name, setup_id, target, fold, score, ci_low, ci_high, alpha, "
    "n_train, n_test, reducer, n_features FROM layer_scores ORDER BY ALL",
    "brain_scores": "SELECT layer_name, setup_id, target_id, raw, ceiling, ceiled, error, note "
    "FROM brain_scores ORDER BY ALL",
}


class Labels(NullReporter):
    """Keeps the description of every progress task."""

    def __init__(self):
        super().__init__()
        self.labels: list[str] = []

    def task(self, description, total):
        self.labels.append(description)
        return super().task(description, total)


def _rows(db) -> dict[str, list]:
    store = Store(db)
    return {name: store.query(sql)[1] for name, sql in ROWS.items()}


def test_several_passes_per_target_store_the_single_pass_rows(tmp_path):
    one = Labels()
    run_sweep(SweepConfig(**CONFIG), tmp_path / "one.duckdb", reporter=one)
    single = _rows(tmp_path / "one.duckdb")
    pooled_k = Store(tmp_path / "one.duckdb").query(
        "SELECT max(n_features) FROM layer_scores WHERE target = 'memorability'"
    )[1][0][0]
    # Room for two of the widest layers' features on the 92 brain stimuli.
    budget_gib = 92 * pooled_k * 4 * 2 / 2**30
    many = Labels()
    result = run_sweep(
        SweepConfig(**CONFIG, memory_budget_gb=budget_gib), tmp_path / "many.duckdb", reporter=many
    )

    assert not any("(pass " in label for label in one.labels)
    memorability = [l for l in many.labels if l.startswith("extract ")]
    brain = [l for l in many.labels if l.startswith("demo:kriegeskorte92-monkey: extract ")]
    assert len(memorability) > 1 and all("(pass " in l for l in memorability)
    assert len(brain) > len(memorability) and all("(pass " in l for l in brain)
    assert result.models[0].n_passes == len(memorability)
    # every layer extracted once per target, in passes that partition the layers
    n_layers = len(single["brain_scores"])
    assert sum(int(l.split()[1]) for l in memorability) == n_layers
    assert sum(int(l.split(": ")[1].split()[1]) for l in brain) == n_layers
    assert n_layers > 40 and _rows(tmp_path / "many.duckdb") == single
