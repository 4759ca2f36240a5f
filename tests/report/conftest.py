"""The fixture store every report test reads (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixture_store import build_fixture_store


@pytest.fixture(scope="session")
def fixture_db(tmp_path_factory) -> Path:
    return build_fixture_store(tmp_path_factory.mktemp("report-store") / "fixture.duckdb")
