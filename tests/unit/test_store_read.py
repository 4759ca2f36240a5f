"""memtool.store.read: the one read layer the TUI, the report and `memtool analyze` share."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta

import duckdb
import polars as pl
import pytest

from memtool.errors import UsageError
from memtool.report.data import load_report_data
from memtool.store import Store, read
from tests.fixture_store import build_fixture_store


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory):
    return build_fixture_store(tmp_path_factory.mktemp("read") / "fixture.duckdb")


@pytest.fixture
def store_copy(fixture_db, tmp_path):
    path = tmp_path / "copy.duckdb"
    shutil.copy(fixture_db, path)
    return path


def _second_it_target(path) -> None:
    """Scores of a second IT target (human IT, say) on two layers of one model."""
    rows = [
        {
            "run_id": "r",
            "model_id": "timm:resnet18@wresn",
            "layer_name": layer,
            "dataset_id": "human-it",
            "setup_id": "s2",
            "target": "IT",
            "fold": "pooled",
            "metric": "rdm",
            "score": score,
            "reducer": "pool",
        }
        for layer, score in (("block0.layer0", 0.3), ("block0.layer1", 0.4))
    ]
    Store(path).insert_scores(rows)


def test_targets_of_one_region_stay_apart_by_target_id(store_copy):
    _second_it_target(store_copy)
    with read.reading(Store(store_copy)) as s:
        targets = read.brain_targets(s)
        it = [t for t in targets if t.region == "IT"]
        assert [(t.target_id, t.label) for t in it] == [
            ("human-it", "IT · human-it"),
            ("ds0000000001", "IT · demo"),
        ]
        human = next(t for t in it if t.target_id == "human-it")
        assert read.points(s, human).select("layer", "brain").rows() == [
            ("block0.layer0", 0.3),
            ("block0.layer1", 0.4),
        ]
        other = next(t for t in it if t.target_id != "human-it")
        # the points of each target are that target's latest scores, never a mix
        latest = s.frame(
            "SELECT count(*) AS n FROM latest_brain_scores WHERE region = 'IT' AND brain_target_id = ?",
            [other.target_id],
        )["n"][0]
        assert read.points(s, other).height == latest
        # the wide view shows one target per model and region: the one with the most layers
        shown = read.shown_target_names(s).filter(pl.col("region") == "IT")
        assert "human-it" not in shown["name"].to_list()


def test_a_store_without_latest_brain_scores_reads_the_same(fixture_db, tmp_path):
    old = tmp_path / "old.duckdb"
    shutil.copy(fixture_db, old)
    with duckdb.connect(str(old)) as con:  # as a store written before the view existed
        con.execute("DROP VIEW latest_brain_scores")
    with read.reading(Store(fixture_db)) as s:
        want = [(t, read.points(s, t).rows()) for t in read.brain_targets(s)]
    with read.reading(Store(old)) as s:
        got = [(t, read.points(s, t).rows()) for t in read.brain_targets(s)]
    assert got == want and len(want) == 4
    studies = [load_report_data(Store(p)).studies[0] for p in (fixture_db, old)]
    assert studies[0].layers.equals(studies[1].layers)
    assert studies[0].target_names == studies[1].target_names
    with duckdb.connect(str(old), read_only=True) as con:  # the file itself is untouched
        names = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "latest_brain_scores" not in names


def test_running_runs_last_until_now(fixture_db):
    with read.reading(Store(fixture_db)) as s:
        runs = read.runs(s)
    start = datetime(2026, 1, 1, 12, 0, 0)
    frame = pl.DataFrame(
        {
            "run_id": ["a", "b"],
            "status": ["running", "completed"],
            "started_at": [start, start],
            "finished_at": [None, start + timedelta(seconds=3)],
            "duration_s": [0.0, 3.0],
        }
    )
    live = read.live_durations(frame, now=start + timedelta(seconds=90))
    assert live["duration_s"].to_list() == [90.0, 3.0]
    assert read.live_durations(frame, now=start - timedelta(seconds=5))["duration_s"][0] == 0.0
    assert runs.columns[:3] == ["run_id", "kind", "status"] and runs.height >= 1


def test_models_setups_and_run_prefixes(fixture_db):
    with read.reading(Store(fixture_db)) as s:
        names = read.model_names(s)
        (setup,) = read.setups(s)
        runs = sorted(read.runs(s)["run_id"].to_list())
        assert read.resolve_runs(s, [runs[1], runs[0]]) == runs[:2]
        assert read.resolve_runs(s, None) is None
        with pytest.raises(UsageError, match="matches several runs"):
            read.resolve_runs(s, ["run0"])
        with pytest.raises(UsageError, match="is not in the database"):
            read.resolve_runs(s, ["nosuch"])
        assert read.scored_models(s) == sorted(set(names))
    assert setup.label == "demo · pool" and setup.n_layers > 0
    assert read.match_models(names, ["RESNET*", "alexnet"]) == ["timm:resnet18", "torchvision:alexnet"]


def test_without_finetuning_tables_there_is_nothing_to_show(store_copy):
    with duckdb.connect(str(store_copy)) as con:
        con.execute("DROP VIEW IF EXISTS finetune_brain_relation")
        con.execute("DROP VIEW IF EXISTS finetune_penultimate_scores")
        con.execute("DROP VIEW IF EXISTS finetune_results")
        con.execute("DROP TABLE finetune_epochs")
    with read.reading(Store(store_copy)) as s:
        assert read.finetune(s) is None
        assert read.completed_runs(s) is None
        assert read.count_jobs(s) == 0
