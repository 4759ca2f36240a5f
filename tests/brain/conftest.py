"""Brain tests: brainscore-vision's and memtool's caches go to a temporary folder.

brainscore caches ceilings and placed-on-screen stimuli on disk (result_caching), and
memtool unpacks images of zip/.mat data sets into its cache; neither should touch the
home folder of whoever runs the tests. Set before brainscore_vision is imported.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

_CACHE = Path(tempfile.mkdtemp(prefix="memtool-brain-tests-"))
for var, sub in (
    ("RESULTCACHING_HOME", "result_caching"),
    ("BRAINSCORE_HOME", "brain-score"),
    ("MEMTOOL_CACHE", "memtool"),
):
    os.environ.setdefault(var, str(_CACHE / sub))
os.environ.setdefault("BS_INSTALL_DEPENDENCIES", "no")


@pytest.fixture(scope="session")
def cowley_dir(shared_data) -> Path:
    return shared_data / "v4_cowley2023"


@pytest.fixture(scope="session")
def kriegeskorte_dir(shared_data) -> Path:
    return shared_data / "kriegeskorte92"


@pytest.fixture(scope="session")
def cowley_210325(cowley_dir):
    """The V4 session with single-trial repeats (50 neurons x 640 images x <= 10 repeats)."""
    from memtool.data.neural import load_cowley2023

    return load_cowley2023(cowley_dir, "210325")[0]
