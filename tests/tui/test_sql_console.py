"""The SQL console: results, inline errors, read-only safety, history, export, cancel."""

from __future__ import annotations

import asyncio
import hashlib

import polars as pl
from textual.widgets import Input, TextArea

from memtool.store import Store
from memtool.tui import create_app
from memtool.tui.screens import SqlScreen
from memtool.tui.widgets import VirtualTable
from tests.tui.conftest import SIZE, settle


async def run_query(pilot, sql: str, key: str = "f5") -> SqlScreen:
    screen = pilot.app.screen
    assert isinstance(screen, SqlScreen)
    editor = screen.query_one("#editor", TextArea)
    editor.load_text(sql)
    editor.focus()
    await pilot.press(key)
    await settle(pilot)
    return screen


def _digest(path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


async def test_query_results_and_an_inline_error(fixture_db):
    app = create_app(fixture_db, auto_refresh=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        screen = await run_query(
            pilot, "SELECT target, count(*) AS n FROM layer_scores GROUP BY target ORDER BY target"
        )
        table = screen.query_one("#results", VirtualTable)
        expected = Store(fixture_db).query(
            "SELECT target, count(*) AS n FROM layer_scores GROUP BY target ORDER BY target"
        )[1]
        assert table.columns == ["target", "n"]
        assert table.rows == expected
        assert screen.error is None and "5 rows" in screen.status

        screen = await run_query(pilot, "SELECT nope FROM runs", key="ctrl+r")
        assert isinstance(app.screen, SqlScreen)  # still in the app
        assert "nope" in screen.error and "Binder Error" in screen.error
        assert "error:" in str(screen.query_one("#sql-status").render())
        assert table.row_count == 0 and screen.result is None

        screen = await run_query(pilot, "SELECT 42 AS answer")  # and it recovers
        assert table.rows == [(42,)] and screen.error is None


async def test_console_cannot_change_the_store(store_copy):
    before = _digest(store_copy)
    n_scores = Store(store_copy).query("SELECT count(*) FROM layer_scores")[1][0][0]
    attempts = [
        "INSERT INTO runs (run_id, kind, status, started_at) VALUES ('x', 'sweep', 'running', now())",
        "DELETE FROM layer_scores",
        "DROP TABLE layer_scores",
        "CREATE TABLE scratch (a INTEGER)",
        "UPDATE runs SET status = 'completed'",
        f"ATTACH '{store_copy}' AS again (READ_WRITE)",
    ]
    app = create_app(store_copy, auto_refresh=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        for sql in attempts:
            screen = await run_query(pilot, sql)
            assert screen.error is not None, sql
            assert "read-only" in screen.error or "already attached" in screen.error, screen.error
    assert _digest(store_copy) == before
    assert not store_copy.with_name(store_copy.name + ".wal").exists()
    assert Store(store_copy).query("SELECT count(*) FROM layer_scores")[1][0][0] == n_scores


async def test_history_survives_a_restart_and_can_be_walked(fixture_db, private_history):
    app = create_app(fixture_db, auto_refresh=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await run_query(pilot, "SELECT 1 AS first")
        await run_query(pilot, "SELECT 2 AS second")
        await run_query(pilot, "SELECT nope")  # failing queries are kept too
    text = private_history.read_text()
    assert text.count("-- memtool-history") == 3 and "SELECT 2 AS second" in text

    app = create_app(fixture_db, auto_refresh=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        editor = app.screen.query_one("#editor", TextArea)
        assert editor.text == "SELECT nope"  # a new session starts from the last query
        await pilot.press("ctrl+up")
        assert editor.text == "SELECT nope"
        await pilot.press("ctrl+up")
        assert editor.text == "SELECT 2 AS second"
        await pilot.press("ctrl+up", "ctrl+up")
        assert editor.text == "SELECT 1 AS first"  # stops at the oldest
        await pilot.press("ctrl+down")
        assert editor.text == "SELECT 2 AS second"
        await pilot.press("ctrl+down", "ctrl+down")
        assert editor.text == ""  # past the newest: a blank editor


async def test_export_to_csv_and_parquet(fixture_db, tmp_path):
    sql = "SELECT model, layer, memorability FROM layer_scores_wide ORDER BY model, layer_index"
    expected = Store(fixture_db).query_polars(sql)
    app = create_app(fixture_db, auto_refresh=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await run_query(pilot, sql)
        for name in ("out.csv", "sub/out.parquet"):
            await pilot.press("ctrl+s")
            await pilot.pause()
            app.screen.query_one("#export-path", Input).value = str(tmp_path / name)
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, SqlScreen)
        await pilot.press("ctrl+s")
        await pilot.pause()
        app.screen.query_one("#export-path", Input).value = str(tmp_path / "out.txt")
        await pilot.press("enter")
        await pilot.pause()
        assert "end the file name with" in str(app.screen.query_one("#export-error").render())
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, SqlScreen)
    assert pl.read_csv(tmp_path / "out.csv").equals(expected)
    assert pl.read_parquet(tmp_path / "sub" / "out.parquet").equals(expected)
    assert not (tmp_path / "out.txt").exists()


async def test_a_long_query_runs_in_a_worker_and_escape_cancels_it(fixture_db):
    app = create_app(fixture_db, auto_refresh=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        screen = app.screen
        screen.query_one("#editor", TextArea).load_text(
            "SELECT sum(a.range * b.range) FROM range(1000000000) a, range(1000) b"
        )
        await pilot.press("f5")  # (Pilot waits up to 1 s for an idle CPU after each key)
        assert screen.running and "running" in screen.status
        await pilot.press("escape")
        await asyncio.wait_for(settle(pilot), timeout=60)
        assert not screen.running
        assert "cancelled" in screen.status and screen.error is None
        await run_query(pilot, "SELECT 'still works' AS s")
        assert screen.query_one("#results", VirtualTable).rows == [("still works",)]
