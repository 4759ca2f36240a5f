"""`--brain` on a real local Ray (2 CPUs): brain rows travel through shards, exactly once.

The demo's model (real EfficientNet-Lite0 weights) on demo images against the bundled
monkey IT RDM, swept by the local engine and by Ray, once undisturbed and once with the
worker SIGKILLed while it scores brain layers: every table the sweep writes holds the same
rows in all three stores.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from functools import partial
from pathlib import Path

import polars as pl
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("brainscore_vision")

# brainscore's and memtool's caches in a temporary folder (as tests/brain/conftest.py does),
# set before Ray starts so that its workers inherit them.
_CACHE = Path(tempfile.mkdtemp(prefix="memtool-ray-brain-tests-"))
for _var, _sub in (
    ("RESULTCACHING_HOME", "result_caching"),
    ("BRAINSCORE_HOME", "brain-score"),
    ("MEMTOOL_CACHE", "memtool"),
):
    os.environ.setdefault(_var, str(_CACHE / _sub))
os.environ.setdefault("BS_INSTALL_DEPENDENCIES", "no")

import memtool.engines.ray as ray_engine  # noqa: E402
from memtool.store.shards import pending_shards  # noqa: E402
from memtool.store import Store  # noqa: E402
from memtool.sweep import SweepConfig, run_sweep  # noqa: E402

_MODEL_TASK = ray_engine._model_task

pytestmark = pytest.mark.slow
MODEL = "tf_efficientnet_lite0"
# The 16 block outputs and the head: enough layers for several commits per target.
CONFIG = dict(
    models=[MODEL],
    data="demo",
    brain=["demo-it"],
    limit=60,
    folds=3,
    n_boot=50,
    batch_size=16,
    commit_every=3,
    layers=r"^blocks\.\d\.\d$|^conv_head$|^global_pool$",
)
TABLES = {
    "layer_scores": "SELECT m.name, s.layer_name, s.dataset_id, s.setup_id, s.target, s.fold, "
    "s.metric, s.score, s.ci_low, s.ci_high, s.alpha, s.n_test, s.n_features "
    "FROM layer_scores s JOIN models m USING (model_id)",
    "brain_scores": "SELECT m.name, b.layer_name, b.setup_id, b.target_id, b.raw, b.ceiling, "
    "b.ceiled, b.error, b.note FROM brain_scores b JOIN models m USING (model_id)",
    "brain_targets": "SELECT * EXCLUDE (created_at) FROM brain_targets",
    "datasets": "SELECT * EXCLUDE (created_at) FROM datasets",
    "setups": "SELECT * FROM setups",
    "models": "SELECT * EXCLUDE (created_at) FROM models",
    "layers": "SELECT * FROM layers",
}


def rows(db: Path) -> dict[str, list]:
    store = Store(db)
    return {name: sorted(store.query(sql)[1], key=_key) for name, sql in TABLES.items()}


def _key(row) -> str:
    """Rows sort by their non-float values (the floats may differ in the last digits)."""
    return repr(tuple(v for v in row if not isinstance(v, float)))


def assert_same_rows(found: dict[str, list], expected: dict[str, list]) -> None:
    """Every table holds the same rows; floats equal to 1e-6 (relative or absolute).

    A Ray worker runs torch with its task's CPU count as threads, the local engine with
    this process's, and a float32 convolution summed over another number of threads
    rounds differently in its last bits, so scores can differ at the 1e-8 level.
    """
    assert found.keys() == expected.keys()
    for table in expected:
        assert len(found[table]) == len(expected[table]), table
        for got, want in zip(found[table], expected[table]):
            assert len(got) == len(want), table
            for g, w in zip(got, want):
                if isinstance(w, float) and isinstance(g, float):
                    assert g == pytest.approx(w, rel=1e-6, abs=1e-6), (table, got, want)
                else:
                    assert g == w, (table, got, want)


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, num_gpus=0, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def local_rows(tmp_path_factory):
    db = tmp_path_factory.mktemp("local") / "local.duckdb"
    run_sweep(SweepConfig(**CONFIG), db)
    found = rows(db)
    n_brain = sum(r[4] == "IT" for r in found["layer_scores"])
    assert n_brain >= 10 and n_brain == len(found["brain_scores"])
    assert len(found["brain_targets"]) == 1
    return found


def test_ray_sweep_with_brain_gives_the_local_rows(local_ray, local_rows, tmp_path):
    db, shards = tmp_path / "ray.duckdb", tmp_path / "shards"
    result = run_sweep(SweepConfig(**CONFIG), db, engine="ray", ray_options={"results_dir": shards})
    assert [m.error for m in result.models] == [None]
    assert result.models[0].n_scored == len({r[1] for r in local_rows["layer_scores"]})
    assert_same_rows(rows(db), local_rows)
    written = {p.name.split("-", 1)[1] for p in pending_shards(shards)}
    assert {"brain_scores.parquet", "brain_targets.parquet", "setups.parquet"} <= written
    assert Store(db).query("SELECT count(*) FROM ingested_shards")[1][0][0] == len(pending_shards(shards))


class _DiesAfterBrainCommits:
    """A worker's sink that SIGKILLs its own process right after its 2nd brain commit, once.

    The fault lands at the same point of the pipeline on every run (after 6 brain layers
    are on disk), unlike a kill sent from the driver, which races the worker's progress.
    """

    def __init__(self, inner, marker: Path):
        self.inner, self.marker, self.commits = inner, marker, 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def insert_brain_scores(self, rows):
        self.inner.insert_brain_scores(rows)
        self.commits += 1
        if self.commits == 2 and not self.marker.exists():
            self.marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)


def _dying_model_task(config, spec, sink, run_id, reporter, device, *, marker):
    return _MODEL_TASK(config, spec, _DiesAfterBrainCommits(sink, Path(marker)), run_id, reporter, device)


def test_a_worker_killed_during_brain_scoring_still_gives_the_local_rows(
    local_ray, local_rows, tmp_path, monkeypatch
):
    db, shards = tmp_path / "ray.duckdb", tmp_path / "shards"
    # Ray ships this module's functions to the workers by value (tests/ is not a package
    # that workers import), the sweep's own per-model task by reference.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    monkeypatch.setattr(
        ray_engine, "_model_task", partial(_dying_model_task, marker=str(tmp_path / "killed-once"))
    )
    result = run_sweep(
        SweepConfig(**CONFIG), db, engine="ray", ray_options={"results_dir": shards, "max_retries": 2}
    )
    assert (tmp_path / "killed-once").exists()
    assert [m.error for m in result.models] == [None]
    store = Store(db)
    assert store.query("SELECT status, attempts FROM sweep_tasks")[1] == [("completed", 2)]
    # The retry resumed from the first attempt's shards: no memorability layer and none of
    # the 6 committed brain layers was scored again.
    assert result.models[0].n_scored == 0 and result.models[0].n_skipped > 0
    in_shards = sum(
        pl.read_parquet(p).height for p in pending_shards(shards) if p.name.endswith("-brain_scores.parquet")
    )
    assert in_shards == len(local_rows["brain_scores"])
    assert_same_rows(rows(db), local_rows)
