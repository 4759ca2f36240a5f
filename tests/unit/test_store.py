"""Migrations, views, locking and typed writes of the DuckDB store."""

from __future__ import annotations

import multiprocessing as mp
import time

import duckdb
import pytest

from memtool.errors import StoreError, StoreLockedError
from memtool.store import Store
from memtool.store.connection import sql_dir
from memtool.store.migrations import schema_files, view_files


def fill(store: Store) -> None:
    store.upsert_dataset(
        {
            "dataset_id": "d1",
            "name": "demo",
            "kind": "demo",
            "spec": "demo",
            "n_images": 10,
            "n_splits": 2,
            "split_kind": "kfold",
            "ceiling": 0.7,
        }
    )
    store.upsert_model(
        {
            "model_id": "m@1",
            "name": "timm:m",
            "source": "timm",
            "arch": "m",
            "weights_source": "random-init",
            "weights_id": "1",
        }
    )
    store.replace_layers(
        "m@1",
        [
            {
                "model_id": "m@1",
                "layer_name": n,
                "layer_index": i,
                "exec_order": i,
                "relative_depth": i / 2,
                "module_type": "Conv2d",
                "alias_of": alias,
            }
            for i, (n, alias) in enumerate([("a", None), ("b", None), ("c", "b")])
        ],
    )
    rows = []
    for layer, rho in [("a", 0.1), ("b", 0.4)]:
        for fold, s in [("fold1", rho - 0.05), ("fold2", rho + 0.05), ("pooled", rho)]:
            rows.append(
                {
                    "run_id": "r1",
                    "model_id": "m@1",
                    "layer_name": layer,
                    "dataset_id": "d1",
                    "setup_id": "s1",
                    "target": "memorability",
                    "fold": fold,
                    "metric": "spearman",
                    "score": s,
                    "ci_low": s - 0.1,
                    "ci_high": s + 0.1,
                    "reducer": "pool",
                    "n_features": 8,
                }
            )
    rows.append(
        {
            "run_id": "r1",
            "model_id": "m@1",
            "layer_name": "b",
            "dataset_id": "d1",
            "setup_id": "s2",
            "target": "IT",
            "fold": "pooled",
            "metric": "pls",
            "score": 0.6,
            "reducer": "pool",
        }
    )
    store.insert_scores(rows)


def test_migrations_apply_once_and_are_recorded(tmp_path):
    store = Store(tmp_path / "a.duckdb")
    assert store.migrate() == [name for _, name, _ in schema_files(sql_dir())]
    assert store.migrate() == []
    cols, rows = store.query("SELECT version, name FROM schema_migrations ORDER BY version")
    assert [r[1] for r in rows] == [name for _, name, _ in schema_files(sql_dir())]
    views = {r[0] for r in store.query("SELECT view_name FROM duckdb_views() WHERE NOT internal")[1]}
    assert {p.stem for p in view_files(sql_dir())} <= views


def test_every_view_file_is_named_after_its_view():
    for path in view_files(sql_dir()):
        assert f"VIEW {path.stem} AS" in path.read_text(), path.name
        assert path.read_text().startswith("--"), f"{path.name} needs a header comment"


def test_wide_and_best_views(tmp_path):
    store = Store(tmp_path / "a.duckdb")
    store.migrate()
    fill(store)
    cols, rows = store.query("SELECT layer, memorability, IT, alias_of FROM layer_scores_wide ORDER BY layer")
    assert rows == [("a", 0.1, None, None), ("b", 0.4, 0.6, None), ("c", 0.4, 0.6, "b")]
    cols, rows = store.query(
        "SELECT model, layer, memorability, IT, human_ceiling, n_layers_scored FROM best_layer_per_model"
    )
    assert rows == [("timm:m", "b", 0.4, 0.6, 0.7, 2)]


def test_scored_layers(tmp_path):
    store = Store(tmp_path / "a.duckdb")
    store.migrate()
    fill(store)
    assert store.scored_layers("m@1", "s1", "memorability") == {"a", "b"}
    assert store.scored_layers("m@1", "other", "memorability") == set()
    assert store.scored_layer_map("s1", "memorability") == {"m@1": {"a", "b"}}


def test_reader_refuses_missing_and_foreign_files(tmp_path):
    with pytest.raises(StoreError, match="no results database"):
        Store(tmp_path / "missing.duckdb").query("SELECT 1")
    other = tmp_path / "other.duckdb"
    con = duckdb.connect(str(other))
    con.execute("CREATE TABLE t (x INT)")
    con.close()
    with pytest.raises(StoreError, match="not a memtool results database"):
        Store(other).query("SELECT 1")
    with pytest.raises(StoreError, match="not a memtool results database"):
        Store(other).migrate()


def _hold_lock(path: str, seconds: float, ready) -> None:
    con = duckdb.connect(path)
    ready.set()
    time.sleep(seconds)
    con.close()


def test_writer_waits_for_a_short_lock_and_names_a_long_one(tmp_path):
    path = tmp_path / "a.duckdb"
    Store(path).migrate()
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(path), 1.5, ready))
    holder.start()
    try:
        ready.wait(30)
        with pytest.raises(StoreLockedError, match="locked by process"):
            Store(path, lock_timeout=0.2).migrate()
        Store(path, lock_timeout=30).migrate()  # waits until the holder lets go
    finally:
        holder.join()


def test_runs_of_dead_processes_are_closed_on_this_host_only(tmp_path):
    store = Store(tmp_path / "a.duckdb")
    store.migrate()
    gone = mp.get_context("spawn").Process(target=time.sleep, args=(0,))
    gone.start()
    gone.join()  # a pid that no longer runs
    for run_id in ("alive", "dead", "elsewhere"):
        store.start_run(
            run_id,
            kind="sweep",
            command="memtool sweep",
            config={},
            config_hash="h",
            memtool_version="0",
            versions={},
            device="cpu",
            host="other" if run_id == "elsewhere" else "here",
        )
    with store.writer() as con:
        con.execute("UPDATE runs SET pid = ? WHERE run_id IN ('dead', 'elsewhere')", [gone.pid])
    assert store.close_dead_runs("here") == ["dead"]
    status = dict(store.query("SELECT run_id, status FROM runs")[1])
    assert status == {"alive": "running", "dead": "interrupted", "elsewhere": "running"}
