"""How the views are built: declared order, staging apart, macros equal to numpy/scipy,
and no view mixing two brain targets of one region."""

from __future__ import annotations

import re
import shutil

import duckdb
import numpy as np
import pytest
from scipy.stats import rankdata

from memtool.errors import StoreError
from memtool.store import Store
from memtool.store.connection import sql_dir
from memtool.store.migrations import (
    MACROS,
    declared_dependencies,
    final_view_files,
    staging_view_files,
    view_files,
    view_order,
)
from tests.unit.test_store import fill


def _referenced_views(path, names) -> set[str]:
    sql = re.sub(r"--[^\n]*", "", path.read_text())  # comments may mention other views
    return {n for n in names if n != path.stem and re.search(rf"\b{n}\b", sql)}


def test_every_view_declares_exactly_the_views_it_reads():
    files = view_files(sql_dir())
    names = {p.stem for p in files}
    assert len(names) == len(files)
    for path in files:
        assert declared_dependencies(path) == _referenced_views(path, names), path.name


def test_staging_views_come_first_and_every_view_after_what_it_reads():
    order = [p.stem for p in view_order(sql_dir())]
    staging = [p.stem for p in staging_view_files(sql_dir())]
    assert sorted(order) == sorted(p.stem for p in view_files(sql_dir()))
    assert set(order[: len(staging)]) == set(staging)
    for path in view_order(sql_dir()):
        for dep in declared_dependencies(path):
            assert order.index(dep) < order.index(path.stem), (path.stem, dep)
    # Staging views read tables and other staging views only.
    for path in staging_view_files(sql_dir()):
        assert declared_dependencies(path) <= set(staging), path.name
    assert "layer_scores_wide" in {p.stem for p in final_view_files(sql_dir())}


def _sql_copy(tmp_path):
    root = tmp_path / "sql"
    shutil.copytree(sql_dir(), root)
    return root


def _view(path, name, sql, depends=()):
    header = f"-- {name}: test view\n" + (f"-- depends on: {', '.join(depends)}\n" if depends else "")
    (path / f"{name}.sql").write_text(f"{header}CREATE OR REPLACE VIEW {name} AS {sql};\n")


@pytest.mark.parametrize(
    "case, message",
    [
        ("cycle", "cycle: "),
        ("unknown", "which no view file defines"),
        ("staging-on-final", "staging view"),
    ],
)
def test_bad_declarations_are_refused_before_any_view_is_made(tmp_path, case, message):
    root = _sql_copy(tmp_path)
    views, staging = root / "views", root / "views" / "staging"
    if case == "cycle":
        _view(views, "zz_a", "SELECT * FROM zz_b", ["zz_b"])
        _view(views, "zz_b", "SELECT * FROM zz_a", ["zz_a"])
    elif case == "unknown":
        _view(views, "zz_a", "SELECT * FROM nowhere", ["nowhere"])
    else:
        _view(staging, "zz_a", "SELECT * FROM run_overview", ["run_overview"])
    with pytest.raises(StoreError, match=message):
        view_order(root)


def test_views_are_made_once_each_in_the_declared_order(tmp_path, monkeypatch):
    """No retrying: each file is executed exactly once, the macros first."""
    import memtool.store.migrations as migrations

    executed = []
    real_execute = duckdb.DuckDBPyConnection.execute
    con = duckdb.connect(str(tmp_path / "a.duckdb"))

    class Recording:
        def execute(self, sql, *args):
            executed.append(sql)
            return real_execute(con, sql, *args)

        def __getattr__(self, name):
            return getattr(con, name)

    migrations.apply_migrations(Recording(), sql_dir())
    texts = {p.read_text(): p.name for p in view_files(sql_dir())}
    made = [texts[sql] for sql in executed if sql in texts]
    assert made == [p.name for p in view_order(sql_dir())]
    assert executed.index((sql_dir() / "views" / MACROS).read_text()) < executed.index(
        view_order(sql_dir())[0].read_text()
    )
    con.close()


def test_macros_equal_scipy_and_the_fisher_formula(tmp_path):
    store = Store(tmp_path / "m.duckdb")
    store.migrate()
    values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0]
    _, rows = store.query(
        "SELECT v, average_rank(rank() OVER (ORDER BY v), count(*) OVER (PARTITION BY v)) "
        "FROM (SELECT unnest(?) AS v) ORDER BY v",
        [values],
    )
    got = dict(rows)
    assert all(got[v] == r for v, r in zip(values, rankdata(values)))
    for r, n, k in [(0.3, 20, 3), (-0.71, 9, 4), (0.99, 5, 3)]:
        _, ((low, high),) = store.query(
            "SELECT fisher_ci_low(?, ?, ?), fisher_ci_high(?, ?, ?)", [r, n, k, r, n, k]
        )
        half = 1.959963984540054 / np.sqrt(n - k)
        assert low == pytest.approx(np.tanh(np.arctanh(r) - half), abs=1e-12)
        assert high == pytest.approx(np.tanh(np.arctanh(r) + half), abs=1e-12)
    _, ((none_low, none_one),) = store.query("SELECT fisher_ci_low(0.5, 3, 3), fisher_ci_high(1.0, 50, 3)")
    assert none_low is None and none_one is None
    rxy, rxz, ryz = 0.5, 0.3, -0.2
    _, ((partial, degenerate),) = store.query(
        "SELECT partial_corr(?, ?, ?), partial_corr(0.5, 1.0, 0.2)", [rxy, rxz, ryz]
    )
    assert partial == pytest.approx((rxy - rxz * ryz) / np.sqrt((1 - rxz**2) * (1 - ryz**2)))
    assert degenerate is None


def test_wide_view_never_mixes_two_targets_of_one_region(tmp_path):
    """One IT target scored on both layers, another later on one: the IT column is the first."""
    store = Store(tmp_path / "a.duckdb")
    store.migrate()
    fill(store)  # the first IT target ('d1', setup s2): 0.6 on layer b
    rows = [
        {
            "run_id": "r1",
            "model_id": "m@1",
            "layer_name": "a",
            "dataset_id": "d1",
            "setup_id": "s2",
            "target": "IT",
            "fold": "pooled",
            "metric": "rdm",
            "score": 0.2,
            "reducer": "pool",
        }
    ]
    store.insert_scores(rows)
    # a later, partial sweep against a second IT target: layer b only
    store.insert_scores(
        [
            {
                "run_id": "r2",
                "model_id": "m@1",
                "layer_name": "b",
                "dataset_id": "t-human",
                "setup_id": "s3",
                "target": "IT",
                "fold": "pooled",
                "metric": "rdm",
                "score": 0.9,
                "reducer": "pool",
            }
        ]
    )
    _, wide = store.query("SELECT layer, IT FROM layer_scores_wide ORDER BY layer")
    monkey = dict(store.query("SELECT layer_name, score FROM layer_scores WHERE setup_id = 's2'")[1])
    assert wide == [("a", monkey["a"]), ("b", monkey["b"]), ("c", monkey["b"])]
    _, latest = store.query(
        "SELECT brain_target_id, count(*), min(region_choice), max(region_choice) "
        "FROM latest_brain_scores GROUP BY ALL ORDER BY 1"
    )
    assert latest == [("d1", 2, 1, 1), ("t-human", 1, 2, 2)]
