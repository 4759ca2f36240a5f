"""Fixtures for the TUI tests: one fixture store per session, history files in tmp.

``async def`` tests run under pytest-asyncio (``asyncio_mode = "auto"`` in pyproject.toml).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.fixture_store import build_fixture_store

SIZE = (100, 30)


@pytest.fixture(scope="session")
def fixture_db(tmp_path_factory) -> Path:
    """The shared fixture store; tests open it read-only and must not change it."""
    return build_fixture_store(tmp_path_factory.mktemp("store") / "fixture.duckdb")


@pytest.fixture
def store_copy(fixture_db, tmp_path) -> Path:
    """A private copy for tests that write to the store."""
    path = tmp_path / "copy.duckdb"
    shutil.copy(fixture_db, path)
    return path


@pytest.fixture(autouse=True)
def private_history(tmp_path, monkeypatch) -> Path:
    """Keep the SQL console's history out of the user's data directory."""
    monkeypatch.delenv("MEMTOOL_HISTORY", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "memtool" / "history.sql"


async def settle(pilot) -> None:
    """Wait until every worker (store reads, correlations, queries) is done and drawn.

    Loops because a finished worker's result can start the next one (the correlation
    screen computes after its data arrive).
    """
    for _ in range(100):
        await pilot.pause()
        busy = [w for w in pilot.app.workers if not w.is_finished]
        if not busy:
            break
        await pilot.app.workers.wait_for_complete(busy)
    await pilot.pause()
