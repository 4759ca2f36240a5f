"""Shared fixtures: where the real data lives, offline settings, tiny stores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MEMTOOL_SHARED_DATA", REPO.parent / "shared" / "data"))

# Tests never reach a model hub: caches and bundled packages only.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def lnsim_dir(shared_data) -> Path:
    return shared_data / "lnsim"
