"""SVG snapshots of every screen on the fixed fixture store, at 100x30 and at 80x24.

pytest-textual-snapshot (syrupy) compares each screen with the SVG committed under
tests/tui/__snapshots__/, which a person reviewed. After an intended change, regenerate with

    pytest tests/tui/test_snapshots.py --snapshot-update

and look at the new SVGs (any browser, or the report pytest-textual-snapshot writes when a
comparison fails) before committing them. Textual is pinned to one minor release in
pyproject.toml, so that a new Textual never silently redraws the pictures.
"""

from __future__ import annotations

import pytest
from textual.widgets import TextArea

from memtool.tui import create_app, data
from tests.tui.conftest import settle
from tests.tui.test_finetune_screen import add_finetuning

SQL = (
    "SELECT model, layer, round(memorability, 3) AS rho, round(IT, 3) AS IT\n"
    "FROM best_layer_per_model ORDER BY rho DESC"
)
SIZES = {"100x30": (100, 30), "80x24": (80, 24)}


async def _still(pilot) -> None:
    """Settle, and stop cursors blinking: a blinking cursor would make the picture flaky."""
    await settle(pilot)
    for widget in pilot.app.screen.query("Input, TextArea"):
        widget.cursor_blink = False
    await pilot.pause()


async def _keys(pilot, *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await settle(pilot)
    await _still(pilot)


async def _sql(pilot, text: str) -> None:
    await _keys(pilot, "4")
    pilot.app.screen.query_one("#editor", TextArea).load_text(text)
    await pilot.press("f5")
    await settle(pilot)
    # escape leaves the editor: a focused TextArea's cursor is drawn or not depending on
    # Textual's line cache, which would make the pictures flaky
    await pilot.press("escape")
    await _still(pilot)


SCREENS = {
    "overview": lambda pilot: _still(pilot),
    "layers": lambda pilot: _keys(pilot, "2"),
    "correlation": lambda pilot: _keys(pilot, "3"),
    "sql": lambda pilot: _sql(pilot, SQL),
    "sql-error": lambda pilot: _sql(pilot, "SELECT rho FROM layers"),
    "finetune": lambda pilot: _keys(pilot, "5"),
}


@pytest.fixture(autouse=True)
def stopped_clock(monkeypatch):
    """Console queries report their duration; in pictures it must not change."""
    monkeypatch.setattr(data, "clock", lambda: 0.0)


@pytest.mark.parametrize("screen", list(SCREENS))
@pytest.mark.parametrize("size", list(SIZES))
def test_screen(snap_compare, fixture_db, monkeypatch, size, screen):
    monkeypatch.chdir(fixture_db.parent)  # the app shows the path as typed: keep it fixed
    app = create_app(fixture_db.name, auto_refresh=None)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=SCREENS[screen])


def test_finetune_with_results(snap_compare, store_copy, monkeypatch):
    add_finetuning(store_copy)
    monkeypatch.chdir(store_copy.parent)
    app = create_app(store_copy.name, auto_refresh=None)
    assert snap_compare(app, terminal_size=(100, 30), run_before=lambda pilot: _keys(pilot, "5"))
