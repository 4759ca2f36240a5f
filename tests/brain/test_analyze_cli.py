"""`memtool analyze`: tables from the views, bootstrap CIs from memtool.analysis, clean errors."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from memtool.analysis import correlate_across_layers
from memtool.cli.analyze_cmd import correlations
from memtool.cli.main import app
from memtool.store import Store
from tests.fixture_store import build_fixture_store

runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    return build_fixture_store(tmp_path_factory.mktemp("analyze") / "fx.duckdb")


def test_analyze_prints_the_three_tables(db):
    result = runner.invoke(app, ["analyze", "--db", str(db), "--n-boot", "200"])
    assert result.exit_code == 0, result.output
    for title in (
        "Spearman across layers",
        "best memorability layer of each model",
        "best tracks memorability",
    ):
        assert title in result.output
    assert "(all models)" in result.output and "IT pls" in result.output
    assert "+0.95" in result.output  # pooled IT rho (0.952), see the view tests


def test_bootstrap_cis_come_from_analysis(db):
    store = Store(db)
    rows = correlations(store, n_boot=300, seed=3)
    assert len(rows) == 16
    it = next(r for r in rows if r["scope"] == "pooled" and r["region"] == "IT")
    _, layers = store.query(
        "SELECT memorability, brain, relative_depth FROM memorability_brain_ranks "
        "WHERE scope = 'pooled' AND region = 'IT' ORDER BY memorability, brain, relative_depth"
    )
    mem, brain, depth = zip(*layers)
    expected = correlate_across_layers(mem, brain, depth, n_boot=300, seed=3)
    assert it["n_layers"] == expected.n == 101
    assert it["spearman"] == pytest.approx(expected.spearman, abs=1e-10)
    assert it["partial_spearman"] == pytest.approx(expected.partial_spearman, abs=1e-10)
    assert it["boot_ci"] == pytest.approx(expected.spearman_ci)
    assert it["boot_partial_ci"] == pytest.approx(expected.partial_ci)


def test_filters(db):
    store = Store(db)
    rows = correlations(store, models=["timm:resnet18"], targets=["IT"], n_boot=0)
    assert {(r["scope"], r["model"], r["region"]) for r in rows} == {
        ("model", "timm:resnet18", "IT"),
        ("pooled", "(all models)", "IT"),
    }
    assert all(r["boot_ci"] == (None, None) for r in rows)
    result = runner.invoke(app, ["analyze", "--db", str(db), "-m", "nosuch", "-t", "nosuch"])
    assert result.exit_code == 2 and "for the chosen --model/--target" in result.output


def test_no_brain_scores_is_a_one_line_error(tmp_path):
    store = Store(tmp_path / "empty.duckdb")
    store.migrate()
    result = runner.invoke(app, ["analyze", "--db", str(store.path)])
    assert result.exit_code == 2
    assert "holds no layer with both a memorability and a brain score" in result.output
    assert "--brain" in result.output
    missing = runner.invoke(app, ["analyze", "--db", str(tmp_path / "none.duckdb")])
    assert missing.exit_code != 0 and "no results database" in missing.output
