"""Each screen driven with keys through Textual's Pilot, checked against the store itself."""

from __future__ import annotations

import duckdb
import pytest

from memtool.analysis import correlate_across_layers
from memtool.store import Store
from memtool.tui import create_app
from memtool.tui.screens import CorrelationScreen, FinetuneScreen, LayersScreen, OverviewScreen, SqlScreen
from memtool.tui.widgets import VirtualTable
from tests.tui.conftest import SIZE, settle


def _rows(store_path, sql, params=None):
    return Store(store_path).query(sql, params)[1]


def _static_text(screen, selector) -> str:
    return str(screen.query_one(selector).render())


async def test_overview_shows_runs_datasets_and_run_details(fixture_db):
    app = create_app(fixture_db, auto_refresh=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, OverviewScreen)
        summary = _static_text(screen, "#summary")
        assert "2 runs" in summary and "3 models" in summary
        assert "101 of 101 layers scored for memorability (+12 aliases)" in summary
        assert "1 data set" in summary and "1 data sets" not in summary
        runs = screen.query_one("#runs", VirtualTable)
        assert runs.row_count == 2
        # newest first: the failed run, with its error under the table
        assert runs.cell(runs.current_row, "status") == "failed"
        assert "unknown model 'nosuchnet'" in _static_text(screen, "#run-detail")
        await pilot.press("down")
        assert runs.cell(runs.current_row, "run_id") == "run000000001"
        assert runs.cell(runs.current_row, "layers") == 101
        assert "--model a --model b --model c" in _static_text(screen, "#run-detail")
        datasets = screen.query_one("#datasets", VirtualTable)
        assert datasets.visible_text()[0][:3] == ["demo", "demo", "300"]
        assert "0.787" in datasets.visible_text()[0]


async def test_keys_switch_screens_and_the_bar_follows(fixture_db):
    app = create_app(fixture_db, auto_refresh=None)
    async with app.run_test(size=SIZE) as pilot:
        for key, cls in (
            ("2", LayersScreen),
            ("3", CorrelationScreen),
            ("5", FinetuneScreen),
            ("1", OverviewScreen),
        ):
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, cls)
            active = app.screen.query_one(".nav-tab.-active")
            assert active.mode == cls.MODE
        await pilot.press("4")
        assert isinstance(app.screen, SqlScreen)
        await pilot.click("#nav-layers")  # the bar works with the mouse too
        await settle(pilot)
        assert isinstance(app.screen, LayersScreen)


