"""SVG snapshots of every screen on the fixed fixture store, at 100x30 and at 80x24.

The committed files under tests/tui/snapshots/ are what the screens looked like when a
person last reviewed them. Regenerate after an intended change with

    MEMTOOL_UPDATE_SNAPSHOTS=1 pytest tests/tui/test_snapshots.py

and look at the new SVGs (any browser) before committing them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from textual.widgets import TextArea

from memtool.tui import create_app, data
from tests.tui.conftest import settle
from tests.tui.test_finetune_screen import add_finetuning

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("MEMTOOL_UPDATE_SNAPSHOTS") == "1"


async def check_snapshot(pilot, name: str, tmp_path: Path) -> None:
    app = pilot.app
    for widget in app.screen.query("Input, TextArea"):
        widget.cursor_blink = False  # a blinking cursor would make the picture flaky
    await pilot.pause()  # let the cursor redraw before the picture is taken
    svg = app.export_screenshot(title=name)
    path = SNAPSHOTS / f"{name}.svg"
    if UPDATE:
        SNAPSHOTS.mkdir(exist_ok=True)
        path.write_text(svg, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"no snapshot {path}: run with MEMTOOL_UPDATE_SNAPSHOTS=1 and review it")
    if path.read_text(encoding="utf-8") != svg:
        actual = tmp_path / f"{name}.svg"
        actual.write_text(svg, encoding="utf-8")
        pytest.fail(f"screen {name} differs from {path}; this run's picture is {actual} "
                    "(MEMTOOL_UPDATE_SNAPSHOTS=1 accepts it)")


@pytest.fixture(autouse=True)
def stopped_clock(monkeypatch):
    """Console queries report their duration; in pictures it must not change."""
    monkeypatch.setattr(data, "clock", lambda: 0.0)


async def walk(app, pilot, prefix: str, tmp_path: Path) -> None:
    await settle(pilot)
    await check_snapshot(pilot, f"{prefix}-overview", tmp_path)
    await pilot.press("2")
    await settle(pilot)
    await check_snapshot(pilot, f"{prefix}-layers", tmp_path)
    await pilot.press("3")
    await settle(pilot)
    await check_snapshot(pilot, f"{prefix}-correlation", tmp_path)
    await pilot.press("4")
    await settle(pilot)
    editor = app.screen.query_one("#editor", TextArea)
    editor.load_text("SELECT model, layer, round(memorability, 3) AS rho, round(IT, 3) AS IT\n"
                     "FROM best_layer_per_model ORDER BY rho DESC")
    await pilot.press("f5")
    await settle(pilot)
    # escape leaves the editor: a focused TextArea's cursor is drawn or not depending on
    # Textual's line cache, which would make the pictures flaky
    await pilot.press("escape")
    await check_snapshot(pilot, f"{prefix}-sql", tmp_path)
    editor.load_text("SELECT rho FROM layers")
    await pilot.press("f5")
    await settle(pilot)
    await check_snapshot(pilot, f"{prefix}-sql-error", tmp_path)
    await pilot.press("5")
    await settle(pilot)
    await check_snapshot(pilot, f"{prefix}-finetune", tmp_path)


@pytest.mark.parametrize("size", [(100, 30), (80, 24)], ids=["100x30", "80x24"])
async def test_screens(fixture_db, tmp_path, monkeypatch, size):
    monkeypatch.chdir(fixture_db.parent)  # the app shows the path as typed: keep it fixed
    app = create_app(fixture_db.name, auto_refresh=None)
    async with app.run_test(size=size) as pilot:
        await walk(app, pilot, f"{size[0]}x{size[1]}", tmp_path)


async def test_finetune_with_results(store_copy, tmp_path, monkeypatch):
    add_finetuning(store_copy)
    monkeypatch.chdir(store_copy.parent)
    app = create_app(store_copy.name, auto_refresh=None)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("5")
        await settle(pilot)
        await check_snapshot(pilot, "100x30-finetune-results", tmp_path)