async def test_layers_table_filters_sorts_and_toggles_aliases(fixture_db):
    app = create_app(fixture_db, auto_refresh=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        screen = app.screen
        table = screen.query_one("#layers", VirtualTable)
        n_real = _rows(fixture_db, "SELECT count(*) FROM layer_scores_wide WHERE alias_of IS NULL")[0][0]
        n_all = _rows(fixture_db, "SELECT count(*) FROM layer_scores_wide")[0][0]
        assert table.row_count == n_real == 101
        assert {"V1", "V2", "V4", "IT", "rho", "ci95"} <= set(table.columns)
        assert "behavior" not in table.columns  # no behaviour scores in the fixture

        await pilot.press("a")
        assert table.row_count == n_all > n_real
        await pilot.press("a")

        await pilot.press("slash")
        await pilot.press(*"alexnet")
        n_alex = _rows(
            fixture_db,
            "SELECT count(*) FROM layer_scores_wide WHERE alias_of IS NULL AND model = 'torchvision:alexnet'",
        )[0][0]
        assert table.row_count == n_alex
        assert {table.cell(r, "model") for r in table.rows} == {"torchvision:alexnet"}
        await pilot.press("space", *"conv")
        assert table.row_count > 0
        assert {table.cell(r, "type") for r in table.rows} == {"Conv2d"}
        assert f"{table.row_count:,} of 101 layers" in str(screen.query_one("#layers-count").render())
        for _ in range(11):
            await pilot.press("backspace")
        await pilot.press("enter")  # back to the table
        assert app.focused is table and table.row_count == 101

        # sort by rho: column cursor to "rho", s ascending, s again descending
        for _ in range(table.columns.index("rho")):
            await pilot.press("right")
        await pilot.press("s")
        rhos = [table.cell(r, "rho") for r in table.rows]
        assert rhos == sorted(rhos)
        await pilot.press("s")
        rhos = [table.cell(r, "rho") for r in table.rows]
        assert rhos == sorted(rhos, reverse=True)
        best = _rows(
            fixture_db,
            "SELECT model, layer, memorability FROM layer_scores_wide ORDER BY memorability DESC LIMIT 1",
        )[0]
        assert (table.cell(table.rows[0], "model"), table.cell(table.rows[0], "layer")) == best[:2]


async def test_layers_plot_follows_the_highlighted_model(fixture_db):
    app = create_app(fixture_db, auto_refresh=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(pilot)
        screen = app.screen
        table = screen.query_one("#layers", VirtualTable)
        first_model = table.cell(table.current_row, "model")
        n_layers = sum(1 for r in table.rows if table.cell(r, "model") == first_model)
        assert screen.plot_info.startswith(f"{first_model} ({n_layers} layers)")
        assert "memorability, V1, V2, V4, IT" in screen.plot_info
        await pilot.press("end")
        last_model = table.cell(table.current_row, "model")
        assert last_model != first_model
        assert screen.plot_info.startswith(last_model)
        await pilot.press("p")
        assert not screen.query_one("#depth-plot").display
        await pilot.press("p")
        assert screen.query_one("#depth-plot").display


async def test_layers_plot_moves_beside_the_table_on_a_wide_terminal(fixture_db):
    app = create_app(fixture_db, auto_refresh=None)
    async with app.run_test(size=(180, 40)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        table = app.screen.query_one("#layers")
        plot = app.screen.query_one("#depth-plot")
        assert plot.region.x > table.region.x and plot.region.y == table.region.y
        assert len(table.visible_text()[0]) == len(table._visible)  # every column fits


def _expected(fixture_db, target, model=None):
    sql = (
        f"SELECT memorability, {target}, relative_depth FROM layer_scores_wide"
        f" WHERE alias_of IS NULL AND {target} IS NOT NULL"
    )
    params = []
    if model:
        sql += " AND model = ?"
        params = [model]
    rows = _rows(fixture_db, sql, params)
    mem, brain, depth = zip(*rows)
    return correlate_across_layers(mem, brain, depth, n_boot=1000)


async def test_correlation_numbers_match_the_analysis_of_the_stored_rows(fixture_db):
    app = create_app(fixture_db, auto_refresh=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(pilot)
        screen = app.screen
        expected = _expected(fixture_db, "IT")
        assert screen.result.n == expected.n == 101
        assert screen.result.spearman == pytest.approx(expected.spearman)
        assert screen.result.pearson == pytest.approx(expected.pearson)
        assert screen.result.partial_spearman == pytest.approx(expected.partial_spearman)
        stats = _static_text(screen, "#corr-stats")
        assert "memorability vs IT" in stats
        assert f"{expected.spearman:+.3f}" in stats and f"{expected.partial_spearman:+.3f}" in stats
        assert "101 layers, 3 models" in stats
        assert "101 layers from 3 models" in screen.plot_info

        await pilot.press("t")  # IT -> V1 (targets cycle in V1, V2, V4, IT order)
        await settle(pilot)
        v1 = _expected(fixture_db, "V1")
        assert screen.result.spearman == pytest.approx(v1.spearman)
        assert screen.result.spearman < 0  # V1 falls with depth while memorability rises
        assert "memorability vs V1" in _static_text(screen, "#corr-stats")

        await pilot.press("m", "m")  # all -> by pattern -> first model
        await settle(pilot)
        one = _expected(fixture_db, "V1", "timm:resnet18")
        assert screen.result.n == one.n
        assert screen.result.partial_spearman == pytest.approx(one.partial_spearman)
        assert "timm:resnet18" in _static_text(screen, "#corr-stats")


async def test_correlation_pattern_selects_a_family(fixture_db):
    app = create_app(fixture_db, auto_refresh=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("slash", *"timm:*")
        await settle(pilot)
        screen = app.screen
        n = _rows(
            fixture_db,
            "SELECT count(*) FROM layer_scores_wide WHERE alias_of IS NULL AND model LIKE 'timm:%'",
        )[0][0]
        assert screen.result.n == n
        assert "2 models" in _static_text(screen, "#corr-stats")
        assert "models matching 'timm:*'" in _static_text(screen, "#corr-stats")
        await pilot.press(*"nosuch")
        await settle(pilot)
        assert screen.result.n == 0
        assert "too few layers" in _static_text(screen, "#corr-stats")


async def test_correlation_without_brain_scores_says_how_to_get_them(store_copy):
    with duckdb.connect(str(store_copy)) as con:
        con.execute("DELETE FROM layer_scores WHERE target <> 'memorability'")
    app = create_app(store_copy, auto_refresh=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(pilot)
        assert "memtool sweep --brain IT" in _static_text(app.screen, "#corr-stats")
        await pilot.press("2")
        await settle(pilot)
        assert not {"V1", "IT"} & set(app.screen.query_one("#layers", VirtualTable).columns)


async def test_finetune_screen_without_tables_names_the_command(fixture_db):
    app = create_app(fixture_db, auto_refresh=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await settle(pilot)
        text = _static_text(app.screen, "#ft-empty")
        assert "No fine-tuning results" in text and "memtool finetune --model" in text
        assert str(fixture_db) in text
        assert not app.screen.query_one("#ft-body").display
